"""transport.py: the dance's own outbound calls end within their overall deadline (issue 12, SPEC §10)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oauth1_proxy.devtools.provider import write_tls_files
from oauth1_proxy.token_exchange import ExchangeError, OutboundRequest
from oauth1_proxy.transport import fetch


class DripServer:
    """A loopback HTTP server that answers one byte every ``interval`` seconds (a stalled provider)."""

    def __init__(self, interval: float, stage: str, tls_dir: Path | None = None) -> None:
        self.interval, self.stage = interval, stage
        self.tls: ssl.SSLContext | None = None
        self.ca_file: str | None = None
        if tls_dir is not None:
            ca_file, cert_file, key_file = write_tls_files(tls_dir)
            self.ca_file = str(ca_file)
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(cert_file, key_file)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" if self.stage == "body" else b""
        data = head + b"x" * 1000 if head else b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 1000
        try:
            conn.recv(65536)
            if head:
                conn.sendall(head)
                data = data[len(head):]
            for i in range(len(data)):
                if self.stop.is_set():
                    break
                conn.sendall(data[i:i + 1])
                time.sleep(self.interval)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture(params=["http-headers", "http-body", "https-headers", "https-body"])
def drip(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DripServer]:
    scheme, _, stage = request.param.partition("-")
    server = DripServer(0.2, stage, tmp_path if scheme == "https" else None)
    yield server
    server.close()


def test_fetch_a_provider_dripping_bytes_ends_at_the_overall_deadline(drip: DripServer) -> None:
    scheme = "https" if drip.tls else "http"
    request = OutboundRequest(method="POST", url=f"{scheme}://127.0.0.1:{drip.port}/oauth/request_token",
                              headers={}, body=b"")
    started = time.monotonic()
    with pytest.raises(ExchangeError) as e:
        # each byte comes well within the socket timeout; the old fetch took 1000 x 0.2 s here
        fetch("request token", request, timeout=1.5, cafile=drip.ca_file)
    took = time.monotonic() - started
    assert took < 3.0, took
    assert str(e.value).startswith(f"request token: no complete answer from {scheme}://127.0.0.1:")
    assert "within 1.5 s" in str(e.value)


def test_fetch_a_quick_provider_is_unaffected_by_the_deadline() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    try:
        reply = fetch("request token", OutboundRequest(method="POST", url=f"http://127.0.0.1:{port}/", headers={},
                                                       body=b""), timeout=5)
    finally:
        server.close()
    assert (reply.status, reply.body) == (200, b"ok")


def test_fetch_through_an_upstream_proxy_dripping_its_connect_answer_ends_at_the_deadline() -> None:
    proxy = DripServer(0.2, "headers")  # answers the CONNECT one byte at a time
    try:
        request = OutboundRequest(method="POST", url="https://provider.example/oauth/request_token", headers={},
                                  body=b"")
        started = time.monotonic()
        with pytest.raises(ExchangeError, match="within 1.5 s"):
            fetch("request token", request, timeout=1.5, proxy=f"http://127.0.0.1:{proxy.port}")
        assert time.monotonic() - started < 3.0
    finally:
        proxy.close()


def test_dance_timestamps_add_the_profiles_clock_skew(monkeypatch: pytest.MonkeyPatch) -> None:
    import re
    import time

    from oauth1_proxy import transport
    from oauth1_proxy.config import parse_config
    config = parse_config({"profiles": {"api": {
        "hosts": ["api.example.com"], "consumer_key": "ck", "consumer_secret": "cs", "clock_skew": 3600,
        "request_token_url": "https://api.example.com/oauth/request_token",
        "authorize_url": "https://api.example.com/oauth/authorize",
        "access_token_url": "https://api.example.com/oauth/access_token",
    }}}, "test.yaml")
    sent: list[OutboundRequest] = []

    def fake_fetch(step: str, request: OutboundRequest, **kw: object) -> transport.Reply:
        sent.append(request)
        return transport.Reply(status=200, body=b"oauth_token=rt&oauth_token_secret=rs&oauth_callback_confirmed=true")

    monkeypatch.setattr(transport, "fetch", fake_fetch)
    before = int(time.time())
    transport.obtain_request_token(config.profiles[0], "oob")
    after = int(time.time())
    found = re.search(r'oauth_timestamp="(\d+)"', sent[0].headers["Authorization"])
    assert found is not None
    assert before + 3600 <= int(found.group(1)) <= after + 3600
