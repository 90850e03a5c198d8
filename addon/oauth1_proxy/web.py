"""The helper endpoint (SPEC §6): run the token dance once, see who is logged in.

A Flask app with no mitmproxy import. The addon serves it through the proxy
(``http://oauth1.proxy/``, or ``/_oauth1/`` in reverse mode) and on a direct
loopback URL; ``cli.py`` has its own small listener for ``login``.

Rules:
1. Loopback clients only.
2. No page, JSON answer or log line ever carries a secret; the temporary
   credentials stay in this process.
3. State changes are POST with a same-origin check, or bound to a request
   token this process obtained and still holds (the callback), once.
"""

from __future__ import annotations

import html
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, redirect, request

from .config import Profile, ProxyConfig
from .errors import ProxyError, TokenStoreError
from .token_exchange import ExchangeError, TemporaryCredentials, make_authorize_url, parse_callback_query
from .tokens import StoredToken, TokenStore
from .transport import obtain_access_token, obtain_request_token

HELPER_HOST = "oauth1.proxy"  # the helper's pseudo-host through the proxy (option oauth1_helper_host)
REVERSE_PREFIX = "/_oauth1"
# Set by the addon on requests it serves (the client's own value is replaced),
# removed on the direct listener: the origin the browser used, which the Host
# header no longer tells in reverse mode.
ORIGIN_HEADER = "X-OAuth1-Proxy-Origin"
PENDING_LIFETIME = 600.0  # seconds a request token waits for its callback

logger = logging.getLogger("oauth1_proxy.web")


@dataclass(frozen=True, slots=True)
class Pending:
    """A request token this process obtained, waiting for its callback."""

    profile: str
    temporary: TemporaryCredentials
    created: float


class PendingLogins:
    """Request tokens by token; each is taken once, and expires."""

    def __init__(self, lifetime: float = PENDING_LIFETIME, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self.lifetime, self.clock = lifetime, clock

    def add(self, profile: str, temporary: TemporaryCredentials) -> None:
        with self._lock:
            now = self.clock()
            self._items = {k: v for k, v in self._items.items() if now - v.created < self.lifetime}
            self._items[temporary.token] = Pending(profile, temporary, now)

    def take(self, token: str) -> Pending | None:
        with self._lock:
            item = self._items.pop(token, None)
        if item is None or self.clock() - item.created >= self.lifetime:
            return None
        return item


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def login_state(profile: Profile, stored: StoredToken | None) -> dict[str, Any]:
    """What the status page says of one profile; never a secret."""
    state: dict[str, Any] = {
        "name": profile.name,
        "hosts": [str(h) for h in profile.hosts],
        "path_prefix": profile.path_prefix,
        "signature_method": str(profile.signature_method),
        "can_login": profile.has_dance,
    }
    if profile.has_static_token:
        state.update(logged_in=True, source="config")
    elif stored is not None and profile.has_dance:  # a consumer-only profile signs without a token (tokens.py)
        extra = dict(stored.extra)
        state.update(logged_in=True, source="token store", since=stored.obtained_at,
                     user_id=extra.get("user_id"), screen_name=extra.get("screen_name"))
    else:
        state.update(logged_in=False, source=None if profile.has_dance else "consumer-only")
    return state


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · oauth1-proxy</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ text-align: left; padding: .4rem .6rem;
border-bottom: 1px solid #ddd; vertical-align: top; }}
td:nth-child(3), td:last-child {{ white-space: nowrap; }}
.ok {{ color: #176f2c; font-weight: 600; }} .no {{ color: #a33; font-weight: 600; }}
.box {{ padding: 1rem; border-radius: .4rem; background: #f4f6f8; }} .err {{ background: #fdecea; }}
button, a.button {{ font: inherit; padding: .25rem .8rem; border: 1px solid #888; border-radius: .3rem;
background: #fff; color: #222; text-decoration: none; cursor: pointer; }}
</style></head><body><h1>{title}</h1>
{body}
<p><small><a href="{base}/">All profiles</a> · <a href="{base}/status.json">status.json</a> · oauth1-proxy</small></p>
</body></html>
"""


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def make_web_app(
    get_config: Callable[[], ProxyConfig | None],
    get_store: Callable[[], TokenStore | None],
    *,
    cafile: Callable[[], str | None] = lambda: None,
    upstream_proxy: Callable[[], str | None] = lambda: None,
    pending: PendingLogins | None = None,
) -> Flask:
    """Build the helper app over the current config and token store."""
    app = Flask("oauth1_proxy.web")
    logins = pending or PendingLogins()

    def base() -> str:
        return request.script_root.rstrip("/")

    def origin() -> str:
        given = request.headers.get(ORIGIN_HEADER)
        if given:
            return given
        host = request.headers.get("Host") or request.environ.get("SERVER_NAME", "localhost")
        return f"http://{host}"

    def page(title: str, body: str, status: int = 200) -> Response:
        return Response(PAGE.format(title=_esc(title), body=body, base=_esc(base())), status=status,
                        content_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Referrer-Policy": "no-referrer"})

    def error_page(title: str, message: str, status: int) -> Response:
        return page(title, f'<p class="box err" id="error">{_esc(message)}</p>', status)

    def profiles() -> Iterable[Profile]:
        config = get_config()
        return config.profiles if config else ()

    def find(name: str) -> Profile | None:
        config = get_config()
        return config.profile_named(name) if config else None

    def stored_tokens() -> dict[str, StoredToken]:
        store = get_store()
        return dict(store.all()) if store is not None else {}

    @app.before_request
    def loopback_only() -> Response | None:
        if not is_loopback(request.remote_addr):
            logger.warning("oauth1-proxy helper: refused a request from %s (loopback clients only)",
                           request.remote_addr)
            return error_page("Forbidden", "The oauth1-proxy helper answers loopback clients only.", 403)
        return None

    @app.after_request
    def no_cache(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(TokenStoreError)
    def store_error(e: TokenStoreError) -> Response:
        logger.error("oauth1-proxy helper: %s", e)
        return error_page("Token store problem", str(e), 500)

    @app.get("/")
    def index() -> Response:
        tokens = stored_tokens()
        rows = []
        for p in profiles():
            s = login_state(p, tokens.get(p.name))
            if s["logged_in"]:
                who = s.get("screen_name") or s.get("user_id")
                state = '<span class="ok">logged in</span>'
                if s["source"] == "config":
                    state += " (static token in the config)"
                else:
                    state += (f" as {_esc(who)}" if who else "") + f" since {_esc(s['since'])}"
            elif s["can_login"]:
                state = '<span class="no">not logged in</span>'
            else:
                state = "consumer-only (two-legged): no login needed"
            actions = ""
            if s["can_login"]:
                actions += f'<a class="button" id="login-{_esc(p.name)}" href="{base()}/login/{_esc(p.name)}">' \
                           f'{"Log in again" if s["logged_in"] else "Log in"}</a> '
            if s["logged_in"] and s["source"] == "token store":
                actions += (f'<form method="post" action="{base()}/logout/{_esc(p.name)}" style="display:inline">'
                            f'<button id="logout-{_esc(p.name)}" type="submit">Log out</button></form>')
            rows.append(f'<tr id="profile-{_esc(p.name)}"><td><b>{_esc(p.name)}</b></td>'
                        f'<td>{_esc(", ".join(s["hosts"]))}</td><td>{_esc(s["signature_method"])}</td>'
                        f'<td class="state">{state}</td><td>{actions}</td></tr>')
        body = ("<table><tr><th>Profile</th><th>Hosts</th><th>Method</th><th>State</th><th></th></tr>"
                + "".join(rows) + "</table>") if rows else "<p>No profiles are configured.</p>"
        return page("oauth1-proxy profiles", body)

    @app.get("/status.json")
    def status() -> Response:
        tokens = stored_tokens()
        return jsonify({"profiles": [login_state(p, tokens.get(p.name)) for p in profiles()]})

    @app.get("/login/<name>")
    def login(name: str) -> Any:
        profile = find(name)
        if profile is None:
            return error_page("Unknown profile", f"There is no profile named {name!r} in the config.", 404)
        if not profile.has_dance:
            return error_page("No login for this profile",
                              f'Profile "{name}" has no request_token_url, authorize_url and access_token_url; '
                              "add them to the config to log in.", 400)
        callback = profile.callback
        if callback == "auto":
            callback = f"{origin()}{base()}/callback/{name}"
        try:
            temporary = obtain_request_token(profile, callback, cafile=cafile(), proxy=upstream_proxy())
        except ExchangeError as e:
            logger.error('oauth1-proxy helper: login "%s" failed at %s', name, e)
            return error_page("Login failed", f'Profile "{name}": the {e}', 502)
        logins.add(name, temporary)
        logger.info('oauth1-proxy helper: login "%s": request token obtained, sending the browser to the provider',
                    name)
        if callback == "oob":
            url = make_authorize_url(profile, temporary.token)
            return page("Authorize at the provider",
                        f'<p>Open <a id="authorize" href="{_esc(url)}">the provider\'s page</a>, approve, then '
                        f"paste the PIN into <code>oauth1-proxy login {_esc(name)} --oob</code>.</p>")
        return redirect(make_authorize_url(profile, temporary.token), code=302)

    @app.get("/callback/<name>")
    def callback(name: str) -> Response:
        try:
            token, verifier, extra = parse_callback_query(request.query_string.decode("utf-8", "replace"))
        except ExchangeError:
            if request.args.get("denied") or request.args.get("oauth_problem"):
                return error_page("Login cancelled", f'The provider says access to "{name}" was denied.', 400)
            return error_page("Bad callback", "This callback has no oauth_token and oauth_verifier.", 400)
        pending_login = logins.take(token)
        if pending_login is None or pending_login.profile != name:
            logger.warning('oauth1-proxy helper: refused a callback for "%s" with an unknown, used or expired '
                           "request token", name)
            return error_page("Unknown or used request token",
                              "This callback does not belong to a login this proxy started, or it was already "
                              f"used or has expired. Start again at {base()}/login/{name}.", 400)
        profile = find(name)
        store = get_store()
        if profile is None or store is None:
            return error_page("Unknown profile", f"There is no profile named {name!r} in the config.", 404)
        try:
            stored = obtain_access_token(profile, pending_login.temporary, verifier, extra=extra, cafile=cafile(),
                                         proxy=upstream_proxy())
        except ExchangeError as e:
            logger.error('oauth1-proxy helper: login "%s" failed at %s', name, e)
            return error_page("Login failed", f'Profile "{name}": the {e}', 502)
        warning = ""
        try:
            store.put(name, stored)
        except TokenStoreError as e:
            # The store keeps the token in memory for this run (tokens.py): the
            # login worked, but will not survive a restart. Say both.
            logger.error("oauth1-proxy helper: %s", e)
            warning = f'<p class="box err" id="warning">{_esc(e)}</p>'
        info = dict(stored.extra)
        who = info.get("screen_name") or info.get("user_id") or "the authorizing user"
        logger.info('oauth1-proxy helper: profile "%s" is now logged in as %s', name, who)
        return page("Logged in",
                    f'<p class="box" id="success">Profile <b>{_esc(name)}</b> is now logged in as '
                    f"<b>{_esc(who)}</b>. Requests to {_esc(', '.join(str(h) for h in profile.hosts))} "
                    "are signed with this token from now on.</p>" + warning)

    @app.post("/logout/<name>")
    def logout(name: str) -> Any:
        sent_origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if (sent_origin and sent_origin not in (origin(), "null")) or fetch_site in ("cross-site", "same-site"):
            return error_page("Forbidden", "Log out from the helper's own page.", 403)
        store = get_store()
        if find(name) is None or store is None:
            return error_page("Unknown profile", f"There is no profile named {name!r} in the config.", 404)
        store.delete(name)
        logger.info('oauth1-proxy helper: profile "%s" logged out (stored token forgotten)', name)
        return redirect(f"{base()}/", code=303)

    @app.errorhandler(ProxyError)
    def proxy_error(e: ProxyError) -> Response:
        return error_page("Error", str(e), e.status_hint)

    app.wsgi_app = PrefixMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


class PrefixMiddleware:
    """Serve the app under /_oauth1/ too (reverse mode), with links that keep the prefix."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("oauth1_proxy.direct"):
            environ.pop("HTTP_" + ORIGIN_HEADER.upper().replace("-", "_"), None)
        path = environ.get("PATH_INFO", "")
        if path == REVERSE_PREFIX or path.startswith(REVERSE_PREFIX + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + REVERSE_PREFIX
            environ["PATH_INFO"] = path[len(REVERSE_PREFIX):] or "/"
        return self.app(environ, start_response)


def split_helper_path(path: str) -> bool:
    """Tell whether a request path is for the helper in reverse mode (/_oauth1/...)."""
    only = urlsplit(path).path
    return only == REVERSE_PREFIX or only.startswith(REVERSE_PREFIX + "/")
