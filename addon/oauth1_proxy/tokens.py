"""Token credentials and where they are kept (SPEC §7).

The store is YAML, one mapping per profile: token, token_secret, obtained_at
and what the provider returned besides (user_id, screen_name, ...). It is
written atomically (temp file, fsync, rename) with mode 0600; a corrupt store
is reported and never overwritten.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from .config import Profile
from .errors import TokenMissingError, TokenStoreError
from .signing import TokenCredentials


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredToken:
    """Token credentials of one profile and what the provider said about them."""

    token: str
    token_secret: str = field(repr=False)
    obtained_at: str = ""
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def credentials(self) -> TokenCredentials:
        return TokenCredentials(token=self.token, secret=self.token_secret)

    def to_yaml(self) -> dict[str, str]:
        out = {"token": self.token, "token_secret": self.token_secret, "obtained_at": self.obtained_at}
        out.update(self.extra)
        return out


class TokenStore(Protocol):
    """Where token credentials live between runs."""

    def get(self, profile: str) -> StoredToken | None: ...
    def put(self, profile: str, token: StoredToken) -> None: ...
    def delete(self, profile: str) -> None: ...
    def all(self) -> Mapping[str, StoredToken]: ...


def parse_token_store(text: str, source: str) -> dict[str, StoredToken]:
    """Parse the store's YAML text; raise TokenStoreError naming the problem."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise TokenStoreError(
            f"{source}: the token store is not valid YAML; it was left untouched. Fix or move it, "
            "then log in again."
        ) from e
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
            (str(k), str(v)) for k, v in entry.items() if k not in ("token", "token_secret", "obtained_at")
        )
        out[str(name)] = StoredToken(
            token=entry["token"],
            token_secret=entry["token_secret"],
            obtained_at=str(entry.get("obtained_at", "")),
            extra=extra,
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


class FileTokenStore:
    """The YAML store on disk; re-read when the file changes, so a running proxy sees new logins.

    A token that cannot be written (read-only folder, full disk) is kept in
    memory for this process (``_memory_fallback``) and ``put`` raises a
    TokenStoreError saying so; it is used until the file changes or the
    profile is logged out.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._tokens: dict[str, StoredToken] = {}
        self._memory_fallback: dict[str, StoredToken] = {}

    def _stat_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            raise TokenStoreError(f"{self.path}: the token store cannot be read ({e.strerror}).") from e
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _refresh(self) -> dict[str, StoredToken]:
        stamp = self._stat_stamp()
        if stamp == self._stamp:
            return self._tokens
        # The file changed: a login that could be written (by us or another
        # process) is newer than what could not.
        self._memory_fallback.clear()
        if stamp is None:
            tokens: dict[str, StoredToken] = {}
        else:
            try:
                text = self.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise TokenStoreError(f"{self.path}: the token store cannot be read ({e}).") from e
            tokens = parse_token_store(text, str(self.path))
        self._tokens, self._stamp = tokens, stamp
        return tokens

    def get(self, profile: str) -> StoredToken | None:
        with self._lock:
            tokens = self._refresh()
            return self._memory_fallback.get(profile) or tokens.get(profile)

    def all(self) -> Mapping[str, StoredToken]:
        with self._lock:
            return {**self._refresh(), **self._memory_fallback}

    def put(self, profile: str, token: StoredToken) -> None:
        with self._lock:
            # _refresh raises on a corrupt store: never overwrite it. Tokens
            # kept in memory after a failed write are written now too.
            tokens = {**self._refresh(), **self._memory_fallback, profile: token}
            try:
                self._write(tokens)
            except TokenStoreError as e:
                self._memory_fallback[profile] = token
                raise TokenStoreError(
                    f"{e} The new token of profile {profile!r} is kept in memory for this run only (until this "
                    "oauth1-proxy process exits); fix the store, then log in again to keep it."
                ) from e
            self._memory_fallback.clear()

    def delete(self, profile: str) -> None:
        with self._lock:
            tokens = dict(self._refresh())
            self._memory_fallback.pop(profile, None)
            if tokens.pop(profile, None) is not None:
                self._write(tokens)

    def _write(self, tokens: Mapping[str, StoredToken]) -> None:
        text = dump_token_store(tokens).encode("utf-8")
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as e:
            raise TokenStoreError(
                f"{self.path}: the token store cannot be written ({e.strerror}); make {directory} writable "
                "or set token_store in the config to a writable place."
            ) from e
        try:
            # mkstemp creates the file with mode 0600 already.
            with os.fdopen(fd, "wb") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
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
            raise TokenStoreError(
                f"{self.path}: the token store cannot be written ({e.strerror}); the old store is unchanged."
            ) from e
        self._tokens = dict(tokens)
        self._stamp = self._stat_stamp()


def token_for(
    profile: Profile, store: TokenStore | None, *, login_url: str, login_hint: str = ""
) -> TokenCredentials | None:
    """The token credentials a profile signs with: static ones win, then the store; None for consumer-only.

    Raise TokenMissingError when the profile has the dance configured but no token yet (SPEC §5).
    """
    if profile.token is not None:
        return TokenCredentials(token=profile.token, secret=profile.token_secret or "")
    if not profile.has_dance:
        # Consumer-only (two-legged): no login can store a token for it, and a
        # leftover one (from when it had dance URLs) is not used. The store is
        # not read for every request either (issue 5).
        return None
    stored = store.get(profile.name) if store is not None else None
    if stored is not None:
        return stored.credentials
    if profile.has_dance:
        raise TokenMissingError(
            f'Profile "{profile.name}" is not logged in yet. Open {login_url} to connect it{login_hint}.',
            profile=profile.name,
            login_url=login_url,
        )
    return None
