"""Outbound HTTPS calls the helper makes itself (not as flows, so never in captures).

TLS is verified (the system's defaults, or a CA file given), proxies from
the environment are ignored, and every call ends within its deadline: the
socket timeout alone bounds each read, not the call (a provider that drips
a byte every few seconds would hold a login for minutes), so a timer shuts
the call's sockets down when the whole call has taken ``timeout`` seconds.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .config import Profile
from .policy import timestamp_for
from .token_exchange import (
    ExchangeError,
    OutboundRequest,
    TemporaryCredentials,
    check_status,
    make_access_token_request,
    make_request_token_request,
    parse_access_token_response,
    parse_request_token_response,
)
from .token_renewal import with_lives
from .tokens import StoredToken

DEFAULT_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes


def make_ssl_context(cafile: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context; ``cafile`` adds trusted CAs (e.g. a test provider's)."""
    context = ssl.create_default_context()
    if cafile:
        context.load_verify_locations(cafile=cafile)
    return context


class Deadline:
    """One call's overall deadline: every socket the call opens is shut down when it passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            self._shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in the calling thread
        except OSError:
            pass


def _watched(base: type[http.client.HTTPConnection], deadline: Deadline) -> Callable[..., http.client.HTTPConnection]:
    class Watched(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create: Callable[..., socket.socket] = socket.create_connection  # http.client's own default

            def create_watched(*a: Any, **kw: Any) -> socket.socket:
                sock = create(*a, **kw)
                deadline.watch(sock)  # from the start: a CONNECT to an upstream proxy is inside the deadline too
                return sock

            self._create_connection = create_watched

        def connect(self) -> None:
            super().connect()
            deadline.watch(self.sock)  # the TLS socket (wrapping detaches the plain one)

    return Watched


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPConnection, self.deadline), req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.deadline = deadline
        self.ssl_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_watched(http.client.HTTPSConnection, self.deadline), req, context=self.ssl_context)


def fetch(step: str, request: OutboundRequest, *, cafile: str | None = None, proxy: str | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> Reply:
    """Send one request to the provider; raise ExchangeError naming the step when it cannot be sent.

    ``timeout`` bounds the whole call (connect, TLS, headers and body), not
    each read. ``proxy`` is the upstream proxy of ``--mode upstream:URL``: the
    helper's own calls take the same way out as the proxied traffic.
    """
    with Deadline(timeout) as deadline:
        try:
            return _fetch(step, request, cafile=cafile, proxy=proxy, timeout=timeout, deadline=deadline)
        except ExchangeError as e:
            if deadline.expired:
                raise ExchangeError(step, f"no complete answer from {request.url.split('?')[0]} within "
                                          f"{timeout:g} s; the provider is too slow or stalled, try again "
                                          "later") from e
            raise


def _fetch(step: str, request: OutboundRequest, *, cafile: str | None, proxy: str | None, timeout: float,
           deadline: Deadline) -> Reply:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {}),
        _DeadlineHTTPHandler(deadline),
        _DeadlineHTTPSHandler(deadline, make_ssl_context(cafile)),
    )
    # A GET (token_method: GET) carries no body: data=b"" would add a form Content-Type.
    data = None if request.method in ("GET", "HEAD") and not request.body else request.body
    req = urllib.request.Request(request.url, data=data, headers=dict(request.headers), method=request.method)
    try:
        with opener.open(req, timeout=timeout) as response:
            body = response.read()
            if deadline.expired:
                raise ExchangeError(step, "the deadline passed while reading the answer")
            return Reply(status=response.status, body=body)
    except urllib.error.HTTPError as e:
        try:
            body = e.read()
        except (TimeoutError, OSError, http.client.HTTPException) as read_error:
            raise ExchangeError(step, f"no complete answer from {request.url.split('?')[0]}") from read_error
        if deadline.expired:
            raise ExchangeError(step, "the deadline passed while reading the answer") from None
        return Reply(status=e.code, body=body)
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise ExchangeError(step, f"TLS verification of {request.url.split('?')[0]} failed "
                                      f"({reason.verify_message}); check the provider's certificate") from e
        raise ExchangeError(step, f"cannot reach {request.url.split('?')[0]} ({reason})") from e
    except (TimeoutError, OSError, http.client.HTTPException) as e:  # HTTPException: a cut-off answer
        raise ExchangeError(step, f"no answer from {request.url.split('?')[0]} ({type(e).__name__}: {e})") from e


def _host_of(request: OutboundRequest) -> str:
    return urllib.parse.urlsplit(request.url).hostname or ""


def _nonce_and_timestamp(profile: Profile) -> dict[str, str]:
    # RFC 5849 §3.3: a fresh nonce (128 bits from a CSPRNG) and the current
    # time, with the profile's clock_skew as the proxy signs (policy.py).
    return {"nonce": secrets.token_hex(16), "timestamp": timestamp_for(profile, int(time.time()))}


def obtain_request_token(profile: Profile, callback: str, *, cafile: str | None = None,
                         proxy: str | None = None) -> TemporaryCredentials:
    """Run RFC 5849 §2.1 against the provider: temporary credentials, or ExchangeError naming the step."""
    request = make_request_token_request(profile, callback, **_nonce_and_timestamp(profile))
    reply = fetch("request token", request, cafile=cafile, proxy=proxy)
    check_status("request token", reply.status, reply.body, host=_host_of(request), method=request.method)
    return parse_request_token_response(reply.body, require_callback_confirmed=profile.require_callback_confirmed)


def obtain_access_token(profile: Profile, temporary: TemporaryCredentials, verifier: str, *,
                        extra: Mapping[str, str], cafile: str | None = None,
                        proxy: str | None = None) -> StoredToken:
    """Run RFC 5849 §2.3 against the provider: token credentials, or ExchangeError naming the step."""
    request = make_access_token_request(profile, temporary, verifier, **_nonce_and_timestamp(profile))
    reply = fetch("access token", request, cafile=cafile, proxy=proxy)
    check_status("access token", reply.status, reply.body, host=_host_of(request), method=request.method)
    now = int(time.time())
    obtained_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
    token = parse_access_token_response(reply.body, obtained_at=obtained_at, extra=extra)
    # SPEC §11: its expiry (oauth_expires_in, expires_daily) and session handle, kept in their own fields.
    return with_lives(token, now=now, daily=profile.expires_daily)
