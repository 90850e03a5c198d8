"""The proxy's own answers to requests it will not forward (SPEC §5): shared by the signer and the helper."""

from __future__ import annotations

import json
from typing import Any

from mitmproxy import http

from oauth1_proxy.errors import ProxyError

SERVER_NAME = "oauth1-proxy"


def make_error_response(
    error: ProxyError, *, profile: str | None = None, login_url: str | None = None
) -> http.Response:
    """Build the proxy's own answer to a request it will not forward (SPEC §5)."""
    message = str(error)
    body: dict[str, Any] = {"message": message, "error": type(error).__name__, "proxy": SERVER_NAME}
    if profile is not None:
        body["profile"] = profile
    if login_url is not None:
        body["login_url"] = login_url
    content = (json.dumps(body, indent=1) + "\n").encode()
    headers = {"Content-Type": "application/json", "Server": SERVER_NAME, "Cache-Control": "no-store"}
    retry_after = getattr(error, "retry_after", None)  # errors.RateLimited (SPEC §11): whole seconds
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return http.Response.make(error.status_hint, content, headers)
