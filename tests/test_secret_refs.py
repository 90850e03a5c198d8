"""``${file:PATH}`` secrets (secret_refs.py, SPEC §12): the reader, then the config and `oauth1-proxy check`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oauth1_proxy.secret_refs import MAX_SECRET_BYTES, SecretFileError, read_secret_file, secret_path

SECRET = "file-Secret-Value-&=%"


@pytest.mark.parametrize(("content", "expected"), [
    (SECRET, SECRET), (SECRET + "\n", SECRET), (SECRET + "\r\n", SECRET), (SECRET + "\n\n", SECRET + "\n"),
    (" " + SECRET + " \n", " " + SECRET + " "), ("", ""), ("\n", ""), ("${HOME}\n", "${HOME}"),
], ids=["bare", "newline", "crlf", "two-newlines", "spaces-kept", "empty", "only-newline", "no-expansion"])
def test_read_secret_file_strips_one_trailing_newline_only(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "secret"
    path.write_bytes(content.encode())
    assert read_secret_file(path) == expected


def test_read_secret_file_missing_names_the_path_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match=r"\$\{file:.*/absent\}: the file does not exist; mount the secret"):
        read_secret_file(tmp_path / "absent")


def test_read_secret_file_unreadable_names_the_path_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text(SECRET)
    path.chmod(0o600 if os.geteuid() == 0 else 0)
    tmp_path.chmod(0o755)
    # As root (CI), read as nobody in a child process: the file of mode 0600 is root's.
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                read_secret_file(path)
            except SecretFileError as e:
                code = 0 if "cannot be read (permission denied); make it readable" in str(e) and SECRET not in str(e) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_read_secret_file_folder_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SecretFileError, match="it is a folder, not a regular file"):
        read_secret_file(tmp_path)


def test_read_secret_file_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(SecretFileError, match=r"a named pipe \(FIFO\), not a regular file"):
        read_secret_file(fifo)


def test_read_secret_file_too_large_is_refused_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_text(SECRET * (MAX_SECRET_BYTES // len(SECRET) + 1))
    with pytest.raises(SecretFileError, match=f"more than the {MAX_SECRET_BYTES} a secret may have") as e:
        read_secret_file(path)
    assert SECRET not in str(e.value)


def test_read_secret_file_not_utf8_is_refused_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "bin"
    path.write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(SecretFileError, match="is not UTF-8 text") as e:
        read_secret_file(path)
    assert SECRET not in str(e.value)


def test_secret_path_relative_starts_at_the_config_folder(tmp_path: Path) -> None:
    assert secret_path("file:secrets/key", tmp_path) == tmp_path / "secrets" / "key"
    assert secret_path("file:/run/secrets/key", tmp_path) == Path("/run/secrets/key")


def test_secret_path_empty_is_refused_with_an_example() -> None:
    with pytest.raises(SecretFileError, match=r"names no file; write \$\{file:/run/secrets/NAME\}"):
        secret_path("file:", Path("."))
