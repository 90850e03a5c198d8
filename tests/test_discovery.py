"""Config discovery when --config is left out (SPEC §13): the order, the line on stderr, the message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oauth1_proxy.discovery import find_config
from oauth1_proxy.errors import UsageError

CONFIG = "profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: k\n    consumer_secret: s\n"


@pytest.fixture
def places(tmp_path: Path) -> tuple[Path, Path, Path]:
    cwd, home = tmp_path / "work", tmp_path / "home"
    cwd.mkdir()
    (home / ".config" / "oauth1-proxy").mkdir(parents=True)
    return cwd, home, tmp_path / "named.yaml"


def test_find_config_given_wins_over_everything(places: tuple[Path, Path, Path]) -> None:
    cwd, home, named = places
    named.write_text(CONFIG)
    (cwd / "oauth1-proxy.yaml").write_text(CONFIG)
    found = find_config("x.yaml", env={"OAUTH1_PROXY_CONFIG": str(named)}, cwd=cwd, home=home)
    assert (found.path, found.source) == (Path("x.yaml"), "--config")


def test_find_config_order_is_env_then_cwd_then_home(places: tuple[Path, Path, Path]) -> None:
    cwd, home, named = places
    user = home / ".config" / "oauth1-proxy" / "config.yaml"
    user.write_text(CONFIG)
    assert find_config(None, env={}, cwd=cwd, home=home).path == user
    (cwd / "oauth1-proxy.yaml").write_text(CONFIG)
    assert find_config(None, env={}, cwd=cwd, home=home).path == cwd / "oauth1-proxy.yaml"
    named.write_text(CONFIG)
    found = find_config(None, env={"OAUTH1_PROXY_CONFIG": str(named)}, cwd=cwd, home=home)
    assert (found.path, found.source) == (named, "$OAUTH1_PROXY_CONFIG")
    assert found.describe() == f"oauth1-proxy: config {named} (from $OAUTH1_PROXY_CONFIG)"


def test_find_config_env_naming_a_missing_file_is_an_error_not_a_fall_through(
    places: tuple[Path, Path, Path],
) -> None:
    cwd, home, named = places
    (cwd / "oauth1-proxy.yaml").write_text(CONFIG)
    with pytest.raises(UsageError, match=r"\$OAUTH1_PROXY_CONFIG names '.*named.yaml', which is not a file"):
        find_config(None, env={"OAUTH1_PROXY_CONFIG": str(named)}, cwd=cwd, home=home)


def test_find_config_none_found_lists_the_three_places_and_init(places: tuple[Path, Path, Path]) -> None:
    cwd, home, _ = places
    with pytest.raises(UsageError) as e:
        find_config(None, env={}, cwd=cwd, home=home)
    message = str(e.value)
    for place in ("$OAUTH1_PROXY_CONFIG", "./oauth1-proxy.yaml", str(home / ".config/oauth1-proxy/config.yaml"),
                  "oauth1-proxy init"):
        assert place in message


def _cli(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "oauth1_proxy.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_check_without_config_uses_the_discovered_file_and_says_so(places: tuple[Path, Path, Path]) -> None:
    cwd, home, _ = places
    (cwd / "oauth1-proxy.yaml").write_text(CONFIG)
    (cwd / "oauth1-proxy.yaml").chmod(0o600)
    result = _cli(["check"], cwd, home)
    assert result.returncode == 0, result.stderr
    assert f"oauth1-proxy: config {cwd / 'oauth1-proxy.yaml'} (from ./oauth1-proxy.yaml)" in result.stderr
    assert "OK, 1 profile(s)" in result.stdout


def test_cli_every_config_verb_without_any_config_names_the_places(places: tuple[Path, Path, Path]) -> None:
    cwd, home, _ = places
    for verb in (["check"], ["sign", "https://api.example.com/"], ["login", "api"], ["run"],
                 ["exec", "--", "true"]):  # status, logout: test_cli_status.py
        result = _cli(verb, cwd, home)
        assert result.returncode == 2, (verb, result.stderr)
        assert "none of these exists: $OAUTH1_PROXY_CONFIG, ./oauth1-proxy.yaml" in result.stderr, verb
        assert "oauth1-proxy init" in result.stderr and "Traceback" not in result.stderr
