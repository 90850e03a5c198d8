"""Through a real oauth1-proxy (mitmdump) to a provider that verifies every signature with oauthlib."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from oauth1_proxy.devtools.provider import Provider

from .conftest import (
    CONSUMER_KEY,
    SECRETS,
    TOKEN,
    curl,
    profile_for,
    write_config,
)


def trusting(provider: Provider) -> tuple[str, str]:
    assert provider.ca_file is not None
    return ("--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")


def echo(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def only_valid(provider: Provider) -> None:
    assert provider.records, "the provider received no request"
    refused = [(r.uri, r.reason) for r in provider.records if not r.valid]
    assert not refused, refused


@pytest.fixture
def signed_proxy(tmp_path: Path, provider: Provider, run_proxy: Any) -> Any:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    return run_proxy(config, *trusting(provider))


def test_proxy_https_get_with_curl_http11_verifies(provider: Provider, signed_proxy: Any) -> None:
    result = curl("--http1.1", "--cacert", str(signed_proxy.ca_file), "-x", signed_proxy.url,
                  f"{provider.base_url}/api/echo?b=2&a=1&a=&flag&sp=a+b&pct=%2B%7E")
    body = echo(result)
    assert body["ok"] is True
    assert body["query"] == "b=2&a=1&a=&flag&sp=a+b&pct=%2B%7E"  # the client's bytes, not re-encoded
    assert body["token"] == TOKEN
    only_valid(provider)


def test_proxy_https_get_with_curl_http2_verifies(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    # The provider speaks HTTP/1.1 only; with the lazy strategy mitmproxy offers
    # h2 to the client before it connects upstream, so curl really sends HTTP/2.
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "--set", "connection_strategy=lazy", *trusting(provider))
    result = curl("--http2", "-i", "--cacert", str(proxy.ca_file), "-x", proxy.url,
                  f"{provider.base_url}/api/echo/h2?x=1")
    assert result.returncode == 0, result.stderr
    assert b"\r\n\r\nHTTP/2 200" in result.stdout, result.stdout[:200]
    only_valid(provider)
    assert provider.records[-1].uri == f"{provider.base_url}/api/echo/h2?x=1"


@pytest.mark.parametrize(
    ("method", "content_type", "body"),
    [
        ("POST", "application/json", b'{"status": "hello \\u00e9"}'),
        ("POST", "application/x-www-form-urlencoded", b"status=Hello%20Ladies+%2B%20Gentlemen&a=1&a=2&empty="),
        ("POST", "application/x-www-form-urlencoded; charset=UTF-8", b"status=caf%C3%A9&x=%7E"),
        ("PUT", "Application/X-WWW-Form-URLEncoded", b"k=v"),
        ("PATCH", "application/json", b"[1, 2, 3]"),
        ("DELETE", None, b""),
        ("POST", "application/octet-stream", bytes(range(256))),
        ("POST", "multipart/form-data; boundary=XyZ",
         b"--XyZ\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.bin\"\r\n\r\n\x00\x01\r\n--XyZ--\r\n"),
    ],
    ids=["json", "form", "form-charset", "form-mixed-case-put", "patch-json", "delete", "binary", "multipart"],
)
def test_proxy_signs_every_method_and_body_kind(
    provider: Provider, signed_proxy: Any, tmp_path: Path, method: str, content_type: str | None, body: bytes
) -> None:
    body_file = tmp_path / "body"
    body_file.write_bytes(body)
    args = ["-X", method, "--cacert", str(signed_proxy.ca_file), "-x", signed_proxy.url]
    if content_type:
        args += ["-H", f"Content-Type: {content_type}"]
    if body:
        args += ["--data-binary", f"@{body_file}"]
    data = echo(curl(*args, f"{provider.base_url}/api/echo/{method.lower()}?q=1"))
    assert data["method"] == method
    assert data["body_length"] == len(body)
    only_valid(provider)


def test_proxy_python_requests_client_verifies(provider: Provider, signed_proxy: Any) -> None:
    response = requests.post(
        f"{provider.base_url}/api/echo/requests",
        data={"status": "tweet ~ with + and spaces", "lang": "en"},
        proxies={"https": signed_proxy.url, "http": signed_proxy.url},
        verify=str(signed_proxy.ca_file),
        timeout=20,
    )
    assert response.status_code == 200, response.text
    only_valid(provider)


def test_proxy_gives_every_request_a_fresh_nonce(provider: Provider, signed_proxy: Any) -> None:
    for _ in range(3):
        echo(curl("--cacert", str(signed_proxy.ca_file), "-x", signed_proxy.url, f"{provider.base_url}/api/me"))
    nonces = {r.nonce for r in provider.records}
    assert len(nonces) == 3
    assert all(n is not None and len(n) >= 32 for n in nonces)  # 128 bits as hex
    only_valid(provider)


def test_proxy_replaces_client_supplied_oauth_header_and_params(provider: Provider, signed_proxy: Any) -> None:
    result = curl(
        "--cacert", str(signed_proxy.ca_file), "-x", signed_proxy.url,
        "-H", 'Authorization: OAuth oauth_consumer_key="forged", oauth_signature="bad"',
        "--data-binary", "a=1&oauth_signature=forged&oauth_nonce=stale",
        f"{provider.base_url}/api/echo/replace?oauth_token=forged&keep=1",
    )
    data = echo(result)
    assert data["query"] == "keep=1"
    assert data["consumer_key"] == CONSUMER_KEY
    only_valid(provider)


def test_proxy_reverse_mode_signs_for_the_upstream_url(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "--mode", f"reverse:{provider.base_url}", *trusting(provider))
    data = echo(curl(f"http://127.0.0.1:{proxy.port}/api/echo/reverse?x=1", "-d", "a=b"))
    assert data["path"].startswith("/api/echo/reverse")
    only_valid(provider)
    assert provider.records[-1].uri.startswith(f"{provider.base_url}/api/echo/reverse")


def test_proxy_upstream_mode_signs_through_a_second_proxy(
    tmp_path: Path, provider: Provider, run_proxy: Any, run_mitmdump: Any
) -> None:
    second = run_mitmdump("--ignore-hosts", ".*")  # tunnels TLS untouched
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "--mode", f"upstream:{second.url}", *trusting(provider))
    data = echo(curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/echo/up"))
    assert data["ok"] is True
    only_valid(provider)


def test_proxy_upstream_mode_plain_http_signs(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, run_mitmdump: Any
) -> None:
    second = run_mitmdump()
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    proxy = run_proxy(config, "--mode", f"upstream:{second.url}")
    echo(curl("-x", proxy.url, f"{http_provider.base_url}/api/echo/up-http?z=%20"))
    only_valid(http_provider)


def test_proxy_passes_unmatched_host_byte_for_byte(tmp_path: Path, http_provider: Provider, run_proxy: Any) -> None:
    # The profile names another port, so requests to the provider are not matched.
    config = write_config(tmp_path / "proxy.yaml", {"other": profile_for(http_provider, hosts=["127.0.0.1:9"])})
    proxy = run_proxy(config)
    body = b"a=1&b=%7E+x&oauth_nonce=client-own"
    body_file = tmp_path / "b"
    body_file.write_bytes(body)
    result = curl("-x", proxy.url, "--data-binary", f"@{body_file}",
                  f"{http_provider.base_url}/api/echo/x?q=%7E+1&oauth_token=client")
    assert result.returncode == 0
    record = http_provider.records[-1]
    assert record.body == body
    assert record.uri.endswith("/api/echo/x?q=%7E+1&oauth_token=client")
    assert record.signature_method is None  # no Authorization was added


def test_proxy_verifies_upstream_certificates(tmp_path: Path, provider: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config)  # the provider's CA is not trusted
    result = curl("-i", "--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/me")
    # After the CONNECT's "200 Connection established", mitmproxy's own 502.
    final_status_line = result.stdout.split(b"\r\n\r\n", 1)[1].split(b"\r\n", 1)[0]
    assert final_status_line.split()[1] == b"502"
    assert b"Certificate verify failed" in result.stdout
    assert provider.records == []


def test_proxy_refuses_not_logged_in_profile_with_login_url(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    profile = profile_for(
        provider, token=None, token_secret=None,
        request_token_url=provider.request_token_url, authorize_url=provider.authorize_url,
        access_token_url=provider.access_token_url,
    )
    config = write_config(tmp_path / "proxy.yaml", {"dance": profile})
    proxy = run_proxy(config, *trusting(provider))
    result = curl("-i", "--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/me")
    # Skip the CONNECT's "200 Connection established": the proxy's own answer follows.
    _, head, body = result.stdout.split(b"\r\n\r\n", 2)
    assert head.startswith(b"HTTP/1.1 401")
    data = json.loads(body)
    assert data["login_url"] == "http://oauth1.proxy/login/dance"
    assert "not logged in" in data["message"]
    assert provider.records == []  # nothing unsigned left the proxy


def test_proxy_refuses_plaintext_over_plain_http(tmp_path: Path, http_provider: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml",
                          {"api": profile_for(http_provider, signature_method="PLAINTEXT")})
    proxy = run_proxy(config)
    result = curl("-i", "-x", proxy.url, f"{http_provider.base_url}/api/me")
    assert result.stdout.startswith(b"HTTP/1.1 502")
    assert b"PLAINTEXT" in result.stdout
    assert http_provider.records == []


def test_proxy_plaintext_over_https_verifies_and_never_logs_secrets(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider, signature_method="PLAINTEXT")})
    proxy = run_proxy(config, *trusting(provider))
    echo(curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/me"))
    only_valid(provider)
    proxy.stop()
    for secret in SECRETS:
        assert secret not in proxy.text()


@pytest.mark.parametrize("placement", ["query", "body"])
def test_proxy_query_and_body_placement_verify(
    tmp_path: Path, provider: Provider, run_proxy: Any, placement: str
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider, placement=placement)})
    proxy = run_proxy(config, *trusting(provider))
    data = echo(curl("--cacert", str(proxy.ca_file), "-x", proxy.url, "-d", "a=%7E1",
                     f"{provider.base_url}/api/echo/place?q=%7E"))
    assert data["query"].startswith("q=%7E")
    only_valid(provider)


@pytest.mark.parametrize("method", ["HMAC-SHA256", "HMAC-SHA512"])
def test_proxy_hmac_sha2_methods_verify(tmp_path: Path, provider: Provider, run_proxy: Any, method: str) -> None:
    config = write_config(tmp_path / "proxy.yaml",
                          {"api": profile_for(provider, signature_method=method, body_hash=True)})
    proxy = run_proxy(config, *trusting(provider))
    data = echo(curl("--cacert", str(proxy.ca_file), "-x", proxy.url, "-H", "Content-Type: application/json",
                     "-d", '{"a": 1}', f"{provider.base_url}/api/echo/sha2"))
    assert data["signature_method"] == method
    only_valid(provider)
    assert provider.records[-1].body_hash_ok is True


def test_proxy_x_oauth1_profile_header_picks_profile_and_is_removed(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    profiles = {
        "first": profile_for(http_provider, path_prefix="/api/"),
        "second": profile_for(http_provider, path_prefix="/api/echo/", placement="query"),
    }
    config = write_config(tmp_path / "proxy.yaml", profiles)
    proxy = run_proxy(config)
    data = echo(curl("-x", proxy.url, "-H", "X-OAuth1-Profile: first", f"{http_provider.base_url}/api/echo/pick"))
    assert "oauth_signature" not in data["query"]  # "first" signs in the header
    assert "authorization" in data["header_names"]
    assert "x-oauth1-profile" not in data["header_names"]
    data = echo(curl("-x", proxy.url, f"{http_provider.base_url}/api/echo/pick"))
    assert "oauth_signature=" in data["query"]  # the longest prefix ("second") wins by default
    only_valid(http_provider)


def test_proxy_refuses_spoofed_host_header(tmp_path: Path, http_provider: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    proxy = run_proxy(config)
    result = curl("-i", "-x", proxy.url, "-H", "Host: evil.test", f"{http_provider.base_url}/api/me")
    assert result.stdout.startswith(b"HTTP/1.1 400")
    assert http_provider.records == []


def test_proxy_refuses_streamed_body_to_configured_host(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    proxy = run_proxy(config, "--set", "stream_large_bodies=1k")
    body_file = tmp_path / "big"
    body_file.write_bytes(b"a=" + b"x" * 10_000)
    result = curl("-x", proxy.url, "--data-binary", f"@{body_file}", f"{http_provider.base_url}/api/echo/big")
    assert result.returncode != 0 or b'"ok": true' not in result.stdout
    assert http_provider.records == []
    assert proxy.wait_for("streamed")


def test_mitmdump_script_mode_signs(tmp_path: Path, http_provider: Provider, run_mitmdump: Any) -> None:
    import oauth1_proxy.mitmproxy_addon as addon_module

    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    proxy = run_mitmdump("-s", addon_module.__file__, "--set", f"oauth1_config={config}")
    echo(curl("-x", proxy.url, f"{http_provider.base_url}/api/echo/script"))
    only_valid(http_provider)


@pytest.mark.parametrize("method", ["RSA-SHA1", "RSA-SHA256", "RSA-SHA512"])
@pytest.mark.parametrize("key_format", ["pkcs1", "pkcs8"])
def test_proxy_rsa_profile_verifies(tmp_path: Path, run_proxy: Any, method: str, key_format: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from oauth1_proxy.devtools.provider import ProviderClient

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fmt = (serialization.PrivateFormat.TraditionalOpenSSL if key_format == "pkcs1"
           else serialization.PrivateFormat.PKCS8)
    (tmp_path / "private.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with Provider(clients=[ProviderClient(key="rsa-client", rsa_public_key_pem=public)]) as provider:
        config = write_config(tmp_path / "proxy.yaml", {"jira": {
            "hosts": [f"{provider.host}:{provider.port}"], "consumer_key": "rsa-client",
            "signature_method": method, "private_key_file": "private.pem",  # relative to the config file
        }})
        proxy = run_proxy(config)
        data = echo(curl("-x", proxy.url, "-d", "summary=Bug+report&x=%7E", f"{provider.base_url}/api/echo/issue"))
        assert data["signature_method"] == method
        assert data["token"] is None  # consumer-only: no oauth_token at all
        only_valid(provider)


EVENTS = ("client_connected", "server_connect", "server_connected", "requestheaders", "request",
          "responseheaders", "response", "error", "server_disconnected", "client_disconnected")


def recording_script(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A user's -s script that writes down every event it gets, and the file it writes to."""
    events = tmp_path / f"{name}.events"
    script = tmp_path / f"{name}_recorder.py"
    script.write_text(
        f"def _hook(name):\n"
        f"    def hook(*args):\n"
        f"        with open({str(events)!r}, 'a') as f:\n"
        f"            f.write(name + '\\n')\n"
        f"    return hook\n"
        f"for _name in {EVENTS!r}:\n"
        f"    globals()[_name] = _hook(_name)\n"
    )
    return script, events


def shape(line: str) -> str:
    """A line of mitmdump's output without what changes from run to run: times, ports, sizes."""
    line = re.sub(r"^\[[0-9:.]+\]", "", line.strip())
    line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", re.sub(r"localhost:\d+", "localhost:PORT", line))
    return re.sub(r"<< (\d+ [A-Z ]+?) \d+b$", r"<< \1", line)


def test_run_calls_other_addons_and_prints_flows_as_mitmdump_does(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, run_mitmdump: Any
) -> None:
    # `oauth1-proxy run` dispatches events through SparseDispatch (issue 5): a user's script and
    # mitmproxy's own addons (here the flow printer) must get what they get in bare mitmdump.
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    unmatched = http_provider.base_url.replace("127.0.0.1", "localhost")
    seen: dict[str, tuple[list[str], list[str]]] = {}
    for name in ("mitmdump", "oauth1-proxy"):
        script, events = recording_script(tmp_path, name)
        args = ("-s", str(script), "--set", "flow_detail=1")
        proxy = run_mitmdump(*args) if name == "mitmdump" else run_proxy(config, *args)
        for url in (f"{http_provider.base_url}/api/echo/one", f"{unmatched}/api/echo/two",
                    "http://127.0.0.1:9/refused"):
            curl("-x", proxy.url, url)
        deadline = time.monotonic() + 10
        while proxy.text().count("<< ") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proxy.stop()
        printed = [shape(line) for line in proxy.output[proxy.output.index(next(
            line for line in proxy.output if "client connect" in line)):] if "oauth1-proxy:" not in line]
        seen[name] = (events.read_text().split(), printed)
    (bare_events, bare_printed), (our_events, our_printed) = seen["mitmdump"], seen["oauth1-proxy"]
    assert sorted(our_events) == sorted(bare_events)
    assert [e for e in our_events if e in ("requestheaders", "request", "responseheaders", "response", "error")] \
        == [e for e in bare_events if e in ("requestheaders", "request", "responseheaders", "response", "error")]
    assert bare_events.count("request") == 3 and bare_events.count("error") == 1

    assert len(our_printed) == len(bare_printed) == 17, (bare_printed, our_printed)
    # The first request is signed by us: the provider answers 200, and refuses bare mitmdump's unsigned one.
    first = our_printed.index("127.0.0.1:PORT: GET http://127.0.0.1:PORT/api/echo/one") + 1
    assert (our_printed[first], bare_printed[first]) == ("<< 200 OK", "<< 400 BAD REQUEST")
    assert our_printed[:first] + our_printed[first + 1:] == bare_printed[:first] + bare_printed[first + 1:]
