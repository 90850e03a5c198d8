"""The CLI's accounts (SPEC §11): check lists them, sign picks one with X-OAuth1-Account, login --account."""

from __future__ import annotations

from pathlib import Path

from oauth1_proxy.tokens import StoredToken, dump_token_store
from tests.test_cli import DANCE_CONFIG, cli, write

ALICE = StoredToken(token="tok-alice", token_secret="sec-alice-Very-Secret", extra=(("screen_name", "alice"),))
BOB = StoredToken(token="tok-bob", token_secret="sec-bob-Very-Secret", extra=(("screen_name", "bob"),))


def with_store(tmp_path: Path, tokens: dict[str, StoredToken], extra: str = "") -> Path:
    config = write(tmp_path, DANCE_CONFIG + extra)
    store = tmp_path / "tokens.yaml"
    store.write_text(dump_token_store(tokens))
    store.chmod(0o600)
    return config


def test_check_lists_each_account_and_marks_the_default(tmp_path: Path) -> None:
    config = with_store(tmp_path, {"api@alice": ALICE, "api@bob": BOB}, "    default_account: bob\n")
    result = cli(tmp_path, "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "api: api.example.com / HMAC-SHA1 header: logged in" in result.stdout
    assert "    account alice: logged in as alice" in result.stdout
    assert "    account bob (default_account): logged in as bob" in result.stdout
    assert "sec-" not in result.stdout + result.stderr


def test_check_several_accounts_without_default_says_requests_must_name_one(tmp_path: Path) -> None:
    config = with_store(tmp_path, {"api@alice": ALICE, "api@bob": BOB})
    result = cli(tmp_path, "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "2 accounts and no default_account: each request names one with X-OAuth1-Account: NAME" in result.stdout


def test_check_default_account_not_logged_in_names_the_login_command_with_account(tmp_path: Path) -> None:
    config = with_store(tmp_path, {"api@alice": ALICE}, "    default_account: bob\n")
    result = cli(tmp_path, "check", "--config", str(config))
    assert f"not logged in (oauth1-proxy login api --account bob --config {config})" in result.stdout


def test_sign_account_header_signs_with_that_account_and_is_removed(tmp_path: Path) -> None:
    config = with_store(tmp_path, {"api@alice": ALICE, "api@bob": BOB})
    result = cli(tmp_path, "sign", "--config", str(config), "-H", "X-OAuth1-Account: bob",
                 "https://api.example.com/v1/me")
    assert result.returncode == 0, result.stderr
    assert 'oauth_token="tok-bob"' in result.stdout
    assert "X-OAuth1-Account" not in result.stdout


def test_sign_several_accounts_without_header_is_refused_naming_the_header(tmp_path: Path) -> None:
    config = with_store(tmp_path, {"api@alice": ALICE, "api@bob": BOB})
    result = cli(tmp_path, "sign", "--config", str(config), "https://api.example.com/v1/me")
    assert result.returncode == 1
    assert "X-OAuth1-Account" in result.stderr and 'profile "api"' in result.stderr
    assert "Traceback" not in result.stderr


def test_login_bad_account_name_exits_1_naming_the_flag_and_the_rule(tmp_path: Path) -> None:
    config = write(tmp_path, DANCE_CONFIG)
    result = cli(tmp_path, "login", "api", "--config", str(config), "--account", "a b")
    assert result.returncode == 1
    assert "--account: the account name 'a b' may only use letters, digits" in result.stderr
    assert "Traceback" not in result.stderr
