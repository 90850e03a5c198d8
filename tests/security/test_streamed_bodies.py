"""Streamed bodies (issue 6): with stream_large_bodies, a body mitmproxy streams leaves before the request hook.

A non-form body without oauth_body_hash is not part of the signature (RFC 5849 §3.4.1.3.1): such a request is
signed from its headers in requestheaders and its body streams untouched. A form body (its parameters are
signed) or a body hash cannot be signed before the body is read: the proxy refuses. mitmproxy cannot answer a
request whose body streams from a hook, so the request is sent to a pseudo-host whose connection the addon
refuses (server_connect): the client gets mitmproxy's 502 with the reason, the log says why, nothing leaves.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import connection
from mitmproxy.proxy import server_hooks
from mitmproxy.test import taddons

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.mitmproxy_addon import OAuth1Signer
from tests.e2e.conftest import RunningProxy, curl, profile_for, write_config
from tests.test_mitmproxy_addon import FORM, STATIC, make_flow, oauthlib_verifies, signer_for

from .support import raw_request

REFUSED = "oauth1-proxy refused this request and sent nothing: "


@pytest.fixture
def streaming(tmp_path: Path, http_provider: Provider, run_proxy: Any) -> RunningProxy:
    config = write_config(tmp_path / "proxy.yaml", {
        "api": profile_for(http_provider, path_prefix="/api/"),
        "hashed": profile_for(http_provider, path_prefix="/api/echo/hashed", body_hash=True),
    })
    proxy: RunningProxy = run_proxy(config, "--set", "stream_large_bodies=1k")
    return proxy


def upload(tmp_path: Path, proxy: RunningProxy, url: str, content_type: str, *args: str) -> Any:
    body = tmp_path / "body"
    body.write_bytes(bytes(range(256)) * (200_000 // 256))
    return curl("-x", proxy.url, *args, "-H", f"Content-Type: {content_type}", "--data-binary", f"@{body}", url)


def test_streamed_non_form_body_is_signed_from_headers_and_streams_untouched(
    tmp_path: Path, http_provider: Provider, streaming: RunningProxy
) -> None:
    result = upload(tmp_path, streaming, f"{http_provider.base_url}/api/echo/upload", "application/octet-stream")
    data = json.loads(result.stdout)
    assert data["body_sha256"] == hashlib.sha256(bytes(range(256)) * (200_000 // 256)).hexdigest()
    assert [r.valid for r in http_provider.records] == [True]
    assert streaming.wait_for("Streaming request to")  # mitmproxy did stream it


def test_streamed_form_body_is_refused_with_502_saying_why_and_never_sent(
    tmp_path: Path, http_provider: Provider, streaming: RunningProxy
) -> None:
    result = upload(tmp_path, streaming, f"{http_provider.base_url}/api/echo/form", FORM, "-i")
    assert result.stdout.startswith(b"HTTP/1.1 502"), result
    assert (REFUSED + "its form body is streamed (stream_large_bodies) before it can be read, and a form "
            "body&#x27;s parameters are part of the signature").encode() in result.stdout
    assert http_provider.records == []
    assert streaming.wait_for("oauth1-proxy: refused POST 127.0.0.1/api/echo/form: its form body is streamed")


def test_streamed_body_for_a_body_hash_profile_is_refused_naming_the_profile(
    tmp_path: Path, http_provider: Provider, streaming: RunningProxy
) -> None:
    result = upload(tmp_path, streaming, f"{http_provider.base_url}/api/echo/hashed", "application/octet-stream")
    assert REFUSED.encode() in result.stdout, result
    assert http_provider.records == []
    assert streaming.wait_for('profile "hashed" signs an oauth_body_hash of the whole body')


def test_chunked_large_non_form_body_is_signed_before_mitmproxy_starts_streaming_it(
    http_provider: Provider, streaming: RunningProxy
) -> None:
    # No Content-Length: mitmproxy only learns the size while reading, then streams; signed in requestheaders.
    chunk = b"x" * 4096
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    response = raw_request(streaming.port, (
        f"POST {http_provider.base_url}/api/echo/chunked HTTP/1.1\r\nHost: 127.0.0.1:{http_provider.port}\r\n"
        "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + body)
    assert response.status == 200, response.body
    assert response.json()["body_length"] == 8 * 4096
    assert [r.valid for r in http_provider.records] == [True]


def test_chunked_form_body_while_stream_large_bodies_is_set_is_refused_and_never_sent(
    http_provider: Provider, streaming: RunningProxy
) -> None:
    # Its size is unknown until read, and past 1k mitmproxy would stream it: refused up front.
    chunk = b"a=" + b"x" * 4094
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
    response = raw_request(streaming.port, (
        f"POST {http_provider.base_url}/api/echo/chunked-form HTTP/1.1\r\nHost: 127.0.0.1:{http_provider.port}\r\n"
        f"Content-Type: {FORM}\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + body)
    assert response.status == 502 and REFUSED.encode() in response.body
    assert http_provider.records == []
    assert streaming.wait_for("refused POST 127.0.0.1/api/echo/chunked-form")


# --- unit level: the hooks ---------------------------------------------------------------------------


def test_requestheaders_streamed_non_form_request_is_signed_and_request_hook_leaves_it(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow("POST", body=b"", headers={"Content-Type": "application/octet-stream"})
        flow.request.stream = True
        signer.requestheaders(flow)
        signed = flow.request.headers["Authorization"]
        flow.request.raw_content = None  # what the request hook sees after streaming
        signer.request(flow)
    assert (flow.error, flow.response) == (None, None)
    assert flow.request.headers["Authorization"] == signed
    flow.request.raw_content = b""
    assert oauthlib_verifies(flow.request)


def test_requestheaders_without_stream_large_bodies_signs_nothing_early(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow("POST", body=b"a=1", headers={"Content-Type": FORM, "Transfer-Encoding": "chunked"})
        signer.requestheaders(flow)
    assert (flow.error, flow.response, flow.request.headers.get("Authorization")) == (None, None, None)


def test_requestheaders_chunked_form_with_stream_large_bodies_set_is_sent_nowhere(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(STATIC)
    signer = OAuth1Signer()
    with taddons.context(signer) as tctx:
        tctx.options.add_option("stream_large_bodies", str | None, None, "mitmproxy's option")  # type: ignore[arg-type]
        tctx.configure(signer, oauth1_config=str(path), stream_large_bodies="1k")
        flow = make_flow("POST", body=b"a=1", headers={"Content-Type": FORM, "Transfer-Encoding": "chunked"})
        del flow.request.headers["content-length"]
        signer.requestheaders(flow)
        server = connection.Server(address=(flow.request.host, 443))
        signer.server_connect(server_hooks.ServerConnectionHookData(server=server, client=flow.client_conn))
    assert flow.request.host.endswith(".refused.oauth1.proxy")
    assert server.error is not None and server.error.startswith(REFUSED + "its form body is streamed")
