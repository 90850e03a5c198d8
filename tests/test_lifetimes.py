"""lifetimes.py: daily expiry (DST days in America/New_York), expiry of stored tokens, idle renewal.

Expected instants are written by hand from the IANA rules for New York:
EST is UTC-5, EDT is UTC-4; in 2026 the clocks go forward on Sunday
8 March at 02:00 EST and back on Sunday 1 November at 02:00 EDT.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from oauth1_proxy.lifetimes import (
    DailyExpiry,
    describe_expiry,
    expires_at_for,
    expiry_of,
    format_instant,
    is_expired,
    needs_renewal,
    parse_daily_expiry,
    parse_instant,
    renewal_margin,
)
from oauth1_proxy.tokens import StoredToken

MIDNIGHT_NY = DailyExpiry(hour=0, minute=0, zone="America/New_York")


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def token(**times: str) -> StoredToken:
    return StoredToken(token="t", token_secret="s", **times)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-07-01 12:00", "2026-07-02 04:00"),  # summer: EDT, midnight is 04:00 UTC
        ("2026-01-15 12:00", "2026-01-16 05:00"),  # winter: EST, midnight is 05:00 UTC
        ("2026-03-07 17:00", "2026-03-08 05:00"),  # the eve of spring forward: still EST at midnight
        ("2026-03-08 17:00", "2026-03-09 04:00"),  # the day of spring forward is 23 h long
        ("2026-10-31 16:00", "2026-11-01 04:00"),  # the eve of fall back: still EDT at midnight
        ("2026-11-01 16:00", "2026-11-02 05:00"),  # the day of fall back is 25 h long
        ("2026-07-02 03:59", "2026-07-02 04:00"),  # one minute before
        ("2026-07-02 04:00", "2026-07-03 04:00"),  # exactly at it: the next one (strictly after)
    ],
    ids=["summer", "winter", "eve-of-spring-forward", "spring-forward-day", "eve-of-fall-back", "fall-back-day",
         "a-minute-before", "exactly-at"],
)
def test_daily_expiry_next_after_midnight_new_york_follows_dst(after: str, expected: str) -> None:
    assert MIDNIGHT_NY.next_after(utc(after)) == utc(expected)


def test_daily_expiry_time_skipped_by_spring_forward_is_an_hour_later_on_the_new_clock() -> None:
    # 02:30 does not happen on 8 March 2026 in New York; PEP 495 fold=0 reads it with EST: 07:30 UTC (03:30 EDT).
    daily = DailyExpiry(hour=2, minute=30, zone="America/New_York")
    assert daily.next_after(utc("2026-03-08 05:00")) == utc("2026-03-08 07:30")


def test_daily_expiry_time_repeated_by_fall_back_is_the_first_one() -> None:
    # 01:30 happens twice on 1 November 2026; the first is EDT: 05:30 UTC (the second would be 06:30).
    daily = DailyExpiry(hour=1, minute=30, zone="America/New_York")
    assert daily.next_after(utc("2026-11-01 04:00")) == utc("2026-11-01 05:30")


def test_parse_daily_expiry_reads_time_and_zone() -> None:
    assert parse_daily_expiry("00:00 America/New_York") == MIDNIGHT_NY
    assert str(parse_daily_expiry(" 7:05   Europe/Berlin ")) == "07:05 Europe/Berlin"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("00:00 America/Nowhere", r"'America/Nowhere' is not an IANA time zone; write Area/City"),
        ("24:00 America/New_York", r"24:00 is not a time of day \(00:00 to 23:59\)"),
        ("midnight", r"'midnight' is not a time and zone; write e.g. \"00:00 America/New_York\""),
        ("00:00", r"'00:00' is not a time and zone"),
        (0, r"0 is not a time and zone"),
        ("00:00 ../../etc/passwd", r"is not an IANA time zone"),
    ],
    ids=["unknown-zone", "hour-24", "words", "no-zone", "a-number", "a-path"],
)
def test_parse_daily_expiry_bad_value_names_it_and_the_fix(value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_daily_expiry(value)


def test_instants_round_trip_as_iso_utc() -> None:
    assert format_instant(utc("2026-12-01 05:00")) == "2026-12-01T05:00:00+00:00"
    assert parse_instant("2026-12-01T05:00:00+00:00") == utc("2026-12-01 05:00")
    assert parse_instant("2026-12-01T00:00:00-05:00") == utc("2026-12-01 05:00")
    assert parse_instant("1764565200") == 1764565200
    assert parse_instant("") is None and parse_instant("not a time") is None


def test_expires_at_for_takes_the_sooner_of_expires_in_and_the_daily_time() -> None:
    now = utc("2026-07-01 12:00")
    assert expires_at_for(now, expires_in="3600", daily=None) == now + 3600
    assert expires_at_for(now, expires_in=None, daily=MIDNIGHT_NY) == utc("2026-07-02 04:00")
    assert expires_at_for(utc("2026-07-02 03:30"), expires_in="3600", daily=MIDNIGHT_NY) == utc("2026-07-02 04:00")
    assert expires_at_for(now, expires_in="soon", daily=None) is None


def test_expiry_of_token_obtained_before_midnight_is_that_midnight_even_after_a_renewal() -> None:
    stored = token(obtained_at="2026-07-01T20:00:00+00:00", renewed_at="2026-07-02T03:00:00+00:00")
    assert expiry_of(stored, MIDNIGHT_NY) == utc("2026-07-02 04:00")
    assert not is_expired(stored, utc("2026-07-02 03:59"), MIDNIGHT_NY)
    assert is_expired(stored, utc("2026-07-02 04:00"), MIDNIGHT_NY)


def test_expiry_of_token_uses_stored_expires_at() -> None:
    stored = token(obtained_at="2026-07-01T20:00:00+00:00", expires_at="2026-07-01T20:00:05+00:00")
    assert is_expired(stored, utc("2026-07-01 20:00") + 5, None)
    assert not is_expired(stored, utc("2026-07-01 20:00") + 4, None)


def test_expiry_of_old_token_without_lifetime_fields_is_unknown() -> None:
    assert expiry_of(token(obtained_at="2026-07-01T20:00:00+00:00"), None) is None
    assert expiry_of(token(), MIDNIGHT_NY) is None  # no obtained_at: no daily expiry can be computed
    assert not is_expired(token(), utc("2030-01-01 00:00"), MIDNIGHT_NY)


def test_needs_renewal_comes_a_margin_before_the_idle_limit() -> None:
    stored = token(obtained_at="2026-07-01T12:00:00+00:00")
    start = utc("2026-07-01 12:00")
    assert renewal_margin(7200) == 300 and renewal_margin(10) == 1 and renewal_margin(1) == 1
    assert not needs_renewal(stored, idle_timeout=7200, last_used=None, now=start + 6899)
    assert needs_renewal(stored, idle_timeout=7200, last_used=None, now=start + 6900)
    # A request signed later moves the idle clock; so does a renewal.
    assert not needs_renewal(stored, idle_timeout=7200, last_used=start + 3600, now=start + 6900)
    renewed = token(obtained_at="2026-07-01T12:00:00+00:00", renewed_at="2026-07-01T13:00:00+00:00")
    assert not needs_renewal(renewed, idle_timeout=7200, last_used=None, now=start + 6900)


def test_needs_renewal_without_idle_timeout_is_never_and_without_any_time_is_now() -> None:
    assert not needs_renewal(token(), idle_timeout=None, last_used=None, now=0)
    assert needs_renewal(token(), idle_timeout=60, last_used=None, now=0)


def test_describe_expiry_says_when_and_how_long() -> None:
    stored = token(expires_at="2026-07-02T04:00:00+00:00")
    assert describe_expiry(stored, None, utc("2026-07-01 23:00")) == "expires 2026-07-02T04:00:00+00:00 (in 5 h)"
    assert describe_expiry(stored, None, utc("2026-07-02 04:00")) == "expired 2026-07-02T04:00:00+00:00"
    assert describe_expiry(token(), None, 0) == "no known expiry"
