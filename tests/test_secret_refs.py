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
                said = str(e)
                code = 0 if "cannot be read (permission denied); make it readable" in said and SECRET not in said else 2
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


# --- in the config, and in `oauth1-proxy check` ----------------------------------------------------

CONSUMER = "file-Consumer-Secret-/+"


def write_config(tmp_path: Path, consumer_secret: str, **more: str) -> Path:
    lines = [
        f"token_store: {tmp_path / 'tokens.yaml'}",
        "profiles:",
        "  api:",
        "    hosts: [api.example.com]",
        "    consumer_key: ck",
        f"    consumer_secret: '{consumer_secret}'",
        *(f"    {k}: '{v}'" for k, v in more.items()),
    ]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_config_file_reference_gives_the_files_content(tmp_path: Path) -> None:
    from oauth1_proxy.config import load_config

    (tmp_path / "consumer").write_text(CONSUMER + "\n")
    (tmp_path / "token").write_text("tk\n")
    (tmp_path / "token_secret").write_text("ts")
    config = load_config(write_config(tmp_path, f"${{file:{tmp_path / 'consumer'}}}", token="${file:token}",
                                      token_secret="${file:token_secret}"))
    profile = config.profiles[0]
    assert profile.consumer_secret == CONSUMER
    assert profile.token == "tk" and profile.token_secret == "ts"  # relative: from the config's folder


def test_config_file_reference_beside_a_variable_in_one_value(tmp_path: Path) -> None:
    from oauth1_proxy.config import load_config

    (tmp_path / "half").write_text("second-half\n")
    config = load_config(write_config(tmp_path, "${FIRST}-${file:half}"), env={"FIRST": "first-half"})
    assert config.profiles[0].consumer_secret == "first-half-second-half"


def test_config_missing_file_reference_names_the_key_the_path_and_the_fix(tmp_path: Path) -> None:
    from oauth1_proxy.config import ConfigError, load_config

    with pytest.raises(ConfigError) as e:
        load_config(write_config(tmp_path, "${file:/run/secrets/absent-consumer-secret}"))
    assert str(e.value).count("\n") == 0
    assert "config.yaml:6: profiles.api.consumer_secret: ${file:/run/secrets/absent-consumer-secret}: the file " \
           "does not exist; mount the secret there" in str(e.value)


def test_config_file_reference_to_a_folder_names_it_and_never_a_secret(tmp_path: Path) -> None:
    from oauth1_proxy.config import ConfigError, load_config

    (tmp_path / "token").write_text(CONSUMER)
    with pytest.raises(ConfigError, match=r"profiles\.api\.consumer_secret: \$\{file:.*\}: it is a folder") as e:
        load_config(write_config(tmp_path, f"${{file:{tmp_path}}}", token="${file:token}"))
    assert CONSUMER not in str(e.value)


def test_config_file_reference_in_parse_config_without_a_reader_is_a_problem(tmp_path: Path) -> None:
    from oauth1_proxy.config import ConfigError, parse_config

    data = {"profiles": {"api": {"hosts": ["api.example.com"], "consumer_key": "ck",
                                 "consumer_secret": "${file:/run/secrets/x}"}}}
    with pytest.raises(ConfigError, match="files are not read here"):
        parse_config(data, str(tmp_path / "config.yaml"))


def test_check_with_a_file_reference_says_ok_and_never_prints_the_secret(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from oauth1_proxy.cli import main

    (tmp_path / "consumer").write_text(CONSUMER + "\n")
    (tmp_path / "consumer").chmod(0o600)
    assert main(["check", "--config", str(write_config(tmp_path, "${file:consumer}"))]) == 0
    out = capsys.readouterr()
    assert "OK, 1 profile(s)" in out.out
    assert CONSUMER not in out.out + out.err


def test_check_with_a_missing_file_reference_exits_1_naming_it(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from oauth1_proxy.cli import main

    code = main(["check", "--config", str(write_config(tmp_path, "${file:secrets/consumer}"))])
    out = capsys.readouterr()
    assert code == 1
    assert f"profiles.api.consumer_secret: ${{file:{tmp_path / 'secrets' / 'consumer'}}}: the file does not " \
           "exist" in out.err + out.out
    assert "Traceback" not in out.err + out.out
