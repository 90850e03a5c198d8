"""Keeping stored tokens alive from the running proxy (SPEC §11): renewals and session refreshes.

Rules:
1. One provider call per token at a time (single flight): the first request
   that needs a renewal (or refresh) starts it; every other request for the
   same token that arrives meanwhile awaits the same future. The state is on
   the event loop (no lock needed); the provider call itself and the store
   write run in a worker thread (``asyncio.to_thread``), never on the loop.
2. The call takes the dance's route: transport.fetch, through the upstream
   proxy of ``--mode upstream:URL`` and trusting what the proxy trusts.
3. Across proxy instances sharing one store (Redis, or one file), one
   instance calls the provider: the call runs under the store's renewal
   lease (stores.managed.renew_shared); an instance that finds the lease
   taken waits for the token the holder stores, and uses it.
4. A renewal or refresh that fails is logged (never a secret) and the
   request goes on as it would have: the provider then refuses it, or the
   policy refuses an expired token with the login URL. Nothing is forwarded
   unsigned.

No mitmproxy import at run time (flows are only annotated): the signer
calls ``before_send`` after signing, ``refresh_then`` for an expired token
with a session handle, and ``after_refusal`` for a signed flow refused 401.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from oauth1_proxy import metrics
from oauth1_proxy.config import Profile, ProxyConfig
from oauth1_proxy.diagnostics import parse_refusal
from oauth1_proxy.errors import ProxyError, TokenStoreError
from oauth1_proxy.lifetimes import needs_renewal
from oauth1_proxy.policy import TokenLookup, timestamp_for
from oauth1_proxy.stores.managed import renew_shared
from oauth1_proxy.token_exchange import check_status
from oauth1_proxy.token_renewal import (
    EXPIRED_PROBLEM,
    INACTIVE_PROBLEMS,
    make_renew_request,
    make_session_refresh_request,
    parse_session_refresh_response,
    renewed,
)
from oauth1_proxy.tokens import StoredToken, TokenStore
from oauth1_proxy.transport import fetch

if TYPE_CHECKING:
    from mitmproxy import http

logger = logging.getLogger("oauth1_proxy")


class Renewer:
    """Renew (``renew_url``) or refresh (session handle) one stored token at a time; remember last uses."""

    def __init__(self, store: Callable[[], TokenStore | None], cafile: Callable[[], str | None],
                 upstream_proxy: Callable[[], str | None]) -> None:
        self._store = store
        self._cafile = cafile
        self._upstream_proxy = upstream_proxy
        self._inflight: dict[tuple[str, str], asyncio.Future[bool]] = {}
        self._last_used: dict[str, float] = {}  # token key -> the last request this process signed with it
        self._done_at: dict[tuple[str, str], float] = {}  # (kind, key) -> when the last call succeeded
        self.calls = 0  # provider calls started (renewals and refreshes), for tests and the log
        # Profiles renewed before their idle limit, by name, and the config that was made for (read by the
        # signer for every signed request: a profile not in it needs no before_send call).
        self.watched_config: ProxyConfig | None = None
        self.watched: dict[str, Profile] = {}

    # --- what the signer asks on every signed request (cheap: no I/O) -------------------------

    @staticmethod
    def watches(profile: Profile) -> bool:
        """Tell whether a profile's tokens are renewed before use (renew_url and idle_timeout both set)."""
        return profile.renew_url is not None and profile.idle_timeout is not None

    def due(self, profile: Profile, key: str, stored: StoredToken | None, now: float) -> bool:
        """Tell whether the token must be renewed before this request leaves (its idle limit is near)."""
        if stored is None or not self.watches(profile):
            return False
        return needs_renewal(stored, idle_timeout=profile.idle_timeout, last_used=self._last_used.get(key), now=now)

    def used(self, key: str, now: float) -> None:
        """Note that a request signed with this token is leaving now (the provider's idle clock restarts)."""
        self._last_used[key] = now

    def done_since(self, kind: str, key: str, since: float) -> bool:
        """Tell whether a renewal (``kind`` "renew") or refresh ("refresh") of this token succeeded after ``since``."""
        return self._done_at.get((kind, key), 0.0) > since

    # --- the signer's three calls -------------------------------------------------------------

    def before_send(self, config: ProxyConfig, name: str, tokens: TokenLookup,
                    key: str = "") -> Coroutine[Any, Any, None] | None:
        """After a request was signed: a coroutine renewing its token first when the idle limit is near, else None.

        The signature stays valid: a renewal revives the same token and secret.
        Cheap for every other request: one set lookup; none, when the caller looks at ``watched`` first.
        """
        if config is not self.watched_config:
            self.watched_config = config
            self.watched = {p.name: p for p in config.profiles if self.watches(p) and not p.has_static_token}
        profile = self.watched.get(name)
        if profile is None:
            return None
        key = key or name  # the store's key of the token signed with (an account's: accounts.token_key)
        now = time.time()
        stored = tokens(key)
        if self.due(profile, key, stored, now):
            return self._renew_then_send(profile, key, stored.renewed_at if stored is not None else None)
        self.used(key, now)
        return None

    async def _renew_then_send(self, profile: Profile, key: str, seen: str | None) -> None:
        await self.renew(profile, key, seen)  # a failure is logged; the provider then says what it thinks
        self.used(key, time.time())

    async def refresh_then(self, config: ProxyConfig | None, name: str, sign: Callable[[], None],
                           key: str = "") -> None:
        """An expired token with a session handle: refresh it (one call for all waiting), then sign or refuse."""
        profile = config.profile_named(name) if config is not None else None
        if profile is not None:
            cached = getattr(self._store(), "cached", None)  # a snapshot (FileTokenStore and the like), never I/O
            stored = cached(key or name) if callable(cached) else None
            await self.refresh(profile, key or name, stored.token if stored is not None else None)
        sign()  # with the new token; after a failed refresh, the policy refuses the expired one (401, login URL)

    async def after_refusal(self, flow: http.HTTPFlow, config: ProxyConfig | None, name: str, tokens: TokenLookup,
                            *, is_retry: bool, key: str = "") -> bool:
        """A signed request refused 401: renew or refresh once when the provider says the token is inactive or
        expired; True when the request may be sent again (re-signed with what the store now holds)."""
        response = flow.response
        profile = config.profile_named(name) if config is not None else None
        if response is None or response.status_code != 401 or is_retry or profile is None \
                or profile.has_static_token:
            return False
        key = key or name  # the token the refused request was signed with (an account's, SPEC §11)
        headers = {k: response.headers.get(k, "") for k in ("www-authenticate", "date")}
        problem = parse_refusal(401, headers, response.get_content(strict=False) or b"").problem
        if problem not in INACTIVE_PROBLEMS:
            return False
        sent_at = flow.request.timestamp_start
        if profile.renew_url is not None:
            if self.done_since("renew", key, sent_at):
                return True  # renewed by another request meanwhile
            seen = tokens(key)
            return await self.renew(profile, key, seen.renewed_at if seen is not None else None)
        stored = tokens(key)
        if problem == EXPIRED_PROBLEM and stored is not None and stored.session_handle \
                and profile.access_token_url is not None:
            if self.done_since("refresh", key, sent_at):
                return True
            return await self.refresh(profile, key, stored.token)
        return False

    # --- the single flight --------------------------------------------------------------------

    async def renew(self, profile: Profile, key: str, seen: str | None = None) -> bool:
        """Renew the token at ``profile.renew_url`` (one call however many requests wait); True when renewed.

        ``seen``: the renewal time of the token the decision was made on; when
        the store holds a later one (another proxy instance renewed it), that
        one is used and no call is made.
        """
        return await self._single("renew", profile, key, functools.partial(self._renew_blocking, seen=seen))

    async def refresh(self, profile: Profile, key: str, seen: str | None = None) -> bool:
        """Exchange the token's session handle for a new token, stored atomically; True when refreshed.

        ``seen``: the token the refused or expired request had; when the store
        holds another one already (another proxy process refreshed it), no call
        is made (a handle is spent once).
        """
        return await self._single("refresh", profile, key, functools.partial(self._refresh_blocking, seen=seen))

    async def _single(self, kind: str, profile: Profile, key: str,
                      call: Callable[[Profile, str], bool]) -> bool:
        slot = (kind, key)
        running = self._inflight.get(slot)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[slot] = future
        ok = False
        try:
            self.calls += 1
            ok = await asyncio.to_thread(call, profile, key)
        except Exception as e:  # noqa: BLE001 (rule 3: a failed renewal is logged; the request goes on)
            logger.warning("oauth1-proxy: profile %s: the token's %s failed (%s)", profile.name,
                           "renewal" if kind == "renew" else "session refresh", _reason(e))
        finally:
            name, _, account = key.partition("@")
            metrics.renewal(name, account, ok)  # renewals and session refreshes alike (SPEC §12)
            if ok:
                now = time.time()
                self._done_at[slot] = now
                self._last_used[key] = now
            del self._inflight[slot]
            future.set_result(ok)
        return ok

    # --- in a worker thread -------------------------------------------------------------------

    def _stored(self, key: str) -> tuple[TokenStore, StoredToken]:
        store = self._store()
        if store is None:
            raise ProxyError("no token store is configured")
        stored = store.get(key)  # the disk, not the snapshot: another process may have renewed already
        if stored is None:
            raise ProxyError("the token is no longer in the store (logged out?)")
        return store, stored

    def _renew_blocking(self, profile: Profile, key: str, *, seen: str | None = None) -> bool:
        store, stored = self._stored(key)
        assert profile.renew_url is not None
        renew_url = profile.renew_url

        def renew(current: StoredToken | None) -> StoredToken | None:
            now = int(time.time())
            token = current or stored
            request = make_renew_request(profile, renew_url, profile.renew_method, token,
                                         nonce=secrets.token_hex(16), timestamp=timestamp_for(profile, now))
            reply = fetch("renew", request, cafile=self._cafile(), proxy=self._upstream_proxy())
            check_status("renew", reply.status, reply.body)
            logger.info("oauth1-proxy: profile %s: renewed its token at %s", profile.name, renew_url.split("?")[0])
            return renewed(token, now=now)

        # Renewed by another instance meanwhile: the store holds a later renewal than the decision saw.
        def fresh(t: StoredToken | None) -> bool:
            return t is not None and bool(t.renewed_at) and t.renewed_at != seen

        self._shared(store, key, renew, fresh, profile)
        return True

    def _refresh_blocking(self, profile: Profile, key: str, *, seen: str | None = None) -> bool:
        store, stored = self._stored(key)
        if seen is not None and stored.token != seen:
            return True  # refreshed meanwhile by another process: use that one
        spent = stored.token

        def refresh(current: StoredToken | None) -> StoredToken | None:
            now = int(time.time())
            token = current or stored
            request = make_session_refresh_request(profile, token, nonce=secrets.token_hex(16),
                                                   timestamp=timestamp_for(profile, now))
            reply = fetch("session refresh", request, cafile=self._cafile(), proxy=self._upstream_proxy())
            check_status("session refresh", reply.status, reply.body)
            logger.info("oauth1-proxy: profile %s: refreshed its token with the session handle", profile.name)
            return parse_session_refresh_response(token, reply.body, now=now, daily=profile.expires_daily)

        # A handle is spent once: refreshed by another instance meanwhile means another token.
        self._shared(store, key, refresh, lambda t: t is not None and t.token != spent, profile)
        return True

    @staticmethod
    def _shared(store: TokenStore, key: str, call: Callable[[StoredToken | None], StoredToken | None],
                fresh: Callable[[StoredToken | None], bool], profile: Profile) -> None:
        """Run ``call`` once for all instances sharing the store (its renewal lease), storing the result
        atomically; a store without leases (a bare in-memory one in tests) runs it here."""
        if not hasattr(store, "lease"):
            token = call(store.get(key))
            if token is not None:
                _put(store, key, token, profile)
            return
        try:
            renew_shared(store, key, call, fresh=fresh)  # type: ignore[arg-type]
        except TokenStoreError as e:  # the provider's call may have succeeded: say why it is not stored
            logger.warning("oauth1-proxy: profile %s: %s", profile.name, e)


def _put(store: TokenStore, key: str, token: StoredToken, profile: Profile) -> None:
    """Store the renewed or refreshed token; a store that cannot be written keeps it in memory (FileTokenStore)."""
    try:
        store.put(key, token)
    except TokenStoreError as e:  # the provider's call succeeded: this run goes on with the token in memory
        logger.warning("oauth1-proxy: profile %s: %s", profile.name, e)


def _reason(error: Exception) -> str:
    """Why a call failed, in our words (ProxyError messages never hold a secret); else only the type."""
    return str(error) if isinstance(error, ProxyError) else type(error).__name__
