"""Outbound HTTPS calls the helper makes itself (not as flows, so never in captures).

TLS is verified (the system's defaults, or a CA file given), proxies from
the environment are ignored, and every call times out.
"""

from __future__ import annotations

import http.client
import secrets
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from .config import Profile
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


def fetch(step: str, request: OutboundRequest, *, cafile: str | None = None, proxy: str | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> Reply:
    """Send one request to the provider; raise ExchangeError naming the step when it cannot be sent.

    ``proxy`` is the upstream proxy of ``--mode upstream:URL``: the helper's
    own calls take the same way out as the proxied traffic.
    """
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {}),
        urllib.request.HTTPSHandler(context=make_ssl_context(cafile)),
    )
    req = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers),
                                 method=request.method)
    try:
        with opener.open(req, timeout=timeout) as response:
            return Reply(status=response.status, body=response.read())
    except urllib.error.HTTPError as e:
        return Reply(status=e.code, body=e.read())
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise ExchangeError(step, f"TLS verification of {request.url.split('?')[0]} failed "
                                      f"({reason.verify_message}); check the provider's certificate") from e
        raise ExchangeError(step, f"cannot reach {request.url.split('?')[0]} ({reason})") from e
    except (TimeoutError, OSError, http.client.HTTPException) as e:  # HTTPException: a cut-off answer
        raise ExchangeError(step, f"no answer from {request.url.split('?')[0]} ({type(e).__name__}: {e})") from e


def _nonce_and_timestamp() -> dict[str, str]:
    # RFC 5849 §3.3: a fresh nonce (128 bits from a CSPRNG) and the current time.
    return {"nonce": secrets.token_hex(16), "timestamp": str(int(time.time()))}


def obtain_request_token(profile: Profile, callback: str, *, cafile: str | None = None,
                         proxy: str | None = None) -> TemporaryCredentials:
    """Run RFC 5849 §2.1 against the provider: temporary credentials, or ExchangeError naming the step."""
    reply = fetch("request token", make_request_token_request(profile, callback, **_nonce_and_timestamp()),
                  cafile=cafile, proxy=proxy)
    check_status("request token", reply.status, reply.body)
    return parse_request_token_response(reply.body)


def obtain_access_token(profile: Profile, temporary: TemporaryCredentials, verifier: str, *,
                        extra: Mapping[str, str], cafile: str | None = None,
                        proxy: str | None = None) -> StoredToken:
    """Run RFC 5849 §2.3 against the provider: token credentials, or ExchangeError naming the step."""
    request = make_access_token_request(profile, temporary, verifier, **_nonce_and_timestamp())
    reply = fetch("access token", request, cafile=cafile, proxy=proxy)
    check_status("access token", reply.status, reply.body)
    obtained_at = datetime.now(UTC).isoformat(timespec="seconds")
    return parse_access_token_response(reply.body, obtained_at=obtained_at, extra=extra)
