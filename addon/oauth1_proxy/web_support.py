"""The helper's building blocks (SPEC §6, §10), no Flask: pending logins, Host and client checks, page data.

web.py's make_web_app builds the routes from these; shell/ and login.py use
the Host checks (normalize_authority, direct_authorities, is_loopback).
"""

from __future__ import annotations

import html
import ipaddress
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from .config import Profile
from .lifetimes import expiry_of, format_instant
from .policy import LoginState
from .policy import login_state as policy_login_state
from .stores.pending import PENDING_LIFETIME as PENDING_LIFETIME  # seconds a login waits for its callback
from .stores.pending import Pending as Pending
from .stores.pending import PendingLogins as PendingLogins  # in this process; Redis: shared
from .stores.pending import PendingStore as PendingStore
from .tokens import StoredToken

HELPER_HOST = "oauth1.proxy"  # the helper's pseudo-host through the proxy (option oauth1_helper_host)
REVERSE_PREFIX = "/_oauth1"
# WSGI environ keys set by the servers that host the app, never by a client:
# the direct loopback listener marks its requests with its port; the addon
# passes the origin it checked (the Host of a proxied request is checked there).
DIRECT_ENV = "oauth1_proxy.direct"
ORIGIN_ENV = "oauth1_proxy.origin"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
CSRF_FIELD = "csrf"
LOGIN_COOKIE = "oauth1_login_"  # + a digest of the profile name: one pending login per profile and browser


def normalize_authority(value: str | None, default_port: int = 80) -> str | None:
    """``host:port`` of a Host header, lower case, one trailing dot dropped, the default port filled in.

    None when it is not an authority (RFC 9110 §7.2: ``uri-host [ ":" port ]``).
    """
    if value is None:
        return None
    text = value.strip().lower()
    if not text or any(c in text for c in "/\\@?#, \t"):
        return None
    if text.startswith("["):
        host, bracket, rest = text.partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        host, port_text = host + "]", rest[1:]
    else:
        host, _, port_text = text.partition(":")
        if ":" in port_text:
            return None
    if host.endswith("."):
        host = host[:-1]
    if not host or host.endswith("."):
        return None
    if not port_text:
        port = default_port
    elif port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        return None
    return f"{host}:{port}"


def direct_authorities(port: int) -> frozenset[str]:
    """The Host values the direct loopback listener on ``port`` answers to."""
    return frozenset(f"{name}:{port}" for name in LOOPBACK_NAMES)


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


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def parse_client_networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """The helper's allowed clients (option oauth1_helper_clients): addresses or CIDRs; ValueError naming a bad one."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"oauth1_helper_clients: {value!r} is not an address or a network in CIDR form; use "
                             "e.g. --set oauth1_helper_clients=10.0.0.0/8 (the balancer's addresses: it hides the "
                             "browser's), or leave it unset for loopback only.") from None
    return tuple(networks)


def is_allowed_client(address: str | None, networks: tuple[IPNetwork, ...]) -> bool:
    """Tell whether a peer address is in one of ``networks`` (an IPv4-mapped IPv6 address as its IPv4 one)."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in networks)


def login_state(profile: Profile, stored: StoredToken | None, now: float | None = None) -> dict[str, Any]:
    """What the status page says of one profile; never a secret (a session handle is never shown either).

    ``now``: when to judge the token's expiry (SPEC §11); the clock when not given.
    """
    now = time.time() if now is None else now
    state: dict[str, Any] = {
        "name": profile.name,
        "hosts": [str(h) for h in profile.hosts],
        "path_prefix": profile.path_prefix,
        "signature_method": str(profile.signature_method),
        "can_login": profile.has_dance,
    }
    login = policy_login_state(profile, stored, now)  # what the proxy signs with (policy.py)
    if stored is not None and login in (LoginState.LOGGED_IN, LoginState.EXPIRED):  # SPEC §11
        expiry = expiry_of(stored, profile.expires_daily)
        state.update(expires_at=format_instant(expiry) if expiry is not None else None,
                     renewed_at=stored.renewed_at or None, expired=login is LoginState.EXPIRED,
                     # The OAuth Session extension: the proxy buys the next token itself (never the handle shown).
                     refreshable=bool(stored.session_handle) and profile.access_token_url is not None)
    if login is LoginState.STATIC_TOKEN:
        state.update(logged_in=True, source="config")
    elif login is LoginState.LOGGED_IN and stored is not None:
        extra = dict(stored.extra)
        state.update(logged_in=True, source="token store", since=stored.obtained_at,
                     user_id=extra.get("user_id"), screen_name=extra.get("screen_name"))
    elif login is LoginState.EXPIRED and stored is not None:
        state.update(logged_in=False, source="token store", since=stored.obtained_at)
    else:
        state.update(logged_in=False, source=None if login is LoginState.NOT_LOGGED_IN else "consumer-only")
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


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)



class PrefixMiddleware:
    """Serve the app under /_oauth1/ too (reverse mode), with links that keep the prefix."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == REVERSE_PREFIX or path.startswith(REVERSE_PREFIX + "/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + REVERSE_PREFIX
            environ["PATH_INFO"] = path[len(REVERSE_PREFIX):] or "/"
        return self.app(environ, start_response)


def split_helper_path(path: str) -> bool:
    """Tell whether a request path is for the helper in reverse mode (/_oauth1/...)."""
    only = urlsplit(path).path
    return only == REVERSE_PREFIX or only.startswith(REVERSE_PREFIX + "/")
