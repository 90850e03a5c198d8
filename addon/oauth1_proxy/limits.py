"""Provider limits (SPEC §11): ``rate_limit``, ``max_concurrency``, ``queue_timeout``; the rate arithmetic.

Rules:
1. No I/O, no clock, no randomness in this module, and no mitmproxy: the
   caller passes ``now`` (a monotonic clock, seconds). The waiting (asyncio)
   and the concurrency slots live in the shell (``shell/limits.py``).
2. A limit is never exceeded: ``SlidingWindow`` admits at most ``count``
   requests in any interval of ``period`` seconds, a stricter promise than a
   token bucket (whose full bucket plus its refill lets 2 x count through one
   period). A provider counting by fixed windows or a sliding one both see
   at most ``count``.
3. Waiting requests keep their order: each admission reserves the earliest
   slot that keeps rule 2, so the k-th waiter is sent k-th.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from enum import StrEnum

PERIODS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
RATE_LIMIT = re.compile(r"\s*([0-9]+)\s*/\s*([a-z]+)\s*\Z")
DEFAULT_QUEUE_TIMEOUT = 30.0
MAX_QUEUE_TIMEOUT = 3600.0
MAX_COUNT = 1_000_000


def parse_rate_limit(text: str) -> RateLimit:
    """Parse ``"N/second"``, ``"N/minute"`` or ``"N/hour"``; raise ValueError saying what is accepted."""
    m = RATE_LIMIT.match(text.lower()) if isinstance(text, str) else None
    if m is None or m.group(2) not in PERIODS:
        raise ValueError(f"{str(text)[:80]!r} is not a rate limit; write it as \"N/second\", \"N/minute\" or "
                         "\"N/hour\" (e.g. \"60/minute\").")
    count = int(m.group(1))
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"{text!r}: the count must be 1 to {MAX_COUNT}; e.g. \"60/minute\".")
    return RateLimit(count=count, period=PERIODS[m.group(2)], text=f"{count}/{m.group(2)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """At most ``count`` requests per ``period`` seconds."""

    count: int
    period: float
    text: str = ""  # as the config wrote it, normalised ("60/minute")

    def __post_init__(self) -> None:
        if self.count < 1 or self.period <= 0:
            raise ValueError(f"a rate limit needs a count of at least 1 and a positive period, not {self!r}")


class LimitScope(StrEnum):
    """What one budget covers: each account of a profile apart, or all of the profile's accounts together."""

    ACCOUNT = "account"  # X, E*TRADE, Trello count per user token
    PROFILE = "profile"  # NetSuite counts per NetSuite account (one profile's host), Discogs per source IP


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileLimits:
    """A profile's limits; the default (no rate, no concurrency cap) limits nothing."""

    rate: RateLimit | None = None
    max_concurrency: int | None = None
    queue_timeout: float = DEFAULT_QUEUE_TIMEOUT
    scope: LimitScope = LimitScope.ACCOUNT

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {self.max_concurrency}")
        if not 0 <= self.queue_timeout <= MAX_QUEUE_TIMEOUT:
            raise ValueError(f"queue_timeout must be 0 to {MAX_QUEUE_TIMEOUT:.0f} seconds, not {self.queue_timeout}")

    @property
    def limited(self) -> bool:
        return self.rate is not None or self.max_concurrency is not None

    def budget_key(self, profile: str, account_key: str) -> str:
        """Which budget a request spends: the account's store key, or the profile's name (``scope``)."""
        return profile if self.scope is LimitScope.PROFILE else account_key


NO_LIMITS = ProfileLimits()


def retry_after(seconds: float) -> int:
    """The ``Retry-After`` value (RFC 9110 §10.2.3: whole seconds) for a wait of ``seconds``: at least 1."""
    return max(1, math.ceil(seconds - 1e-9))


class SlidingWindow:
    """Admit at most ``rate.count`` requests in any ``rate.period`` seconds (rules 2 and 3).

    ``reserve(now, max_wait)`` books the earliest slot that keeps the limit
    and says how long to wait for it (``Admitted``); when that wait would
    exceed ``max_wait`` it books nothing (``Refused``, with the wait). Not
    thread-safe: the event loop owns it.
    """

    __slots__ = ("rate", "_sent")

    def __init__(self, rate: RateLimit) -> None:
        self.rate = rate
        self._sent: deque[float] = deque()  # booked send times, ascending (past ones and reserved future ones)

    def _prune(self, now: float) -> None:
        horizon = now - self.rate.period
        sent = self._sent
        while sent and sent[0] <= horizon:
            sent.popleft()

    def delay(self, now: float) -> float:
        """Seconds until a request may be sent without exceeding the limit; books nothing."""
        self._prune(now)
        sent, count = self._sent, self.rate.count
        if len(sent) < count:
            # Fewer than count in the last period, and so no future booking
            # (a booking in the future has count earlier ones within a period).
            return 0.0
        return max(0.0, sent[-count] + self.rate.period - now)

    def reserve(self, now: float, max_wait: float) -> Admitted | Refused:
        """Book the earliest slot that keeps the limit, if it is at most ``max_wait`` seconds away."""
        wait = self.delay(now)
        if wait > max_wait:
            return Refused(wait)
        self._sent.append(now + wait)
        return Admitted(wait)

    def __len__(self) -> int:
        return len(self._sent)


@dataclass(frozen=True, slots=True)
class Admitted:
    """Send after ``delay`` seconds (0: now); the slot is booked."""

    delay: float


@dataclass(frozen=True, slots=True)
class Refused:
    """Not within the wait allowed: nothing is booked; a slot frees in ``wait`` seconds."""

    wait: float

    @property
    def retry_after(self) -> int:
        return retry_after(self.wait)
