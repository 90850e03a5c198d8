"""Refusals that re-signing cannot fix, answered by a stand-in for the real provider, through a real proxy:
one line in the log (API calls) or on the helper's page (dance steps) saying what it is and what to do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from oauth1_proxy.diagnostics import ETRADE_KEY_REJECTED, NETSUITE_CONCURRENCY, X_CLIENT_NOT_ENROLLED

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, curl, write_config
from .helper_forms import start_login

# A mitmdump that answers every request for a host with that provider's canned refusal.
STUB = """
import json
from mitmproxy import http

ANSWERS = json.load(open({path!r}))

def request(flow: http.HTTPFlow) -> None:
    answer = ANSWERS.get(flow.request.host)
    if answer:
        flow.response = http.Response.make(answer[0], answer[1].encode(), {{"Content-Type": answer[2]}})
"""
X_BODY = json.dumps({"title": "Client Forbidden", "required_enrollment": "Appropriate Level of API Access",
                     "reason": "client-not-enrolled", "type": "https://api.twitter.com/2/problems/client-forbidden"})
ANSWERS = {
    "api.x.com": [403, X_BODY, "application/problem+json"],
    "123456.restlets.api.netsuite.com": [400, '{"error": {"code": "SSS_REQUEST_LIMIT_EXCEEDED", "message": '
                                              '"Request limit exceeded."}}', "application/json"],
    "api.etrade.com": [401, "<html><body><h1>HTTP Status 401 - oauth_problem=consumer_key_rejected</h1></body>"
                            "</html>", "text/html"],
    "api.example.com": [403, "forbidden", "text/plain"],
}
KEYS = {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
STATIC = {"token": TOKEN, "token_secret": TOKEN_SECRET}
PROFILES = {
    "x": {"preset": "twitter", **KEYS, **STATIC},
    "ns": {"preset": "netsuite", "hosts": ["123456.restlets.api.netsuite.com"], **KEYS, **STATIC},
    "et": {"preset": "etrade", **KEYS},
    "plain": {"hosts": ["api.example.com"], **KEYS, **STATIC},
}


@pytest.fixture
def proxy(tmp_path: Path, run_proxy: Any, run_mitmdump: Any, confdir: Path) -> Any:
    (tmp_path / "answers.json").write_text(json.dumps(ANSWERS))
    (tmp_path / "stub.py").write_text(STUB.format(path=str(tmp_path / "answers.json")))
    stub = run_mitmdump("-s", str(tmp_path / "stub.py"), "--set", "connection_strategy=lazy")
    config = write_config(tmp_path / "proxy.yaml", PROFILES)
    return run_proxy(config, "--mode", f"upstream:{stub.url}",
                     "--set", f"ssl_verify_upstream_trusted_ca={confdir / 'mitmproxy-ca-cert.pem'}")


@pytest.mark.parametrize(
    ("url", "status", "line"),
    [
        ("https://api.x.com/2/users/me", "403", X_CLIENT_NOT_ENROLLED),
        ("https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl?script=1", "400",
         NETSUITE_CONCURRENCY),
    ],
    ids=["x-client-not-enrolled", "netsuite-concurrency"],
)
def test_known_refusal_of_a_signed_call_is_logged_with_what_to_do(proxy: Any, url: str, status: str,
                                                                  line: str) -> None:
    answer = curl("--cacert", str(proxy.ca_file), "-x", proxy.url, "-o", "/dev/null", "-w", "%{http_code}", url)
    assert answer.stdout.decode() == status  # the provider's answer reaches the client unchanged
    assert proxy.wait_for(line[:40], timeout=10), proxy.text()
    assert f"was refused: {status} (no oauth_problem given): {line}" in proxy.text()
    for secret in SECRETS:
        assert secret not in proxy.text()


def test_plain_403_of_a_signed_call_is_not_logged_as_a_refusal(proxy: Any) -> None:
    answer = curl("--cacert", str(proxy.ca_file), "-x", proxy.url, "-o", "/dev/null", "-w", "%{http_code}",
                  "https://api.example.com/v1/thing")
    assert answer.stdout.decode() == "403"
    assert not proxy.wait_for("was refused", timeout=2)


def test_etrade_expired_key_at_the_request_token_is_named_on_the_helper_page(proxy: Any) -> None:
    s = requests.Session()
    s.proxies = {"http": proxy.url, "https": proxy.url}
    s.trust_env = False
    page = start_login(s, "http://oauth1.proxy/login/et")
    assert page.status_code == 502
    assert "request token: the provider answered 401: oauth_problem=consumer_key_rejected" in page.text
    assert "E*TRADE consumer keys expire two years after they are issued" in page.text
    assert ETRADE_KEY_REJECTED.split(":")[0] in page.text
    assert proxy.wait_for("consumer_key_rejected")
    for secret in SECRETS:
        assert secret not in page.text and secret not in proxy.text()
