"""What the upstream really received, and an HTTP/2 upstream to receive it.

mitmproxy mirrors the upstream's ALPN to the client: against the provider's
own HTTP/1.1-only server, ``curl --http2`` silently speaks HTTP/1.1 on both
legs. ``H2Upstream`` serves a WSGI app (the provider's Flask app) over TLS
with hypercorn, offering ``h2`` and ``http/1.1`` by ALPN, on 127.0.0.1 and an
ephemeral port. ``Recorder`` is a WSGI middleware that keeps, for every
request, the protocol the server spoke (``SERVER_PROTOCOL``), the raw request
target, the ``Authorization`` header and the body, so a test can check the
wire itself before any verifier library folds it into a dict.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the upstream server saw it."""

    protocol: str  # "HTTP/1.1" or "HTTP/2" (SERVER_PROTOCOL)
    method: str
    host: str  # the Host header (HTTP/2: :authority)
    target: str  # raw path and query
    authorization: str | None
    content_type: str | None
    body: bytes
    chunked: bool = False  # HTTP/1.1 Transfer-Encoding: chunked

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


class Recorder:
    """WSGI middleware: record each request (see ``Received``), then call the app unchanged."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.received: list[Received] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if length:
            body = environ["wsgi.input"].read(int(length))
        elif environ.get("wsgi.input_terminated"):
            body = environ["wsgi.input"].read()  # a chunked body: the server ends the stream
        else:
            body = b""
        environ["wsgi.input"] = BytesIO(body)
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not isinstance(raw, str):
            query = environ.get("QUERY_STRING", "")
            raw = environ.get("PATH_INFO", "/") + (f"?{query}" if query else "")
        record = Received(
            protocol=str(environ.get("SERVER_PROTOCOL")),
            method=str(environ["REQUEST_METHOD"]),
            host=str(environ.get("HTTP_HOST", "")),
            target=raw,
            authorization=environ.get("HTTP_AUTHORIZATION"),
            content_type=environ.get("CONTENT_TYPE") or None,
            body=body,
            chunked="chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower(),
        )
        with self._lock:
            self.received.append(record)
        return self.app(environ, start_response)

    def find(self, marker: str) -> list[Received]:
        """The requests whose target contains ``marker``."""
        with self._lock:
            return [r for r in self.received if marker in r.target]


class _WSGIOverASGI:
    """Run a WSGI app under hypercorn with the environ werkzeug's own server builds.

    The provider reads the raw request target from ``RAW_URI`` (hypercorn's
    own WSGI wrapper gives only the decoded ``PATH_INFO``), so this adapter
    sets it, in werkzeug's encoding (the latin-1 request line, re-encoded).
    """

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        environ = self._environ(scope, b"".join(chunks))
        status, headers, body = await asyncio.to_thread(self._run, environ)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _environ(scope: dict[str, Any], body: bytes) -> dict[str, Any]:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope["query_string"]
        target = raw_path + (b"?" + query if query else b"")
        server = scope.get("server") or ("127.0.0.1", 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": "",
            "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1").encode("utf-8").decode("latin-1"),
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
            "REMOTE_ADDR": (scope.get("client") or ("127.0.0.1", 0))[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "https"),
            "wsgi.input": BytesIO(body),
            "wsgi.errors": BytesIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
        for raw_name, raw_value in scope["headers"]:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name == "content-length":
                continue
            key = "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _run(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[tuple[str, list[tuple[str, str]]]] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            started.append((status, headers))
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = started[-1]
        return int(status.split(" ", 1)[0]), [(k.lower().encode(), v.encode("latin-1")) for k, v in headers], body


class H2Upstream:
    """A TLS server on 127.0.0.1:0 offering h2 and http/1.1 (ALPN), serving a WSGI app with hypercorn."""

    def __init__(self, app: WSGIApp, *, certfile: Path, keyfile: Path, host: str = "localhost") -> None:
        self._app = _WSGIOverASGI(app)
        self._certfile = certfile
        self._keyfile = keyfile
        self.host = host
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def port(self) -> int:
        assert self._port is not None, "H2Upstream is not started"
        return self._port

    @property
    def base_url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> H2Upstream:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        self._port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the listening socket
        config.certfile = str(self._certfile)
        config.keyfile = str(self._keyfile)
        config.alpn_protocols = ["h2", "http/1.1"]
        config.accesslog = None  # request lines can carry a PLAINTEXT signature
        config.graceful_timeout = 1.0
        self._thread = threading.Thread(target=self._serve, args=(config,), name="h2-upstream", daemon=True)
        self._thread.start()
        if not self._ready.wait(60) or self._error is not None:
            raise AssertionError(f"the HTTP/2 upstream did not start: {self._error!r}")
        return self

    def _serve(self, config: Config) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        shutdown = asyncio.Event()
        self._shutdown = shutdown

        async def main() -> None:
            loop.call_soon(self._ready.set)
            await serve(self._app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]

        try:
            loop.run_until_complete(main())
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._shutdown is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._shutdown.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._thread = self._loop = self._shutdown = None

    def __enter__(self) -> H2Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
