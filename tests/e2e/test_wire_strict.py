"""What the upstream receives through the real proxy, verified strictly (issue 12, SPEC §9).

The provider verifies with oauthlib and Authlib, which cannot read some
requests RFC 5849 allows (octets that are not UTF-8, a path ending in ";").
Here a bare loopback upstream records the bytes it received, and
tests/wire.py's verify_signed_request checks them: the strict grammar and the
plain RFC recipe always, each library unless a named deviation stops it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, write_config
from tests.wire import verify_signed_request


@dataclass
class Received:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def url(self) -> str:
        host = next(v for k, v in self.headers if k.lower() == "host")
        return f"http://{host}{self.target}"


class RecordingUpstream:
    """An HTTP/1.1 server on 127.0.0.1:0 that keeps every request's bytes and answers 200."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.received: list[Received] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
                length = int(next((v for k, v in headers if k.lower() == "content-length"), "0"))
                while len(body) < length:
                    chunk = connection.recv(65536)
                    if not chunk:
                        break
                    body += chunk
                method, target, _ = request_line.split(" ", 2)
                # The request line is latin-1 on the wire; the URL's octets travel as surrogateescape.
                target = target.encode("latin-1").decode("utf-8", "surrogateescape")
                self.received.append(Received(method, target, headers, body))
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def upstream() -> Iterator[RecordingUpstream]:
    server = RecordingUpstream()
    yield server
    server.close()


def through_proxy(proxy_port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=20) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and answer.endswith(b"ok"):
                break
        return answer


CASES = [
    # (id, profile settings, method, target after the authority, content type, body)
    ("header-octets-libraries-refuse", {}, "GET", b"/a;b?b='$|&c=%zz&d=caf\xc3\xa9&e=%7e", None, b""),
    ("header-non-utf8-trailing-semicolon", {}, "GET", b"/a;?a=%FF", None, b""),
    ("query-plaintext", {"signature_method": "PLAINTEXT", "placement": "query", "allow_insecure": True},
     "GET", b"/q?x=%2B1&y='", None, b""),
    ("body-form-raw-octet", {"placement": "body", "signature_method": "HMAC-SHA256"}, "POST", b"/b?z=1",
     "application/x-www-form-urlencoded; charset=latin-1", b"name=J\xf6rg&q=%FF+x"),
    ("header-realm-sha512", {"signature_method": "HMAC-SHA512", "realm": 'Ph"o\\tos'}, "PUT", b"/r/x%2Fy",
     "application/json", b'{"a": 1}'),
    ("lowercase-method-body-hash", {"body_hash": True}, "patch", b"/h", "text/plain", b"hello"),
]


@pytest.mark.parametrize(("case", "settings", "method", "target", "content_type", "body"), CASES,
                         ids=[c[0] for c in CASES])
def test_upstream_receives_a_request_the_strict_grammar_and_the_verifiers_accept(
    tmp_path: Path, run_proxy: Any, upstream: RecordingUpstream, case: str, settings: dict[str, object],
    method: str, target: bytes, content_type: str | None, body: bytes,
) -> None:
    profile = {"hosts": [f"127.0.0.1:{upstream.port}"], "consumer_key": CONSUMER_KEY,
               "consumer_secret": CONSUMER_SECRET, "token": TOKEN, "token_secret": TOKEN_SECRET, **settings}
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"api": profile}))
    authority = f"127.0.0.1:{upstream.port}".encode()
    head = [method.encode() + b" http://" + authority + target + b" HTTP/1.1", b"Host: " + authority,
            b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    if content_type is not None:
        head.append(b"Content-Type: " + content_type.encode())
    answer = through_proxy(proxy.port, b"\r\n".join(head) + b"\r\n\r\n" + body)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    (received,) = upstream.received
    verification = verify_signed_request(received.method, received.url, received.headers, received.body,
                                         consumer_secret=CONSUMER_SECRET, token_secret=TOKEN_SECRET)
    assert verification.verifiers[:2] == ["strict-grammar", "rfc-recipe"]
    assert verification.params["oauth_consumer_key"] == CONSUMER_KEY
    assert verification.wire.placement == settings.get("placement", "header")
    for library in ("oauthlib", "authlib"):
        # Each library verified it, or a named deviation says why the recipe carried the case.
        assert library in verification.verifiers or any(
            d.startswith(f"{library}:") and "verified by the recipe" in d for d in verification.deviations
        ), verification.deviations
    if case in ("header-octets-libraries-refuse", "query-plaintext", "lowercase-method-body-hash"):
        assert verification.libraries == ["oauthlib", "authlib"]
    if case == "header-realm-sha512":
        assert verification.wire.realm == 'Ph"o\\tos'
        assert verification.libraries == ["oauthlib", "authlib"]
