"""``oauth1-proxy status`` and ``oauth1-proxy logout`` (SPEC §13): states in policy.login_state's words, accounts,
expiry, exit 0, never a secret; logout forgets one token through the store's locked writer."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from oauth1_proxy.cli import main
from oauth1_proxy.tokens import FileTokenStore

from .e2e.conftest import _PlainDumper

DANCE = {
    "request_token_url": "https://api.example.com/oauth/request_token",
    "authorize_url": "https://api.example.com/oauth/authorize",
    "access_token_url": "https://api.example.com/oauth/access_token",
}
SECRETS = ("status-consumer-secret", "status-token-secret", "status-bob-secret", "status-static-secret",
           "status-old-secret")
def _instant(offset: float) -> str:
    return datetime.fromtimestamp(time.time() + offset, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


STORE = {
    "api": {"token": "api-token", "token_secret": "status-token-secret", "obtained_at": "2026-12-01T10:00:00Z",
            "screen_name": "alice", "expires_at": _instant(86400), "renewed_at": "2026-12-01T12:00:00Z"},
    "api@bob": {"token": "bob-token", "token_secret": "status-bob-secret", "obtained_at": "2026-11-30T09:00:00Z"},
    "api@old": {"token": "old-token", "token_secret": "status-old-secret", "obtained_at": "2026-11-30T09:00:00Z",
                "expires_at": _instant(-3600)},
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    base = {"consumer_key": "k", "consumer_secret": "status-consumer-secret"}
    data = {
        "token_store": str(tmp_path / "tokens.yaml"),
        "profiles": {
            "api": {"hosts": ["api.example.com"], **base, **DANCE},
            "fresh": {"hosts": ["fresh.example.com"], **base, **DANCE},
            "partner": {"hosts": ["partner.example.com"], **base},
            "static": {"hosts": ["static.example.com"], **base, "token": "t", "token_secret": "status-static-secret"},
        },
    }
    path = tmp_path / "proxy.yaml"
    path.write_text(yaml.dump(data, Dumper=_PlainDumper, sort_keys=False))
    path.chmod(0o600)
    store = tmp_path / "tokens.yaml"
    store.write_text(yaml.safe_dump(STORE))
    store.chmod(0o600)
    return path


def test_status_shows_every_profile_account_state_since_and_expiry(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert f"oauth1-proxy: config {config} (from --config)" in err
    assert "  api: api.example.com / (HMAC-SHA1)\n" in out
    assert re.search(r"\n    logged in since 2026-12-01T10:00:00Z as alice; expires \S+ \(in 2[34] h( \d+ min)?\), "
                     r"renewed 2026-12-01T12:00:00\+00:00\n", out), out
    assert "    account bob: logged in since 2026-11-30T09:00:00Z; no known expiry\n" in out
    assert re.search(r"\n    account old: expired since 2026-11-30T09:00:00Z; expired \S+ "
                     rf"\(oauth1-proxy login api --account old --config {re.escape(str(config))}\)\n", out), out
    assert f"    not logged in (oauth1-proxy login fresh --config {config})\n" in out
    assert "    consumer-only (two-legged)\n" in out
    assert "    static token\n" in out
    assert not any(s in out + err for s in SECRETS)


def test_status_not_logged_in_is_still_exit_0_and_names_login(tmp_path: Path, config: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tokens.yaml").unlink()
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"    not logged in (oauth1-proxy login api --config {config})\n" in out


def test_logout_forgets_that_account_only(tmp_path: Path, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logout", "api", "--account", "bob", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "api (account bob): logged out; its token is forgotten" in out and "The provider was not told" in out
    tokens = FileTokenStore(tmp_path / "tokens.yaml").all()
    assert set(tokens) == {"api", "api@old"} and tokens["api"].token_secret == "status-token-secret"
    assert main(["logout", "api", "--config", str(config)]) == 0
    assert set(FileTokenStore(tmp_path / "tokens.yaml").all()) == {"api@old"}
    assert main(["logout", "api", "--config", str(config)]) == 0
    assert "api: not logged in; nothing to forget." in capsys.readouterr().out


def test_logout_of_a_static_or_consumer_only_profile_says_there_is_nothing_stored(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logout", "static", "--config", str(config)]) == 1
    assert "signs with the static token" in capsys.readouterr().out
    assert main(["logout", "partner", "--config", str(config)]) == 1
    assert "consumer-only (two-legged); it has no token to forget." in capsys.readouterr().out


def test_logout_unknown_profile_or_bad_account_is_a_clear_message(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logout", "nope", "--config", str(config)]) == 2
    assert "there is no profile 'nope' in" in capsys.readouterr().err
    assert main(["logout", "api", "--account", "a/b", "--config", str(config)]) == 2
    assert "--account: the account name 'a/b' may only use letters" in capsys.readouterr().err


def test_logout_waits_for_the_store_lock(tmp_path: Path, config: Path) -> None:
    # A login (or the proxy's helper) writing the store holds its lock file: logout waits, then writes.
    lock = os.open(tmp_path / "tokens.yaml.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    process = subprocess.Popen([sys.executable, "-m", "oauth1_proxy.cli", "logout", "api", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    try:
        assert process.poll() is None, process.communicate()
        assert "api" in FileTokenStore(tmp_path / "tokens.yaml").all()
    finally:
        os.close(lock)  # releases the flock
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert set(FileTokenStore(tmp_path / "tokens.yaml").all()) == {"api@bob", "api@old"}


def test_status_and_logout_without_config_name_the_places(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    for verb in (["status"], ["logout", "api"]):
        result = subprocess.run([sys.executable, "-m", "oauth1_proxy.cli", *verb], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert "none of these exists: $OAUTH1_PROXY_CONFIG, ./oauth1-proxy.yaml" in result.stderr
