"""The helper mount: the helper app (web.py) served through the proxy and on a direct loopback URL (SPEC §6, §10)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import sys
import threading
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from mitmproxy import ctx, exceptions, http
from mitmproxy.proxy.mode_specs import ReverseMode
from werkzeug.serving import BaseWSGIServer, make_server

from oauth1_proxy.config import DEFAULT_PORTS
from oauth1_proxy.errors import MisdirectedRequest, ProxyError
from oauth1_proxy.shell.logs import logger
from oauth1_proxy.shell.responses import make_error_response
from oauth1_proxy.web import (
    DIRECT_ENV,
    ORIGIN_ENV,
    REVERSE_PREFIX,
    make_web_app,
    normalize_authority,
    split_helper_path,
)
from oauth1_proxy.web_support import LOOPBACK_NETWORKS, parse_client_networks

if TYPE_CHECKING:
    from oauth1_proxy.shell.signer import OAuth1Signer

REVERSE_PREFIX_BYTES = REVERSE_PREFIX.encode()

HELPER_THREADS = 8  # helper pages served at once through the proxy; a login waiting on the provider holds one


def run_wsgi(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one WSGI request to completion (PEP 3333), on the calling thread."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [(status, headers)]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    return int(status.split(" ", 1)[0]), [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], \
        b"".join(chunks)


class OAuth1Helper:
    """Serve the helper app (web.py) through the proxy and on a direct loopback URL (SPEC §6, §10).

    Not an addon of its own: the signer calls ``serve`` first in its request
    hook (so the helper's pages are never signed), and ``running``/``done``.
    Through the proxy each page runs on a thread of its own pool, never on
    the event loop and not one at a time (mitmproxy's WSGIApp runs every
    request on one thread: a login waiting on a slow provider would stall
    status.json). A request reaches the app only when its Host names the
    helper; the origin it checked goes to the app in the WSGI environ.
    """

    def __init__(self, signer: OAuth1Signer) -> None:
        self.signer = signer
        self.clients = LOOPBACK_NETWORKS  # option oauth1_helper_clients (SPEC §12: behind a balancer)
        self.web_app = make_web_app(lambda: signer.config, lambda: signer.store, cafile=self._cafile,
                                    upstream_proxy=self._upstream_proxy, clients=lambda: self.clients,
                                    run_stats=signer.explain)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def configure(self, updated: set[str]) -> None:
        """From the signer's configure: check and copy oauth1_helper_clients."""
        if "oauth1_helper_clients" in updated:
            try:
                self.clients = parse_client_networks(ctx.options.oauth1_helper_clients)
            except ValueError as e:
                raise exceptions.OptionsError(str(e)) from None

    def _direct_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self._server is not None
        environ[DIRECT_ENV] = self._server.server_port  # web.py: the Host must be 127.0.0.1/localhost/[::1]:PORT
        environ.pop(ORIGIN_ENV, None)
        return self.web_app(environ, start_response)

    @staticmethod
    def _upstream_proxy() -> str | None:
        # In upstream mode the helper's own calls leave through the same proxy.
        for mode in ctx.options.mode:
            if mode.startswith("upstream:"):
                return str(mode).removeprefix("upstream:")
        return None

    @staticmethod
    def _cafile() -> str | None:
        # The helper trusts what the proxy trusts upstream.
        value = ctx.options.ssl_verify_upstream_trusted_ca
        return str(value) if value else None

    def serve(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """A coroutine answering a helper request (its page, or 421 for a Host that is not the helper's); None else."""
        if not flow.live or flow.error or flow.response or self.signer.config is None:
            return None
        request = flow.request
        default = 443 if request.scheme == "https" else 80
        if request.host.lower() == self.signer.helper_host:
            got = normalize_authority(request.host_header, default)
            if got != f"{self.signer.helper_host}:{request.port}":
                return self._refuse(flow, request.host_header)
            return self._answer(flow, self._origin(request.scheme, self.signer.helper_host, request.port))
        # The substring test first: it is all most requests need (issue 5).
        if REVERSE_PREFIX_BYTES in request.data.path and isinstance(flow.client_conn.proxy_mode, ReverseMode) \
                and split_helper_path(request.path):
            # The signer's _check_reverse_host let only the listener's own names through, unrewritten.
            scheme = "https" if flow.client_conn.tls_established else "http"
            got = normalize_authority(request.host_header, 443 if scheme == "https" else 80)
            if got is None or not self.signer._holds_keep_host:
                return self._refuse(flow, request.host_header)
            name, _, port = got.rpartition(":")
            return self._answer(flow, self._origin(scheme, name, int(port)))
        return None

    @staticmethod
    def _origin(scheme: str, name: str, port: int) -> str:
        return f"{scheme}://{name}" if DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{name}:{port}"

    async def _refuse(self, flow: http.HTTPFlow, host: str | None) -> None:
        logger.warning("oauth1-proxy helper: refused a request for Host %r (not the helper's own address)",
                       (host or "")[:100])
        flow.response = make_error_response(MisdirectedRequest(
            f"the oauth1-proxy helper does not answer for the Host {(host or '')[:100]!r}; open it at "
            f"http://{self.signer.helper_host}/ through the proxy."))

    def _environ(self, flow: http.HTTPFlow, origin: str) -> dict[str, Any]:
        request = flow.request
        path, _, query = request.data.path.partition(b"?")
        body = request.raw_content or b""
        peer = flow.client_conn.peername
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "SERVER_NAME": request.host,
            "SERVER_PORT": str(request.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": str(peer[0]) if peer else "",
            "REMOTE_PORT": str(peer[1]) if peer else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            ORIGIN_ENV: origin,
        }
        for name, value in request.headers.fields:
            key = name.decode("latin-1").upper().replace("-", "_")
            key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
            if key == "CONTENT_LENGTH":
                continue
            text = value.decode("latin-1")
            joiner = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = f"{environ[key]}{joiner}{text}" if key in environ else text
        environ.setdefault("HTTP_HOST", request.host_header or request.host)
        return environ

    async def _answer(self, flow: http.HTTPFlow, origin: str) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(HELPER_THREADS, thread_name_prefix="oauth1-helper-page")
        environ = self._environ(flow, origin)
        try:
            status, headers, body = await asyncio.get_running_loop().run_in_executor(
                self._pool, run_wsgi, self.web_app, environ)
        except Exception as e:  # never a traceback (it could quote a request) in the page or the log
            logger.error("oauth1-proxy helper: internal error serving %s (%s)", flow.request.path.partition("?")[0],
                         type(e).__name__)
            flow.response = make_error_response(ProxyError(f"the oauth1-proxy helper failed ({type(e).__name__})."))
            return
        flow.response = http.Response.make(status, body, headers)

    def running(self) -> None:
        """From the signer's running: start the direct URL's server on 127.0.0.1 (unless oauth1_helper_port=-1)."""
        if self.signer.config is None and ctx.options.oauth1_config:
            self.signer._load_config()
        if self.signer.config is None or self._server is not None or ctx.options.oauth1_helper_port < 0:
            return
        try:
            self._server = make_server("127.0.0.1", ctx.options.oauth1_helper_port, self._direct_app, threaded=True)
        except OSError as e:
            logger.error("oauth1-proxy: the helper's direct URL could not listen on 127.0.0.1:%s (%s)",
                         ctx.options.oauth1_helper_port, e.strerror)
            return
        self.signer.helper_url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth1-helper", daemon=True)
        self._thread.start()
        helper_host = ctx.options.oauth1_helper_host
        logger.info("oauth1-proxy: helper at http://%s/ through the proxy, %s direct%s", helper_host,
                    self.signer.helper_url, self._reverse_hint())

    @staticmethod
    def _reverse_hint() -> str:
        if any(m.startswith("reverse:") for m in ctx.options.mode):
            return f", and {REVERSE_PREFIX}/ on the reverse proxy's address"
        return ""

    def done(self) -> None:
        """Called from the signer's done: stop the direct URL's server and the page pool."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
