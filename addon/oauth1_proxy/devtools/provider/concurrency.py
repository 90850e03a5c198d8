"""The provider's switches for limits (SPEC §11): NetSuite's concurrency cap, and a slow endpoint.

``Provider(concurrency_limit=N)`` answers a request to ``/api/*`` that
arrives while N are in progress the way NetSuite answers a RESTlet over its
account's concurrency limit: HTTP 400 with the SuiteScript error code
``SSS_REQUEST_LIMIT_EXCEEDED`` (Oracle NetSuite Help, "Errors Related to
Concurrency Violations":
https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/bridgehead_1525252812.html;
NetSuite's REST web services answer 429 instead). The body is a RESTlet's
JSON error, ``{"error": {"code": ..., "message": ...}}``.

Whether capped or not, ``Concurrency`` counts the ``/api/*`` requests in
progress: ``max_in_flight`` is the most that were ever in progress at
once, the refused ones included, so a test can say "the provider never saw
more than 2 at once".

``GET /api/slow?seconds=S`` is a protected resource (token or
consumer-only, verified like the others) that holds the request open S
seconds (at most 10) before answering ``{"ok": true, "user_id", "slept"}``.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request

if TYPE_CHECKING:
    from oauth1_proxy.devtools.provider.app import Provider

NETSUITE_LIMIT_CODE = "SSS_REQUEST_LIMIT_EXCEEDED"
MAX_SLOW_SECONDS = 10.0


class Concurrency:
    """The /api/* requests in progress, the most seen at once, and the refused excess."""

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"Provider: concurrency_limit must be at least 1, not {limit}")
        self.limit = limit
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.refused = 0
        self.served = 0

    def enter(self) -> bool:
        """Count a request in; False when it is over the cap (it is refused, and counted out at once)."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.limit is not None and self.in_flight > self.limit:
                self.in_flight -= 1
                self.refused += 1
                return False
            return True

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.served += 1

    def reset(self) -> None:
        with self._lock:
            self.max_in_flight, self.refused, self.served = self.in_flight, 0, 0


def netsuite_refusal() -> Response:
    """NetSuite's answer to a RESTlet request over the account's concurrency limit (see the module docstring)."""
    response = jsonify({"error": {
        "code": NETSUITE_LIMIT_CODE,
        "message": "Concurrent request limit exceeded. Request blocked.",
    }})
    response.status_code = 400
    return response


def install_concurrency(app: Flask, provider: Provider) -> None:
    """Count (and cap) /api/* requests, and serve /api/slow."""
    concurrency = provider.concurrency

    @app.before_request
    def count_in() -> Response | None:
        if not request.path.startswith("/api/"):
            return None
        if not concurrency.enter():
            return netsuite_refusal()
        g.oauth1_counted = True
        return None

    @app.teardown_request
    def count_out(error: BaseException | None) -> None:
        if g.pop("oauth1_counted", False):
            concurrency.leave()

    @app.get("/api/slow")
    def api_slow() -> Response:  # not "slow": tests mount their own /slow/ routes under that endpoint name
        incoming = provider._incoming()

        def verify() -> Response | None:
            if not provider._verify_resource(incoming, require_token=False):
                return None
            try:
                seconds = min(max(float(request.args.get("seconds", "1")), 0.0), MAX_SLOW_SECONDS)
            except ValueError:
                seconds = 1.0
            time.sleep(seconds)
            user = provider.users.user_of(incoming.params.get("oauth_token"))
            return jsonify({"ok": True, "user_id": user.user_id, "screen_name": user.screen_name, "slept": seconds})

        return provider._handle("resource", incoming, verify)
