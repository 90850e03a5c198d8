"""shell/renewer.py with accounts (SPEC §11): a named account's token is renewed and refreshed under its own
store key, never the profile's unnamed one."""

from __future__ import annotations

import time
from typing import Any

from oauth1_proxy.lifetimes import format_instant
from oauth1_proxy.tokens import MemoryTokenStore
from tests.test_renewer import make_config, make_renewer, token


async def test_renewer_before_send_renews_the_accounts_own_key() -> None:
    config = make_config(renew_url="https://api.example.com/renew", idle_timeout=60)
    store = MemoryTokenStore({"p": token(obtained_at=format_instant(time.time())),
                              "p@alice": token(obtained_at=format_instant(time.time() - 55))})
    renewer = make_renewer(store)
    renewed: list[str] = []

    def renew(profile: Any, key: str, *, seen: str | None = None) -> bool:
        renewed.append(key)
        return True

    renewer._renew_blocking = renew  # type: ignore[method-assign]
    assert renewer.before_send(config, "p", store.get) is None  # the unnamed token is fresh
    due = renewer.before_send(config, "p", store.get, key="p@alice")
    assert due is not None
    await due
    assert renewed == ["p@alice"]


async def test_renewer_refresh_then_refreshes_the_accounts_own_key() -> None:
    config = make_config()
    store = MemoryTokenStore({"p@alice": token()})
    renewer = make_renewer(store)
    refreshed: list[str] = []

    def refresh(profile: Any, key: str, *, seen: str | None = None) -> bool:
        refreshed.append(key)
        return True

    renewer._refresh_blocking = refresh  # type: ignore[method-assign]
    signed: list[bool] = []
    await renewer.refresh_then(config, "p", lambda: signed.append(True), key="p@alice")
    assert refreshed == ["p@alice"] and signed == [True]
