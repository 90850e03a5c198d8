"""Holding a profile's limits on the event loop (SPEC §11): concurrency slots, rate slots, the queue.

Rules:
1. Never block the loop: a request over a limit waits in an asyncio future
   or ``asyncio.sleep``, and only its own flow waits.
2. Never forward over a limit: a request is admitted (a concurrency slot
   taken, a rate slot booked: ``limits.SlidingWindow``) before it is signed;
   one that cannot be admitted within ``queue_timeout`` gets the proxy's 429
   with ``Retry-After`` and is never sent.
3. No slot leaks: a slot is held by a flow id from admission until
   ``release`` (the signer's ``response`` and ``error`` hooks); a flow that
   mitmproxy drops without either releases it when it is garbage
   (``weakref.finalize``); a waiter that times out or is cancelled gives back
   a slot handed to it in that instant.
4. Waiters are served in arrival order (a FIFO of futures per budget).

No mitmproxy import: the signer passes flow ids and flows; the 429 is made
by the signer's own refusal (shell/responses.py adds ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from oauth1_proxy.errors import MustQueue, ProxyError, RateLimited
from oauth1_proxy.limits import Admitted, ProfileLimits, SlidingWindow, retry_after
from oauth1_proxy.policy import Sign


class _Flow(Protocol):
    """What this module needs of a flow: its id (and a weak reference to it)."""

    @property
    def id(self) -> str: ...


CONCURRENCY_RETRY_AFTER = 1  # seconds: when a slot frees is unknown; ask the client to come back soon


class Budget:
    """One budget (a profile's, or one account's): its concurrency slots and its rate window."""

    def __init__(self, limits: ProfileLimits) -> None:
        self.limits = limits
        self.cap = limits.max_concurrency
        self.window = SlidingWindow(limits.rate) if limits.rate is not None else None
        self.in_flight = 0
        self.waiters: deque[asyncio.Future[None]] = deque()

    def slot_free(self) -> bool:
        return self.cap is None or (self.in_flight < self.cap and not self.waiters)

    def take(self) -> None:
        if self.cap is not None:
            self.in_flight += 1

    def give_back(self) -> None:
        """Free one slot, handing it to the first live waiter (rule 4)."""
        if self.cap is None:
            return
        self.in_flight -= 1
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                self.in_flight += 1  # the waiter owns it now
                waiter.set_result(None)
                return


def _describe(profile: str, account: str | None) -> str:
    return f'profile "{profile}"' + (f' (account "{account}")' if account else "")


class Limiter:
    """Every budget of the running proxy, and which flow holds which slot."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._budgets: dict[tuple[str, ProfileLimits], Budget] = {}
        self._fast: dict[tuple[str, int], tuple[ProfileLimits, Budget]] = {}  # by the limits object's id
        self._loop: asyncio.AbstractEventLoop | None = None  # where slots are held and given back
        # flow id -> the budget whose slot it holds (admitted flows), and a weak reference to the flow
        # whose callback gives the slot back if the flow is dropped without a hook (rule 3).
        self._held: dict[str, tuple[Budget, weakref.ref[Any] | None]] = {}

    def budget(self, key: str, limits: ProfileLimits) -> Budget:
        # Keyed by the limits too: a reloaded config with new limits starts new budgets, and
        # flows admitted before give their slots back to the old one.
        fast = self._fast.get((key, id(limits)))
        if fast is not None and fast[0] is limits:  # the same limits object: no hashing of its fields (~0.7 µs)
            return fast[1]
        found = self._budgets.get((key, limits))
        if found is None:
            found = self._budgets[(key, limits)] = Budget(limits)
        self._fast[(key, id(limits))] = (limits, found)
        return found

    def held(self, flow_id: str) -> bool:
        return flow_id in self._held

    def in_flight(self, key: str, limits: ProfileLimits) -> int:
        return self.budget(key, limits).in_flight

    def enter(self, flow: object, flow_id: str, decision: Sign) -> None:
        """Admit a signed request now, or raise MustQueue; a flow admitted already passes (its re-sign)."""
        limits: ProfileLimits = decision.profile.limits
        if not limits.limited or flow_id in self._held:
            return
        key = limits.budget_key(decision.profile.name, decision.account_key or decision.profile.name)
        budget = self.budget(key, limits)
        window = budget.window
        if budget.slot_free() and (window is None or isinstance(window.reserve(self.clock(), 0), Admitted)):
            budget.take()  # the rate slot, if any, is booked for now
            self._hold(flow, flow_id, budget)
            return
        raise MustQueue(
            f"{_describe(decision.profile.name, decision.account)} is at its limit "
            f"({self._limit_text(limits)}); the request could not wait for a slot here and was not sent. "
            "Retry later, or raise the limit in the profile.",
            profile=decision.profile.name, account=decision.account, key=key, limits=limits,
        )

    async def wait(self, flow: object, flow_id: str, queued: MustQueue) -> None:
        """Wait for a slot of ``queued``'s budget up to its queue_timeout (rules 1, 4); raise RateLimited."""
        limits = queued.limits
        budget = self.budget(queued.key, limits)
        deadline = self.clock() + limits.queue_timeout
        who = _describe(queued.profile, queued.account)
        if not budget.slot_free():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            budget.waiters.append(waiter)
            try:
                await asyncio.wait({waiter}, timeout=max(0.0, deadline - self.clock()))
            except BaseException:
                self._drop_waiter(budget, waiter)
                raise
            if not waiter.done():
                self._drop_waiter(budget, waiter)
                raise RateLimited(
                    f"{who} is at its max_concurrency of {limits.max_concurrency}: no request finished within "
                    f"queue_timeout ({limits.queue_timeout:g} s); this one was not sent. Retry after "
                    f"{CONCURRENCY_RETRY_AFTER} s, or raise max_concurrency or queue_timeout in the profile.",
                    retry_after=CONCURRENCY_RETRY_AFTER,
                )
            # The slot was handed over by give_back.
        else:
            budget.take()
        try:
            if budget.window is not None:
                booked = budget.window.reserve(self.clock(), max(0.0, deadline - self.clock()))
                if not isinstance(booked, Admitted):
                    raise RateLimited(
                        f"{who} is at its rate_limit of {budget.window.rate.text}: the next slot is in "
                        f"{booked.wait:.1f} s, beyond queue_timeout ({limits.queue_timeout:g} s); the request "
                        f"was not sent. Retry after {booked.retry_after} s, or raise queue_timeout in the profile.",
                        retry_after=booked.retry_after,
                    )
                if booked.delay > 0:
                    await asyncio.sleep(booked.delay)  # the booked slot stays booked if cancelled: never over
        except BaseException:
            budget.give_back()
            raise
        self._hold(flow, flow_id, budget)

    async def admitted[F: _Flow](self, flow: F, queued: MustQueue, refuse: Callable[[F, ProxyError], None],
                                 refuse_internal: Callable[[F, Exception], None]) -> bool:
        """Wait (``wait``) and tell whether the flow was admitted; else it has the proxy's refusal (429)."""
        try:
            await self.wait(flow, flow.id, queued)
        except ProxyError as e:  # RateLimited: 429 with Retry-After, never sent
            refuse(flow, e)
            return False
        except Exception as e:  # fail closed: never forward unsigned
            refuse_internal(flow, e)
            return False
        return True

    def release(self, flow_id: str) -> None:
        """Give back the slot a flow holds (its response or error is done); nothing when it holds none."""
        held = self._held.pop(flow_id, None)
        if held is not None:
            held[0].give_back()

    def _hold(self, flow: object, flow_id: str, budget: Budget) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (unit tests): releases run where they are called
            pass
        try:
            ref: weakref.ref[Any] | None = weakref.ref(flow, lambda _: self._dropped(flow_id))
        except TypeError:  # not weak-referenceable (a test double): the hooks release it
            ref = None
        self._held[flow_id] = (budget, ref)

    def _dropped(self, flow_id: str) -> None:
        """A held flow was garbage-collected: release on the event loop (the cyclic GC may run in any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self.release(flow_id)
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self.release(flow_id)
        else:
            loop.call_soon_threadsafe(self.release, flow_id)

    @staticmethod
    def _drop_waiter(budget: Budget, waiter: asyncio.Future[None]) -> None:
        """Leave the queue; a slot handed over in the same instant goes on to the next waiter (rule 3)."""
        if waiter.done() and not waiter.cancelled():
            budget.give_back()
        else:
            waiter.cancel()
            try:
                budget.waiters.remove(waiter)
            except ValueError:
                pass

    @staticmethod
    def _limit_text(limits: ProfileLimits) -> str:
        parts = []
        if limits.max_concurrency is not None:
            parts.append(f"max_concurrency {limits.max_concurrency}")
        if limits.rate is not None:
            parts.append(f"rate_limit {limits.rate.text}")
        return ", ".join(parts)


__all__ = ["Budget", "Limiter", "MustQueue", "retry_after"]
