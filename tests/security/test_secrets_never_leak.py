"""Promise: secrets never leak (SPEC §8). The suite's scenarios run once, at every verbosity, and every output
they produce is scanned for the known test secrets in every encoding.

Scenarios: HMAC and PLAINTEXT (header, query, body) calls over https, PLAINTEXT over http (allowed, refused),
a call the provider refuses (diagnosed with oauth1_debug), not logged in, a spoofed Host, an upstream down
after signing, an untrusted upstream, the helper's dance and a failing login, ``check`` and ``sign``, config
errors, and the repr() of every config and token value.
Outputs: the proxy's stdout/stderr (termlog_verbosity=debug, flow_detail=4, proxy_debug), -w, hardump,
helper pages, every answer the client got, the CLI's output, reprs and exception messages.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from oauth1_proxy.config import load_config
from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.errors import ConfigError
from oauth1_proxy.tokens import FileTokenStore, token_for
from tests.e2e.conftest import (
    BIN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    TOKEN,
    TOKEN_SECRET,
    curl,
    profile_for,
    start_proxy,
    write_config,
)
from tests.e2e.helper_forms import log_out, start_login
from tests.test_mitmproxy_addon import make_flow, signer_for

from .support import leaks, plaintext_signature_forms, raw_request

WRONG_SECRET = "e2e-consumer-secret-wrong-&"
HELPER = "http://oauth1.proxy"
STEMS = (b"e2e-consumer-secret", b"e2e-token-secret")  # every encoding of the test secrets keeps these


@dataclass
class Scan:
    outputs: dict[str, bytes] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=lambda: [CONSUMER_SECRET, TOKEN_SECRET, WRONG_SECRET])
    records: list[Any] = field(default_factory=list)
    tls_port: int = 0

    def add(self, name: str, data: bytes | str) -> None:
        self.outputs[name] = self.outputs.get(name, b"") + (data.encode() if isinstance(data, str) else data) + b"\n"


def capture_issued_secrets(provider: Provider, scan: Scan) -> None:
    """Record every token secret the dance provider hands out (temporary and token credentials)."""
    validator: Any = provider._validator
    for method in ("save_request_token", "save_access_token"):
        original = getattr(validator, method)

        def save(token: Any, request: Any, _original: Any = original) -> None:
            scan.secrets.append(token["oauth_token_secret"])
            _original(token, request)

        setattr(validator, method, save)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> Iterator[Scan]:
    tmp = tmp_path_factory.mktemp("leaks")
    result = Scan()
    clients = [ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)]
    tokens = {TOKEN: TOKEN_SECRET}
    tls = Provider(clients=clients, access_tokens=tokens, tls=True, cert_dir=tmp / "tls").start()
    untrusted = Provider(clients=clients, access_tokens=tokens, tls=True, cert_dir=tmp / "untrusted").start()
    plain = Provider(clients=clients, access_tokens=tokens).start()
    dance = Provider(clients=clients).start()
    capture_issued_secrets(dance, result)
    down = 9  # discard: nothing listens
    dance_urls = {"request_token_url": dance.request_token_url, "authorize_url": dance.authorize_url,
                  "access_token_url": dance.access_token_url}
    config = write_config(tmp / "proxy.yaml", {
        "hmac": profile_for(tls, path_prefix="/api/echo/hmac"),
        "plain": profile_for(tls, path_prefix="/api/echo/plain", signature_method="PLAINTEXT"),
        "plainq": profile_for(tls, path_prefix="/api/echo/plainq", signature_method="PLAINTEXT", placement="query"),
        "plainb": profile_for(tls, path_prefix="/api/echo/plainb", signature_method="PLAINTEXT", placement="body"),
        "hashed": profile_for(tls, path_prefix="/api/me", signature_method="HMAC-SHA256", body_hash=True),
        "refused": profile_for(tls, path_prefix="/api/echo/refused", token="not-a-token"),
        "insecure": profile_for(plain, path_prefix="/api/echo/insecure", signature_method="PLAINTEXT",
                                allow_insecure=True),
        "cleartext": profile_for(plain, path_prefix="/api/echo/cleartext", signature_method="PLAINTEXT"),
        "down": profile_for(plain, hosts=[f"127.0.0.1:{down}"], signature_method="PLAINTEXT", allow_insecure=True),
        "untrusted": profile_for(untrusted, signature_method="PLAINTEXT"),
        "dance": {**profile_for(dance, token=None, token_secret=None), **dance_urls},
        "badlogin": {**profile_for(dance, path_prefix="/bad/", token=None, token_secret=None,
                                   consumer_secret=WRONG_SECRET), **dance_urls},
    })
    flows, har = tmp / "capture.flows", tmp / "capture.har"
    command = [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0", "-w", str(flows),
               "--set", f"hardump={har}", "--set", "termlog_verbosity=debug", "--set", "flow_detail=4",
               "--set", "proxy_debug=true", "--set", "oauth1_debug=true",
               "--set", f"ssl_verify_upstream_trusted_ca={tls.ca_file}"]
    proxy = start_proxy(command, confdir)
    try:
        run_scenarios(result, proxy, tls, untrusted, plain, dance, tmp)
    finally:
        proxy.stop()
        for p in (tls, untrusted, plain, dance):
            p.stop()
    result.add("proxy stdout and stderr", proxy.text())
    result.add("saved flows (-w)", flows.read_bytes())
    result.add("HAR (hardump)", har.read_bytes())
    result.records = [*tls.records, *plain.records, *dance.records]
    result.tls_port = tls.port
    run_offline_outputs(result, config, tmp)
    yield result


def run_scenarios(scan: Scan, proxy: Any, tls: Provider, untrusted: Provider, plain: Provider, dance: Provider,
                  tmp: Path) -> None:
    ca = ("--cacert", str(proxy.ca_file), "-x", proxy.url)
    body = tmp / "form"
    body.write_bytes(b"status=hello%20world&n=1")
    calls = [
        (*ca, f"{tls.base_url}/api/echo/hmac?q=1"),
        (*ca, "-d", "a=1", f"{tls.base_url}/api/echo/hmac/form"),
        (*ca, f"{tls.base_url}/api/echo/plain?x=%7E"),
        (*ca, f"{tls.base_url}/api/echo/plainq?x=1"),
        (*ca, "--data-binary", f"@{body}", f"{tls.base_url}/api/echo/plainb"),
        (*ca, "-H", "Content-Type: application/json", "-d", '{"a": 1}', f"{tls.base_url}/api/me"),
        (*ca, f"{tls.base_url}/api/echo/refused"),
        (*ca, f"{untrusted.base_url}/api/echo/untrusted"),
        (*ca, "-H", "Host: evil.test", f"{tls.base_url}/api/echo/hmac/spoofed"),
        ("-x", proxy.url, f"{plain.base_url}/api/echo/insecure"),
        ("-x", proxy.url, "-d", "a=1", f"{plain.base_url}/api/echo/insecure/form"),
        ("-x", proxy.url, f"{plain.base_url}/api/echo/cleartext"),
        ("-x", proxy.url, "http://127.0.0.1:9/api/echo/down"),
        ("-x", proxy.url, f"{dance.base_url}/api/me"),  # not logged in yet
    ]
    for args in calls:
        result = curl("-i", *args)
        scan.add("answers the client got", result.stdout + result.stderr)
    chunked = raw_request(proxy.port, (
        f"POST {plain.base_url}/api/echo/insecure/chunked HTTP/1.1\r\nHost: 127.0.0.1:{plain.port}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\na=1\r\n0\r\n\r\n").encode())
    scan.add("answers the client got", chunked.body)

    s = requests.Session()
    s.proxies = {"http": proxy.url, "https": proxy.url}
    pages = [s.get(f"{HELPER}/", timeout=20), s.get(f"{HELPER}/status.json", timeout=20)]
    login = start_login(s, f"{HELPER}/login/dance")
    token = parse_qs(urlsplit(login.headers["Location"]).query)["oauth_token"][0]
    verifier = dance.approve(token)
    callback = s.get(f"{HELPER}/callback/dance?oauth_token={token}&oauth_verifier={verifier}", timeout=20)
    assert "is now logged in" in callback.text, callback.text
    replayed = s.get(f"{HELPER}/callback/dance?oauth_token={token}&oauth_verifier={verifier}", timeout=20)
    pages += [login, callback, replayed, s.get(f"{HELPER}/login/badlogin", timeout=20),
              s.get(f"{HELPER}/", timeout=20), s.get(f"{HELPER}/status.json", timeout=20)]
    direct = re.search(r"(http://127\.0\.0\.1:\d+/) direct", "\n".join(proxy.output))
    assert direct, proxy.text()
    pages += [requests.get(f"{direct.group(1)}{path}", timeout=20) for path in ("", "status.json")]
    for page in pages:
        scan.add("helper pages", "".join(f"{k}: {v}\n" for k, v in page.headers.items()).encode() + page.content)
    me = s.get(f"{dance.base_url}/api/me", timeout=20)  # now signed with the token from the dance
    assert me.status_code == 200, me.text
    scan.add("answers the client got", me.content)
    status = subprocess.run([str(BIN / "oauth1-proxy"), "status", "--config", str(proxy_config(proxy))],
                            capture_output=True, timeout=60)  # the dance's token is in the store now
    assert status.returncode == 0 and b"logged in since" in status.stdout, status.stdout + status.stderr
    scan.add("status, logout and exec output", status.stdout + status.stderr)
    logout = log_out(s, f"{HELPER}/", "dance")
    scan.add("helper pages", logout.content)
    # exec (SPEC §13): its proxy at debug verbosity, a PLAINTEXT call from a client that knows nothing of it.
    executed = subprocess.run(
        [str(BIN / "oauth1-proxy"), "exec", "--config", str(proxy_config(proxy)), "--set", f"confdir={proxy.confdir}",
         "--set", f"ssl_verify_upstream_trusted_ca={tls.ca_file}", "--set", "termlog_verbosity=debug",
         "--set", "flow_detail=4", "--", "curl", "-sS", "-i", f"{tls.base_url}/api/echo/plain?via=exec"],
        capture_output=True, timeout=120)
    assert executed.returncode == 0 and b'"ok": true' in executed.stdout.replace(b'"ok":true', b'"ok": true'), \
        executed.stdout + executed.stderr
    scan.add("status, logout and exec output", executed.stdout + executed.stderr)


def proxy_config(proxy: Any) -> Path:
    """The config file a running ``oauth1-proxy run`` was started with."""
    args = list(proxy.process.args)
    return Path(args[args.index("--config") + 1])


def run_offline_outputs(scan: Scan, config: Path, tmp: Path) -> None:
    """The CLI, reprs and exception messages, with the same config."""
    logout = subprocess.run([str(BIN / "oauth1-proxy"), "logout", "dance", "--config", str(config)],
                            capture_output=True, timeout=60)
    scan.add("status, logout and exec output", logout.stdout + logout.stderr)
    for args in (["check"], ["sign", f"https://localhost:{scan.tls_port}/api/echo/plain"],
                 ["sign", "--explain", "-d", "a=1", "http://127.0.0.1:9/api/echo/down"]):
        result = subprocess.run([str(BIN / "oauth1-proxy"), args[0], "--config", str(config), *args[1:]],
                                capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr
        scan.add("check and sign output", result.stdout + result.stderr)

    loaded = load_config(config)
    store = FileTokenStore(loaded.token_store)
    values: list[object] = [loaded, *loaded.profiles, *(p.client for p in loaded.profiles), store.all()]
    values += [token_for(p, store, login_url="http://x/") for p in loaded.profiles if not p.has_dance]
    scan.add("repr() of config and token values", "\n".join(repr(v) for v in values))
    assert "hmac" in scan.outputs["repr() of config and token values"].decode()

    head = "profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: k\n"
    quoted = json.dumps(CONSUMER_SECRET)
    broken = {
        "secret-not-a-string": f"{head}    consumer_secret: [{quoted}]\n",
        "unclosed-quote-on-the-secret-line": f'{head}    consumer_secret: "{CONSUMER_SECRET}\n    token: t\n',
        "bad-tag-on-the-secret-line": f"{head}    consumer_secret: !!int {quoted}\n",
        "misspelt-secret-key": f"{head}    consumer_secert: {quoted}\n",
        "secret-twice": f"{head}    consumer_secret: {quoted}\n    consumer_secret: {quoted}\n",
        "secret-without-token": f"{head}    consumer_secret: x\n    token_secret: {json.dumps(TOKEN_SECRET)}\n",
    }
    for name, text in broken.items():
        path = tmp / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        scan.add("config error messages", f"{name}: {info.value}")
        run = subprocess.run([str(BIN / "oauth1-proxy"), "run", "--config", str(path)], capture_output=True,
                             timeout=60)
        assert run.returncode == 1
        scan.add("config error messages", run.stdout + run.stderr)


OUTPUTS = ["proxy stdout and stderr", "saved flows (-w)", "HAR (hardump)", "helper pages", "answers the client got",
           "check and sign output", "repr() of config and token values", "config error messages",
           "status, logout and exec output"]


@pytest.mark.parametrize("output", OUTPUTS)
def test_output_never_holds_a_test_secret_in_any_encoding(scan: Scan, output: str) -> None:
    data = scan.outputs[output]
    found = leaks(data, scan.secrets, plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET))
    found += [stem.decode() for stem in STEMS if stem in data]
    assert found == [], (output, found)


def test_scenarios_really_signed_with_the_secrets_being_scanned_for(scan: Scan) -> None:
    def where(r: Any) -> tuple[str, str]:
        return r.signature_method, r.uri.split("?")[0].rsplit("/api/", 1)[-1]

    valid = {where(r) for r in scan.records if r.valid}
    assert {("HMAC-SHA1", "echo/hmac"), ("HMAC-SHA1", "echo/hmac/form"), ("PLAINTEXT", "echo/plain"),
            ("HMAC-SHA256", "me"), ("PLAINTEXT", "echo/insecure"), ("PLAINTEXT", "echo/insecure/form"),
            ("PLAINTEXT", "echo/insecure/chunked"), ("HMAC-SHA1", "me")} <= valid
    # PLAINTEXT in the query and the body arrive signed; oauthlib's server decodes oauth_* values a second
    # time there (collect_parameters' unescape), so it cannot verify these secrets' "%" escapes.
    assert {("PLAINTEXT", "echo/plainq"), ("PLAINTEXT", "echo/plainb")} <= {where(r) for r in scan.records}
    assert any(r.reason == "token_rejected" for r in scan.records)  # the refused call reached the provider
    assert len(scan.secrets) >= 5  # the dance's temporary and token secrets were captured


def test_scanned_outputs_hold_the_traffic_they_are_meant_to(scan: Scan) -> None:
    log = scan.outputs["proxy stdout and stderr"]
    assert b"signed profile=plainb POST" in log and b"SendData(server" in log  # proxy_debug's raw bytes
    assert b"Authorization: OAuth" in log or b"authorization: OAuth" in log  # flow_detail=4's headers
    assert b"our signature base string" in log  # oauth1_debug
    for name in ("saved flows (-w)", "HAR (hardump)"):
        assert b"oauth_signature" in scan.outputs[name] and b"REDACTED" in scan.outputs[name]
    assert b"is now logged in" in scan.outputs["helper pages"]
    assert b'"message"' in scan.outputs["answers the client got"]  # the proxy's refusals
    assert b"cannot be read" in scan.outputs["config error messages"]


def test_internal_error_message_holding_a_secret_is_not_passed_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # An exception's text may quote anything it was given; only its type name is shown.
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"boom with {CONSUMER_SECRET} inside")

    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr("oauth1_proxy.policy.sign_request", broken)
    with signer_for(tmp_path, f'profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: k\n'
                              f'    consumer_secret: {json.dumps(CONSUMER_SECRET)}\n') as signer:
        flow = make_flow()
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 502
    assert leaks(flow.response.content or b"", [CONSUMER_SECRET]) == []
    assert leaks(caplog.text.encode(), [CONSUMER_SECRET]) == []
    assert "RuntimeError" in caplog.text

