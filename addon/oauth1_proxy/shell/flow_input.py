"""What the signer gives the policy besides the request (SPEC §5): nonces, the token lookup, the login help.

Each is cheap and never touches the disk: the signer calls them on
mitmproxy's event loop, for each request it signs (shell/signer.py).
"""

from __future__ import annotations

import functools
import os
import secrets

from mitmproxy import ctx, http
from mitmproxy.net.http import url
from mitmproxy.proxy.mode_specs import ReverseMode

from oauth1_proxy.accounts import accounts_in
from oauth1_proxy.config import Profile, ProxyConfig, normalize_host
from oauth1_proxy.policy import StoredAccounts, TokenLookup, wire_host
from oauth1_proxy.stores.managed import ManagedTokenStore
from oauth1_proxy.tokens import FileTokenStore, StoredToken, TokenStore
from oauth1_proxy.web import REVERSE_PREFIX

# The stores with a snapshot for the event loop (a plain tuple: isinstance of a Protocol costs µs per request).
SNAPSHOTTING = (ManagedTokenStore, FileTokenStore)


class _NonceSource:
    """Fresh nonces: 128 bits from the CSPRNG each, as hex (RFC 5849 §3.3), read from it 4 KiB at a time.

    One getrandom system call per 256 nonces instead of one per signed
    request (issue 17). Each 16 bytes are used once: a read becomes 256
    nonces in a list, and each is taken with one ``list.pop``, which no two
    threads can both get (an atomic operation of the list, with or without
    the GIL); two threads finding it empty each read their own fresh bytes.
    A nonce travels in the request, so nonces waiting here are no secret. A
    forked child starts with none (it would share the parent's).
    """

    SIZE = 16
    POOL = 4096

    def __init__(self) -> None:
        self._nonces: list[str] = []

    def take(self) -> str:
        try:
            return self._nonces.pop()
        except IndexError:  # the list is used up: the next read
            pool = secrets.token_bytes(self.POOL).hex()
            step = 2 * self.SIZE
            nonces = [pool[at:at + step] for at in range(0, len(pool), step)]
            nonce = nonces.pop()
            self._nonces = nonces
            return nonce

    __call__ = take

    def forget(self) -> None:
        self._nonces = []


_NONCES = _NonceSource()
make_nonce = _NONCES.take  # a bound method: cheaper to call than the instance (issue 17)
os.register_at_fork(after_in_child=_NONCES.forget)


def profiles_for(config: ProxyConfig, request: http.Request) -> tuple[Profile, ...]:
    """The profiles that sign this request; for a target that is not a path (``*``) to a signed
    destination, that destination's profiles: the policy refuses it."""
    scheme, host, port, path = request.scheme, wire_host(request.host), request.port, request.path
    found = config.profiles_for(scheme, host, port, path)
    if not found and not path.startswith("/"):
        return config.index.get((scheme.lower(), normalize_host(host), port), ())
    return found


def profile_name(config: ProxyConfig | None, request: http.Request) -> str:
    """The name of the profile that signs this request, "" when none (a metric's label; only on a refusal)."""
    found = profiles_for(config, request) if config is not None else ()
    return found[0].name if found else ""


def login_for(flow: http.HTTPFlow, config: ProxyConfig | None, helper_url: str | None,
              profile: Profile) -> tuple[str, str]:
    """Where to log a profile in, for the message of a missing token (SPEC §5).

    The policy's LoginHelp is ``functools.partial(login_for, flow, config, helper_url)``: made for every
    signed request and called only when a token is missing, a partial costs no Python call (issue 17).
    """
    source = config.source if config else "FILE"
    if isinstance(flow.client_conn.proxy_mode, ReverseMode):
        host, port = flow.client_conn.sockname[:2]
        login_url = f"http://{host}:{port}{REVERSE_PREFIX}/login/{profile.name}"
    else:
        login_url = f"http://{ctx.options.oauth1_helper_host}/login/{profile.name}"
    direct = f" (or {helper_url}login/{profile.name} in a browser)" if helper_url else ""
    return login_url, f"{direct}, or run: oauth1-proxy login {profile.name} --config {source}"


def token_lookup(store: TokenStore | None) -> TokenLookup:
    """The store's snapshot (never the disk or Redis: this runs on the event loop)."""
    if store is None:
        return _no_token
    if isinstance(store, SNAPSHOTTING):
        return store.cached
    return store.get


def stored_accounts(store: TokenStore | None) -> StoredAccounts:
    """The named accounts of a profile in the store's snapshot (SPEC §11; never the disk)."""
    if store is None:
        return _no_accounts
    if isinstance(store, SNAPSHOTTING):
        return lambda profile: accounts_in(store.cached_keys(), profile)
    return lambda profile: accounts_in(store.all(), profile)


def _no_accounts(profile: str) -> tuple[str, ...]:
    return ()


def _no_token(profile: str) -> StoredToken | None:
    return None


@functools.lru_cache(maxsize=1024)
def _parse_authority(authority: str) -> tuple[str, int | None]:
    """mitmproxy's strict parse of a Host header value (ValueError when malformed), remembered per value.

    A pure function of the string, run for every signed request whose Host
    header is not the plain ``host:port`` form: its host check is a regex
    walk (the largest entry of a signed request's profile after the
    signature). Bounded: 1024 values; a malformed one raises and is not kept.
    """
    return url.parse_authority(authority, check=True)
