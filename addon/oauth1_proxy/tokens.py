"""Token credentials and where they are kept (SPEC §7).

The store is YAML, one mapping per profile: token, token_secret, obtained_at
and what the provider returned besides (user_id, screen_name, ...). It is
written atomically (temp file, fsync, rename) with mode 0600; a corrupt store
is reported and never overwritten.

A little over 400 lines: the file store's rules below (lock, symlinks,
FIFOs, snapshot thread) hold one file's consistency together; the other
backends and what they share are in stores/.

Rules of the file store (issue 12):
1. Writers read, change and write the store under an exclusive ``flock`` on
   a lock file beside it (``tokens.yaml.lock``): two processes logging in at
   once both keep their token.
2. A symlinked store is written through: the temp file goes beside the
   link's target and replaces the target, never the link.
3. Only a regular file is read (opened O_NONBLOCK, then fstat): a FIFO or a
   device is refused, never waited on.
4. The proxy's event loop reads a snapshot (``cached``) that a daemon thread
   refreshes (``watch``); a miss is re-read off the loop before it is refused.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from .config import NotARegularFile, Profile, StrictLoader, describe_yaml_error, read_regular_file
from .errors import TokenStoreError
from .signing import TokenCredentials


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredToken:
    """Token credentials of one profile and what the provider said about them."""

    token: str
    token_secret: str = field(repr=False)
    obtained_at: str = ""
    extra: tuple[tuple[str, str], ...] = ()
    # Token lives (SPEC §11; lifetimes.py reads them). Times are ISO 8601 in
    # UTC ("2026-12-01T05:00:00+00:00"), as obtained_at; "" when unknown.
    expires_at: str = ""  # when the provider stops accepting it (oauth_expires_in, expires_daily)
    renewed_at: str = ""  # the last renewal (renew_url) or session refresh
    # The OAuth Session extension's oauth_session_handle: it buys a new token,
    # so it is kept like token_secret (never logged, shown or repr'd).
    session_handle: str = field(default="", repr=False)

    @property
    def credentials(self) -> TokenCredentials:
        return TokenCredentials(token=self.token, secret=self.token_secret)

    def to_yaml(self) -> dict[str, str]:
        out = {"token": self.token, "token_secret": self.token_secret, "obtained_at": self.obtained_at}
        for key in LIFETIME_KEYS:  # only when set: a store without them stays as it was
            value = getattr(self, key)
            if value:
                out[key] = value
        out.update(self.extra)
        return out


LIFETIME_KEYS = ("expires_at", "renewed_at", "session_handle")
"""The token-life fields of a store entry, beside token, token_secret and obtained_at (optional)."""


class TokenStore(Protocol):
    """Where token credentials live between runs."""

    def get(self, profile: str) -> StoredToken | None: ...
    def put(self, profile: str, token: StoredToken) -> None: ...
    def delete(self, profile: str) -> None: ...
    def all(self) -> Mapping[str, StoredToken]: ...


def parse_token_store(text: str, source: str) -> dict[str, StoredToken]:
    """Parse the store's YAML text; raise TokenStoreError naming the problem."""
    try:
        data: Any = yaml.load(text, Loader=StrictLoader)  # noqa: S506 (SafeLoader without anchors and aliases)
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        # describe_yaml_error never quotes a value: a token secret may be on that line.
        detail = describe_yaml_error(e, text, source).removeprefix(source)
        raise TokenStoreError(
            f"{source}: the token store is not valid YAML; it was left untouched. Fix or move it, "
            f"then log in again. ({source}{detail})"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise TokenStoreError(f"{source}: the token store must be a mapping of profile names; it was left "
                              "untouched. Fix or move it, then log in again.")
    out: dict[str, StoredToken] = {}
    for name, entry in data.items():
        if (
            not isinstance(entry, Mapping)
            or not isinstance(entry.get("token"), str)
            or not isinstance(entry.get("token_secret"), str)
        ):
            raise TokenStoreError(
                f"{source}: the entry {name!r} needs string values token and token_secret; the store was "
                "left untouched. Fix or remove that entry, then log in again."
            )
        extra = tuple(
            (str(k), str(v)) for k, v in entry.items()
            if k not in ("token", "token_secret", "obtained_at", *LIFETIME_KEYS)
        )
        out[str(name)] = StoredToken(
            token=entry["token"],
            token_secret=entry["token_secret"],
            obtained_at=str(entry.get("obtained_at", "")),
            extra=extra,
            expires_at=str(entry.get("expires_at") or ""),
            renewed_at=str(entry.get("renewed_at") or ""),
            session_handle=str(entry.get("session_handle") or ""),
        )
    return out


def dump_token_store(tokens: Mapping[str, StoredToken]) -> str:
    """Render the store's YAML text."""
    header = "# oauth1-proxy token store: secrets, keep private (mode 0600)\n"
    return header + yaml.safe_dump({k: v.to_yaml() for k, v in sorted(tokens.items())}, sort_keys=False)


class MemoryTokenStore:
    """A store in memory, for tests and one-off runs."""

    def __init__(self, tokens: Mapping[str, StoredToken] | None = None) -> None:
        self._tokens = dict(tokens or {})

    def get(self, profile: str) -> StoredToken | None:
        return self._tokens.get(profile)

    def put(self, profile: str, token: StoredToken) -> None:
        self._tokens[profile] = token

    def delete(self, profile: str) -> None:
        self._tokens.pop(profile, None)

    def all(self) -> Mapping[str, StoredToken]:
        return dict(self._tokens)


LOCK_TIMEOUT = 10.0  # seconds a writer waits for another writer's lock before giving up
WATCH_INTERVAL = 0.25  # seconds between the watcher's looks at the store (a change made elsewhere is seen this late)


class _Unwritable(TokenStoreError):
    """The store (or its lock file) cannot be written: put keeps the token in memory."""


class WatchedSnapshot:
    """A store whose snapshot a daemon thread refreshes (the file store, the Redis store): ``watch``/``unwatch``.

    The thread holds only a weak reference, so a store nobody uses is
    collected and its thread ends; subclasses give ``refresh`` and
    ``_watch_name`` (the thread's name: never a secret).
    """

    _watch_stop: threading.Event | None = None

    def refresh(self) -> None:
        raise NotImplementedError

    def _watch_name(self) -> str:
        raise NotImplementedError

    def watch(self, interval: float = WATCH_INTERVAL) -> None:
        """Refresh now, then every ``interval`` seconds from a daemon thread, until ``unwatch`` or garbage."""
        self.refresh()
        if self._watch_stop is not None:
            return
        stop = self._watch_stop = threading.Event()
        ref = weakref.ref(self)

        def loop() -> None:
            while not stop.wait(interval):
                store = ref()
                if store is None:
                    return
                store.refresh()
                del store

        threading.Thread(target=loop, name=f"oauth1-proxy token store watcher {self._watch_name()}",
                         daemon=True).start()

    def unwatch(self) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()
            self._watch_stop = None

    def __del__(self) -> None:
        stop = getattr(self, "_watch_stop", None)
        if stop is not None:
            stop.set()


class FileTokenStore(WatchedSnapshot):
    """The YAML store on disk; re-read when the file changes, so a running proxy sees new logins.

    ``get``/``all``/``put``/``delete`` touch the disk (CLI, helper threads).
    ``cached`` never does: the proxy's event loop reads it, and ``watch``
    keeps it fresh from a daemon thread (``refresh``).

    A token that cannot be written (read-only folder, full disk) is kept in
    memory for this process (``_memory_fallback``) and ``put`` raises a
    TokenStoreError saying so; it is used until the file changes or the
    profile is logged out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int, int] | None = None
        self._tokens: dict[str, StoredToken] = {}
        self._memory_fallback: dict[str, StoredToken] = {}
        self._error: TokenStoreError | None = None  # the last refresh's, raised by cached()

    @property
    def target(self) -> Path:
        """The file written: the store itself, or the target of a symlinked store (rule 2)."""
        return Path(os.path.realpath(self.path))

    def _stat_stamp(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise TokenStoreError(f"{self.path}: the token store cannot be read ({e.strerror}).") from e
        return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _read(self) -> tuple[str, tuple[int, int, int, int]] | None:
        """The store's text and stamp, from a regular file only (rule 3); None when there is none."""
        try:
            raw, st = read_regular_file(self.path)
        except FileNotFoundError:
            return None
        except NotARegularFile as e:
            raise TokenStoreError(
                f"{self.path}: the token store cannot be read: {e.strerror}; it was left untouched. Point "
                "token_store in the config at a regular file (or remove that one); a pipe or device is refused "
                "because reading it could wait forever."
            ) from None
        except OSError as e:
            raise TokenStoreError(f"{self.path}: the token store cannot be read ({e.strerror}).") from e
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TokenStoreError(f"{self.path}: the token store is not UTF-8 text; it was left untouched. Fix "
                                  "or move it, then log in again.") from None
        return text, (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self, *, force: bool = False) -> dict[str, StoredToken]:
        """Re-read the store if it changed (always with ``force``); the caller holds ``_lock``."""
        if not force and self._stat_stamp() == self._stamp and self._error is None:
            return self._tokens
        read = self._read()
        stamp = read[1] if read is not None else None
        if stamp != self._stamp:
            # The file changed: a login that could be written (by us or another
            # process) is newer than what could not.
            self._memory_fallback.clear()
        tokens = parse_token_store(read[0], str(self.path)) if read is not None else {}
        self._tokens, self._stamp, self._error = tokens, stamp, None
        return tokens

    def get(self, profile: str) -> StoredToken | None:
        with self._lock:
            tokens = self._refresh()
            return self._memory_fallback.get(profile) or tokens.get(profile)

    def all(self) -> Mapping[str, StoredToken]:
        with self._lock:
            return {**self._refresh(), **self._memory_fallback}

    # --- the event loop's side: a snapshot, never the disk (rule 4) ---------------------------

    def cached(self, profile: str) -> StoredToken | None:
        """The token as last read, without touching the disk; raise the last refresh's error."""
        error = self._error
        if error is not None:
            raise TokenStoreError(str(error))  # a new one: re-raising one object grows its traceback per request
        return self._memory_fallback.get(profile) or self._tokens.get(profile)

    def cached_keys(self) -> tuple[str, ...]:
        """The store's keys as last read, without touching the disk (a profile's accounts, SPEC §11)."""
        return (*self._tokens, *self._memory_fallback)

    def refresh(self) -> None:
        """Re-read the store if it changed, for ``cached``; an error is kept and raised by ``cached``."""
        with self._lock:
            try:
                self._refresh()
            except TokenStoreError as e:
                self._error = e
                self._stamp = None

    def _watch_name(self) -> str:
        return str(self.path)

    # --- writers: read-modify-write under the lock file (rule 1) ------------------------------

    def put(self, profile: str, token: StoredToken) -> None:
        with self._lock:
            # Read first (a corrupt store raises: never overwritten), so a token
            # kept in memory below stays in use until the file changes.
            self._refresh()
            try:
                with self._locked():
                    # _refresh raises on a corrupt store: never overwrite it. Tokens
                    # kept in memory after a failed write are written now too.
                    tokens = {**self._refresh(force=True), **self._memory_fallback, profile: token}
                    self._write(tokens)
            except _Unwritable as e:
                self._memory_fallback[profile] = token
                raise TokenStoreError(
                    f"{e} The new token of profile {profile!r} is kept in memory for this run only (until this "
                    "oauth1-proxy process exits); fix the store, then log in again to keep it."
                ) from e
            self._memory_fallback.clear()

    def delete(self, profile: str) -> None:
        with self._lock:
            self._memory_fallback.pop(profile, None)
            with self._locked():
                tokens = dict(self._refresh(force=True))
                if tokens.pop(profile, None) is not None:
                    self._write(tokens)

    def _locked(self) -> _FileLock:
        return _FileLock(self.target.with_name(self.target.name + ".lock"), self.path)

    def _write(self, tokens: Mapping[str, StoredToken]) -> None:
        text = dump_token_store(tokens).encode("utf-8")
        target = self.target  # rule 2: replace the link's target, not the link
        directory = target.parent
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        except OSError as e:
            raise _Unwritable(
                f"{self.path}: the token store cannot be written ({e.strerror}); make {directory} writable "
                "or set token_store in the config to a writable place."
            ) from e
        try:
            # mkstemp creates the file with mode 0600 already.
            with os.fdopen(fd, "wb") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise _Unwritable(
                f"{self.path}: the token store cannot be written ({e.strerror}); the old store is unchanged."
            ) from e
        self._tokens = dict(tokens)
        self._stamp = self._stat_stamp()
        self._error = None


class _FileLock:
    """An exclusive flock on a lock file beside the store, held while a writer reads, changes and writes."""

    def __init__(self, path: Path, store: Path) -> None:
        self.path, self.store = path, store
        self.fd: int | None = None

    def __enter__(self) -> _FileLock:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise _Unwritable(
                f"{self.store}: the token store cannot be written ({e.strerror}); make {directory} writable "
                "or set token_store in the config to a writable place."
            ) from e
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    os.close(fd)
                    raise _Unwritable(
                        f"{self.store}: the token store is locked by another writer ({self.path}) for more than "
                        f"{LOCK_TIMEOUT:.0f} s; the old store is unchanged. Check for a stuck oauth1-proxy login."
                    ) from e
                time.sleep(0.01)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def _no_stored_token(profile: str) -> StoredToken | None:
    return None


def token_for(
    profile: Profile, store: TokenStore | None, *, login_url: str, login_hint: str = "", cached: bool = False
) -> TokenCredentials | None:
    """The token credentials a profile signs with: policy.token_credentials over a store (SPEC §5).

    ``cached``: read the store's snapshot, never the disk or Redis (the proxy's event loop).
    Raise TokenMissingError when the profile has the dance configured but no token yet.
    """
    from oauth1_proxy.policy import token_credentials  # policy imports this module

    lookup: Callable[[str], StoredToken | None]
    if store is None:
        lookup = _no_stored_token
    elif cached and callable(getattr(store, "cached", None)):  # FileTokenStore, stores.managed's (Snapshotting)
        lookup = store.cached  # type: ignore[attr-defined]
    else:
        lookup = store.get
    return token_credentials(profile, lookup, lambda p: (login_url, login_hint))
