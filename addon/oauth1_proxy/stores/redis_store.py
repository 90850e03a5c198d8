"""The shared token store in Redis (SPEC §12): tokens, pending logins with their expiry, renewal leases.

Layout under the prefix ``oauth1-proxy:`` of the database the URL names:

- ``tokens``: one hash, a field per store key (profile, or profile and
  account), its value the token's entry as JSON (the same mapping the YAML
  store holds). Writers change one field (``HSET``/``HDEL``): two writers
  never lose each other's token, with no read-modify-write of the map.
- ``tokens:version``: a counter every write increments in the same
  ``MULTI`` as its change; the snapshot thread reads the hash only when the
  counter moved.
- ``pending:<sha256 of the request token>``: a pending login as JSON, ``SET``
  with ``EX`` (its 10 minutes), taken once by a script that checks the
  browser binding and the profile and deletes it in one step (atomic like
  ``GETDEL``; a wrong browser does not use the login up).
- ``lease:<key>``: a renewal lease, ``SET NX PX`` with a random value,
  released by a compare-and-delete script.

Every message names the store by its redacted URL (``redis://:***@HOST:PORT/DB``);
the password is never in a message, log line or page. Every Redis failure is a
TokenStoreError saying what to check, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
from redis import exceptions as redis_errors
from redis.backoff import NoBackoff
from redis.retry import Retry

from oauth1_proxy.errors import TokenStoreError
from oauth1_proxy.stores.crypto import Sealer
from oauth1_proxy.stores.leases import Lease, _LeaseBase
from oauth1_proxy.stores.location import RedisLocation
from oauth1_proxy.stores.pending import Pending
from oauth1_proxy.token_exchange import TemporaryCredentials
from oauth1_proxy.tokens import StoredToken, WatchedSnapshot, parse_token_store

PREFIX = "oauth1-proxy:"
logger = logging.getLogger("oauth1_proxy.stores")
TIMEOUT = 3.0  # seconds for a connection or one command (tried twice); every call runs off the event loop

# KEYS[1] the pending login; ARGV[1] the browser binding, ARGV[2] the profile ('' = any).
_TAKE = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
local ok, d = pcall(cjson.decode, v)
if not ok or type(d) ~= 'table' then redis.call('DEL', KEYS[1]) return false end
if d['binding'] ~= ARGV[1] then return false end
if ARGV[2] ~= '' and d['profile'] ~= ARGV[2] then return false end
redis.call('DEL', KEYS[1])
return v
"""
# KEYS[1] the lease; ARGV[1] the holder's random value.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def connect(location: RedisLocation) -> redis.Redis:
    """A client for ``location`` (no connection yet: the first command connects)."""
    return redis.Redis(
        host=location.host, port=location.port, db=location.db, username=location.username,
        password=location.password, ssl=location.tls, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 1), health_check_interval=30, client_name="oauth1-proxy",
    )


def redis_call[T](location: RedisLocation, what: str, call: Callable[[], T]) -> T:
    """Run one Redis call; turn every Redis failure into a TokenStoreError naming the fix (password redacted)."""
    try:
        return call()
    except redis_errors.AuthenticationError as e:
        detail = location.scrub(str(e))
        raise TokenStoreError(
            f"{location}: the token store (Redis) refused the password while {what} ({detail}); put the right "
            "password in the token_store URL (redis://:PASSWORD@HOST:PORT/DB, e.g. from ${VAR})."
        ) from None
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as e:
        detail = location.scrub(str(e)) or type(e).__name__
        hint = " Its certificate is checked against the system's CAs: for a private CA, set SSL_CERT_FILE to " \
               "its PEM bundle." if "CERTIFICATE_VERIFY_FAILED" in detail else ""
        raise TokenStoreError(
            f"{location}: the token store (Redis) cannot be reached while {what} ({detail}); check that Redis "
            f"runs there and that the URL's host, port and TLS (rediss://) are right.{hint} Requests that need a "
            "stored token are refused until it is back."
        ) from None
    except redis_errors.RedisError as e:
        detail = location.scrub(str(e)) or type(e).__name__
        raise TokenStoreError(f"{location}: the token store (Redis) failed while {what} ({detail}).") from None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class RedisTokenStore(WatchedSnapshot):
    """Tokens in one Redis hash; a snapshot for the event loop refreshed from a daemon thread."""

    def __init__(self, location: RedisLocation, *, client: redis.Redis | None = None, prefix: str = PREFIX) -> None:
        self.location = location
        self.client = client if client is not None else connect(location)
        self.prefix = prefix
        self._hash, self._version_key = prefix + "tokens", prefix + "tokens:version"
        self._lock = threading.Lock()
        self._tokens: dict[str, StoredToken] = {}
        self._version: bytes | None = None
        self._loaded = False
        self._error: TokenStoreError | None = None
        self._release = self.client.register_script(_RELEASE)

    def __str__(self) -> str:
        return str(self.location)

    def _call[T](self, what: str, call: Callable[[], T]) -> T:
        return redis_call(self.location, what, call)

    def _parse(self, entries: Mapping[Any, Any]) -> dict[str, StoredToken]:
        source = f"{self.location} (hash {self._hash})"
        data: dict[str, object] = {}
        for field, value in entries.items():
            name = _text(field)
            try:
                data[name] = json.loads(_text(value))
            except (ValueError, UnicodeDecodeError):
                raise TokenStoreError(f"{source}: the entry {name!r} is not JSON; it was left untouched. Remove "
                                      f"it (HDEL {self._hash} {name}), then log in again.") from None
        # The YAML store's parser checks each entry the same way (JSON is YAML).
        return parse_token_store(json.dumps(data), source) if data else {}

    # --- direct reads and writes (CLI, helper threads, the snapshot thread) -------------------

    def get(self, profile: str) -> StoredToken | None:
        raw = self._call("reading a token", lambda: self.client.hget(self._hash, profile))
        return None if raw is None else self._parse({profile: raw}).get(profile)

    def all(self) -> Mapping[str, StoredToken]:
        return self._parse(self._call("reading the tokens", lambda: self.client.hgetall(self._hash)))

    def put(self, profile: str, token: StoredToken) -> None:
        value = json.dumps(token.to_yaml())

        def write() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self._hash, profile, value)
            pipe.incr(self._version_key)
            pipe.execute()

        self._call("storing a token", write)
        self.refresh()

    def delete(self, profile: str) -> None:
        def write() -> None:
            pipe = self.client.pipeline(transaction=True)
            pipe.hdel(self._hash, profile)
            pipe.incr(self._version_key)
            pipe.execute()

        self._call("removing a token", write)
        self.refresh()

    def ping(self) -> None:
        """Raise TokenStoreError when Redis cannot be reached or refuses us (readiness, ``check``)."""
        self._call("checking the connection", self.client.ping)

    # --- the event loop's side: a snapshot, never a network call ------------------------------

    def cached(self, profile: str) -> StoredToken | None:
        error = self._error
        if error is not None:
            raise TokenStoreError(str(error))
        return self._tokens.get(profile)

    def cached_keys(self) -> tuple[str, ...]:
        """The snapshot's keys, never a network call (a profile's accounts, SPEC §11)."""
        return tuple(self._tokens)

    def refresh(self) -> None:
        """Re-read the hash when its version moved; an error is kept and raised by ``cached``."""
        with self._lock:
            try:
                version = self._call("reading the tokens", lambda: self.client.get(self._version_key))
                if self._loaded and version == self._version and self._error is None:
                    return

                def read() -> list[Any]:
                    pipe = self.client.pipeline(transaction=True)
                    pipe.get(self._version_key)
                    pipe.hgetall(self._hash)
                    return pipe.execute()

                version, entries = self._call("reading the tokens", read)
                if self._error is not None:
                    logger.warning("oauth1-proxy: token store %s: reachable again; signing resumes", self.location)
                self._tokens, self._version, self._loaded, self._error = self._parse(entries), version, True, None
            except TokenStoreError as e:
                if self._error is None:  # once per outage, not every interval; a warning: mitmdump exits on an
                    logger.warning("oauth1-proxy: %s", e)  # error logged at start, and Redis may come up later
                self._error, self._loaded = e, False

    def _watch_name(self) -> str:
        return str(self.location)  # redacted: the password never names a thread

    def close(self) -> None:
        self.unwatch()
        self.client.close()

    # --- renewal leases ---------------------------------------------------------------------

    def lease(self, key: str, seconds: float) -> Lease | None:
        """Take the renewal lease ``key`` for ``seconds`` (SET NX PX), or None when another instance holds it."""
        value = secrets.token_hex(16)
        name = self.prefix + "lease:" + key
        taken = self._call("taking a renewal lease",
                           lambda: self.client.set(name, value, nx=True, px=max(1, int(seconds * 1000))))
        return RedisLease(self, name, key, value) if taken else None

    def shared_key(self, name: str, sealer: Sealer) -> bytes:
        """A random 32-byte key every instance shares (``key:NAME``, made once with SET NX; sealed with the
        token_store_key when set)."""
        redis_key = self.prefix + "key:" + name
        fresh = sealer.seal(secrets.token_urlsafe(32))
        client = self.client
        self._call("making a shared key", lambda: client.set(redis_key, fresh, nx=True))
        raw = self._call("reading a shared key", lambda: client.get(redis_key))
        if raw is None:
            raise TokenStoreError(f"{self.location}: the shared key {redis_key} vanished; try again.")
        return sealer.open(_text(raw), f"shared key {name}").encode()

    def pending_logins(self, sealer: Sealer, lifetime: float) -> RedisPendingLogins:
        return RedisPendingLogins(self, sealer, lifetime)


class RedisLease(_LeaseBase):
    def __init__(self, store: RedisTokenStore, name: str, key: str, value: str) -> None:
        self._store, self._name, self.key, self._value = store, name, key, value
        self._released = False

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        store = self._store
        # Compare and delete: a lease that expired and was taken by another instance stays theirs.
        store._call("releasing a renewal lease", lambda: store._release(keys=[self._name], args=[self._value]))


class RedisPendingLogins:
    """Pending logins in Redis: any instance completes a login another one started (SPEC §12)."""

    def __init__(self, store: RedisTokenStore, sealer: Sealer, lifetime: float) -> None:
        self._store, self._sealer, self.lifetime = store, sealer, lifetime
        self._take = store.client.register_script(_TAKE)

    def _key(self, token: str) -> str:
        return self._store.prefix + "pending:" + hashlib.sha256(token.encode()).hexdigest()

    def add(self, profile: str, temporary: TemporaryCredentials, binding: str = "",
            lifetime: float | None = None, account: str | None = None) -> None:
        value = json.dumps({"profile": profile, "token": temporary.token, "binding": binding,
                            "secret": self._sealer.seal(temporary.secret), "created": time.time(),
                            "account": account})
        client = self._store.client
        life = min(self.lifetime, lifetime) if lifetime else self.lifetime  # the provider's own, when shorter
        self._store._call("storing a pending login",
                          lambda: client.set(self._key(temporary.token), value, ex=max(1, int(life))))

    def take(self, token: str, binding: str = "", profile: str | None = None) -> Pending | None:
        """The pending login of ``token``, once; None when unknown, used, expired (Redis dropped it), or another
        browser's (which leaves it in place)."""
        raw = self._store._call("taking a pending login",
                                lambda: self._take(keys=[self._key(token)], args=[binding, profile or ""]))
        if raw is None:
            return None
        data = json.loads(_text(raw))
        secret = self._sealer.open(str(data["secret"]), f"pending login of {data['profile']}")
        return Pending(str(data["profile"]), TemporaryCredentials(token=str(data["token"]), secret=secret),
                       float(data.get("created", 0.0)), str(data["binding"]),
                       account=str(data["account"]) if data.get("account") else None)

    def expired_life(self, token: str) -> float | None:
        """Redis drops an expired login itself: which one came back too late is not known here (None)."""
        return None

    def known(self, token: str) -> bool:
        client = self._store.client
        return bool(self._store._call("reading a pending login", lambda: client.exists(self._key(token))))
