"""Switches for the dance quirks of real providers (issue 14), installed on a ``Provider``'s Flask app.

Each is off by default and imitates one documented provider:

- ``token_get_only``: the request-token and access-token endpoints answer
  405 to POST (E*TRADE documents both as ``GET``);
- ``callback_unconfirmed``: the request-token answer says
  ``oauth_callback_confirmed=false`` (E*TRADE without a registered callback);
- ``key_token_authorize``: the authorize page reads ``key`` and ``token``
  instead of ``oauth_token`` (E*TRADE's
  ``/e/t/etws/authorize?key={consumer_key}&token={oauth_token}``); a request
  carrying only ``oauth_token``, or a ``key`` that is not the token's
  client, gets the "unknown request token" page;
- ``require_user_agent``: every request without a ``User-Agent`` header is
  refused with 403 before any verification (Discogs);
- ``title_routes``: both token endpoints are one script, ``/w/index.php``,
  told apart by ``?title=Special:OAuth/initiate`` and ``?title=Special:OAuth/token``
  (MediaWiki's OAuth extension); the query is part of what is verified.

The switches run as Flask ``before_request``/``after_request`` hooks, ahead
of and after the provider's own routes, so a refused request is never
verified nor recorded: the provider saw nothing it accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, Response, request
from werkzeug.datastructures import ImmutableMultiDict

if TYPE_CHECKING:
    from oauth1_proxy.devtools.provider.app import Provider


@dataclass(frozen=True, slots=True, kw_only=True)
class DanceQuirks:
    """Which dance quirks a Provider imitates (all off: RFC 5849 to the letter)."""

    token_get_only: bool = False
    callback_unconfirmed: bool = False
    key_token_authorize: bool = False
    require_user_agent: bool = False
    title_routes: bool = False


MEDIAWIKI_SCRIPT = "/w/index.php"
MEDIAWIKI_TITLES = {"Special:OAuth/initiate": "request_token", "Special:OAuth/token": "access_token"}


# Discogs' words for a request without a User-Agent (its API documentation asks every
# application for one); the exact body is the provider's, the status is what matters.
USER_AGENT_REFUSAL = '{"message": "You must provide a User-Agent header."}'


UNKNOWN_TOKEN_PAGE = ("<!doctype html><title>Unknown request token</title><h1>Unknown request token</h1>"
                      "<p>This authorize page takes key (the consumer key) and token (the request token).</p>")


def install(provider: Provider, app: Flask, quirks: DanceQuirks) -> None:
    """Register the switched-on quirks on the provider's app (before it serves a request)."""
    token_paths = (provider.dance_paths[0], provider.dance_paths[2])
    authorize_path = provider.dance_paths[1]

    @app.before_request
    def before() -> Response | None:
        if quirks.require_user_agent and not request.headers.get("User-Agent"):
            provider.refused_before_verification.append(f"{request.method} {request.path}: no User-Agent")
            return Response(USER_AGENT_REFUSAL, 403, content_type="application/json")
        if quirks.token_get_only and request.path in token_paths and request.method != "GET":
            provider.refused_before_verification.append(f"{request.method} {request.path}: GET only")
            return Response("Method Not Allowed: this endpoint takes GET\n", 405, headers={"Allow": "GET"},
                            content_type="text/plain")
        if quirks.title_routes and request.path == MEDIAWIKI_SCRIPT:
            view = MEDIAWIKI_TITLES.get(request.args.get("title", ""))
            if view is None:
                return Response("no such special page\n", 404, content_type="text/plain")
            response = app.view_functions[view]()  # the provider's own token endpoint
            assert isinstance(response, Response)
            return response
        if quirks.key_token_authorize and request.path == authorize_path and request.method == "GET":
            token = request.args.get("token", "")
            pending = provider.pending_request_token(token)
            if pending is None or request.args.get("key") != pending[0]:
                return Response(UNKNOWN_TOKEN_PAGE, 400, content_type="text/html")
            # The provider's own authorize page reads oauth_token: hand it E*TRADE's token= instead.
            request.args = ImmutableMultiDict([("oauth_token", token)])
        return None

    @app.after_request
    def after(response: Response) -> Response:
        if (quirks.callback_unconfirmed and request.path == token_paths[0] and response.status_code == 200
                and response.content_type.startswith("application/x-www-form-urlencoded")):
            body = response.get_data(as_text=True)
            response.set_data(body.replace("oauth_callback_confirmed=true", "oauth_callback_confirmed=false"))
        return response
