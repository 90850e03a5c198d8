"""Accounts (SPEC §11) in every store: a pending login keeps its account (memory and Redis), and the
snapshot's keys list a profile's accounts without I/O on the event loop."""

from __future__ import annotations

from oauth1_proxy.accounts import accounts_in, token_key
from oauth1_proxy.stores.managed import memory_store, open_token_store
from oauth1_proxy.stores.pending import PendingLogins
from oauth1_proxy.token_exchange import TemporaryCredentials
from oauth1_proxy.tokens import StoredToken
from tests.redis_server import RedisServer, redis_server

__all__ = ["redis_server"]  # the fixture

ALICE = StoredToken(token="tok-a", token_secret="sec-a")


def test_pending_logins_in_memory_keep_the_account() -> None:
    pending = PendingLogins()
    pending.add("api", TemporaryCredentials(token="rt", secret="s"), "b", account="alice")
    taken = pending.take("rt", "b", profile="api")
    assert taken is not None and taken.account == "alice"


def test_redis_pending_login_keeps_the_account_across_instances(redis_server: RedisServer) -> None:
    a, b = open_token_store(redis_server.url).pending_logins(), open_token_store(redis_server.url).pending_logins()
    assert a is not None and b is not None
    a.add("api", TemporaryCredentials(token="rt-1", secret="rts-1"), "bind", account="bob")
    a.add("api", TemporaryCredentials(token="rt-2", secret="rts-2"), "bind")
    first, second = b.take("rt-1", "bind", profile="api"), b.take("rt-2", "bind", profile="api")
    assert first is not None and first.account == "bob"
    assert second is not None and second.account is None


def test_redis_store_snapshot_keys_list_the_accounts(redis_server: RedisServer) -> None:
    writer, reader = open_token_store(redis_server.url), open_token_store(redis_server.url)
    writer.put(token_key("api", "alice"), ALICE)
    writer.put(token_key("api", None), ALICE)
    reader.refresh()
    assert accounts_in(reader.cached_keys(), "api") == ("alice",)


def test_memory_store_keys_list_the_accounts() -> None:
    store = memory_store({"api@bob": ALICE, "api": ALICE})
    assert accounts_in(store.cached_keys(), "api") == ("bob",)
