"""The image's entry point run for real, as deploy/Dockerfile runs it (SPEC §12): its ENTRYPOINT and CMD, its ENV
(only the addresses moved to free loopback ports, the paths to a temporary folder, as `docker run -e` would), the
Kubernetes ConfigMap's config with the Secret's keys as files; then the image's HEALTHCHECK command.

No container runtime is reachable here, so the process runs on this machine as the current user (the image's
Python lives in the image; this machine's is under /root, which the image's user could not read).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.deploy_files import ENTRYPOINT, IMAGE_ENTRYPOINT, read_dockerfile, resource

from .conftest import SECRETS

SECRET_MOUNT = "/run/secrets/oauth1-proxy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_in_the_image(argv: list[str]) -> list[str]:
    """The image's command with its entry point's path on this machine (the Dockerfile COPYs deploy/entrypoint.sh)."""
    return [str(ENTRYPOINT) if a == IMAGE_ENTRYPOINT else a for a in argv]


def test_image_entry_point_serves_healthz_and_its_healthcheck_passes_then_fails_when_stopped(tmp_path: Path) -> None:
    docker = read_dockerfile()
    # The pod's files: the ConfigMap's config.yaml and the Secret's keys (values as the user would put them).
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    stored = resource("Secret", "oauth1-proxy-credentials")["stringData"]
    values = {key: f"entry-{key}-Value" for key in stored}
    values["token-store"] = str(tmp_path / "tokens" / "tokens.yaml")  # the file store (a Redis URL in a cluster)
    for key, value in values.items():
        (secrets_dir / key).write_text(value + "\n")
        (secrets_dir / key).chmod(0o440)
    config = tmp_path / "config.yaml"
    config.write_text(resource("ConfigMap", "oauth1-proxy-config")["data"]["config.yaml"]
                      .replace(SECRET_MOUNT, str(secrets_dir)))
    ops_port = free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # the image's pip install
        "HOME": str(tmp_path),
        **docker.env,
        "OAUTH1_PROXY_CONFIG": str(config),
        "OAUTH1_PROXY_CONFDIR": str(tmp_path / "confdir"),
        "OAUTH1_PROXY_LISTEN_HOST": "127.0.0.1",
        "OAUTH1_PROXY_LISTEN_PORT": "0",
        "OAUTH1_PROXY_OPS_LISTEN": f"127.0.0.1:{ops_port}",
    }
    assert set(docker.env) >= {"OAUTH1_PROXY_CONFIG", "OAUTH1_PROXY_CONFDIR", "OAUTH1_PROXY_LISTEN_HOST",
                               "OAUTH1_PROXY_LISTEN_PORT", "OAUTH1_PROXY_OPS_LISTEN"}
    process = subprocess.Popen(as_in_the_image([*docker.entrypoint, *docker.cmd]), env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
    healthcheck = as_in_the_image(docker.healthcheck)
    try:
        deadline = time.monotonic() + 30
        while not any("ops listener at" in line for line in output):
            assert process.poll() is None and time.monotonic() < deadline, "\n".join(output)
            time.sleep(0.1)
        assert any(re.search(r"listening at (http://)?127\.0\.0\.1:\d+", line) for line in output), output
        with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/healthz", timeout=10) as answer:
            assert answer.status == 200
            assert json.loads(answer.read())["status"] == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{ops_port}/readyz", timeout=10) as answer:
            assert answer.status == 200
        check = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stderr
        assert (tmp_path / "confdir" / "mitmproxy-ca-cert.pem").exists()  # the CA on the confdir volume
    finally:
        process.terminate()
        process.wait(timeout=20)
    failed = subprocess.run(healthcheck, env=env, capture_output=True, text=True, timeout=30)
    assert failed.returncode == 1
    assert "/healthz failed" in failed.stderr
    text = "\n".join(output)
    for secret in (*SECRETS, values["consumer-secret"]):
        assert secret not in text
