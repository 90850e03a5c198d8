"""Secrets at rest: warn when a file holding secrets is open to other users, like ssh (SPEC §8, issue 6).

``permission_warning`` is pure (a mode in, a message or None out);
``check_permissions`` stats the files. A warning, never an error: the
proxy still starts, as ssh still reads a config file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from .config import ProxyConfig

# Like ssh: any permission for the group or others is too open.
TOO_OPEN = 0o077


def permission_warning(path: str | os.PathLike[str], st_mode: int, what: str) -> str | None:
    """The warning for a file whose mode lets the group or others in, or None when it is private."""
    if not stat.S_ISREG(st_mode) or not st_mode & TOO_OPEN:
        return None
    mode = stat.S_IMODE(st_mode)
    who = "other users" if st_mode & 0o007 else "its group"
    return (f"{path}: permissions {mode:04o} are too open for a {what}: {who} can read or change it. "
            f"Run: chmod 600 {path}")


def check_permissions(files: Iterable[tuple[str | os.PathLike[str], str]]) -> list[str]:
    """Stat each (path, what) and return the warnings; a missing file is not this check's business."""
    warnings: list[str] = []
    seen: set[Path] = set()
    for path, what in files:
        p = Path(path)
        if p in seen:
            continue
        seen.add(p)
        try:
            st = os.stat(p)
        except OSError:
            continue
        warning = permission_warning(p, st.st_mode, what)
        if warning is not None:
            warnings.append(warning)
    return warnings


def secret_files(config: ProxyConfig) -> list[tuple[Path, str]]:
    """The files of a config that hold secrets: the config itself, RSA private keys, the token store."""
    files: list[tuple[Path, str]] = [(config.source, "config file")]
    files += [(p.private_key_file, "private key file") for p in config.profiles if p.private_key_file is not None]
    if isinstance(config.token_store, Path):  # a Redis store has no file here
        files.append((config.token_store, "token store"))
    return files
