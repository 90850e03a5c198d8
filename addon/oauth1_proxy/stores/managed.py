"""The token store interface (LiveTokenStore) and the factory choosing a backend (SPEC §7, §12).

What the shell needs of a store (``LiveTokenStore``):

- ``cached(key)``: the token as last read, **no I/O**: the only call made on
  mitmproxy's event loop; it raises the last refresh's TokenStoreError (the
  store is corrupt, or Redis is unreachable), so the signer refuses;
- ``refresh()``, ``watch(interval)``, ``unwatch()``: keep that snapshot fresh
  from a daemon thread (``refresh`` also runs in ``asyncio.to_thread`` when a
  request finds no token);
- ``get``, ``all``, ``put``, ``delete``: blocking reads and writes (CLI,
  helper threads, renewals: never on the loop);
- ``lease(key, seconds)``: a renewal lease (``leases.py``), see ``renew_shared``;
- ``ping()``: raise TokenStoreError when the store cannot be used (``check``; blocking);
- ``problem()``: the snapshot's last error as text, or None (readiness; no I/O);
- ``pending_logins()``: where the helper keeps pending logins, or None for
  "in this process" (the file store: one machine, one helper).

``open_token_store`` builds it: a file path gives the YAML ``FileTokenStore``
(``tokens.py``), ``redis://``/``rediss://`` the ``RedisTokenStore``; either is
wrapped in ``ManagedTokenStore``, which seals token secrets with
``token_store_key`` (``crypto.py``) and refuses a sealed store without it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cryptography.fernet import Fernet

from oauth1_proxy.errors import TokenStoreError
from oauth1_proxy.stores.crypto import Sealer, parse_store_key
from oauth1_proxy.stores.leases import FileLeases, Lease, ProcessLeases
from oauth1_proxy.stores.location import RedisLocation, is_redis_url, parse_redis_url
from oauth1_proxy.stores.pending import PENDING_LIFETIME, PendingStore
from oauth1_proxy.tokens import WATCH_INTERVAL, FileTokenStore, MemoryTokenStore, StoredToken, TokenStore

if TYPE_CHECKING:
    from oauth1_proxy.config_model import ProxyConfig
    from oauth1_proxy.stores.redis_store import RedisTokenStore

# Secrets sealed with token_store_key: StoredToken fields, and keys of its ``extra``.
SECRET_FIELDS = ("token_secret", "session_handle")
SECRET_EXTRAS = frozenset({"oauth_session_handle"})
RENEWAL_LEASE = "renew:"  # lease keys of renew_shared: "renew:" + the store key


@runtime_checkable
class Snapshotting(Protocol):
    """A store with a snapshot the event loop reads (FileTokenStore, ManagedTokenStore)."""

    def cached(self, profile: str) -> StoredToken | None: ...
    def refresh(self) -> None: ...


class LiveTokenStore(TokenStore, Snapshotting, Protocol):
    """Everything the proxy needs of a store (see the module docstring)."""

    def watch(self, interval: float = WATCH_INTERVAL) -> None: ...
    def unwatch(self) -> None: ...
    def lease(self, key: str, seconds: float) -> Lease | None: ...
    def ping(self) -> None: ...
    def problem(self) -> str | None: ...
    def pending_logins(self) -> PendingStore | None: ...
    def close(self) -> None: ...


class ManagedTokenStore:
    """A backend with sealed secrets (``token_store_key``), leases and pending logins: a LiveTokenStore."""

    def __init__(self, backend: TokenStore, *, sealer: Sealer, leases: FileLeases | ProcessLeases | RedisTokenStore,
                 pending: PendingStore | None = None, description: str = "") -> None:
        self.backend, self.sealer, self._leases, self._pending = backend, sealer, leases, pending
        self.description = description or str(backend)
        self._opened: dict[str, tuple[StoredToken, StoredToken]] = {}  # key -> (as stored, opened): cached()'s
        self._backend_cached: Callable[[str], StoredToken | None] = \
            backend.cached if isinstance(backend, Snapshotting) else backend.get
        self._shared_keys = leases if not isinstance(leases, FileLeases | ProcessLeases) else None
        self._helper_key: bytes | None = None

    def __str__(self) -> str:
        return self.description

    # --- sealing ----------------------------------------------------------------------------

    def seal(self, token: StoredToken) -> StoredToken:
        return self._map(token, self.sealer.seal)

    def open(self, key: str, token: StoredToken | None) -> StoredToken | None:
        if token is None or not _has_sealed(token):
            return token
        return self._map(token, lambda value: self.sealer.open(value, key))

    @staticmethod
    def _map(token: StoredToken, change: Callable[[str], str]) -> StoredToken:
        names = {f.name for f in dataclasses.fields(token)}
        updates: dict[str, object] = {}
        for name in SECRET_FIELDS:
            value = getattr(token, name, None) if name in names else None
            if isinstance(value, str) and value:
                updates[name] = change(value)
        extra = getattr(token, "extra", ())
        if any(k in SECRET_EXTRAS for k, _ in extra):
            updates["extra"] = tuple((k, change(v) if k in SECRET_EXTRAS and v else v) for k, v in extra)
        return dataclasses.replace(token, **updates) if updates else token  # type: ignore[arg-type]

    # --- TokenStore ---------------------------------------------------------------------------

    def get(self, profile: str) -> StoredToken | None:
        return self.open(profile, self.backend.get(profile))

    def all(self) -> Mapping[str, StoredToken]:
        out: dict[str, StoredToken] = {}
        for key, token in self.backend.all().items():
            opened = self.open(key, token)
            assert opened is not None
            out[key] = opened
        return out

    def put(self, profile: str, token: StoredToken) -> None:
        self.backend.put(profile, self.seal(token))

    def delete(self, profile: str) -> None:
        self.backend.delete(profile)

    # --- the snapshot (event loop) -------------------------------------------------------------

    def cached(self, profile: str) -> StoredToken | None:
        """The backend's snapshot, opened; each stored token is opened once (this runs per signed request)."""
        stored = self._backend_cached(profile)
        if stored is None:
            return None
        seen = self._opened.get(profile)
        if seen is not None and seen[0] is stored:
            return seen[1]
        opened = self.open(profile, stored)
        assert opened is not None
        self._opened[profile] = (stored, opened)
        return opened

    def cached_keys(self) -> tuple[str, ...]:
        """The snapshot's keys (a profile's accounts, SPEC §11): no I/O for a snapshotting backend."""
        keys: Callable[[], tuple[str, ...]] | None = getattr(self.backend, "cached_keys", None)
        if keys is not None:
            return keys()
        if isinstance(self.backend, Snapshotting):
            return ()  # a snapshot without keys: only the profile's own key and named ones are looked up
        return tuple(self.backend.all())  # in memory

    def refresh(self) -> None:
        if isinstance(self.backend, Snapshotting):
            self.backend.refresh()

    def watch(self, interval: float = WATCH_INTERVAL) -> None:
        watch = getattr(self.backend, "watch", None)
        if watch is not None:
            watch(interval)

    def unwatch(self) -> None:
        unwatch = getattr(self.backend, "unwatch", None)
        if unwatch is not None:
            unwatch()

    def close(self) -> None:
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
        else:
            self.unwatch()

    # --- the rest of LiveTokenStore ----------------------------------------------------------

    def lease(self, key: str, seconds: float) -> Lease | None:
        return self._leases.lease(key, seconds)

    def ping(self) -> None:
        ping = getattr(self.backend, "ping", None)
        if ping is not None:
            ping()
        else:
            self.backend.all()  # the file store: raises TokenStoreError when it cannot be read

    def pending_logins(self) -> PendingStore | None:
        return self._pending

    def problem(self) -> str | None:
        """Why the snapshot cannot be used (Redis unreachable, a corrupt store), or None; no I/O: for /readyz."""
        try:
            self._backend_cached("")  # raises the last refresh's error, whatever the key
        except TokenStoreError as e:
            return str(e)
        return None

    def helper_key(self) -> bytes | None:
        """The helper's same-origin key shared by every instance (Redis), or None: each process makes its own."""
        if self._helper_key is None and self._shared_keys is not None:
            self._helper_key = self._shared_keys.shared_key("helper-csrf", self.sealer)
        return self._helper_key


def _has_sealed(token: StoredToken) -> bool:
    from oauth1_proxy.stores.crypto import PREFIX

    return token.token_secret.startswith(PREFIX) or any(
        isinstance(getattr(token, name, None), str) and getattr(token, name).startswith(PREFIX)
        for name in SECRET_FIELDS[1:]
    ) or any(k in SECRET_EXTRAS and v.startswith(PREFIX) for k, v in getattr(token, "extra", ()))


def parse_location(text: str | Path, base: Path | None = None) -> Path | RedisLocation:
    """A ``token_store`` value as a file path (relative to ``base``) or a Redis location; BadRedisURL on a bad URL."""
    if isinstance(text, str) and is_redis_url(text):
        return parse_redis_url(text)
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path


def open_token_store(location: Path | RedisLocation | str, *, key: str | Fernet | None = None,
                     pending_lifetime: float = PENDING_LIFETIME) -> ManagedTokenStore:
    """The store at ``location`` (a path, a RedisLocation, or the config's text); ``key``: token_store_key.

    Raises BadStoreKey (a bad key) or BadRedisURL (a bad URL); connects lazily (``ping`` to check).
    """
    if isinstance(location, str):
        location = parse_location(location)
    fernet = parse_store_key(key) if isinstance(key, str) else key
    sealer = Sealer(fernet, str(location))
    if isinstance(location, RedisLocation):
        from oauth1_proxy.stores.redis_store import RedisTokenStore

        redis_store = RedisTokenStore(location)
        return ManagedTokenStore(redis_store, sealer=sealer, leases=redis_store,
                                 pending=redis_store.pending_logins(sealer, pending_lifetime),
                                 description=str(location))
    return ManagedTokenStore(FileTokenStore(location), sealer=sealer, leases=FileLeases(location),
                             description=str(location))


def memory_store(tokens: Mapping[str, StoredToken] | None = None, *, key: str | Fernet | None = None
                 ) -> ManagedTokenStore:
    """A LiveTokenStore in memory (tests, one-off runs)."""
    fernet = parse_store_key(key) if isinstance(key, str) else key
    return ManagedTokenStore(MemoryTokenStore(tokens), sealer=Sealer(fernet, "memory"), leases=ProcessLeases(),
                             description="memory")


def renew_shared(
    store: LiveTokenStore,
    key: str,
    renew: Callable[[StoredToken | None], StoredToken | None],
    *,
    fresh: Callable[[StoredToken | None], bool],
    lease_seconds: float = 60.0,
    wait: float = 30.0,
    poll: float = 0.1,
) -> StoredToken | None:
    """Renew the token ``key`` once for all instances; blocking (call it in a thread, never on the loop).

    ``fresh(token)`` says the stored token needs no renewal (e.g. another
    instance renewed it: its ``token`` or renewal time changed). Loop: read
    the token; fresh -> return it. Else take the lease ``renew:KEY``; the
    holder re-reads (fresh -> return it), calls ``renew(current)``, stores
    the result (unless None) and returns it; the lease is released even when
    ``renew`` raises. Who does not get the lease polls until the token is
    fresh or ``wait`` seconds pass (then TokenStoreError). ``lease_seconds``
    bounds a renewal that hangs (then another instance may try).
    """
    deadline = time.monotonic() + wait
    while True:
        current = store.get(key)
        if fresh(current):
            return current
        lease = store.lease(RENEWAL_LEASE + key, lease_seconds)
        if lease is not None:
            with lease:
                current = store.get(key)
                if fresh(current):
                    return current
                renewed = renew(current)
                if renewed is not None:
                    store.put(key, renewed)
                return renewed
        if time.monotonic() >= deadline:
            raise TokenStoreError(f"{store}: the token of {key!r} is being renewed by another proxy instance and "
                                  f"is still not renewed after {wait:.0f} s; try again, or log in again.")
        time.sleep(poll)


def open_config_store(config: ProxyConfig) -> ManagedTokenStore:
    """The store a loaded config names, with its token_store_key (already checked by the config)."""
    return open_token_store(config.token_store, key=config.token_store_key)


def _is_live(store: ManagedTokenStore) -> LiveTokenStore:
    return store  # mypy proves ManagedTokenStore is a LiveTokenStore
