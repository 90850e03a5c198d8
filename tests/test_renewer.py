"""shell/renewer.py: one provider call per token however many requests wait; when to renew or refresh."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from oauth1_proxy.config import ProxyConfig, parse_config
from oauth1_proxy.lifetimes import format_instant
from oauth1_proxy.shell.renewer import Renewer
from oauth1_proxy.tokens import MemoryTokenStore, StoredToken

DANCE = {"hosts": ["api.example.com"], "consumer_key": "ck", "consumer_secret": "cs",
         "request_token_url": "https://api.example.com/rt", "authorize_url": "https://api.example.com/a",
         "access_token_url": "https://api.example.com/at"}


def make_config(**extra: object) -> ProxyConfig:
    return parse_config({"profiles": {"p": {**DANCE, **extra}}}, "t.yaml", env={})


def make_renewer(store: MemoryTokenStore) -> Renewer:
    return Renewer(lambda: store, lambda: None, lambda: None)


def token(**fields: str) -> StoredToken:
    return StoredToken(token="t", token_secret="s", **fields)


async def test_renewer_fifty_waiting_requests_make_one_call() -> None:
    store = MemoryTokenStore({"p": token()})
    renewer = make_renewer(store)
    profile = make_config(renew_url="https://api.example.com/renew", idle_timeout=60).profiles[0]
    calls: list[str] = []
    gate = threading.Event()

    def slow(profile: Any, key: str, **_: Any) -> bool:
        calls.append(key)
        gate.wait(2)
        return True

    renewer._renew_blocking = slow  # type: ignore[method-assign]
    waiting = [asyncio.ensure_future(renewer.renew(profile, "p")) for _ in range(50)]
    await asyncio.sleep(0.2)
    gate.set()
    assert await asyncio.gather(*waiting) == [True] * 50
    assert calls == ["p"] and renewer.calls == 1
    assert renewer.done_since("renew", "p", time.time() - 5)


async def test_renewer_failed_call_is_logged_and_every_waiter_hears_false(caplog: pytest.LogCaptureFixture) -> None:
    renewer = make_renewer(MemoryTokenStore({"p": token()}))
    profile = make_config(renew_url="https://api.example.com/renew").profiles[0]

    def fails(profile: Any, key: str, **_: Any) -> bool:
        raise OSError("boom")

    renewer._renew_blocking = fails  # type: ignore[method-assign]
    assert await asyncio.gather(renewer.renew(profile, "p"), renewer.renew(profile, "p")) == [False, False]
    assert "the token's renewal failed (OSError)" in caplog.text
    assert not renewer.done_since("renew", "p", 0)


def test_renewer_before_send_ignores_profiles_without_renew_url_and_idle_timeout() -> None:
    store = MemoryTokenStore({"p": token(obtained_at=format_instant(0))})
    renewer = make_renewer(store)
    assert renewer.before_send(make_config(), "p", store.get) is None
    assert renewer.before_send(make_config(renew_url="https://api.example.com/renew"), "p", store.get) is None


def test_renewer_before_send_renews_past_the_margin_and_not_before() -> None:
    config = make_config(renew_url="https://api.example.com/renew", idle_timeout=60)
    fresh = MemoryTokenStore({"p": token(obtained_at=format_instant(time.time()))})
    assert make_renewer(fresh).before_send(config, "p", fresh.get) is None
    old = MemoryTokenStore({"p": token(obtained_at=format_instant(time.time() - 55))})
    coroutine = make_renewer(old).before_send(config, "p", old.get)
    assert coroutine is not None
    coroutine.close()


def refused(status: int, body: bytes, sent_at: float = 0.0) -> Any:
    response = SimpleNamespace(status_code=status, headers={"www-authenticate": "", "date": ""},
                               get_content=lambda strict=False: body)
    return SimpleNamespace(response=response, request=SimpleNamespace(timestamp_start=sent_at))


@pytest.mark.parametrize(
    ("settings", "stored", "status", "body", "kind"),
    [
        ({"renew_url": "https://api.example.com/renew"}, {}, 401, b"oauth_problem=token_rejected", "renew"),
        ({"renew_url": "https://api.example.com/renew"}, {}, 401, b"oauth_problem=token_expired", "renew"),
        ({}, {"session_handle": "h"}, 401, b"oauth_problem=token_expired", "refresh"),
        ({}, {"session_handle": "h"}, 401, b"oauth_problem=token_rejected", None),
        ({}, {}, 401, b"oauth_problem=token_expired", None),
        ({"renew_url": "https://api.example.com/renew"}, {}, 401, b"oauth_problem=signature_invalid", None),
        ({"renew_url": "https://api.example.com/renew"}, {}, 400, b"oauth_problem=token_rejected", None),
    ],
    ids=["inactive-renews", "expired-with-renew-url-tries-renew", "expired-with-handle-refreshes",
         "rejected-with-handle-does-nothing", "expired-without-handle-does-nothing", "bad-signature-does-nothing",
         "a-400-does-nothing"],
)
async def test_renewer_after_refusal_renews_or_refreshes_only_for_a_dead_token(
        settings: dict[str, object], stored: dict[str, str], status: int, body: bytes, kind: str | None) -> None:
    store = MemoryTokenStore({"p": token(**stored)})
    renewer = make_renewer(store)
    done: list[str] = []
    renewer._renew_blocking = lambda p, k, **_: done.append("renew") or True  # type: ignore[method-assign,func-returns-value]
    renewer._refresh_blocking = lambda p, k, seen=None: done.append("refresh") or True  # type: ignore[method-assign,func-returns-value]
    again = await renewer.after_refusal(refused(status, body), make_config(**settings), "p", store.get,
                                        is_retry=False)
    assert done == ([kind] if kind else []) and again is (kind is not None)


async def test_renewer_after_refusal_of_a_request_sent_before_a_renewal_only_retries() -> None:
    store = MemoryTokenStore({"p": token()})
    renewer = make_renewer(store)
    renewer._renew_blocking = lambda p, k, **_: True  # type: ignore[method-assign]
    config = make_config(renew_url="https://api.example.com/renew")
    sent_at = time.time()
    await renewer.renew(config.profiles[0], "p")
    assert renewer.calls == 1
    assert await renewer.after_refusal(refused(401, b"oauth_problem=token_rejected", sent_at), config, "p",
                                       store.get, is_retry=False)
    assert renewer.calls == 1  # renewed after it was sent: no second call


def test_renewer_refresh_of_a_token_another_process_refreshed_makes_no_call() -> None:
    store = MemoryTokenStore({"p": token(session_handle="h2")})  # the store holds the new token "t"
    renewer = make_renewer(store)
    profile = make_config().profiles[0]
    # The request saw "old"; the store has "t": nothing is sent (no network here: a call would fail).
    assert renewer._refresh_blocking(profile, "p", seen="old") is True
