"""``oauth1-proxy init [--preset NAME] [FILE]`` (SPEC §13): a config that `check` accepts once the variables are
set, mode 0600, ${VAR} for every secret, never over an existing file, the next steps printed."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from oauth1_proxy.cli import main
from oauth1_proxy.config import load_config
from oauth1_proxy.init_templates import PRESET_PROFILES, template
from oauth1_proxy.presets import PRESETS

SECRET_KEYS = ("consumer_secret", "token_secret", "private_key_password")
KEY_PASSWORD = "init-key-password"


def test_init_templates_cover_every_preset() -> None:
    assert set(PRESET_PROFILES) == set(PRESETS)


def _write_key(path: Path, password: str | None) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if path.suffix == ".p12":
        path.write_bytes(pkcs12.serialize_key_and_certificates(
            b"k", key, None, None, serialization.BestAvailableEncryption(password.encode() if password else b"")))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    path.chmod(0o600)


@pytest.mark.parametrize("preset", [None, *sorted(PRESET_PROFILES)], ids=lambda p: p or "generic")
def test_init_then_set_variables_then_check_is_ok(
    preset: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "conf" / "oauth1-proxy.yaml"
    assert main(["init", *(["--preset", preset] if preset else []), str(path)]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    chosen = template(preset)
    # Every secret is a ${VAR} placeholder; the next steps name each variable, check and login.
    for key in SECRET_KEYS:
        for line in re.findall(rf"^\s+{key}: (.*)$", text, re.MULTILINE):
            assert re.fullmatch(r"\$\{[A-Z0-9_]+\}", line.split("#")[0].strip()), (key, line)
    for variable in chosen.variables:
        assert f"export {variable}=..." in out
        monkeypatch.setenv(variable, "x-secret-password" if "PASSWORD" in variable else f"value-of-{variable}")
    assert f"oauth1-proxy check --config {path}" in out
    assert (f"oauth1-proxy login {chosen.profile} --config {path}" in out) == chosen.logs_in
    if chosen.key_file:
        assert f"Put the private key at {path.parent / chosen.key_file}" in out
        _write_key(path.parent / chosen.key_file, "x-secret-password")
    config = load_config(path)
    assert [p.name for p in config.profiles] == [chosen.profile]
    assert config.profiles[0].preset == preset
    assert main(["check", "--config", str(path)]) == 0
    checked = capsys.readouterr()
    assert f"{path}: OK, 1 profile(s)" in checked.out
    assert "warning" not in checked.err  # mode 0600: nothing to warn about
    assert "value-of-" not in checked.out + checked.err and "x-secret-password" not in checked.out + checked.err


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("# my own config\n")
    assert main(["init", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} already exists; init never overwrites a file" in err
    assert path.read_text() == "# my own config\n"


def test_init_never_writes_through_a_symlink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "elsewhere.yaml"
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    assert main(["init", str(link)]) == 2
    assert not target.exists()
    assert "already exists" in capsys.readouterr().err


def test_init_default_path_is_the_user_config_that_every_verb_finds(tmp_path: Path) -> None:
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(home), "PATH": os.environ["PATH"], "TWITTER_CONSUMER_KEY": "k",
           "TWITTER_CONSUMER_SECRET": "s"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "oauth1_proxy.cli", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=60)

    result = cli("init", "--preset", "twitter")
    assert result.returncode == 0, result.stderr
    written = home / ".config" / "oauth1-proxy" / "config.yaml"
    assert f"Wrote {written} (mode 0600)" in result.stdout
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    # Found without --config, so the next steps name none.
    assert "  2. Check it:  oauth1-proxy check\n" in result.stdout
    assert "oauth1-proxy login twitter\n" in result.stdout
    checked = cli("check")
    assert checked.returncode == 0, checked.stderr
    assert f"oauth1-proxy: config {written} (from ~/.config/oauth1-proxy/config.yaml)" in checked.stderr
    assert "twitter (preset twitter)" in checked.stdout and "not logged in" in checked.stdout


def test_init_unknown_preset_lists_the_presets(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["init", "--preset", "nope"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err and "twitter" in err and "netsuite" in err
