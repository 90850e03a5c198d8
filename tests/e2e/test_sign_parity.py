"""`oauth1-proxy sign` and the proxy give the same bytes for the same inputs (issue 13, SPEC §3).

One real proxy (``oauth1-proxy run``) signs requests to a recording loopback
upstream (test_wire_strict's), one profile per path prefix: every placement,
RSA, a realm, body hashes, and each preset of config/presets/. Each request
the upstream received is then signed again with ``oauth1-proxy sign --nonce N
--timestamp T``, N and T read from what the upstream received, and the
Authorization value, the URL and the body must be identical.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.e2e.conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, write_config
from tests.e2e.test_wire_strict import Received, RecordingUpstream, through_proxy

PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "config" / "presets").glob("*.yaml"))
FORM = "application/x-www-form-urlencoded"
STATIC = {"consumer_secret": CONSUMER_SECRET, "token": TOKEN, "token_secret": TOKEN_SECRET}


@dataclass(frozen=True)
class Case:
    name: str  # the profile, and its path prefix /NAME/
    settings: dict[str, Any]
    method: str = "GET"
    rest: str = "items?a=1&b=%7e"  # after /NAME/
    content_type: str | None = None
    body: bytes = b""


def cases(keys: dict[str, str]) -> list[Case]:
    rsa1 = {"signature_method": "RSA-SHA1", "private_key_file": keys["pem"], "token": TOKEN,
            "token_secret": TOKEN_SECRET}
    found = [
        Case("header", STATIC),
        Case("header-form", STATIC, "POST", "f?z=1", FORM, b"a=1&b=x+y&c=%7E"),
        Case("query", {**STATIC, "placement": "query"}, rest="q?x=%2B1&y='"),
        Case("query-form", {**STATIC, "placement": "query"}, "POST", "qf", FORM, b"a=b"),
        Case("body", {**STATIC, "placement": "body"}, "POST", "b?z=1", FORM, b"name=J%C3%B6rg&q=x+y"),
        Case("plaintext", {**STATIC, "signature_method": "PLAINTEXT", "allow_insecure": True}),
        Case("plaintext-query", {**STATIC, "signature_method": "PLAINTEXT", "placement": "query",
                                 "allow_insecure": True}),
        Case("rsa-sha1", rsa1),
        Case("rsa-sha256-body-hash", {**rsa1, "signature_method": "RSA-SHA256", "body_hash": True}, "PUT", "r",
             "application/json", b'{"a": 1}'),
        Case("realm", {**STATIC, "realm": 'Ph"o\\tos'}),
        Case("hmac-sha512-json", {**STATIC, "signature_method": "HMAC-SHA512"}, "POST", "j", "application/json",
             b'{"a": [1, 2]}'),
        Case("body-hash", {**STATIC, "body_hash": True}, "POST", "h", "text/plain", b"hello"),
        Case("body-hash-always-form", {**STATIC, "body_hash": "always"}, "POST", "ha", FORM, b"a=1"),
        Case("clock-skew", {**STATIC, "clock_skew": 3600}),
        Case("consumer-only", {"consumer_secret": CONSUMER_SECRET}),
    ]
    for preset in PRESETS:
        settings: dict[str, Any] = {"preset": preset, **STATIC}
        if preset == "jira":
            settings = {"preset": preset, **rsa1}
            del settings["signature_method"]
        elif preset == "mastercard":
            settings = {"preset": preset, "private_key_file": keys["p12"], "private_key_password": "pw"}
        elif preset in ("woocommerce", "lti11"):
            settings = {"preset": preset, "consumer_secret": CONSUMER_SECRET}
        found.append(Case(f"preset-{preset}", settings, rest="v1/x?searchCriteria[a][0]=sku&b=1"))
        found.append(Case(f"preset-{preset}-form", settings, "POST", "v1/f?z=1", FORM, b"photo=raw&a=1"))
        found.append(Case(f"preset-{preset}-xml", settings, "POST", "v1/o", "application/xml", b"<a>1</a>"))
    return found


def make_keys(tmp_path: Path) -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem, p12 = tmp_path / "key.pem", tmp_path / "key.p12"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption()))
    p12.write_bytes(pkcs12.serialize_key_and_certificates(b"k", key, None, None,
                                                          serialization.BestAvailableEncryption(b"pw")))
    for path in (pem, p12):
        path.chmod(0o600)
    return {"pem": str(pem), "p12": str(p12)}


# Every request names its client: the discogs preset refuses one without a User-Agent (require_headers).
USER_AGENT = "sign-parity/1.0"
OAUTH_VALUE = r'(?:^|[\s,&?"]){name}(?:="|=)([^"&,\s]+)'


def oauth_value(received: Received, name: str) -> str:
    """oauth_nonce or oauth_timestamp as the upstream received it (header, query or body)."""
    texts = [v for k, v in received.headers if k.lower() == "authorization"]
    texts += [received.target, received.body.decode("latin-1")]
    for text in texts:
        found = re.search(OAUTH_VALUE.format(name=name), text)
        if found:
            return found.group(1)
    raise AssertionError(f"no {name} in what the upstream received: {received}")


def sign_again(config: Path, case: Case, url: str, nonce: str, timestamp: str,
               home: Path) -> tuple[str, str | None, bytes]:
    """Sign the same request with the CLI; its URL, Authorization value and body."""
    args = [str(BIN / "oauth1-proxy"), "sign", "--config", str(config), "--nonce", nonce, "--timestamp", timestamp,
            "--show-secrets", "-X", case.method, "-H", f"User-Agent: {USER_AGENT}"]
    if case.content_type is not None:
        args += ["-H", f"Content-Type: {case.content_type}"]
    if case.body:
        args += ["-d", case.body.decode("utf-8")]
    result = subprocess.run([*args, url], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "HOME": str(home)})
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition("\n\n")
    request_line, *lines = head.split("\n")
    authorization = next((line.partition(": ")[2] for line in lines if line.lower().startswith("authorization:")),
                         None)
    return request_line.partition(" ")[2], authorization, body.removesuffix("\n").encode("utf-8")


def test_sign_gives_the_proxys_bytes_for_every_placement_method_and_preset(
    tmp_path: Path, run_proxy: Any,
) -> None:
    upstream = RecordingUpstream()
    try:
        authority = f"127.0.0.1:{upstream.port}"
        all_cases = cases(make_keys(tmp_path))
        profiles = {c.name: {"hosts": [authority], "consumer_key": CONSUMER_KEY, "path_prefix": f"/{c.name}/",
                             **c.settings} for c in all_cases}
        config = write_config(tmp_path / "proxy.yaml", profiles)
        proxy = run_proxy(config)
        compared: list[str] = []
        for case in all_cases:
            target = f"/{case.name}/{case.rest}"
            head = [f"{case.method} http://{authority}{target} HTTP/1.1", f"Host: {authority}",
                    f"Content-Length: {len(case.body)}", "Connection: close", f"User-Agent: {USER_AGENT}"]
            if case.content_type is not None:
                head.append(f"Content-Type: {case.content_type}")
            answer = through_proxy(proxy.port, "\r\n".join(head).encode() + b"\r\n\r\n" + case.body)
            assert answer.startswith(b"HTTP/1.1 200"), (case.name, answer[:400])
            received = upstream.received[-1]
            url, authorization, body = sign_again(
                config, case, f"http://{authority}{target}", oauth_value(received, "oauth_nonce"),
                oauth_value(received, "oauth_timestamp"), tmp_path / "home")
            sent_authorization = next((v for k, v in received.headers if k.lower() == "authorization"), None)
            assert (url, authorization, body) == (received.url, sent_authorization, received.body), case.name
            if case.name == "clock-skew":
                assert int(oauth_value(received, "oauth_timestamp")) > int(__import__("time").time()) + 3000
            compared.append(case.name)
        assert len(compared) == len(all_cases) and {f"preset-{p}" for p in PRESETS} <= set(compared)
    finally:
        upstream.close()


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_file_is_in_the_parity_run(preset: str) -> None:
    assert f"preset-{preset}" in {c.name for c in cases({"pem": "k.pem", "p12": "k.p12"})}
