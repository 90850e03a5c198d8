"""Token lives (SPEC §11): when a stored token expires, and when it must be renewed before use.

Rules:
1. No clock, no I/O, no randomness: every function takes ``now`` (seconds
   since 1970, UTC) from its caller. Time zones come from ``zoneinfo``
   (the IANA database: the system's, else the ``tzdata`` package).
2. Only the standard library: config.py imports this module (for
   ``expires_daily``), so it imports nothing of the package.
3. A stored token's times are ISO 8601 strings in UTC (``StoredToken``'s
   ``obtained_at``, ``expires_at``, ``renewed_at``); here they become epoch
   seconds, and back with ``format_instant``.

Providers age tokens three ways, and a profile may say each:
- ``expires_daily: "00:00 America/New_York"``: every token dies at that wall
  clock time (E*TRADE: "the access token expires at midnight US Eastern time").
- ``idle_timeout: 7200``: a token unused that long is inactivated until a
  signed call to ``renew_url`` revives it (E*TRADE's renew_access_token).
- ``oauth_expires_in`` in the access-token answer (the OAuth Session
  extension, Yahoo and old Xero): a token lives that many seconds, and the
  ``oauth_session_handle`` buys the next one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_DAILY = re.compile(r"(\d{1,2}):(\d{2})\s+(\S+)")

RENEWAL_MARGIN_MAX = 300  # seconds: renew at most this long before the idle limit


class TokenTimes(Protocol):
    """What this module reads of a stored token (tokens.StoredToken has it)."""

    @property
    def obtained_at(self) -> str: ...
    @property
    def expires_at(self) -> str: ...
    @property
    def renewed_at(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class DailyExpiry:
    """A wall-clock time in an IANA zone at which every token of a profile expires, each day."""

    hour: int
    minute: int
    zone: str

    def __post_init__(self) -> None:
        if not (0 <= self.hour <= 23 and 0 <= self.minute <= 59):
            raise ValueError(f"{self.hour:02d}:{self.minute:02d} is not a time of day (00:00 to 23:59)")
        _zone(self.zone)

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d} {self.zone}"

    def next_after(self, instant: float) -> int:
        """The first moment strictly after ``instant`` at which the zone's clocks show HH:MM (epoch seconds).

        Interpretation (PEP 495, the IANA rules as zoneinfo applies them):
        on a day the clocks go back, a time that happens twice means the
        first one (fold=0); on a day they go forward, a time that never
        happens (02:30 in New York on the second Sunday of March) means the
        moment it would have been without the change, i.e. one hour later
        by the new clock. Midnight happens once every day in every zone the
        tests use; the days around a change are 23 or 25 hours long.
        """
        zone = _zone(self.zone)
        local = datetime.fromtimestamp(instant, zone)
        day = local.date()
        for offset in range(3):  # today, tomorrow, or (after a day of 23 h) the day after
            when = _wall(day + timedelta(days=offset), self.hour, self.minute, zone)
            if when > instant:
                return when
        raise AssertionError("unreachable: a wall-clock time comes back within two days")


def _wall(day: date, hour: int, minute: int, zone: ZoneInfo) -> int:
    """The epoch second at which ``zone``'s clocks show ``day`` ``hour``:``minute`` (fold=0)."""
    return int(datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).timestamp())


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"{name!r} is not an IANA time zone; write Area/City, e.g. America/New_York") from None


def parse_daily_expiry(text: object) -> DailyExpiry:
    """Read ``"HH:MM Area/City"``; raise ValueError saying what is wrong and what to write instead."""
    example = 'write e.g. "00:00 America/New_York" (a 24-hour time, a space, an IANA zone)'
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a time and zone; {example}")
    found = _DAILY.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a time and zone; {example}")
    hour, minute, zone = int(found[1]), int(found[2]), found[3]
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"{text!r}: {found[1]}:{found[2]} is not a time of day (00:00 to 23:59); {example}")
    try:
        return DailyExpiry(hour=hour, minute=minute, zone=zone)
    except ValueError as e:
        raise ValueError(f"{text!r}: {e}") from None


# --- instants ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def parse_instant(text: str) -> int | None:
    """An ISO 8601 time (as the store keeps them) or epoch seconds, as epoch seconds; None when empty or unreadable.

    A time without a zone is read as UTC (the store writes UTC). Cached: the
    proxy asks for the same few stored times on every signed request.
    """
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def format_instant(instant: float) -> str:
    """Epoch seconds as the store writes times: ISO 8601 in UTC, whole seconds."""
    return datetime.fromtimestamp(int(instant), UTC).isoformat(timespec="seconds")


# --- expiry -----------------------------------------------------------------------------


def expires_at_for(now: int, *, expires_in: str | None, daily: DailyExpiry | None) -> int | None:
    """When a token obtained (or refreshed) at ``now`` expires: the sooner of ``oauth_expires_in`` and the daily time.

    ``expires_in`` is the access-token answer's ``oauth_expires_in`` (OAuth
    Session extension: "the number of seconds the token will be valid");
    one that is not a whole number of seconds is ignored.
    """
    found: list[int] = []
    if expires_in is not None and expires_in.strip().isdigit():
        found.append(now + int(expires_in.strip()))
    if daily is not None:
        found.append(daily.next_after(now))
    return min(found) if found else None


def expiry_of(token: TokenTimes, daily: DailyExpiry | None) -> int | None:
    """When a stored token expires (epoch seconds), or None when nothing says it does.

    The sooner of its ``expires_at`` and, with a daily expiry, the first
    daily time after it was obtained. Interpretation: a renewal
    (``renewed_at``) revives an inactive token but never moves its daily
    expiry (E*TRADE); a token whose ``obtained_at`` is unknown (written by
    hand) gets no daily expiry, and the provider's answer decides.
    """
    found: list[int] = []
    expires = parse_instant(token.expires_at)
    if expires is not None:
        found.append(expires)
    if daily is not None:
        obtained = parse_instant(token.obtained_at)
        if obtained is not None:
            found.append(_next_daily(daily, obtained))
    return min(found) if found else None


@functools.lru_cache(maxsize=1024)
def _next_daily(daily: DailyExpiry, instant: int) -> int:
    return daily.next_after(instant)


def is_expired(token: TokenTimes, now: float, daily: DailyExpiry | None) -> bool:
    """Tell whether a stored token has expired at ``now`` (SPEC §11: then it counts as missing)."""
    expiry = expiry_of(token, daily)
    return expiry is not None and now >= expiry


# --- idle renewal -----------------------------------------------------------------------


def renewal_margin(idle_timeout: int) -> int:
    """How long before the idle limit the proxy renews: a tenth of it, at most 5 minutes, at least 1 s."""
    return max(1, min(RENEWAL_MARGIN_MAX, idle_timeout // 10))


def last_activity(token: TokenTimes, last_used: float | None) -> float | None:
    """The last moment the provider saw the token in use: obtained, renewed, or a request this proxy signed."""
    found = [t for t in (parse_instant(token.obtained_at), parse_instant(token.renewed_at), last_used)
             if t is not None]
    return max(found) if found else None


def needs_renewal(token: TokenTimes, *, idle_timeout: int | None, last_used: float | None, now: float) -> bool:
    """Tell whether a token must be renewed before the next use: its idle limit (minus the margin) has come.

    Interpretation: with nothing known of its last use (no obtained_at,
    renewed_at, or request signed by this process), renew: a renewal of an
    active token is harmless, a request with an inactive one fails.
    """
    if not idle_timeout:
        return False
    last = last_activity(token, last_used)
    if last is None:
        return True
    return now >= last + idle_timeout - renewal_margin(idle_timeout)


def describe_expiry(token: TokenTimes, daily: DailyExpiry | None, now: float) -> str:
    """A short phrase for check, the helper and the log: "expires 2026-12-02T05:00:00+00:00 (in 3 h 20 min)"."""
    expiry = expiry_of(token, daily)
    if expiry is None:
        return "no known expiry"
    when = format_instant(expiry)
    if now >= expiry:
        return f"expired {when}"
    return f"expires {when} (in {_duration(expiry - now)})"


def describe_life(token: TokenTimes, daily: DailyExpiry | None, now: float) -> str:
    """The token's expiry and last renewal, for check and the start-up lines: "expires … (in 3 h), renewed …"."""
    words = describe_expiry(token, daily, now)
    renewed = parse_instant(token.renewed_at)
    return words if renewed is None else f"{words}, renewed {format_instant(renewed)}"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
