"""Promise: the upstream gets the PLAINTEXT signature, the flow object never holds it (SPEC §8, issue 12).

The signed request is redacted in the flow at the end of the request hook chain and mitmproxy's HTTP layer writes the
signed copy upstream. Each placement (RFC 5849 §3.5.1 header, §3.5.2 body, §3.5.3 query), over HTTP/1.1 and over
HTTP/2 to a real h2 upstream: what the upstream received holds the exact signature; the capture holds none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Response
from flask import request as flask_request

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from tests.e2e.conftest import CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, curl, profile_for, write_config

from .support import leaks, plaintext_signature_forms
from .test_h2_debug_leaks import H2Upstream

SIGNATURE = f"{quote(CONSUMER_SECRET, safe='~')}&{quote(TOKEN_SECRET, safe='~')}"  # RFC 5849 §3.4.4
ON_THE_WIRE = quote(SIGNATURE, safe="~")  # RFC 5849 §3.5: encoded once more in each placement
PLACEMENTS = ["header", "query", "body"]


def received_as_sent(what: list[dict[str, Any]]) -> Any:
    def view(rest: str) -> Response:
        what.append({"authorization": flask_request.headers.get("Authorization", ""),
                     "query": flask_request.query_string.decode(), "body": flask_request.get_data()})
        return Response("ok\n", mimetype="text/plain")

    return view


def upstream_holds_the_signature(placement: str, authorization: str, query: str, body: bytes) -> bool:
    if placement == "header":
        return f'oauth_signature="{ON_THE_WIRE}"' in authorization
    if placement == "query":
        return f"oauth_signature={ON_THE_WIRE}" in query
    return f"oauth_signature={ON_THE_WIRE}".encode() in body


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_wire_substitution_http1_upstream_gets_the_signature_capture_does_not(
    tmp_path: Path, run_proxy: Any, placement: str
) -> None:
    received: list[dict[str, Any]] = []
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp_path / "tls")
    provider._app.add_url_rule("/raw/<path:rest>", "raw", received_as_sent(received), methods=["GET", "POST"])
    flows = tmp_path / "capture.flows"
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {
            "plain": profile_for(provider, signature_method="PLAINTEXT", placement=placement)})
        proxy = run_proxy(config, "-w", str(flows), "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        result = curl("--cacert", str(proxy.ca_file), "-x", proxy.url, "-d", "a=1",
                      f"{provider.base_url}/raw/{placement}?x=1")
        proxy.stop()
    assert result.stdout == b"ok\n", result.stderr + proxy.text().encode()
    assert len(received) == 1
    assert upstream_holds_the_signature(placement, **received[0]), received[0]
    data = flows.read_bytes()
    assert leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []
    assert b"REDACTED" in data


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_wire_substitution_h2_upstream_gets_the_signature_capture_does_not(
    tmp_path: Path, run_proxy: Any, placement: str
) -> None:
    flows = tmp_path / "capture.flows"
    with H2Upstream(tmp_path / "h2-tls") as upstream:
        config = write_config(tmp_path / "proxy.yaml", {"plain": {
            "hosts": [f"localhost:{upstream.port}"], "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
            "token": TOKEN, "token_secret": TOKEN_SECRET, "signature_method": "PLAINTEXT", "placement": placement}})
        proxy = run_proxy(config, "-w", str(flows), "--set", f"ssl_verify_upstream_trusted_ca={upstream.ca_file}")
        result = curl("--http2", "--cacert", str(proxy.ca_file), "-x", proxy.url, "-d", "a=1",
                      f"https://localhost:{upstream.port}/raw/{placement}?x=1")
        proxy.stop()
    assert result.stdout == b"ok\n", result.stderr
    assert len(upstream.requests) == 1
    headers = upstream.requests[0]
    assert upstream_holds_the_signature(placement, headers.get("authorization", ""),
                                        headers[":path"].partition("?")[2], upstream.bodies.get(0, b"")), \
        (headers, upstream.bodies)
    data = flows.read_bytes()
    assert leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []
    assert b"REDACTED" in data


def test_wire_substitution_h2_client_gets_the_credentials_capture_does_not(tmp_path: Path, run_proxy: Any) -> None:
    # A client's own dance over HTTP/2 (to a host no profile signs): the response is redacted in the flow, the
    # client connection is given the real one.
    flows = tmp_path / "capture.flows"
    with H2Upstream(tmp_path / "h2-tls") as upstream:
        config = write_config(tmp_path / "proxy.yaml", {"other": {
            "hosts": ["api.example.invalid"], "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}})
        proxy = run_proxy(config, "-w", str(flows), "--set", f"ssl_verify_upstream_trusted_ca={upstream.ca_file}")
        result = curl("--http2", "-i", "--cacert", str(proxy.ca_file), "-x", proxy.url, "-X", "POST",
                      f"https://localhost:{upstream.port}/oauth/access_token")
        proxy.stop()
    assert b"HTTP/2 200" in result.stdout, result.stderr
    assert result.stdout.endswith(b"oauth_token_secret=h2-token-secret-Zq8R&oauth_callback_confirmed=true")
    data = flows.read_bytes()
    assert b"h2-token-secret-Zq8R" not in data and b"oauth_token_secret=REDACTED" in data


LATER_READER = """\
import asyncio


class LaterReader:
    \"\"\"Another addon: reads the flow 0.3 s after its request hook, while the request is in flight.\"\"\"

    def request(self, flow):
        asyncio.get_running_loop().call_later(
            0.3, lambda: print("IN FLIGHT:", dict(flow.request.headers), flow.request.path, flow.request.content,
                               flush=True))


addons = [LaterReader()]
"""


def test_wire_substitution_a_later_reader_of_the_flow_in_flight_sees_no_secret(
    tmp_path: Path, run_proxy: Any
) -> None:
    import time

    def slow(rest: str) -> Response:
        time.sleep(1.5)  # the answer comes after the reader has looked
        return Response("ok\n", mimetype="text/plain")

    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp_path / "tls")
    provider._app.add_url_rule("/slow/<path:rest>", "slow", slow)
    reader = tmp_path / "reader.py"
    reader.write_text(LATER_READER)
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {
            "plain": profile_for(provider, signature_method="PLAINTEXT")})
        proxy = run_proxy(config, "-s", str(reader), "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        result = curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/slow/x")
        proxy.stop()
    assert result.stdout == b"ok\n", result.stderr + proxy.text().encode()
    seen = [line for line in proxy.output if line.startswith("IN FLIGHT:")]
    assert len(seen) == 1 and 'oauth_signature="REDACTED"' in seen[0], proxy.text()
    assert leaks(seen[0].encode(), [CONSUMER_SECRET, TOKEN_SECRET],
                 plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []


@pytest.mark.parametrize("mode", ["upstream-https-tunnel", "upstream-plain-http"])
def test_wire_substitution_upstream_mode_gets_the_signature_capture_does_not(
    tmp_path: Path, run_proxy: Any, run_mitmdump: Any, mode: str
) -> None:
    # Through a second proxy: a CONNECT tunnel for https, absolute-form requests for plain http.
    tls = mode == "upstream-https-tunnel"
    received: list[dict[str, Any]] = []
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=tls, cert_dir=tmp_path / "tls")
    provider._app.add_url_rule("/raw/<path:rest>", "raw", received_as_sent(received), methods=["GET", "POST"])
    flows = tmp_path / "capture.flows"
    with provider:
        second = run_mitmdump("--ignore-hosts", ".*") if tls else run_mitmdump()
        config = write_config(tmp_path / "proxy.yaml", {"plain": profile_for(
            provider, signature_method="PLAINTEXT", **({} if tls else {"allow_insecure": True}))})
        trust = ("--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}") if tls else ()
        proxy = run_proxy(config, "--mode", f"upstream:{second.url}", "-w", str(flows), *trust)
        result = curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/raw/up?x=1")
        proxy.stop()
    assert result.stdout == b"ok\n", result.stderr + proxy.text().encode()
    assert len(received) == 1 and upstream_holds_the_signature("header", **received[0]), received
    data = flows.read_bytes()
    assert leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []
    assert b"REDACTED" in data


def test_wire_substitution_reverse_mode_gets_the_signature_capture_does_not(tmp_path: Path, run_proxy: Any) -> None:
    received: list[dict[str, Any]] = []
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp_path / "tls")
    provider._app.add_url_rule("/raw/<path:rest>", "raw", received_as_sent(received), methods=["GET", "POST"])
    flows = tmp_path / "capture.flows"
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {"plain": profile_for(provider, signature_method="PLAINTEXT")})
        proxy = run_proxy(config, "--mode", f"reverse:{provider.base_url}", "-w", str(flows),
                          "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        result = curl(f"http://127.0.0.1:{proxy.port}/raw/reverse?x=1")
        proxy.stop()
    assert result.stdout == b"ok\n", result.stderr + proxy.text().encode()
    assert len(received) == 1 and upstream_holds_the_signature("header", **received[0]), received
    data = flows.read_bytes()
    assert leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []
    assert b"REDACTED" in data


def test_wire_substitution_timestamp_retry_is_signed_and_sent_afresh(tmp_path: Path, run_proxy: Any) -> None:
    # The provider's clock is 15 minutes ahead: refused, corrected, retried (a copy of the redacted flow, re-signed).
    flows = tmp_path / "capture.flows"
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, clock_offset=900)
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {"plain": profile_for(
            provider, signature_method="PLAINTEXT", allow_insecure=True)})
        proxy = run_proxy(config, "-w", str(flows))
        result = curl("-x", proxy.url, f"{provider.base_url}/api/echo/retried")
        proxy.stop()
    assert b'"ok":true' in result.stdout.replace(b" ", b""), result.stdout + proxy.text().encode()
    assert [r.reason for r in provider.records] == ["timestamp_refused", None]
    assert provider.records[-1].valid and provider.records[-1].signature_method == "PLAINTEXT"
    data = flows.read_bytes()
    assert leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []


def test_client_own_plaintext_request_reaches_the_upstream_and_not_the_capture(
    tmp_path: Path, run_proxy: Any
) -> None:
    # A client signing its own PLAINTEXT request (header placement) to a host no profile names.
    received: list[dict[str, Any]] = []
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET})
    provider._app.add_url_rule("/raw/<path:rest>", "raw", received_as_sent(received), methods=["GET", "POST"])
    flows = tmp_path / "capture.flows"
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {"elsewhere": {
            "hosts": ["api.example.invalid"], "consumer_key": "k", "consumer_secret": "some-other-secret"}})
        proxy = run_proxy(config, "-w", str(flows))
        header = (f'Authorization: OAuth oauth_consumer_key="{CONSUMER_KEY}", oauth_token="{TOKEN}", '
                  f'oauth_signature_method="PLAINTEXT", oauth_signature="{ON_THE_WIRE}"')
        result = curl("-x", proxy.url, "-H", header, f"{provider.base_url}/raw/own")
        proxy.stop()
    assert result.stdout == b"ok\n", result.stderr
    assert upstream_holds_the_signature("header", **received[0]), received  # passed through byte for byte
    data = flows.read_bytes()
    assert leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []
    assert b'oauth_signature="REDACTED"' in data
