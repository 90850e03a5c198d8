"""limits.py: the rate arithmetic of SPEC §11 (rate_limit, queue_timeout), with the clock injected."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauth1_proxy.limits import (
    LimitScope,
    ProfileLimits,
    RateLimit,
    SlidingWindow,
    parse_rate_limit,
    retry_after,
)


@pytest.mark.parametrize(("text", "count", "period"), [
    ("60/minute", 60, 60.0), ("5/second", 5, 1.0), ("1000/hour", 1000, 3600.0), (" 2 / Minute ", 2, 60.0),
], ids=["minute", "second", "hour", "spaces-and-case"])
def test_parse_rate_limit_reads_count_and_period(text: str, count: int, period: float) -> None:
    rate = parse_rate_limit(text)
    assert (rate.count, rate.period) == (count, period)


@pytest.mark.parametrize("text", ["60", "60/min", "60/day", "-1/second", "0/second", "a/minute", "60/minute/x", ""],
                         ids=["no-period", "abbreviated", "day", "negative", "zero", "not-a-number", "extra", "empty"])
def test_parse_rate_limit_bad_text_raises_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"N/second|count must be 1"):
        parse_rate_limit(text)


def test_sliding_window_admits_count_at_once_then_waits_for_the_oldest_to_leave_the_period() -> None:
    window = SlidingWindow(RateLimit(count=2, period=10.0))
    assert window.reserve(100.0, max_wait=0).delay == 0  # type: ignore[union-attr]
    assert window.reserve(101.0, max_wait=0).delay == 0  # type: ignore[union-attr]
    third = window.reserve(102.0, max_wait=30)
    assert third.delay == pytest.approx(8.0)  # type: ignore[union-attr]  # 100 + 10 - 102


def test_sliding_window_waiters_keep_their_order_each_booking_the_next_slot() -> None:
    window = SlidingWindow(RateLimit(count=1, period=5.0))
    delays = [window.reserve(0.0, max_wait=100).delay for _ in range(4)]  # type: ignore[union-attr]
    assert delays == [0.0, 5.0, 10.0, 15.0]


def test_sliding_window_over_max_wait_is_refused_and_books_nothing() -> None:
    window = SlidingWindow(RateLimit(count=1, period=60.0))
    window.reserve(0.0, max_wait=0)
    refused = window.reserve(1.0, max_wait=30)
    assert type(refused).__name__ == "Refused"
    assert refused.wait == pytest.approx(59.0)  # type: ignore[union-attr]
    assert refused.retry_after == 59  # type: ignore[union-attr]
    assert len(window) == 1  # nothing booked
    assert window.reserve(60.0, max_wait=0).delay == 0  # type: ignore[union-attr]


def test_sliding_window_forgets_sends_older_than_the_period() -> None:
    window = SlidingWindow(RateLimit(count=3, period=1.0))
    for t in (0.0, 0.1, 0.2):
        window.reserve(t, max_wait=0)
    assert window.delay(1.05) == 0.0
    assert len(window) == 2  # 0.0 fell out of (0.05, 1.05]


@given(
    count=st.integers(1, 5),
    period=st.floats(0.5, 20),
    arrivals=st.lists(st.floats(0, 100), min_size=1, max_size=60),
    max_wait=st.floats(0, 50),
)
def test_sliding_window_never_sends_more_than_count_in_any_period(
    count: int, period: float, arrivals: list[float], max_wait: float
) -> None:
    window = SlidingWindow(RateLimit(count=count, period=period))
    sends: list[float] = []
    for now in sorted(arrivals):
        result = window.reserve(now, max_wait)
        if type(result).__name__ == "Admitted":
            assert 0 <= result.delay <= max_wait + 1e-9  # type: ignore[union-attr]
            sends.append(now + result.delay)  # type: ignore[union-attr]
    sends.sort()
    # Any interval (t - period, t] holds at most count sends: check the one ending at each send
    # (up to float rounding: a nanosecond, far below any provider's clock).
    for i, t in enumerate(sends):
        inside = [s for s in sends[: i + 1] if s > t - period + 1e-9]
        assert len(inside) <= count


@pytest.mark.parametrize(("seconds", "header"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (59.5, 60)],
                         ids=["zero", "fraction", "one", "just-over-one", "most-of-a-minute"])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(seconds: float, header: int) -> None:
    assert retry_after(seconds) == header


def test_profile_limits_scope_account_keys_by_account_profile_by_profile() -> None:
    assert ProfileLimits(max_concurrency=2).budget_key("shop", "shop@alice") == "shop@alice"
    assert ProfileLimits(max_concurrency=2, scope=LimitScope.PROFILE).budget_key("shop", "shop@alice") == "shop"


def test_profile_limits_default_limits_nothing() -> None:
    assert not ProfileLimits().limited
    assert ProfileLimits(rate=parse_rate_limit("1/second")).limited


@pytest.mark.parametrize("kwargs", [{"max_concurrency": 0}, {"queue_timeout": -1.0}],
                         ids=["no-concurrency", "negative-timeout"])
def test_profile_limits_invalid_values_raise(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        ProfileLimits(**kwargs)  # type: ignore[arg-type]
