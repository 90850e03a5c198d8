"""`oauth1-proxy sign` prints a request that passes the strict wire grammar and every verifier (issue 12, SPEC §9).

Before commit 42fea3b the printed Authorization carried oauth_signature twice
(raw, then encoded); parse_wire refuses that, so these tests fail on it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from oauth1_proxy.wire_grammar import parse_wire
from tests.wire import verify_signed_request

SCRIPT = Path(sys.executable).parent / "oauth1-proxy"
CONSUMER_SECRET, TOKEN_SECRET = "c s&+/é", "t%s="
CONFIG = """\
token_store: tokens.yaml
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: "ck +1"
    consumer_secret: "{consumer_secret}"
    token: "tk/2="
    token_secret: "{token_secret}"
    signature_method: {method}
    placement: {placement}
{extra}"""


def sign(tmp_path: Path, *args: str, method: str = "HMAC-SHA1", placement: str = "header",
         extra: str = "") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(CONFIG.format(
        consumer_secret=CONSUMER_SECRET, token_secret=TOKEN_SECRET, method=method, placement=placement,
        extra=extra)), encoding="utf-8")
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    return subprocess.run([str(SCRIPT), "sign", "--config", str(config), *args], capture_output=True, text=True,
                          timeout=20, env=env, cwd=tmp_path)


def printed_request(stdout: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """The printed request: method, URL, headers, body."""
    head, _, body = stdout.partition("\n\n")
    request_line, *header_lines = head.splitlines()
    method, _, url = request_line.partition(" ")
    headers = [(name, value.strip()) for name, _, value in (line.partition(":") for line in header_lines)]
    return method, url, headers, body.rstrip("\n").encode()


CASES = [
    ("header", "HMAC-SHA1", "", ()),
    ("header-realm", "HMAC-SHA256", '    realm: "Ph\\"otos"\n', ()),
    ("query", "HMAC-SHA512", "", ()),
    ("body", "HMAC-SHA1", "", ("-d", "a=1&b=%27$+x")),
    ("header-plaintext", "PLAINTEXT", "", ("--show-secrets",)),
    ("query-plaintext", "PLAINTEXT", "", ("--show-secrets",)),
]


@pytest.mark.parametrize(("case", "method", "extra", "args"), CASES, ids=[c[0] for c in CASES])
def test_sign_printed_request_each_parameter_once_and_verified(
    tmp_path: Path, case: str, method: str, extra: str, args: tuple[str, ...]
) -> None:
    placement = case.split("-")[0]
    result = sign(tmp_path, *args, "https://api.example.com/v1/a%20b?q=caf%C3%A9&x='$", method=method,
                  placement=placement, extra=extra)
    assert result.returncode == 0, result.stderr
    verb, url, headers, body = printed_request(result.stdout)
    authorization = [v for k, v in headers if k == "Authorization"]
    if placement == "header":
        assert len(authorization) == 1
        for name in ("oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_timestamp",
                     "oauth_nonce", "oauth_version", "oauth_signature"):
            assert authorization[0].count(f'{name}="') == 1, (name, authorization[0])
    else:
        assert authorization == []
    wire = parse_wire(verb, url, headers, body)
    assert wire.placement == placement
    verification = verify_signed_request(verb, url, headers, body, consumer_secret=CONSUMER_SECRET,
                                         token_secret=TOKEN_SECRET)
    assert verification.params["oauth_consumer_key"] == "ck +1" and verification.params["oauth_token"] == "tk/2="
    assert verification.verifiers[:2] == ["strict-grammar", "rfc-recipe"] and verification.libraries
    if case == "header-realm":
        assert wire.realm == 'Ph"otos'


@pytest.mark.parametrize("realm", [None, "Photos"], ids=["no-realm", "realm"])
def test_sign_printed_authorization_with_unreserved_values_has_one_signature(
    tmp_path: Path, realm: str | None
) -> None:
    # Unreserved values take signing's fast path, where issue 12's duplicate was.
    config = tmp_path / "config.yaml"
    config.write_text(
        "token_store: tokens.yaml\nprofiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n"
        "    consumer_secret: cs\n    token: tk\n    token_secret: ts\n"
        + (f"    realm: {realm}\n" if realm else ""), encoding="utf-8")
    result = subprocess.run([str(SCRIPT), "sign", "--config", str(config), "https://api.example.com/v1/items?a=1"],
                            capture_output=True, text=True, timeout=20, env={**os.environ, "HOME": str(tmp_path)},
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    verb, url, headers, body = printed_request(result.stdout)
    (authorization,) = [v for k, v in headers if k == "Authorization"]
    assert authorization.count("oauth_signature=") == 1, authorization
    verification = verify_signed_request(verb, url, headers, body, consumer_secret="cs", token_secret="ts")
    assert verification.verifiers == ["strict-grammar", "rfc-recipe", "oauthlib", "authlib"]
    assert verification.wire.realm == realm
