"""shell/limits.py: admission on the event loop (SPEC §11): FIFO waits, 429 after queue_timeout, no slot leaks."""

from __future__ import annotations

import asyncio
import gc
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from oauth1_proxy.errors import RateLimited
from oauth1_proxy.limits import LimitScope, ProfileLimits, parse_rate_limit
from oauth1_proxy.shell.limits import Limiter, MustQueue


class Flow:
    """A stand-in flow: weak-referenceable like mitmproxy's, and kept alive (as mitmproxy keeps a flow in flight)."""

    alive: list[Flow] = []

    def __init__(self, flow_id: str) -> None:
        self.id = flow_id
        Flow.alive.append(self)


def decision(limits: ProfileLimits, account: str | None = None) -> Any:
    profile = SimpleNamespace(name="shop", limits=limits)
    return SimpleNamespace(profile=profile, account=account, account_key=f"shop@{account}" if account else "shop")


async def admit(limiter: Limiter, flow: Flow, d: Any) -> None:
    """What the signer does: enter, and on MustQueue wait."""
    try:
        limiter.enter(flow, flow.id, d)
    except MustQueue as e:
        await limiter.wait(flow, flow.id, e)


async def test_limiter_max_concurrency_admits_that_many_and_queues_the_rest_in_order() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=2, queue_timeout=5))
    flows = [Flow(f"f{i}") for i in range(5)]
    order: list[str] = []

    async def one(flow: Flow) -> None:
        await admit(limiter, flow, d)
        order.append(flow.id)

    tasks = [asyncio.create_task(one(f)) for f in flows]
    await asyncio.sleep(0.01)
    assert order == ["f0", "f1"]
    assert limiter.in_flight("shop", d.profile.limits) == 2
    limiter.release("f0")
    await asyncio.sleep(0.01)
    assert order == ["f0", "f1", "f2"]
    for f in ("f1", "f2", "f3"):
        limiter.release(f)
        await asyncio.sleep(0.01)
    assert order == ["f0", "f1", "f2", "f3", "f4"]
    await asyncio.gather(*tasks)
    limiter.release("f4")
    assert limiter.in_flight("shop", d.profile.limits) == 0


async def test_limiter_concurrency_wait_beyond_queue_timeout_is_429_with_retry_after_and_frees_its_place() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1, queue_timeout=0.05))
    await admit(limiter, Flow("a"), d)
    with pytest.raises(RateLimited, match='profile "shop" is at its max_concurrency of 1') as info:
        await admit(limiter, Flow("b"), d)
    assert info.value.status_hint == 429 and info.value.retry_after >= 1
    budget = limiter.budget("shop", d.profile.limits)
    assert not budget.waiters and budget.in_flight == 1
    limiter.release("a")
    assert budget.in_flight == 0


async def test_limiter_rate_limit_waits_when_queue_timeout_allows() -> None:
    now = [0.0]
    limiter = Limiter(clock=lambda: now[0])
    d = decision(ProfileLimits(rate=parse_rate_limit("1/second"), queue_timeout=5))
    await admit(limiter, Flow("a"), d)
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    asyncio_sleep = asyncio.sleep
    asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        await admit(limiter, Flow("b"), d)
    finally:
        asyncio.sleep = asyncio_sleep  # type: ignore[assignment]
    assert slept == [pytest.approx(1.0)]


async def test_limiter_rate_limit_beyond_queue_timeout_is_429_with_the_seconds_to_the_next_slot() -> None:
    now = [100.0]
    limiter = Limiter(clock=lambda: now[0])
    d = decision(ProfileLimits(rate=parse_rate_limit("2/minute"), queue_timeout=1))
    await admit(limiter, Flow("a"), d)
    await admit(limiter, Flow("b"), d)
    now[0] = 110.0
    with pytest.raises(RateLimited, match=r"rate_limit of 2/minute: the next slot is in 50\.0 s") as info:
        await admit(limiter, Flow("c"), d)
    assert info.value.retry_after == 50


async def test_limiter_scope_account_gives_each_account_its_own_budget() -> None:
    limiter = Limiter()
    limits = ProfileLimits(max_concurrency=1, queue_timeout=0.01)
    await admit(limiter, Flow("a"), decision(limits, "alice"))
    await admit(limiter, Flow("b"), decision(limits, "bob"))  # not queued behind alice
    with pytest.raises(RateLimited):
        await admit(limiter, Flow("c"), decision(limits, "alice"))


async def test_limiter_scope_profile_shares_one_budget_across_accounts() -> None:
    limiter = Limiter()
    limits = ProfileLimits(max_concurrency=1, queue_timeout=0.01, scope=LimitScope.PROFILE)
    await admit(limiter, Flow("a"), decision(limits, "alice"))
    with pytest.raises(RateLimited):
        await admit(limiter, Flow("b"), decision(limits, "bob"))


async def test_limiter_cancelled_waiter_leaves_the_queue_without_taking_a_slot() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1, queue_timeout=5))
    await admit(limiter, Flow("a"), d)
    task = asyncio.create_task(admit(limiter, Flow("b"), d))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    limiter.release("a")
    budget = limiter.budget("shop", d.profile.limits)
    assert budget.in_flight == 0 and not budget.waiters
    await admit(limiter, Flow("c"), d)  # the slot is there for the next one
    assert budget.in_flight == 1


async def test_limiter_waiter_cancelled_as_a_slot_is_handed_to_it_passes_the_slot_on() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1, queue_timeout=5))
    await admit(limiter, Flow("a"), d)
    b = asyncio.create_task(admit(limiter, Flow("b"), d))
    c_admitted = asyncio.Event()

    async def c() -> None:
        await admit(limiter, Flow("c"), d)
        c_admitted.set()

    c_task = asyncio.create_task(c())
    await asyncio.sleep(0.01)
    limiter.release("a")  # hands the slot to b's future ...
    b.cancel()  # ... and b is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await b
    await asyncio.wait_for(c_admitted.wait(), 1)
    await c_task
    assert limiter.budget("shop", d.profile.limits).in_flight == 1  # c's, nobody else's


async def test_limiter_flow_dropped_without_release_gives_its_slot_back() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1, queue_timeout=0.01))
    flow = Flow("a")
    await admit(limiter, flow, d)
    Flow.alive.remove(flow)
    del flow
    gc.collect()
    await admit(limiter, Flow("b"), d)  # no RateLimited: a's slot came back


def test_limiter_enter_admitted_flow_passes_again_and_release_is_idempotent() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1))
    flow = Flow("a")
    limiter.enter(flow, "a", d)
    limiter.enter(flow, "a", d)  # its re-sign after waiting: no second slot
    assert limiter.in_flight("shop", d.profile.limits) == 1
    limiter.release("a")
    limiter.release("a")
    assert limiter.in_flight("shop", d.profile.limits) == 0


def test_limiter_enter_unlimited_profile_holds_nothing() -> None:
    limiter = Limiter()
    limiter.enter(Flow("a"), "a", decision(ProfileLimits()))
    assert not limiter.held("a")


def test_limiter_enter_at_the_limit_raises_must_queue_a_429_naming_the_profile_and_limit() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1), account="alice")
    limiter.enter(Flow("a"), "a", d)
    with pytest.raises(MustQueue, match=r'profile "shop" \(account "alice"\) is at its limit \(max_concurrency 1\)') \
            as info:
        limiter.enter(Flow("b"), "b", d)
    assert info.value.status_hint == 429


async def test_limiter_flow_collected_in_another_thread_gives_its_slot_back_on_the_loop() -> None:
    limiter = Limiter()
    d = decision(ProfileLimits(max_concurrency=1))
    holder = [Flow("a")]
    await admit(limiter, holder[0], d)
    Flow.alive.remove(holder[0])
    budget = limiter.budget("shop", d.profile.limits)
    released_in: list[str] = []
    release = limiter.release

    def recording_release(flow_id: str) -> None:
        released_in.append(threading.current_thread().name)
        release(flow_id)

    limiter.release = recording_release  # type: ignore[method-assign]
    # The last reference goes in a worker thread: the weak reference's callback runs there.
    await asyncio.to_thread(holder.clear)
    await asyncio.sleep(0.01)
    assert budget.in_flight == 0
    assert released_in == [threading.current_thread().name]  # given back on the loop's thread only
