"""Outbound HTTPS calls the helper makes itself (not as flows, so never in captures).

TLS is verified (the system's defaults, or a CA file given), proxies from
the environment are ignored, and every call times out.
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass

from .token_exchange import ExchangeError, OutboundRequest

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


def fetch(step: str, request: OutboundRequest, *, cafile: str | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> Reply:
    """Send one request to the provider; raise ExchangeError naming the step when it cannot be sent."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
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
    except (TimeoutError, OSError) as e:
        raise ExchangeError(step, f"no answer from {request.url.split('?')[0]} ({type(e).__name__}: {e})") from e
