"""Renewal leases: one holder at a time renews a token, the others use its result (SPEC §12).

``lease(key, seconds)`` on a store returns a held ``Lease`` or None when
another holder has it. Three kinds:

- ``ProcessLeases`` (the memory store): in this process only;
- ``FileLeases`` (the file store): an exclusive ``flock`` on a lease file
  beside the store, so every process on this machine sharing the file
  shares the lease; the kernel drops it when its holder dies;
- the Redis store's (``redis_store.RedisLease``): ``SET NX PX`` with a random
  value, released by a compare-and-delete script, expiring by itself.

A lease is held for at most ``seconds`` in the process kinds as well: past
that, another caller may take it (a stuck renewal does not block renewals
forever).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Protocol


class Lease(Protocol):
    """A held renewal lease; ``release`` (or leaving the ``with`` block) gives it up."""

    key: str

    def release(self) -> None: ...
    def __enter__(self) -> Lease: ...
    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class _LeaseBase:
    key: str

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class _ProcessLease(_LeaseBase):
    def __init__(self, owner: ProcessLeases, key: str, serial: int) -> None:
        self._owner, self.key, self._serial = owner, key, serial

    def release(self) -> None:
        self._owner._release(self.key, self._serial)


class ProcessLeases:
    """Leases held in this process (memory store)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, tuple[int, float]] = {}  # key -> (serial, deadline)
        self._serial = 0

    def lease(self, key: str, seconds: float) -> Lease | None:
        now = time.monotonic()
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[1] > now:
                return None
            self._serial += 1
            self._held[key] = (self._serial, now + seconds)
            return _ProcessLease(self, key, self._serial)

    def _release(self, key: str, serial: int) -> None:
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[0] == serial:  # never another holder's, taken after ours expired
                del self._held[key]


class _FileLease(_LeaseBase):
    def __init__(self, key: str, fd: int, timer: threading.Timer) -> None:
        self.key, self._fd, self._timer = key, fd, timer
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        self._timer.cancel()
        if fd >= 0:
            os.close(fd)  # closing drops the flock


class FileLeases:
    """Leases as flocks on files beside the store (``tokens.yaml.lease-<digest>``), shared by local processes."""

    def __init__(self, store: Path) -> None:
        self.store = store

    def path_for(self, key: str) -> Path:
        target = Path(os.path.realpath(self.store))
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return target.with_name(f"{target.name}.lease-{digest}")

    def lease(self, key: str, seconds: float) -> Lease | None:
        from oauth1_proxy.errors import TokenStoreError

        path = self.path_for(key)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            raise TokenStoreError(f"{self.store}: the renewal lease file {path} cannot be opened ({e.strerror}); "
                                  f"make {path.parent} writable.") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise TokenStoreError(f"{self.store}: the renewal lease file {path} cannot be locked "
                                  f"({e.strerror}).") from None
        # Held at most ``seconds``, as a Redis lease is: the timer releases it.
        timer = threading.Timer(seconds, lambda: lease.release())
        timer.daemon = True
        lease = _FileLease(key, fd, timer)
        timer.start()
        return lease
