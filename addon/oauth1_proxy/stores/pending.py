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


class PendingStore(Protocol):
    """Where pending logins wait (blocking calls: the helper runs them in its own threads)."""

    lifetime: float

    def add(self, profile: str, temporary: TemporaryCredentials, binding: str = "",
            account: str | None = None) -> None: ...
    def take(self, token: str, binding: str = "", profile: str | None = None) -> Pending | None: ...
    def known(self, token: str) -> bool: ...


class PendingLogins:
    """Request tokens by token, in this process; each is taken once, and expires."""

    def __init__(self, lifetime: float = PENDING_LIFETIME, clock: Callable[[], float] = time.monotonic) -> None:
        self._items: dict[str, Pending] = {}
        self._lock = threading.Lock()
        self.lifetime, self.clock = lifetime, clock

    def add(self, profile: str, temporary: TemporaryCredentials, binding: str = "",
            account: str | None = None) -> None:
        with self._lock:
            now = self.clock()
            self._items = {k: v for k, v in self._items.items() if now - v.created < self.lifetime}
            self._items[temporary.token] = Pending(profile, temporary, now, binding, account)

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
        if self.clock() - item.created >= self.lifetime:
            return None
        return item

    def known(self, token: str) -> bool:
        with self._lock:
            return token in self._items
