"""The helper endpoint (SPEC §6): run the token dance once, see who is logged in.

A Flask app with no mitmproxy import. The addon serves it through the proxy
(``http://oauth1.proxy/``, or ``/_oauth1/`` in reverse mode) and on a direct
loopback URL; ``cli.py`` has its own small listener for ``login``. The
building blocks (Host checks, pending logins, page data; no Flask) are in
web_support.py, re-exported here.

Rules:
1. Loopback clients only, and only when the Host header names the helper
   itself (SPEC §10: a DNS-rebinding page reaches a loopback port under its
   own name). Anything else is 421; the callback URL is built only from a
   Host that passed this check.
2. No page, JSON answer or log line ever carries a secret; the temporary
   credentials stay in this process, or in the shared Redis store (sealed
   with token_store_key when set), never in a page or cookie.
3. Every state change (start a login, enter a PIN, log out) is a POST from
   the helper's own page: it carries a same-origin token (an HMAC of a
   per-process key, or the key a shared Redis store holds for every
   instance, and the helper's origin, embedded in the helper's forms)
   and any ``Origin`` it sends is the helper's own (``null`` is refused).
   A GET never talks to the provider.
   Routes: ``GET /`` and ``/status.json``; ``GET /login/P`` (a page with one
   button: the URL the proxy's 401 names), ``POST /login/P`` (request token,
   then 303 to the provider, or the PIN page for ``callback: oob``),
   ``GET /callback/P``, ``POST /verify/P`` (the PIN), ``POST /logout/P``.
4. A login is bound to the browser that started it (a random HttpOnly,
   SameSite=Lax cookie set by the POST, its hash kept with the request
   token): the callback or PIN of another browser completes nothing. Each
   request token is taken once, and expires.

A little over 400 lines: the routes close over one app's state (its CSRF
key, the pending logins, the store); what needs none of it lives in
web_support.py and web_accounts.py (accounts, SPEC §11).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from .accounts import bad_account_message, is_account_name, token_key
from .config import Profile, ProxyConfig
from .errors import ProxyError, TokenStoreError
from .run_stats import no_stats
from .stores.managed import ManagedTokenStore
from .token_exchange import ExchangeError, make_authorize_url, parse_callback_query
from .tokens import StoredToken, TokenStore
from .transport import obtain_access_token, obtain_request_token
from .web_accounts import account_row, accounts_state, profile_key, uses_accounts
from .web_explain import explain_lines, refresh_script
from .web_support import CSRF_FIELD as CSRF_FIELD
from .web_support import DIRECT_ENV as DIRECT_ENV
from .web_support import HELPER_HOST as HELPER_HOST
from .web_support import LOGIN_COOKIE as LOGIN_COOKIE
from .web_support import LOOPBACK_NAMES as LOOPBACK_NAMES
from .web_support import LOOPBACK_NETWORKS, IPNetwork, PendingStore, esc, is_allowed_client
from .web_support import ORIGIN_ENV as ORIGIN_ENV
from .web_support import PAGE as PAGE
from .web_support import PENDING_LIFETIME as PENDING_LIFETIME
from .web_support import REVERSE_PREFIX as REVERSE_PREFIX
from .web_support import Pending as Pending
from .web_support import PendingLogins as PendingLogins
from .web_support import PrefixMiddleware as PrefixMiddleware
from .web_support import direct_authorities as direct_authorities
from .web_support import is_loopback as is_loopback
from .web_support import login_state as login_state
from .web_support import normalize_authority as normalize_authority
from .web_support import split_helper_path as split_helper_path

logger = logging.getLogger("oauth1_proxy.web")

def make_web_app(
    get_config: Callable[[], ProxyConfig | None],
    get_store: Callable[[], TokenStore | None],
    *,
    cafile: Callable[[], str | None] = lambda: None,
    upstream_proxy: Callable[[], str | None] = lambda: None,
    pending: PendingStore | None = None,
    clients: Callable[[], tuple[IPNetwork, ...]] = lambda: LOOPBACK_NETWORKS,
    run_stats: Callable[[str], Mapping[str, Any]] = no_stats,
) -> Flask:
    """Build the helper app over the current config and token store; it answers only peers in ``clients()``."""
    app = Flask("oauth1_proxy.web")
    own_logins = pending or PendingLogins()

    def pending_logins() -> PendingStore:
        """The store's shared pending logins (Redis: any instance completes the login), else this process's."""
        store = get_store()
        shared = store.pending_logins() if isinstance(store, ManagedTokenStore) else None
        return shared if shared is not None else own_logins
    csrf_key = secrets.token_bytes(32)  # per process: a restart invalidates open pages, never a login

    def base() -> str:
        return request.script_root.rstrip("/")

    def own_origin() -> str | None:
        """The helper's origin as this request reached it, or None when its Host does not name the helper."""
        env = request.environ
        host = request.headers.get("Host")
        if env.get(DIRECT_ENV):
            wanted = direct_authorities(int(env[DIRECT_ENV]))  # the direct listener's own port
        elif env.get(ORIGIN_ENV):
            return str(env[ORIGIN_ENV])  # the addon checked the Host (through the proxy, reverse mode)
        else:  # hosted some other way (tests, a WSGI server of one's own): loopback names only
            got = normalize_authority(host)
            wanted = frozenset({got} if got and got.rpartition(":")[0] in LOOPBACK_NAMES else ())
        got = normalize_authority(host)
        if got is None or got not in wanted:
            return None
        name, _, port_text = got.rpartition(":")
        return f"http://{name}" if port_text == "80" else f"http://{name}:{port_text}"

    def origin() -> str:
        checked = own_origin()
        assert checked is not None  # before_request refused every other request
        return checked

    def csrf_token() -> str:
        store = get_store()
        shared = store.helper_key() if isinstance(store, ManagedTokenStore) else None  # behind a balancer
        return hmac.new(shared or csrf_key, b"csrf\0" + origin().encode(), hashlib.sha256).hexdigest()

    def csrf_field() -> str:
        return f'<input type="hidden" name="{CSRF_FIELD}" value="{csrf_token()}">'

    def login_cookie(name: str) -> str:
        return LOGIN_COOKIE + hashlib.sha256(name.encode()).hexdigest()[:16]

    def binding_of(value: str | None) -> str:
        return hashlib.sha256(value.encode()).hexdigest() if value else ""

    def page(title: str, body: str, status: int = 200) -> Response:
        return Response(PAGE.format(title=esc(title), body=body, base=esc(base())), status=status,
                        content_type="text/html; charset=utf-8",
                        # Referrer-Policy same-origin, not no-referrer: with no-referrer chromium
                        # sends "Origin: null" on the helper's own form POSTs (Fetch §3.1).
                        headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                 "Content-Security-Policy": "frame-ancestors 'none'",
                                 "Referrer-Policy": "same-origin"})

    def error_page(title: str, message: str, status: int) -> Response:
        return page(title, f'<p class="box err" id="error">{esc(message)}</p>', status)

    def profiles() -> Iterable[Profile]:
        config = get_config()
        return config.profiles if config else ()

    def find(name: str) -> Profile | None:
        config = get_config()
        return config.profile_named(name) if config else None

    def stored_tokens() -> dict[str, StoredToken]:
        store = get_store()
        return dict(store.all()) if store is not None else {}

    def refuse_cross_site() -> Response | None:
        """None when a POST comes from the helper's own page (same-origin token, own Origin); else a 403."""
        sent_origin = request.headers.get("Origin")
        if sent_origin is not None and sent_origin != origin():
            logger.warning("oauth1-proxy helper: refused POST %s from Origin %r (not the helper's own %s)",
                           request.path, sent_origin[:100], origin())
            return error_page("Forbidden", f"This request came from the page {sent_origin[:100]!r}, not from the "
                                           f"helper's own page at {origin()}{base()}/; open that page and use its "
                                           "buttons.", 403)
        if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
            return error_page("Forbidden", "This request came from another site; use the helper's own page at "
                                           f"{origin()}{base()}/.", 403)
        given = request.form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(given.encode(), csrf_token().encode()):
            logger.warning("oauth1-proxy helper: refused POST %s without a valid same-origin token", request.path)
            return error_page("Forbidden", "This form is not from the helper's own page (its same-origin token is "
                                           f"missing, from another address, or from before a restart); open "
                                           f"{origin()}{base()}/ and try again.", 403)
        return None

    @app.before_request
    def loopback_and_own_host_only() -> Response | None:
        allowed = clients()
        if not is_allowed_client(request.remote_addr, allowed):
            only = "loopback clients only" if allowed == LOOPBACK_NETWORKS else "clients in oauth1_helper_clients only"
            logger.warning("oauth1-proxy helper: refused a request from %s (%s)", request.remote_addr, only)
            return error_page("Forbidden", f"The oauth1-proxy helper answers {only}.", 403)
        if own_origin() is None:
            host = (request.headers.get("Host") or "")[:100]
            logger.warning("oauth1-proxy helper: refused a request for Host %r (not the helper's own address)", host)
            return Response(f"421 Misdirected Request: the oauth1-proxy helper does not answer for the Host {host!r} "
                            "(DNS rebinding?). Open the helper at the address oauth1-proxy printed at start "
                            "(http://127.0.0.1:PORT/ or http://oauth1.proxy/ through the proxy).\n", status=421,
                            content_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-store"})
        if request.method == "POST":
            return refuse_cross_site()
        return None

    @app.after_request
    def no_cache(response: Response) -> Response:
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")  # the 421 text names a Host it was sent
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
            key = profile_key(p, tokens)
            s = login_state(p, tokens.get(key) if key else None)
            if s["logged_in"]:
                who = s.get("screen_name") or s.get("user_id")
                state = '<span class="ok">logged in</span>'
                if s["source"] == "config":
                    state += " (static token in the config)"
                else:
                    state += (f" as {esc(who)}" if who else "") + f" since {esc(s['since'])}"
                    state += f"; expires {esc(s['expires_at'])}" if s.get("expires_at") else ""
                    state += f"; renewed {esc(s['renewed_at'])}" if s.get("renewed_at") else ""
            elif s.get("expired"):  # SPEC §11: counts as missing
                state = f'<span class="no">expired</span> at {esc(s["expires_at"])}: ' + (
                    "refreshed with its session handle at the next request" if s.get("refreshable")
                    else "log in again")
            elif s["can_login"]:
                state = ('<span class="no">not logged in</span>' if key else
                         "several accounts: each request names one with X-OAuth1-Account")
            else:
                state = "consumer-only (two-legged): no login needed"
            actions = ""
            if s["can_login"]:
                actions += (f'<form method="post" action="{base()}/login/{esc(p.name)}" style="display:inline">'
                            f'{csrf_field()}<button id="login-{esc(p.name)}" type="submit">'
                            f'{"Log in again" if s["logged_in"] else "Log in"}</button></form> ')
            if s["logged_in"] and s["source"] == "token store":
                actions += (f'<form method="post" action="{base()}/logout/{esc(p.name)}" style="display:inline">'
                            f'{csrf_field()}<button id="logout-{esc(p.name)}" type="submit">Log out</button></form>')
            if uses_accounts(p):
                actions += (f'<form method="post" action="{base()}/login/{esc(p.name)}" style="display:inline">'
                            f'{csrf_field()}<input name="account" size="8" placeholder="account" required '
                            f'pattern="[A-Za-z0-9_-]+"> <button type="submit">Log in an account</button></form>')
            run = "".join(f"<div>{esc(line)}</div>" for line in explained(p, tokens.get(p.name)))
            rows.append(f'<tr id="profile-{esc(p.name)}"><td><b>{esc(p.name)}</b></td>'
                        f'<td>{esc(", ".join(s["hosts"]))}</td><td>{esc(s["signature_method"])}</td>'
                        f'<td class="state">{state}</td><td class="run" id="run-{esc(p.name)}">{run}</td>'
                        f'<td>{actions}</td></tr>')
            rows.extend(account_row(base(), csrf_field(), p.name, a) for a in accounts_state(p, tokens))
        body = ("<table><tr><th>Profile</th><th>Hosts</th><th>Method</th><th>State</th><th>This run</th><th></th>"
                "</tr>" + "".join(rows) + "</table>" + refresh_script(f"{base()}/status.json")
                ) if rows else "<p>No profiles are configured.</p>"
        return page("oauth1-proxy profiles", body)

    def account_arg(value: str | None) -> str | None | Response:
        """The ``account`` of a login or logout (query or form): None, a valid name, or the error page."""
        if not value:
            return None
        if not is_account_name(value):
            return error_page("Bad account name", bad_account_message(value, "account"), 400)
        return value

    @app.get("/status.json")
    def status() -> Response:
        tokens = stored_tokens()
        out = []
        for p in profiles():
            key = profile_key(p, tokens)
            out.append({**login_state(p, tokens.get(key) if key else None), "default_account": p.default_account,
                        "account_required": key is None, "accounts": accounts_state(p, tokens),
                        "run": dict(run_stats(p.name)), "explain": explained(p, tokens.get(p.name))})
        return jsonify({"profiles": out})

    def explained(p: Profile, stored: StoredToken | None) -> list[str]:
        """The page's "this run" lines (web_explain.py): counts, the last provider refusal, the clock.
        (The token's expiry and renewal are in the State column already.)"""
        return explain_lines(run_stats(p.name))

    def dance_profile(name: str) -> Profile | Response:
        profile = find(name)
        if profile is None:
            return error_page("Unknown profile", f"There is no profile named {name!r} in the config.", 404)
        if not profile.has_dance:
            return error_page("No login for this profile",
                              f'Profile "{name}" has no request_token_url, authorize_url and access_token_url; '
                              "add them to the config to log in.", 400)
        return profile

    @app.get("/login/<name>")
    def login_page(name: str) -> Response:
        """The URL the proxy's 401 names: a page whose button starts the login (a GET never reaches the provider)."""
        profile = dance_profile(name)
        if isinstance(profile, Response):
            return profile
        account = account_arg(request.args.get("account"))
        if isinstance(account, Response):
            return account
        what = f"account <b>{esc(account)}</b> of profile <b>{esc(name)}</b>" if account else \
            f"profile <b>{esc(name)}</b>"
        hidden = f'<input type="hidden" name="account" value="{esc(account)}">' if account else ""
        return page(f"Log in: {name}" + (f" ({account})" if account else ""),
                    f'<form method="post" action="{base()}/login/{esc(name)}">{csrf_field()}{hidden}'
                    f"<p>Log {what} in at {esc(', '.join(str(h) for h in profile.hosts))}: "
                    "the provider will ask you to approve access.</p>"
                    f'<button id="start-login" type="submit">Continue to the provider</button></form>')

    @app.post("/login/<name>")
    def login(name: str) -> Any:
        profile = dance_profile(name)
        if isinstance(profile, Response):
            return profile
        account = account_arg(request.form.get("account") or request.args.get("account"))
        if isinstance(account, Response):
            return account
        callback = profile.callback
        if callback == "auto":
            callback = f"{origin()}{base()}/callback/{name}"
        try:
            temporary = obtain_request_token(profile, callback, cafile=cafile(), proxy=upstream_proxy())
        except ExchangeError as e:
            logger.error('oauth1-proxy helper: login "%s" failed at %s', name, e)
            return error_page("Login failed", f'Profile "{name}": the {e}', 502)
        browser = secrets.token_urlsafe(32)
        logins = pending_logins()
        logins.add(name, temporary, binding_of(browser), lifetime=profile.request_token_lifetime, account=account)
        logger.info('oauth1-proxy helper: login "%s": request token obtained, sending the browser to the provider',
                    name)
        url = make_authorize_url(profile, temporary.token)
        response: BaseResponse
        if callback == "oob":
            response = page("Authorize at the provider",
                            f'<p>1. Open <a id="authorize" href="{esc(url)}" target="_blank" rel="noopener '
                            "noreferrer\">the provider's page</a> and approve.</p>"
                            f'<form method="post" action="{base()}/verify/{esc(name)}">{csrf_field()}'
                            f'<input type="hidden" name="oauth_token" value="{esc(temporary.token)}">'
                            '<p>2. Enter the PIN (verification code) the provider shows: '
                            '<input id="pin" name="pin" autocomplete="off" required> '
                            '<button id="submit-pin" type="submit">Log in</button></p></form>')
        else:
            response = redirect(url, code=303)
        response.set_cookie(login_cookie(name), browser, max_age=int(logins.lifetime), path=f"{base()}/",
                            httponly=True, samesite="Lax")
        return response

    def complete(name: str, token: str, verifier: str, extra: dict[str, str]) -> Response:
        logins = pending_logins()
        pending_login = logins.take(token, binding_of(request.cookies.get(login_cookie(name))), profile=name)
        if pending_login is None:
            if logins.known(token):
                logger.warning('oauth1-proxy helper: refused to complete login "%s" from a browser that did not '
                               "start it", name)
                return error_page("Not your login",
                                  "This login was started in another browser (or its cookie is gone), so this one "
                                  f"cannot complete it. Start again at {base()}/login/{name} in this browser.", 403)
            life = logins.expired_life(token)
            if life is not None:
                logger.warning('oauth1-proxy helper: login "%s" took longer than its request token lives (%d s); '
                               "nothing was sent", name, life)
                return error_page("Request token expired",
                                  f"This login's request token lived {life:.0f} s (the provider's limit, "
                                  f'request_token_lifetime of profile "{name}", or the helper\'s own), and the '
                                  f"approval came later, so it was not sent. Start again at {base()}/login/{name} "
                                  "and approve within that time.", 400)
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
            store.put(token_key(name, pending_login.account), stored)
        except TokenStoreError as e:
            # The store keeps the token in memory for this run (tokens.py): the
            # login worked, but will not survive a restart. Say both.
            logger.error("oauth1-proxy helper: %s", e)
            warning = f'<p class="box err" id="warning">{esc(e)}</p>'
        info = dict(stored.extra)
        who = info.get("screen_name") or info.get("user_id") or "the authorizing user"
        account = pending_login.account
        logger.info('oauth1-proxy helper: profile "%s"%s is now logged in as %s', name,
                    f' account "{account}"' if account else "", who)
        what = f"Account <b>{esc(account)}</b> of profile <b>{esc(name)}</b>" if account else \
            f"Profile <b>{esc(name)}</b>"
        response = page("Logged in",
                        f'<p class="box" id="success">{what} is now logged in as '
                        f"<b>{esc(who)}</b>. Requests to {esc(', '.join(str(h) for h in profile.hosts))} "
                        "are signed with this token from now on.</p>" + warning)
        response.delete_cookie(login_cookie(name), path=f"{base()}/", httponly=True, samesite="Lax")
        return response

    @app.get("/callback/<name>")
    def callback(name: str) -> Response:
        try:
            token, verifier, extra = parse_callback_query(request.query_string.decode("utf-8", "replace"))
        except ExchangeError:
            if request.args.get("denied") or request.args.get("oauth_problem"):
                return error_page("Login cancelled", f'The provider says access to "{name}" was denied.', 400)
            return error_page("Bad callback", "This callback has no oauth_token and oauth_verifier.", 400)
        return complete(name, token, verifier, extra)

    @app.post("/verify/<name>")
    def verify(name: str) -> Response:
        """The oob page's PIN form (RFC 5849 §2.1 "oob"): completes the pending login of this browser."""
        token = request.form.get("oauth_token", "")
        pin = request.form.get("pin", "").strip()
        if not token or not pin:
            return error_page("No PIN", "Enter the PIN the provider showed after you approved access.", 400)
        return complete(name, token, pin, {})

    @app.post("/logout/<name>")
    def logout(name: str) -> Any:
        store = get_store()
        if find(name) is None or store is None:
            return error_page("Unknown profile", f"There is no profile named {name!r} in the config.", 404)
        account = account_arg(request.form.get("account"))
        if isinstance(account, Response):
            return account
        store.delete(token_key(name, account))
        logger.info('oauth1-proxy helper: profile "%s"%s logged out (stored token forgotten)', name,
                    f' account "{account}"' if account else "")
        return redirect(f"{base()}/", code=303)

    @app.errorhandler(ProxyError)
    def proxy_error(e: ProxyError) -> Response:
        return error_page("Error", str(e), e.status_hint)

    app.wsgi_app = PrefixMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app

