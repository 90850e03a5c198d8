"""Promise: proxy_debug never logs a secret, HTTP/2 included (SPEC §8, issue 12).

With an HTTP/2 upstream, mitmproxy's proxy_debug logs the frames it sends: their headers are HPACK-coded, so
``oauth_signature="<consumer secret>&<token secret>"`` of a PLAINTEXT request is in the log where no text filter can
see it. The test decodes every HPACK header block found in what was logged, and scans the log in every encoding.

The upstream is a real HTTP/2 server (``h2`` over asyncio and TLS with ALPN h2, on 127.0.0.1 and an ephemeral port);
the client is curl ``--http2``, so mitmproxy speaks HTTP/2 on both sides.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import h2.config
import h2.connection
import h2.events
import hpack
import pytest

from oauth1_proxy.devtools.provider import write_tls_files
from oauth1_proxy.mitmproxy_addon import SecretLogFilter
from tests.e2e.conftest import CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, curl, write_config

from .support import leaks, plaintext_signature_forms

SIGNATURE = f"{quote(CONSUMER_SECRET, safe='~')}&{quote(TOKEN_SECRET, safe='~')}"  # RFC 5849 §3.4.4
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SEND_TO_SERVER = re.compile(r"SendData\(server, (b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\")\)")


class H2Upstream:
    """An HTTP/2-only TLS server: answers every request 200 and records the headers it received."""

    def __init__(self, directory: Path) -> None:
        self.ca_file, cert, key = write_tls_files(directory)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._context.set_alpn_protocols(["h2"])
        self.requests: list[dict[str, str]] = []
        self.bodies: dict[int, bytes] = {}  # by the order of requests received
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0,
                                                                    ssl=self._context))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        streams: dict[int, int] = {}
        try:
            while data := await reader.read(65535):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.RequestReceived):
                        self.requests.append({k.decode(): v.decode() for k, v in event.headers})
                        streams[event.stream_id] = len(self.requests) - 1
                    if isinstance(event, h2.events.DataReceived):
                        index = streams[event.stream_id]
                        self.bodies[index] = self.bodies.get(index, b"") + event.data
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if isinstance(event, h2.events.StreamEnded):
                        body = self.answer(self.requests[streams[event.stream_id]][":path"])
                        conn.send_headers(event.stream_id, [(":status", "200"), ("content-type", "text/plain"),
                                                            ("content-length", str(len(body)))])
                        conn.send_data(event.stream_id, body, end_stream=True)
                writer.write(conn.data_to_send())
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def answer(self, path: str) -> bytes:
        """The body for a path: a credentials response under /oauth/, else "ok"."""
        if path.startswith("/oauth/"):
            return b"oauth_token=h2-token&oauth_token_secret=h2-token-secret-Zq8R&oauth_callback_confirmed=true"
        return b"ok\n"

    def __enter__(self) -> H2Upstream:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def header_blocks(data: bytes) -> Iterator[bytes]:
    """The HPACK header blocks of the HTTP/2 frames in data (RFC 9113 §4.1, §6.2, §6.10); stops at a cut frame."""
    if data.startswith(PREFACE):
        data = data[len(PREFACE):]
    block = b""
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        kind, flags = data[3], data[4]
        payload = data[9:9 + length]
        if len(payload) < length:
            return
        data = data[9 + length:]
        if kind == 0x1:  # HEADERS
            if flags & 0x8:  # PADDED
                payload = payload[1:len(payload) - payload[0]]
            if flags & 0x20:  # PRIORITY
                payload = payload[5:]
            block = payload
        elif kind == 0x9:  # CONTINUATION
            block += payload
        else:
            continue
        if flags & 0x4:  # END_HEADERS
            yield block
            block = b""


def decoded_headers_sent_upstream(log: str) -> list[tuple[str, str]]:
    """Every header decoded from the frames proxy_debug logged as sent to the server, one HPACK decoder in order."""
    decoder = hpack.Decoder()
    headers: list[tuple[str, str]] = []
    for literal in SEND_TO_SERVER.findall(log):
        data = ast.literal_eval(literal)
        for block in header_blocks(data):
            try:
                headers += [(str(k), str(v)) for k, v in decoder.decode(block)]
            except hpack.HPACKError:
                continue
    return headers


def h2_frames_with_signature() -> bytes:
    """What an HTTP/2 client sends with a PLAINTEXT header: the preface, SETTINGS, HEADERS (HPACK)."""
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":scheme", "https"), (":authority", "api.example.com"),
                          (":path", "/"), ("authorization",
                                           f'OAuth oauth_signature_method="PLAINTEXT", '
                                           f'oauth_signature="{quote(SIGNATURE, safe="~")}"')], end_stream=True)
    return conn.data_to_send()


def test_decoder_finds_the_signature_in_unfiltered_h2_frames() -> None:
    # The oracle itself: HPACK hides the signature from a text search, decoding finds it.
    frames = h2_frames_with_signature()
    line = f"<< SendData(server, {frames!r})"
    assert quote(SIGNATURE, safe="~") not in line
    assert any(quote(SIGNATURE, safe="~") in v for _, v in decoded_headers_sent_upstream(line))


def test_log_filter_h2_frames_in_proxy_debug_lose_their_bytes() -> None:
    record = logging.LogRecord("mitmproxy.proxy.server", logging.DEBUG, __file__, 1,
                               "      << SendData(server, %r)", (h2_frames_with_signature(),), None)
    SecretLogFilter().filter(record)
    message = record.getMessage()
    assert re.fullmatch(r"      << SendData\(server, <\d+ bytes>\)", message), message
    assert decoded_headers_sent_upstream(message) == []


@pytest.fixture
def h2_upstream(tmp_path: Path) -> Iterator[H2Upstream]:
    with H2Upstream(tmp_path / "h2-tls") as upstream:
        yield upstream


def test_proxy_debug_with_an_h2_upstream_logs_no_secret(tmp_path: Path, h2_upstream: H2Upstream,
                                                        run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"plain": {
        "hosts": [f"localhost:{h2_upstream.port}"], "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET, "token": TOKEN, "token_secret": TOKEN_SECRET,
        "signature_method": "PLAINTEXT"}})
    proxy = run_proxy(config, "--set", "proxy_debug=true", "--set", "termlog_verbosity=debug",
                      "--set", f"ssl_verify_upstream_trusted_ca={h2_upstream.ca_file}")
    result = curl("--http2", "--cacert", str(proxy.ca_file), "-x", proxy.url,
                  f"https://localhost:{h2_upstream.port}/api/h2?x=1")
    assert result.stdout == b"ok\n", result.stderr
    proxy.stop()
    log = proxy.text()

    # The upstream spoke HTTP/2 and got the real PLAINTEXT signature.
    assert len(h2_upstream.requests) == 1 and h2_upstream.requests[0][":path"] == "/api/h2?x=1"
    assert f'oauth_signature="{quote(SIGNATURE, safe="~")}"' in h2_upstream.requests[0]["authorization"]
    # Nothing decodable (HPACK) holds a secret holds a secret, and no encoding of one is in the log.
    decoded = decoded_headers_sent_upstream(log)
    assert [h for h in decoded if "e2e-" in h[1] or "oauth_signature=" in h[1]] == []
    # proxy_debug did log the frames sent to the server (summarised: a length).
    assert re.search(r"SendData\(server, <\d+ bytes>\)", log), log[-3000:]
    assert leaks(log.encode(), [CONSUMER_SECRET, TOKEN_SECRET],
                 plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)) == []
    assert "e2e-consumer-secret" not in log and "e2e-token-secret" not in log
