"""Captures keep signed traffic without secrets; replays leave re-signed (SPEC §8, issue 4)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import requests
from oauthlib.oauth1 import Client

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import BIN, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, curl, profile_for, write_config

OTHER_KEY, OTHER_SECRET = "client-own-key", "client-own-consumer-secret"


def client_side_dance(other: Provider, proxy_url: str) -> str:
    """A client that does its own three-legged dance through the proxy (to a host we do not sign)."""
    s = requests.Session()
    s.proxies = {"http": proxy_url}
    client = Client(OTHER_KEY, client_secret=OTHER_SECRET, callback_uri="oob")
    uri, headers, body = client.sign(other.request_token_url, http_method="POST")
    reply = s.post(uri, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    temporary = dict(x.split("=", 1) for x in reply.text.split("&"))
    verifier = other.approve(temporary["oauth_token"])
    client = Client(OTHER_KEY, client_secret=OTHER_SECRET, resource_owner_key=temporary["oauth_token"],
                    resource_owner_secret=temporary["oauth_token_secret"], verifier=verifier)
    uri, headers, body = client.sign(other.access_token_url, http_method="POST")
    reply = s.post(uri, headers=headers, timeout=10)
    assert reply.status_code == 200
    final = dict(x.split("=", 1) for x in reply.text.split("&"))
    assert final["oauth_token_secret"]  # the client itself received the secret
    return final["oauth_token_secret"]


def test_capture_w_and_har_hold_signed_requests_but_no_secret(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    flows, har = tmp_path / "capture.flows", tmp_path / "capture.har"
    config = write_config(tmp_path / "proxy.yaml", {
        "plain": profile_for(provider, signature_method="PLAINTEXT", path_prefix="/api/echo/"),
        "hmac": profile_for(provider),
    })
    with Provider(clients=[ProviderClient(key=OTHER_KEY, secret=OTHER_SECRET)]) as other:
        proxy = run_proxy(config, "-w", str(flows), "--set", f"hardump={har}", "--set", "flow_detail=4",
                          "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        ca = ("--cacert", str(proxy.ca_file), "-x", proxy.url)
        assert curl(*ca, f"{provider.base_url}/api/echo/plain?x=1").returncode == 0
        assert curl(*ca, "-d", "a=1", f"{provider.base_url}/api/me").returncode == 0
        other_token_secret = client_side_dance(other, proxy.url)
        proxy.stop()  # hardump is written at shutdown
    assert all(r.valid for r in provider.records)
    for path in (flows, har):
        data = path.read_bytes()
        assert b"oauth_signature" in data, path
        assert TOKEN.encode() in data
        for secret in (*SECRETS, other_token_secret, OTHER_SECRET):
            for form in (secret, requests.utils.quote(secret, safe="")):
                assert form.encode() not in data, (path, secret)
        # Every encoding of the test secrets shares these stems (a PLAINTEXT signature is encoded twice).
        assert b"e2e-consumer-secret" not in data and b"e2e-token-secret" not in data
        assert b"REDACTED" in data
    for secret in (*SECRETS, other_token_secret):
        assert secret not in proxy.text()
    json.loads(har.read_text())  # still a valid HAR


def test_replay_re_signs_every_request_with_a_fresh_nonce(
    tmp_path: Path, provider: Provider, run_proxy: Any, confdir: Path
) -> None:
    flows = tmp_path / "capture.flows"
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    trust = ("--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    proxy = run_proxy(config, "-w", str(flows), *trust)
    ca = ("--cacert", str(proxy.ca_file), "-x", proxy.url)
    for i in range(3):
        assert curl(*ca, "-d", f"n={i}", f"{provider.base_url}/api/echo/replay").returncode == 0
    assert curl(*ca, f"{provider.base_url}/api/me").returncode == 0
    proxy.stop()
    captured = len(provider.records)
    assert captured == 4
    replay = subprocess.run(
        [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "-n", "-C", str(flows), *trust,
         "--set", f"confdir={confdir}"],
        capture_output=True, text=True, timeout=60,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    replayed = provider.records[captured:]
    assert len(replayed) == 4
    assert all(r.valid for r in replayed), [(r.uri, r.reason) for r in replayed]
    assert not {r.nonce for r in replayed} & {r.nonce for r in provider.records[:captured]}


def test_replay_keep_sends_captured_requests_untouched(
    tmp_path: Path, provider: Provider, run_proxy: Any, confdir: Path
) -> None:
    flows = tmp_path / "capture.flows"
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    trust = ("--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    proxy = run_proxy(config, "-w", str(flows), *trust)
    assert curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/me").returncode == 0
    proxy.stop()
    first_nonce = provider.records[0].nonce
    subprocess.run(
        [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "-n", "-C", str(flows), *trust,
         "--set", "oauth1_replay=keep", "--set", f"confdir={confdir}"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert provider.records[1].nonce == first_nonce  # the captured signature, as it was
    assert provider.records[1].valid is False and provider.records[1].reason == "nonce_used"


def test_reading_a_capture_does_not_re_sign(tmp_path: Path, provider: Provider, run_proxy: Any,
                                            confdir: Path) -> None:
    flows, copy = tmp_path / "capture.flows", tmp_path / "copy.flows"
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "-w", str(flows), "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    assert curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/me").returncode == 0
    proxy.stop()
    subprocess.run([str(BIN / "oauth1-proxy"), "run", "--config", str(config), "-n", "-r", str(flows), "-w",
                    str(copy), "--set", f"confdir={confdir}"], capture_output=True, timeout=60, check=True)
    assert copy.read_bytes().count(b"oauth_nonce") == flows.read_bytes().count(b"oauth_nonce")
    assert provider.records[0].nonce is not None
    assert provider.records[0].nonce.encode() in copy.read_bytes()
    assert len(provider.records) == 1  # nothing was sent


def test_token_secret_reaches_the_client_but_not_the_capture(tmp_path: Path, run_proxy: Any) -> None:
    flows = tmp_path / "capture.flows"
    config = write_config(tmp_path / "proxy.yaml", {"x": {"hosts": ["127.0.0.1:9"], "consumer_key": "k",
                                                          "consumer_secret": CONSUMER_SECRET}})
    with Provider(clients=[ProviderClient(key=OTHER_KEY, secret=OTHER_SECRET)]) as other:
        proxy = run_proxy(config, "-w", str(flows))
        secret = client_side_dance(other, proxy.url)
        proxy.stop()
    assert secret and secret != "REDACTED"
    assert secret.encode() not in flows.read_bytes()
    assert TOKEN_SECRET not in proxy.text()


def test_capture_guard_works_with_each_output_alone(tmp_path: Path, provider: Provider, run_proxy: Any) -> None:
    # Issue 5: the guard joins mitmproxy's chain only while something records or shows flows; each output
    # alone must still bring it: -w by itself (flow_detail 0), and mitmdump's default flow_detail (1), which
    # prints every URL, with a PLAINTEXT signature in the query.
    config = write_config(tmp_path / "proxy.yaml", {
        "plainq": profile_for(provider, signature_method="PLAINTEXT", placement="query", path_prefix="/api/echo/q"),
        "plain": profile_for(provider, signature_method="PLAINTEXT", path_prefix="/api/echo/h"),
    })
    trust = ("--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    flows = tmp_path / "alone.flows"
    outputs: dict[str, bytes] = {}
    for name, args in (("-w alone", ("-w", str(flows), "--set", "flow_detail=0")), ("default flow_detail", ())):
        proxy = run_proxy(config, *args, *trust)
        ca = ("--cacert", str(proxy.ca_file), "-x", proxy.url)
        for path in ("/api/echo/q?x=1", "/api/echo/h?x=1"):
            assert curl(*ca, f"{provider.base_url}{path}").returncode == 0
        proxy.stop()
        outputs[f"{name}: stdout"] = proxy.text().encode()
    outputs["-w alone: capture"] = flows.read_bytes()
    assert len(provider.records) == 4  # every call was signed and forwarded
    # oauthlib decodes oauth_* query values twice (README: seen and left alone), so only header placement verifies.
    assert all(r.valid for r in provider.records if "/api/echo/h" in r.uri)
    assert b"oauth_signature" in outputs["-w alone: capture"]
    assert b"/api/echo/q" in outputs["default flow_detail: stdout"]  # flow_detail 1 printed the URLs
    for name, data in outputs.items():
        assert b"e2e-consumer-secret" not in data and b"e2e-token-secret" not in data, name
        for secret in SECRETS:
            assert requests.utils.quote(secret, safe="").encode() not in data, name
