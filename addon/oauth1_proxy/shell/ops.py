"""The ops listener: /healthz, /readyz and /metrics on a listener of their own, off by default (SPEC §12).

Rules:
1. Three routes (GET and HEAD), nothing else: any other path or method gets 404/405, and no answer
   holds a secret, a URL the proxy saw, or a token (only profile and account names in /metrics).
2. Its own thread (a ThreadingHTTPServer, like the helper's direct URL): never the event loop.
   The readiness check touches the token store there, never on the loop.
3. Readiness is "the proxy listens and the token store answers": an expired or missing token
   does not make it unready (a pod would restart-loop against a login prompt).
4. ``OpsListener`` is not an addon in the chain: the signer calls its load/configure/running/done
   (one chain entry, issue 5). It can be added to a chain on its own (the unit tests do).
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

from mitmproxy import ctx, exceptions
from mitmproxy.addonmanager import Loader

from oauth1_proxy import metrics
from oauth1_proxy.config import ProxyConfig
from oauth1_proxy.errors import TokenStoreError
from oauth1_proxy.lifetimes import expiry_of
from oauth1_proxy.shell.logs import logger
from oauth1_proxy.tokens import StoredToken, TokenStore

OPTION = "oauth1_ops_listen"


def parse_ops_listen(value: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6, port 0 for a free one) as (host, port); "" as None."""
    text = value.strip()
    if not text:
        return None
    host, sep, port_text = text.rpartition(":")
    fix = f"use HOST:PORT, e.g. --set {OPTION}=127.0.0.1:9090 (port 0: a free port), or leave it empty for none."
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise exceptions.OptionsError(f"{OPTION}: {value!r} is not HOST:PORT; {fix}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise exceptions.OptionsError(f"{OPTION}: {value!r} has no IPv6 address in its brackets; {fix}") from None
    elif ":" in host:
        raise exceptions.OptionsError(f"{OPTION}: {value!r}: write an IPv6 address in brackets ([::1]:9090); {fix}")
    return host, int(port_text)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    ops: OpsListener

    def __init__(self, address: tuple[str, int], ops: OpsListener) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ops = ops
        super().__init__(address, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    server_version = "oauth1-proxy-ops"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds a connection may sit idle or half-sent: a slow client holds one thread, not forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass  # probes every few seconds: no log line each

    def _send(self, status: int, body: bytes, content_type: str, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, head: bool) -> None:
        path = self.path.partition("?")[0]
        ops = self.server.ops
        try:
            if path == "/metrics":
                ops.token_gauges()
                body, content_type = metrics.exposition(self.headers.get("Accept"))
                self._send(200, body, content_type, head)
                return
            if path in ("/healthz", "/readyz"):
                ok, checks = ops.health() if path == "/healthz" else ops.readiness()
                body = json.dumps({"status": "ok" if ok else "failing", "checks": checks}).encode() + b"\n"
                self._send(200 if ok else 503, body, "application/json", head)
                return
            self._send(404, b'{"message": "not found: the ops listener serves /healthz, /readyz and /metrics"}\n',
                       "application/json", head)
        except Exception as e:  # never a traceback on the wire
            logger.error("oauth1-proxy: the ops listener failed on %s (%s)", path[:50], type(e).__name__)
            self._send(500, b'{"message": "internal error"}\n', "application/json", head)

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._route(head=False)

    def do_HEAD(self) -> None:  # noqa: N802 - the stdlib's name
        self._route(head=True)

    def _not_allowed(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "GET, HEAD")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _not_allowed  # noqa: N815


def _store_answers(store: TokenStore) -> str | None:
    """None when the token store answers, else why not (never a token).

    A store with ``problem()`` (the snapshot's last error, no I/O) is asked that first; one with ``ping()``
    (a networked store, Redis) is then pinged, here on the listener's thread; else it is read.
    """
    problem = getattr(store, "problem", None)
    ping = getattr(store, "ping", None)
    try:
        said = problem() if callable(problem) else None
        if said:
            return str(said)
        if callable(ping):
            ping()
        else:
            store.all()
    except TokenStoreError as e:
        return str(e)
    except Exception as e:
        return f"the token store failed ({type(e).__name__})"
    return None


def token_expiries(config: ProxyConfig, tokens: dict[str, StoredToken]) -> dict[tuple[str, str], int | None]:
    """When each stored token of a profile expires (SPEC §11, §12), by (profile, account); None: no known expiry.

    Store keys are ``PROFILE`` or ``PROFILE@ACCOUNT``; keys of no profile of the config are left out.
    """
    out: dict[tuple[str, str], int | None] = {}
    for key, token in tokens.items():
        name, _, account = key.partition("@")
        profile = config.profile_named(name)
        if profile is not None and profile.has_dance and not profile.has_static_token:
            out[(name, account)] = expiry_of(token, profile.expires_daily)
    return out


class OpsListener:
    """The ops listener (SPEC §12): ``--set oauth1_ops_listen=HOST:PORT``; off when empty."""

    def __init__(self, config: Callable[[], ProxyConfig | None], store: Callable[[], TokenStore | None]) -> None:
        self._config = config
        self._store = store
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        self._proxyserver: Any = None
        self.url: str | None = None  # http://HOST:PORT once listening
        self._expiry_series: set[tuple[str, str]] = set()

    def token_gauges(self) -> None:
        """Set the token expiry gauges from the store, at scrape time on the listener's thread (never the loop);
        a token gone since the last scrape loses its series. A store that cannot be read leaves them as they are
        (/readyz says why)."""
        config, store = self._config(), self._store()
        if config is None or store is None:
            return
        try:
            expiries = token_expiries(config, dict(store.all()))
        except Exception:  # noqa: BLE001 - the store's problem is /readyz's to say; never a traceback here
            return
        for profile, account in self._expiry_series - set(expiries):
            metrics.token_expiry(profile, account, None)
        for (profile, account), epoch in expiries.items():
            metrics.token_expiry(profile, account, epoch)
        self._expiry_series = {k for k, v in expiries.items() if v is not None}

    def load(self, loader: Loader) -> None:
        """Declare oauth1_ops_listen."""
        loader.add_option(
            OPTION,
            str,
            "",
            "oauth1-proxy: HOST:PORT of the ops listener serving /healthz, /readyz and /metrics (Prometheus); "
            "empty: none. Port 0: a free port, printed at start. Nothing there is secret; keep it off the "
            "internet all the same.",
        )

    def configure(self, updated: set[str]) -> None:
        """Check oauth1_ops_listen; move the listener when it changes while running."""
        if OPTION not in updated:
            return
        address = parse_ops_listen(ctx.options.oauth1_ops_listen)
        if address == self._address:
            return
        self._address = address
        if self._proxyserver is not None:  # running already: move
            self._stop()
            self._start()

    def running(self) -> None:
        """Start listening (the option's default never reaches configure: read it here too)."""
        if OPTION in ctx.options:
            self._address = parse_ops_listen(ctx.options.oauth1_ops_listen)
        self._proxyserver = ctx.master.addons.get("proxyserver") or False
        self._start()

    def done(self) -> None:
        """Stop listening."""
        self._stop()
        self._proxyserver = None

    def _start(self) -> None:
        if self._address is None or self._server is not None:
            return
        host, port = self._address
        try:
            server = _Server((host, port), self)
        except OSError as e:  # logged at start, mitmdump exits (its ErrorCheck): a visible failure
            logger.error("oauth1-proxy: %s: cannot listen on %s:%s (%s); choose another port (--set %s=127.0.0.1:0 "
                         "for a free one).", OPTION, host, port, e.strerror, OPTION)
            return
        self._server = server
        bound_host, bound_port = str(server.server_address[0]), int(server.server_address[1])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        self._thread = threading.Thread(target=server.serve_forever, name="oauth1-ops", daemon=True)
        self._thread.start()
        logger.info("oauth1-proxy: ops listener at %s (/healthz, /readyz, /metrics)", self.url)

    def _stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.url = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # --- the checks: called on the listener's threads -----------------------------------------

    def health(self) -> tuple[bool, dict[str, str]]:
        """Alive, with its config loaded."""
        config = self._config()
        if config is None:
            return False, {"config": "not loaded (set oauth1_config, or see the proxy's log)"}
        return True, {"config": f"loaded, {len(config.profiles)} profile(s)"}

    def readiness(self) -> tuple[bool, dict[str, str]]:
        """Config loaded, the proxy listening, the token store answering; tokens themselves are not asked."""
        ok, checks = self.health()
        listening = self._listening()
        checks["proxy"] = "listening" if listening else "not listening"
        store = self._store()
        if store is None:
            checks["token_store"] = "none"
            return False, checks
        problem = _store_answers(store)
        checks["token_store"] = problem or "reachable"
        return ok and listening and problem is None, checks

    def _listening(self) -> bool:
        proxyserver = self._proxyserver
        if not proxyserver:
            return False
        try:
            servers = list(proxyserver.servers)
        except RuntimeError:  # changed while we looked (a mode being added): not ready this time
            return False
        return bool(servers) and all(s.is_running for s in servers)
