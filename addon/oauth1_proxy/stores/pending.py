"""Pending logins: request tokens waiting for their callback (SPEC §6, §12), taken once, expiring.

Two kinds behind one interface (``PendingStore``): ``PendingLogins`` in this
process's memory (the file and memory stores), and the Redis one
(``redis_store.RedisPendingLogins``), so a login started through one proxy
instance completes through another. The browser binding is the sha256 of a
random cookie value the browser carries: it is no process state, so it holds
across instances.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from oauth1_proxy.token_exchange import TemporaryCredentials

PENDING_LIFETIME = 600.0  # seconds a request token waits for its callback


@dataclass(frozen=True, slots=True)
class Pending:
    """A request token this proxy obtained, waiting for its callback."""

    profile: str
    temporary: TemporaryCredentials
    created: float
    binding: str = ""  # sha256 of the cookie of the browser that started the login
    account: str | None = None  # the account being logged in (SPEC §11); None: the profile's unnamed one
    lifetime: float | None = None  # the provider's own, when shorter (request_token_lifetime: E*TRADE's 300 s)

    def life(self, default: float) -> float:
        return min(default, self.lifetime) if self.lifetime else default

    def expired(self, now: float, default: float) -> bool:
        return now - self.created >= self.life(default)


class PendingStore(Protocol):
    """Where pending logins wait (blocking calls: the helper runs them in its own threads)."""

    lifetime: float

    def add(self, profile: str, temporary: TemporaryCredentials, binding: str = "",
            lifetime: float | None = None, account: str | None = None) -> None: ...
    def take(self, token: str, binding: str = "", profile: str | None = None) -> Pending | None: ...
    def expired_life(self, token: str) -> float | None: ...
    def known(self, token: str) -> bool: ...


class PendingLogins:
    """Request tokens by token, in this process; each is taken once, and expires."""

    def __init__(self, lifetime: float = PENDING_LIFETIME, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[str, Pending] = {}
        self._late: dict[str, tuple[float, float]] = {}  # token -> (its life, when it was taken too late)
        self._lock = threading.Lock()
        self.lifetime, self.clock = lifetime, clock

    def add(self, profile: str, temporary: TemporaryCredentials, binding: str = "",
            lifetime: float | None = None, account: str | None = None) -> None:
        with self._lock:
            now = self.clock()
            self._items = {k: v for k, v in self._items.items() if not v.expired(now, self.lifetime)}
            self._late = {k: v for k, v in self._late.items() if now - v[1] < self.lifetime}
            self._items[temporary.token] = Pending(profile, temporary, now, binding, lifetime=lifetime,
                                                   account=account)

    def take(self, token: str, binding: str = "", profile: str | None = None) -> Pending | None:
        """The pending login of ``token``, once; None when unknown, used, expired, or another browser's.

        A wrong binding or profile does not use the login up: the browser that
        started it can still complete it.
        """
        with self._lock:
            item = self._items.get(token)
            if item is None or not hmac.compare_digest(item.binding, binding) or \
                    (profile is not None and item.profile != profile):
                return None
            del self._items[token]
        now = self.clock()
        if item.expired(now, self.lifetime):
            with self._lock:
                self._late[token] = (item.life(self.lifetime), now)
            return None
        return item

    def expired_life(self, token: str) -> float | None:
        """The life of ``token``'s login when its browser came back too late (take() said None), else None."""
        with self._lock:
            late = self._late.pop(token, None)
        return late[0] if late else None

    def known(self, token: str) -> bool:
        with self._lock:
            return token in self._items
