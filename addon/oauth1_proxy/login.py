"""``oauth1-proxy login PROFILE``: the token dance from a terminal (SPEC §3).

By default a loopback listener on an ephemeral port receives the callback;
with ``--oob`` the provider shows a PIN, read from stdin (the pasted
callback URL works too). The authorize URL is printed on a line of its own.

The listener answers only a Host naming itself (127.0.0.1, localhost or
[::1] on its port: a DNS-rebinding page is refused with 421), and only the
callback of this login's request token ends the wait: anything else is
refused and the listener keeps waiting. PLAINTEXT over plain http is refused
before anything is sent (token_exchange.refuse_plaintext_in_clear).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import urllib.parse
import webbrowser
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from .accounts import bad_account_message, is_account_name, token_key
from .config import load_config
from .errors import LoginError, TokenStoreError
from .lifetimes import describe_expiry
from .stores.managed import open_config_store
from .token_exchange import ExchangeError, TemporaryCredentials, make_authorize_url, parse_callback_query
from .transport import obtain_access_token, obtain_request_token
from .web import direct_authorities, normalize_authority


class _CallbackServer(HTTPServer):
    expected_path: str
    expected_token: str | None = None  # this login's request token, once obtained
    result: tuple[str, str, dict[str, str]] | None = None
    done: threading.Event


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        host = normalize_authority(self.headers.get("Host"))
        if host is None or host not in direct_authorities(self.server.server_port):
            self._answer(421, "This listener answers only at its own address (127.0.0.1, localhost or [::1] on "
                              "its port); the login was not completed.")
            return
        path, _, query = self.path.partition("?")
        if path != self.server.expected_path:
            self._answer(404, "Not the oauth1-proxy login callback.")
            return
        try:
            result = parse_callback_query(query)
        except ExchangeError:
            self._answer(400, "This callback has no oauth_token and oauth_verifier; the login was not completed.")
            return
        if self.server.expected_token is None or result[0] != self.server.expected_token:
            self._answer(400, "This callback belongs to another login; the terminal is still waiting for the "
                              "provider's callback of its own login.")
            return
        self.server.result = result
        self._answer(200, "oauth1-proxy received the authorization. You can close this tab and go back to the "
                          "terminal.")
        self.server.done.set()

    def _answer(self, status: int, text: str) -> None:
        body = f"<!doctype html><meta charset=utf-8><title>oauth1-proxy login</title><p id=message>{text}</p>"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # the query holds the verifier: never logged
        pass


def _read_oob(temporary: TemporaryCredentials) -> tuple[str, dict[str, str]]:
    print("Approve access at the provider, then paste the PIN (or the whole callback URL) here:", flush=True)
    line = sys.stdin.readline().strip()
    if not line:
        raise LoginError("no PIN was entered; run oauth1-proxy login again.")
    if "oauth_verifier" in line:
        token, verifier, extra = parse_callback_query(line)
        if token != temporary.token:
            raise LoginError("the pasted callback belongs to another login; paste the one from this login.")
        return verifier, extra
    return line, {}


def _wait_for_callback(server: _CallbackServer, timeout: float) -> tuple[str, str, dict[str, str]]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        if not server.done.wait(timeout):
            raise LoginError(f"no callback arrived within {timeout:.0f} s; run oauth1-proxy login again.")
    finally:
        server.shutdown()
        server.server_close()
    if server.result is None:  # not reached: only this login's callback sets done
        raise LoginError("the callback carried no oauth_token and oauth_verifier; run oauth1-proxy login again.")
    return server.result


def check_upstream(upstream: str | None) -> str | None:
    """``login --upstream URL``: an http(s) proxy URL with a host, as ``--mode upstream:URL`` takes; else LoginError."""
    if upstream is None:
        return None
    parts = urllib.parse.urlsplit(upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise LoginError(f"--upstream {upstream!r} is not a proxy URL; give it as run's --mode upstream:URL takes "
                         "it, e.g. --upstream http://proxy.internal:3128")
    return upstream


def cmd_login(name: str, config_path: str, *, oob: bool, timeout: float, open_browser: bool,
              account: str | None = None, upstream: str | None = None) -> int:
    """Log ``name`` in (``account``: one named account of it, SPEC §11) and store the token; ``upstream``: the
    proxy the provider is reached through, the route ``run --mode upstream:URL`` takes."""
    upstream = check_upstream(upstream)
    if account is not None and not is_account_name(account):
        raise LoginError(bad_account_message(account, "--account"))
    config = load_config(config_path)
    profile = config.profile_named(name)
    if profile is None:
        names = ", ".join(p.name for p in config.profiles)
        raise LoginError(f"there is no profile {name!r} in {config_path}; the profiles are {names}.")
    if not profile.has_dance:
        raise LoginError(f'profile "{name}" in {config_path} has no request_token_url, authorize_url and '
                         "access_token_url; add them to log in.")
    store = open_config_store(config)
    store.all()  # a corrupt store is reported before the dance, never overwritten after it

    server: _CallbackServer | None = None
    if oob or profile.callback == "oob":
        callback = "oob"
    elif profile.callback != "auto":
        callback = profile.callback
        oob = True  # the provider sends the browser elsewhere: read the verifier from stdin
    else:
        server = _CallbackServer(("127.0.0.1", 0), _CallbackHandler)
        server.expected_path = f"/callback/{name}"
        server.done = threading.Event()
        callback = f"http://127.0.0.1:{server.server_port}/callback/{name}"
    lifetime = profile.request_token_lifetime
    try:
        temporary = obtain_request_token(profile, callback, proxy=upstream)
        obtained = time.monotonic()
        if lifetime is not None:
            timeout = min(timeout, float(lifetime))
        if server is not None:
            server.expected_token = temporary.token
        url = make_authorize_url(profile, temporary.token)
        print("Open this URL to authorize oauth1-proxy:", flush=True)
        print(url, flush=True)
        if open_browser and server is not None and (os.environ.get("DISPLAY") or sys.platform == "darwin"):
            webbrowser.open(url)
        if server is not None:
            print(f"Waiting for the provider's callback on {callback} ...", flush=True)
            token, verifier, extra = _wait_for_callback(server, timeout)
            if token != temporary.token:
                raise LoginError("the callback carried another request token; run oauth1-proxy login again.")
        else:
            if lifetime is not None:
                print(f"The request token lives {lifetime} s at this provider (request_token_lifetime).", flush=True)
            verifier, extra = _read_oob(temporary)
        if lifetime is not None and time.monotonic() - obtained >= lifetime:
            # The provider would refuse it (E*TRADE: 5 minutes): say so instead of sending it.
            raise LoginError(f"the request token expired before the verifier arrived (it lives {lifetime} s at "
                             f'this provider: request_token_lifetime of profile "{name}"); nothing was sent. Run '
                             "oauth1-proxy login again and approve within that time.")
        stored = obtain_access_token(profile, temporary, verifier, extra=extra, proxy=upstream)
    finally:
        if server is not None:
            server.server_close()
    try:
        store.put(token_key(name, account), stored)
    except TokenStoreError as e:
        raise LoginError(f"the provider granted the token, but it could not be stored: {e.__cause__ or e}. "
                         f"Make {config.token_store} writable (or set token_store in the config) and log in "
                         "again.") from None
    info = dict(stored.extra)
    who = info.get("screen_name") or info.get("user_id") or "the authorizing user"
    of = f'Account "{account}" of profile "{name}"' if account else f'Profile "{name}"'
    use = f" Requests pick it with the header X-OAuth1-Account: {account}." if account else ""
    print(f"{of} is logged in as {who}; token stored in {config.token_store}.{use}")
    if stored.expires_at or profile.expires_daily is not None:  # SPEC §11: say when a new login is needed
        print(f"The token {describe_expiry(stored, profile.expires_daily, time.time())}.")
    return 0
