"""``${file:PATH}`` in the config: a secret read from a file (Docker and Kubernetes secrets, SPEC §12).

Rules:
1. The value is the whole file, with one trailing newline (``\\n`` or ``\\r\\n``) stripped: what
   ``echo SECRET > file`` and ``kubectl create secret --from-file`` leave. Nothing else is trimmed, and
   the content is never expanded again (a ``${VAR}`` inside a secret is part of the secret).
2. Only a regular file of at most ``MAX_SECRET_BYTES`` is read, in UTF-8; a FIFO or a device is refused
   before any read (opened non-blocking, then fstat on the descriptor).
3. An error names the path, what is wrong and the fix: never a byte of the content.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

FILE_PREFIX = "file:"
MAX_SECRET_BYTES = 64 * 1024


class SecretFileError(ValueError):
    """A ``${file:PATH}`` that cannot be used; its message names the path and the fix, never the content."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def secret_path(reference: str, base_dir: Path) -> Path:
    """The file a ``file:PATH`` reference names; a relative PATH starts at the config file's folder."""
    text = reference.removeprefix(FILE_PREFIX)
    if not text.strip():
        raise SecretFileError("'${file:}' names no file; write ${file:/run/secrets/NAME}.")
    path = Path(text).expanduser()
    return path if path.is_absolute() else base_dir / path


def read_secret_file(path: Path, limit: int = MAX_SECRET_BYTES) -> str:
    """The secret in ``path`` (rule 1), or a SecretFileError saying why it cannot be read (rules 2, 3)."""
    shown = f"${{file:{path}}}"
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise SecretFileError(f"{shown}: the file does not exist; mount the secret there (a Docker or Kubernetes "
                              "secret), or correct the path.") from None
    except OSError as e:
        if e.errno == errno.EACCES:
            raise SecretFileError(f"{shown}: the file cannot be read (permission denied); make it readable by the "
                                  "user the proxy runs as (e.g. the secret volume's defaultMode or fsGroup).") from None
        raise SecretFileError(f"{shown}: the file cannot be read ({e.strerror}); check the path.") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SecretFileError(f"{shown}: it is {_kind(st.st_mode)}, not a regular file; name the file that "
                                  "holds the secret (a pipe or device is refused: reading it could wait forever).")
        if st.st_size > limit:
            raise SecretFileError(f"{shown}: the file has {st.st_size} bytes, more than the {limit} a secret may "
                                  "have; name the file that holds only the secret.")
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, 1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as e:
        raise SecretFileError(f"{shown}: the file cannot be read ({e.strerror}); check the file.") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew after the fstat
        raise SecretFileError(f"{shown}: the file has more than the {limit} bytes a secret may have; name the "
                              "file that holds only the secret.")
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"{shown}: the file is not UTF-8 text; write the secret as text (a binary key goes "
                              "in private_key_file).") from None
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")
