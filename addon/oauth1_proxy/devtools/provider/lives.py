"""The test provider's token lives (issue 14): idle inactivation and renewal, a daily expiry, session handles.

Each switch is off by default; a ``Provider(lives=TokenLives(...))`` turns them on:

- ``idle_timeout``: an access token unused for that many seconds is
  inactivated (E*TRADE: "If the application does not make any requests for
  two hours, the access token is inactivated"); a request with it gets 401
  ``oauth_problem=token_rejected`` until a signed ``GET
  /oauth/renew_access_token`` revives it.
- ``expires_at`` (epoch seconds; ``expire_at`` sets it while running, e.g.
  ``time.time() + 60``): every token issued before that moment dies then
  (E*TRADE's midnight): 401 ``token_expired``, and renewal is refused.
- ``session_life``: access tokens live that many seconds; the access-token
  answer carries ``oauth_expires_in`` and ``oauth_session_handle`` (the
  OAuth Session extension); an expired one gets 401 ``token_expired``; the
  handle, sent to the access-token URL signed with the expired token, buys
  a new token.
- ``renew_delay``: the renew and refresh endpoints wait that long first (a
  slow provider: the proxy must still make one call for many requests).

Counts (``renewals``, ``refreshes``) say how many calls reached each endpoint.
No secret is kept beyond what the validator keeps; nothing here logs.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Life:
    issued: float
    last_use: float
    inactive: bool = False


class TokenLives:
    """Per access token: when it was issued and last used, and whether the provider inactivated it."""

    def __init__(self, *, idle_timeout: float | None = None, expires_at: float | None = None,
                 session_life: float | None = None, renew_delay: float = 0.0) -> None:
        self.idle_timeout = idle_timeout
        self.expires_at = expires_at
        self.session_life = session_life
        self.renew_delay = renew_delay
        self.renewals = 0  # signed calls that reached the renew endpoint (valid or not)
        self.refreshes = 0  # session-handle calls that reached the access-token URL
        self._lives: dict[str, _Life] = {}
        self._handles: dict[str, str] = {}  # session handle -> the access token it belongs to
        self._lock = threading.Lock()

    def expire_at(self, when: float) -> None:
        """Set the daily expiry: tokens issued before ``when`` die at ``when``."""
        with self._lock:
            self.expires_at = when

    def _life(self, token: str, now: float) -> _Life:
        life = self._lives.get(token)
        if life is None:  # a token the provider was started with, or one seen first now
            life = self._lives[token] = _Life(issued=now, last_use=now)
        return life

    def _expired(self, life: _Life, now: float) -> bool:
        if self.expires_at is not None and life.issued < self.expires_at <= now:
            return True
        return self.session_life is not None and now >= life.issued + self.session_life

    def refusal(self, token: str) -> tuple[str, str] | None:
        """Use a token for a resource request: None when accepted, else (oauth_problem, advice)."""
        now = time.time()
        with self._lock:
            life = self._life(token, now)
            if self._expired(life, now):
                return ("token_expired", "the access token has expired; log in again (or use the session handle)")
            if life.inactive or (self.idle_timeout is not None and now - life.last_use >= self.idle_timeout):
                life.inactive = True
                return ("token_rejected", "the access token was inactivated after "
                                          f"{self.idle_timeout:g} s idle; renew it at /oauth/renew_access_token")
            life.last_use = now
            return None

    def renew(self, token: str) -> tuple[str, str] | None:
        """Revive an inactivated token (renew_access_token): None when renewed, else (oauth_problem, advice)."""
        with self._lock:
            self.renewals += 1
        time.sleep(self.renew_delay)
        now = time.time()
        with self._lock:
            life = self._life(token, now)
            if self._expired(life, now):
                return ("token_expired", "the access token has expired; renewal cannot revive it, log in again")
            life.inactive, life.last_use = False, now
            return None

    def issued(self, token: str) -> list[tuple[str, str]]:
        """Note a token just issued; the fields its answer carries besides (the Session extension's)."""
        now = time.time()
        with self._lock:
            self._lives[token] = _Life(issued=now, last_use=now)
            if self.session_life is None:
                return []
            handle = "sh-" + secrets.token_hex(12)
            self._handles[handle] = token
        return [("oauth_expires_in", str(int(self.session_life))), ("oauth_session_handle", handle)]

    def refresh(self, token: str, handle: str) -> tuple[str, str] | None:
        """Check a session refresh of ``token`` with ``handle``: None when it may have a new token, else why not."""
        with self._lock:
            self.refreshes += 1
        time.sleep(self.renew_delay)
        with self._lock:
            if self._handles.get(handle) != token:
                return ("token_rejected",
                        "the oauth_session_handle is unknown, spent, or not this token's; log in again")
            del self._handles[handle]  # one use: the answer carries the next handle
        return None
