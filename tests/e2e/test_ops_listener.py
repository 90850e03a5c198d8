"""The ops listener of a real `oauth1-proxy run` (SPEC §12): health, readiness and the metrics of real traffic."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from oauth1_proxy.devtools.provider import Provider

from .conftest import SECRETS, RunningProxy, curl, profile_for, write_config

OPS_LINE = re.compile(r"ops listener at (http://[0-9.]+:\d+)")


def ops_url(proxy: RunningProxy) -> str:
    assert proxy.wait_for("ops listener at", timeout=10), proxy.text()
    found = OPS_LINE.search(proxy.text())
    assert found, proxy.text()
    return found.group(1)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def sample(text: str, name: str, **labels: str) -> float:
    """One sample's value from the Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def test_run_ops_listener_counts_signed_refused_and_passed_requests_and_provider_answers(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    assert provider.ca_file is not None
    config = write_config(tmp_path / "proxy.yaml", {
        "api": profile_for(provider, path_prefix="/api/"),
        # The same provider's dance URLs, no token yet: not logged in, refused with 401.
        "later": profile_for(provider, token=None, token_secret=None, path_prefix="/api/me",
                             request_token_url=f"{provider.base_url}/oauth/request_token",
                             authorize_url=f"{provider.base_url}/oauth/authorize",
                             access_token_url=f"{provider.base_url}/oauth/access_token"),
    })
    proxy = run_proxy(config, "--set", "oauth1_ops_listen=127.0.0.1:0", "--set",
                      f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    ops = ops_url(proxy)
    through = ("--cacert", str(proxy.ca_file), "-x", proxy.url)
    for _ in range(3):
        assert curl(*through, f"{provider.base_url}/api/echo?x=1").returncode == 0
    refused = curl(*through, "-o", "/dev/null", "-w", "%{http_code}", f"{provider.base_url}/api/me")
    assert refused.stdout == b"401"
    assert curl(*through, f"{provider.base_url}/public/hello").returncode == 0  # /public/: no profile's prefix
    assert all(r.valid for r in provider.records if r.uri.startswith(f"{provider.base_url}/api/"))

    status, text = fetch(ops + "/metrics")
    assert status == 200
    assert sample(text, "oauth1_proxy_requests_signed_total", profile="api", account="") == 3
    assert sample(text, "oauth1_proxy_provider_responses_total", profile="api", status_class="2xx") == 3
    assert sample(text, "oauth1_proxy_requests_refused_total", profile="later", status="401") == 1
    assert sample(text, "oauth1_proxy_requests_passed_total", profile="") == 1
    assert sample(text, "oauth1_proxy_signing_seconds_count", profile="api") == 3
    for secret in SECRETS:
        assert secret not in text
    assert "/api/echo" not in text and "x=1" not in text  # never a path or a query

    # A profile that is not logged in does not make the proxy unready.
    status, body = fetch(ops + "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["proxy"] == "listening"
    assert fetch(ops + "/healthz")[0] == 200
    assert fetch(ops + "/login/later")[0] == 404


def test_run_without_the_ops_option_opens_no_ops_listener(tmp_path: Path, provider: Provider,
                                                           run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config)
    assert not proxy.wait_for("ops listener at", timeout=1)


def test_run_with_a_bad_ops_option_exits_with_the_message(tmp_path: Path, provider: Provider) -> None:
    import subprocess

    from .conftest import BIN

    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    result = subprocess.run([str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0",
                             "--set", "oauth1_ops_listen=9090"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "oauth1_ops_listen: '9090' is not HOST:PORT" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
