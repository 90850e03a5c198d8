"""stores/: the token store interface, its Redis backend (a real redis-server), leases, sealing at rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from oauth1_proxy.errors import TokenStoreError
from oauth1_proxy.stores.crypto import PREFIX, BadStoreKey, parse_store_key
from oauth1_proxy.stores.leases import FileLeases, ProcessLeases
from oauth1_proxy.stores.location import BadRedisURL, RedisLocation, parse_redis_url
from oauth1_proxy.stores.managed import (
    ManagedTokenStore,
    Snapshotting,
    memory_store,
    open_token_store,
    parse_location,
    renew_shared,
)
from oauth1_proxy.token_exchange import TemporaryCredentials
from oauth1_proxy.tokens import StoredToken
from tests.redis_server import PASSWORD, RedisServer, redis_server, start_redis

__all__ = ["redis_server"]  # the fixture

TOKEN = StoredToken(token="tok-1", token_secret="ts-Very-Secret-1", obtained_at="2024-05-01T12:00:00Z",
                    extra=(("screen_name", "alice"), ("oauth_session_handle", "sh-Secret-Handle")))
KEY = Fernet.generate_key().decode()


def redis_store(server: RedisServer, key: str | None = None) -> ManagedTokenStore:
    return open_token_store(server.url, key=key)


# --- location ----------------------------------------------------------------------------------


def test_parse_redis_url_reads_host_port_db_and_quoted_password() -> None:
    loc = parse_redis_url("rediss://:p%40ss%2Fw@redis.example:6390/3")
    assert (loc.host, loc.port, loc.db, loc.tls, loc.password) == ("redis.example", 6390, 3, True, "p@ss/w")


def test_parse_redis_url_reads_an_acl_user_and_redacts_only_the_password() -> None:
    loc = parse_redis_url("redis://proxy:s3cret-Pw@h:6379/1")
    assert (loc.username, loc.password, str(loc)) == ("proxy", "s3cret-Pw", "redis://proxy:***@h:6379/1")


def test_parse_redis_url_defaults_to_port_6379_db_0_without_password() -> None:
    assert parse_redis_url("redis://localhost") == RedisLocation(host="localhost")


def test_redis_location_str_and_repr_redact_the_password() -> None:
    loc = parse_redis_url("redis://:hunter2-secret@h:1/0")
    assert str(loc) == "redis://:***@h:1/0"
    assert "hunter2" not in repr(loc) and "hunter2" not in f"{loc}"


@pytest.mark.parametrize("url, fragment", [
    ("redis://:pw@h:99999/0", "port"),
    ("redis://:pw@h:1/db", "must be a number"),
    ("redis://:pw@/0", "no host"),
    ("redis://:pw@h:1/0?x=1", "no ?query"),
])
def test_parse_redis_url_bad_url_names_the_part_and_never_the_password(url: str, fragment: str) -> None:
    with pytest.raises(BadRedisURL) as e:
        parse_redis_url(url)
    assert fragment in str(e.value) and "pw" not in str(e.value).replace("PASSWORD", "")


def test_redis_location_scrub_removes_the_raw_and_the_percent_encoded_password() -> None:
    loc = parse_redis_url("redis://:a%2Fb%40c@h:1/0")
    assert loc.scrub("x a/b@c y a%2Fb%40c z") == "x *** y *** z"


def test_parse_location_file_path_is_relative_to_the_config_folder(tmp_path: Path) -> None:
    assert parse_location("tokens.yaml", tmp_path) == tmp_path / "tokens.yaml"
    assert isinstance(parse_location("redis://h:1/0", tmp_path), RedisLocation)


# --- the Redis store against a real redis-server ----------------------------------------------


def test_redis_token_store_round_trips_token_and_extras(redis_server: RedisServer) -> None:
    store = redis_store(redis_server)
    store.put("api", TOKEN)
    assert redis_store(redis_server).get("api") == TOKEN
    assert dict(redis_store(redis_server).all()) == {"api": TOKEN}


def test_redis_token_store_delete_removes_only_that_key(redis_server: RedisServer) -> None:
    store = redis_store(redis_server)
    store.put("api", TOKEN)
    store.put("other", TOKEN)
    store.delete("api")
    assert set(redis_store(redis_server).all()) == {"other"}


def test_redis_token_store_cached_sees_another_instances_put_after_refresh_only(redis_server: RedisServer) -> None:
    a, b = redis_store(redis_server), redis_store(redis_server)
    b.refresh()
    a.put("api", TOKEN)
    assert b.cached("api") is None  # a snapshot: no network call on the event loop
    b.refresh()
    assert b.cached("api") == TOKEN


def test_redis_token_store_watch_picks_up_a_token_within_the_interval(redis_server: RedisServer) -> None:
    a, b = redis_store(redis_server), redis_store(redis_server)
    b.watch(0.05)
    try:
        a.put("api", TOKEN)
        deadline = time.monotonic() + 2
        while b.cached("api") is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert b.cached("api") == TOKEN
    finally:
        b.close()


def test_redis_token_store_is_a_snapshotting_store(redis_server: RedisServer) -> None:
    assert isinstance(redis_store(redis_server), Snapshotting)


WRITER = """
import sys
from oauth1_proxy.stores.managed import open_token_store
from oauth1_proxy.tokens import StoredToken
store = open_token_store(sys.argv[1])
for i in range(50):
    store.put(f"{sys.argv[2]}-{i}", StoredToken(token=f"t-{sys.argv[2]}-{i}", token_secret="s"))
"""


def test_redis_token_store_concurrent_puts_from_2_processes_x_50_lose_no_token(redis_server: RedisServer) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, redis_server.url, name]) for name in ("a", "b")]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    stored = redis_store(redis_server).all()
    assert len(stored) == 100
    assert all(stored[f"{n}-{i}"].token == f"t-{n}-{i}" for n in ("a", "b") for i in range(50))


def test_redis_token_store_wrong_password_says_so_without_the_password(redis_server: RedisServer) -> None:
    store = open_token_store(f"redis://:wrong-Pass-Word@127.0.0.1:{redis_server.port}/0")
    with pytest.raises(TokenStoreError) as e:
        store.ping()
    assert "refused the password" in str(e.value) and "wrong-Pass-Word" not in str(e.value)
    assert "redis://:***@127.0.0.1" in str(e.value)


def test_redis_token_store_down_refuses_from_the_snapshot_naming_the_url_not_the_password(tmp_path: Path) -> None:
    with start_redis(tmp_path / "r") as server:
        store = redis_store(server)
        store.put("api", TOKEN)
        store.refresh()
        assert store.cached("api") == TOKEN
    assert store.problem() is None
    store.refresh()  # the server is gone
    problem = store.problem()
    assert problem is not None and "cannot be reached" in problem and PASSWORD not in problem
    for call in (lambda: store.cached("api"), store.ping, lambda: store.get("api"),
                 lambda: store.put("api", TOKEN)):
        with pytest.raises(TokenStoreError) as e:
            call()
        message = str(e.value)
        assert "cannot be reached" in message and "redis://:***@127.0.0.1" in message
        assert PASSWORD not in message and "Zq9" not in message
        assert e.value.__cause__ is None and (e.value.__context__ is None or e.value.__suppress_context__)


def test_redis_token_store_corrupt_entry_is_reported_and_left(redis_server: RedisServer) -> None:
    redis_server.client().hset("oauth1-proxy:tokens", "api", "{not json")  # type: ignore[attr-defined]
    with pytest.raises(TokenStoreError, match="'api' is not JSON; it was left untouched"):
        redis_store(redis_server).get("api")


# --- pending logins ----------------------------------------------------------------------------


def test_redis_pending_login_added_by_one_instance_is_taken_by_another_once(redis_server: RedisServer) -> None:
    a, b = redis_store(redis_server).pending_logins(), redis_store(redis_server).pending_logins()
    assert a is not None and b is not None
    a.add("api", TemporaryCredentials(token="rt-1", secret="rts-1"), "bind-1")
    assert b.known("rt-1")
    taken = b.take("rt-1", "bind-1", profile="api")
    assert taken is not None and (taken.profile, taken.temporary.token, taken.temporary.secret) == \
        ("api", "rt-1", "rts-1")
    assert a.take("rt-1", "bind-1", profile="api") is None and not a.known("rt-1")


def test_redis_pending_login_wrong_browser_or_profile_does_not_use_it_up(redis_server: RedisServer) -> None:
    pending = redis_store(redis_server).pending_logins()
    assert pending is not None
    pending.add("api", TemporaryCredentials(token="rt-1", secret="rts-1"), "bind-1")
    assert pending.take("rt-1", "bind-other", profile="api") is None
    assert pending.take("rt-1", "bind-1", profile="other") is None
    assert pending.take("rt-1", "", profile="api") is None
    assert pending.take("rt-1", "bind-1", profile="api") is not None


def test_redis_pending_login_expires_with_its_lifetime(redis_server: RedisServer) -> None:
    store = open_token_store(redis_server.url, pending_lifetime=1)
    pending = store.pending_logins()
    assert pending is not None
    pending.add("api", TemporaryCredentials(token="rt-1", secret="rts-1"), "b")
    ttl = redis_server.client().ttl(next(iter(redis_server.client().keys("oauth1-proxy:pending:*"))))  # type: ignore[attr-defined]
    assert 0 < ttl <= 1
    time.sleep(1.3)
    assert pending.take("rt-1", "b", profile="api") is None and not pending.known("rt-1")


def test_redis_pending_login_key_and_value_hold_no_request_token_secret_with_a_key(redis_server: RedisServer) -> None:
    pending = redis_store(redis_server, KEY).pending_logins()
    assert pending is not None
    pending.add("api", TemporaryCredentials(token="rt-1", secret="rts-Secret-1"), "b")
    raw = b"".join(k + (redis_server.client().get(k) or b"")  # type: ignore[attr-defined]
                   for k in redis_server.client().keys("*"))  # type: ignore[attr-defined]
    assert b"rts-Secret-1" not in raw and b"rt-1" in raw  # the request token itself is no secret
    taken = pending.take("rt-1", "b", profile="api")
    assert taken is not None and taken.temporary.secret == "rts-Secret-1"


def test_file_store_has_no_shared_pending_logins(tmp_path: Path) -> None:
    assert open_token_store(tmp_path / "tokens.yaml").pending_logins() is None


# --- leases ------------------------------------------------------------------------------------


def test_redis_lease_is_held_by_one_instance_until_released(redis_server: RedisServer) -> None:
    a, b = redis_store(redis_server), redis_store(redis_server)
    lease = a.lease("renew:api", 30)
    assert lease is not None and b.lease("renew:api", 30) is None
    lease.release()
    again = b.lease("renew:api", 30)
    assert again is not None
    again.release()


def test_redis_lease_expires_and_a_late_release_leaves_the_new_holders_lease(redis_server: RedisServer) -> None:
    a, b = redis_store(redis_server), redis_store(redis_server)
    old = a.lease("renew:api", 0.2)
    assert old is not None
    time.sleep(0.35)
    new = b.lease("renew:api", 30)
    assert new is not None
    old.release()  # compare-and-delete: not b's
    assert a.lease("renew:api", 30) is None
    new.release()


@pytest.mark.parametrize("kind", ["file", "memory"])
def test_local_lease_is_exclusive_until_released_or_expired(tmp_path: Path, kind: str) -> None:
    leases = FileLeases(tmp_path / "tokens.yaml") if kind == "file" else ProcessLeases()
    other = FileLeases(tmp_path / "tokens.yaml") if kind == "file" else leases
    lease = leases.lease("renew:api", 0.3)
    assert lease is not None and other.lease("renew:api", 30) is None
    time.sleep(0.45)
    taken = other.lease("renew:api", 30)
    assert taken is not None
    lease.release()
    assert leases.lease("renew:api", 30) is None
    taken.release()
    last = leases.lease("renew:api", 30)
    assert last is not None
    last.release()


def test_file_lease_is_shared_with_another_process(tmp_path: Path) -> None:
    store = tmp_path / "tokens.yaml"
    lease = FileLeases(store).lease("renew:api", 30)
    assert lease is not None
    code = ("import sys; from pathlib import Path; from oauth1_proxy.stores.leases import FileLeases; "
            "sys.exit(0 if FileLeases(Path(sys.argv[1])).lease('renew:api', 30) is None else 3)")
    assert subprocess.run([sys.executable, "-c", code, str(store)], timeout=60).returncode == 0
    lease.release()


@pytest.mark.parametrize("backend", ["redis", "file", "memory"])
def test_renew_shared_renews_once_for_all_callers(redis_server: RedisServer, tmp_path: Path, backend: str) -> None:
    def make() -> ManagedTokenStore:
        if backend == "redis":
            return redis_store(redis_server)
        return open_token_store(tmp_path / "tokens.yaml") if backend == "file" else shared_memory

    shared_memory = memory_store()
    make().put("api", StoredToken(token="old", token_secret="s-old"))
    calls: list[str] = []
    results: list[str | None] = []

    def renew(current: StoredToken | None) -> StoredToken:
        calls.append(current.token if current else "")
        time.sleep(0.3)
        return StoredToken(token="new", token_secret="s-new")

    def caller() -> None:
        got = renew_shared(make(), "api", renew, fresh=lambda t: t is not None and t.token == "new", wait=10)
        results.append(got.token if got else None)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert calls == ["old"] and results == ["new"] * 4
    assert make().get("api") == StoredToken(token="new", token_secret="s-new")


def test_renew_shared_releases_the_lease_when_renew_raises() -> None:
    store = memory_store({"api": StoredToken(token="old", token_secret="s")})

    def fail(current: StoredToken | None) -> StoredToken:
        raise RuntimeError("provider down")

    with pytest.raises(RuntimeError):
        renew_shared(store, "api", fail, fresh=lambda t: False)
    lease = store.lease("renew:api", 1)
    assert lease is not None
    lease.release()


# --- sealed at rest (token_store_key) ------------------------------------------------------------


def test_redis_sealed_store_raw_value_holds_no_token_secret(redis_server: RedisServer) -> None:
    redis_store(redis_server, KEY).put("api", TOKEN)
    raw = redis_server.client().hget("oauth1-proxy:tokens", "api")  # type: ignore[attr-defined]
    assert b"ts-Very-Secret-1" not in raw and b"sh-Secret-Handle" not in raw
    entry = json.loads(raw)
    assert entry["token"] == "tok-1" and entry["token_secret"].startswith(PREFIX)
    assert entry["oauth_session_handle"].startswith(PREFIX)
    store = redis_store(redis_server, KEY)
    store.refresh()
    assert store.get("api") == TOKEN and store.cached("api") == TOKEN and dict(store.all()) == {"api": TOKEN}


def test_file_sealed_store_raw_file_holds_no_token_secret(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    open_token_store(path, key=KEY).put("api", TOKEN)
    text = path.read_text()
    assert "ts-Very-Secret-1" not in text and "sh-Secret-Handle" not in text and "tok-1" in text
    store = open_token_store(path, key=KEY)
    store.refresh()
    assert store.get("api") == TOKEN and store.cached("api") == TOKEN


@pytest.mark.parametrize("backend", ["redis", "file"])
def test_sealed_store_with_another_key_says_so_without_a_secret(
    redis_server: RedisServer, tmp_path: Path, backend: str
) -> None:
    location = redis_server.url if backend == "redis" else str(tmp_path / "tokens.yaml")
    open_token_store(location, key=KEY).put("api", TOKEN)
    other_key = Fernet.generate_key().decode()
    store = open_token_store(location, key=other_key)
    store.refresh()
    for call in (lambda: store.get("api"), lambda: store.cached("api"), store.all):
        with pytest.raises(TokenStoreError) as e:
            call()
        message = str(e.value)
        assert "token store was written with another token_store_key" in message and "'api'" in message
        assert not any(s in message for s in ("ts-Very-Secret-1", KEY, other_key, PASSWORD, PREFIX + "gA"))


def test_sealed_store_without_a_key_says_set_token_store_key(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    open_token_store(path, key=KEY).put("api", TOKEN)
    with pytest.raises(TokenStoreError, match="set token_store_key to the key it was written with"):
        open_token_store(path).get("api")


def test_sealed_store_reads_a_plain_token_written_before_the_key_and_seals_it_on_write(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    open_token_store(path).put("api", TOKEN)
    store = open_token_store(path, key=KEY)
    assert store.get("api") == TOKEN
    store.put("api", TOKEN)
    assert "ts-Very-Secret-1" not in path.read_text()


def test_sealed_store_cached_opens_each_stored_token_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_token_store(tmp_path / "tokens.yaml", key=KEY)
    store.put("api", TOKEN)
    store.refresh()
    opened: list[str] = []
    real = store.sealer.open
    monkeypatch.setattr(store.sealer, "open", lambda v, e: opened.append(e) or real(v, e))
    for _ in range(5):
        assert store.cached("api") == TOKEN
    assert len(opened) == 2  # the token secret and the session handle, once


@pytest.mark.parametrize("text", ["", "short", "x" * 44, "not base64 !!!"])
def test_parse_store_key_bad_key_says_how_to_make_one_and_never_quotes_it(text: str) -> None:
    with pytest.raises(BadStoreKey) as e:
        parse_store_key(text)
    message = str(e.value)
    assert "Fernet.generate_key()" in message and (not text or text not in message)


# --- rediss:// (TLS) against redis-server's TLS port ---------------------------------------------


def test_rediss_store_verifies_the_server_certificate_against_the_trusted_cas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with start_redis(tmp_path / "r", tls=True) as server:
        assert server.url.startswith("rediss://") and server.ca_file is not None
        # Not trusted: refused, naming the store (redacted), never the password.
        with pytest.raises(TokenStoreError) as e:
            open_token_store(server.url).ping()
        assert "cannot be reached" in str(e.value) and "set SSL_CERT_FILE to its PEM bundle" in str(e.value)
        assert PASSWORD not in str(e.value) and "Zq9" not in str(e.value)
        # Trusted (a private CA through SSL_CERT_FILE, as OpenSSL reads it): tokens round-trip over TLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        open_token_store(server.url).put("api", TOKEN)
        assert open_token_store(server.url).get("api") == TOKEN


def test_redis_url_without_tls_to_a_tls_port_is_refused_clearly(tmp_path: Path) -> None:
    with start_redis(tmp_path / "r", tls=True) as server:
        with pytest.raises(TokenStoreError, match="cannot be reached|failed") as e:
            open_token_store(server.url.replace("rediss://", "redis://")).ping()
        assert PASSWORD not in str(e.value)


# --- oauth1-proxy check over a sealed store ------------------------------------------------------


def run_check(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "oauth1-proxy"
    return subprocess.run([str(exe), "check", "--config", str(config)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **env})


@pytest.mark.parametrize("backend", ["redis", "file"])
def test_cli_check_with_another_token_store_key_fails_naming_it_without_a_secret(
    redis_server: RedisServer, tmp_path: Path, backend: str
) -> None:
    location = redis_server.url if backend == "redis" else str(tmp_path / "tokens.yaml")
    open_token_store(location, key=KEY).put("api", TOKEN)
    other = Fernet.generate_key().decode()
    config = tmp_path / "proxy.yaml"
    config.write_text(f"token_store: '{location}'\ntoken_store_key: ${{STORE_KEY}}\nprofiles:\n  api:\n"
                      "    hosts: [api.example.com]\n    consumer_key: ck\n    consumer_secret: cs\n"
                      "    request_token_url: https://api.example.com/rt\n"
                      "    authorize_url: https://api.example.com/au\n"
                      "    access_token_url: https://api.example.com/at\n")
    config.chmod(0o600)
    assert run_check(config, {"STORE_KEY": KEY}).returncode == 0
    result = run_check(config, {"STORE_KEY": other})
    assert result.returncode == 1 and "token store was written with another token_store_key" in result.stderr
    assert "Traceback" not in result.stderr
    for secret in ("ts-Very-Secret-1", KEY, other, PASSWORD, "Zq9"):
        assert secret not in result.stdout + result.stderr
