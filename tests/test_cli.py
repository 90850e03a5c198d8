"""cli.py: the real `oauth1-proxy` console script in subprocesses (SPEC §3)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "oauth1-proxy"

# Twitter developer documentation, "Creating a signature" (published values).
TWITTER = {
    "consumer_key": "xvz1evFS4wEEPTGEFPHBog",
    "consumer_secret": "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
    "token": "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
    "token_secret": "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
}
TWITTER_URL = "https://api.twitter.com/1.1/statuses/update.json?include_entities=true"
TWITTER_BODY = "status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"
TWITTER_NONCE, TWITTER_TIMESTAMP = "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg", "1318622958"
TWITTER_SIGNATURE = "hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"
TWITTER_BASE_STRING = (
    "POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26"
    "oauth_consumer_key%3Dxvz1evFS4wEEPTGEFPHBog%26oauth_nonce%3D"
    "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg%26oauth_signature_method%3DHMAC-SHA1%26"
    "oauth_timestamp%3D1318622958%26oauth_token%3D"
    "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb%26oauth_version%3D1.0%26status%3D"
    "Hello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521"
)
TWITTER_CONFIG = f"""\
token_store: tokens.yaml
profiles:
  twitter:
    hosts: [api.twitter.com]
    consumer_key: {TWITTER["consumer_key"]}
    consumer_secret: {TWITTER["consumer_secret"]}
    token: {TWITTER["token"]}
    token_secret: {TWITTER["token_secret"]}
"""
PLAIN_CONSUMER_SECRET, PLAIN_TOKEN_SECRET = "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"
PLAINTEXT_CONFIG = f"""\
token_store: tokens.yaml
profiles:
  plain:
    hosts: [api.example.com]
    consumer_key: dpf43f3p2l4k3l03
    consumer_secret: {PLAIN_CONSUMER_SECRET}
    token: nnch734d00sl2jdk
    token_secret: {PLAIN_TOKEN_SECRET}
    signature_method: PLAINTEXT
"""
DANCE_CONFIG = """\
token_store: tokens.yaml
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: cs
    request_token_url: https://api.example.com/oauth/request_token
    authorize_url: https://api.example.com/oauth/authorize
    access_token_url: https://api.example.com/oauth/access_token
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def cli(tmp_path: Path, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp_path / "home")}  # never the real ~/.config/oauth1-proxy
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path
    )


def sign_twitter(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    config = write(tmp_path, TWITTER_CONFIG)
    return cli(
        tmp_path,
        "sign",
        "--config",
        str(config),
        "-X",
        "POST",
        "-d",
        TWITTER_BODY,
        "--nonce",
        TWITTER_NONCE,
        "--timestamp",
        TWITTER_TIMESTAMP,
        TWITTER_URL,
        *extra,
    )


# Each run costs ~0.5 s: runs that several tests read are made once per module.


@pytest.fixture(scope="module")
def twitter_signed(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return sign_twitter(tmp_path_factory.mktemp("sign"))


@pytest.fixture(scope="module")
def twitter_explained(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    return sign_twitter(tmp_path_factory.mktemp("explain"), "--explain")


@pytest.fixture(scope="module")
def checked_good(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    tmp_path = tmp_path_factory.mktemp("check")
    config = write(tmp_path, TWITTER_CONFIG + DANCE_CONFIG.split("profiles:\n")[1])
    return cli(tmp_path, "check", "--config", str(config))


# --- check -------------------------------------------------------------------------------------


def test_check_good_config_exits_0_and_lists_profiles(checked_good: subprocess.CompletedProcess[str]) -> None:
    result = checked_good
    assert result.returncode == 0, result.stderr
    assert "2 profile(s)" in result.stdout
    assert "  twitter: api.twitter.com / HMAC-SHA1 header: static token" in result.stdout
    assert "  api: api.example.com / HMAC-SHA1 header: not logged in (oauth1-proxy login api" in result.stdout


def test_check_good_config_never_prints_a_secret(checked_good: subprocess.CompletedProcess[str]) -> None:
    result = checked_good
    assert TWITTER["consumer_secret"] not in result.stdout + result.stderr
    assert TWITTER["token_secret"] not in result.stdout + result.stderr


HEAD = "profiles:\n  api:\n    hosts: [api.example.com]\n"  # lines 1-3 of each bad config below


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD + "    consumer_key: ck\n    consumer_secert: cs\n",
            ":5: profiles.api.consumer_secert: unknown key",
        ),
        (
            HEAD + "    consumer_key: ck\n    consumer_secret: cs\n    signature_method: HMAC-MD5\n",
            ":6: profiles.api.signature_method: 'HMAC-MD5' is not supported; use one of HMAC-SHA1",
        ),
        (
            HEAD + "    consumer_key: ${NOT_SET_ANYWHERE}\n    consumer_secret: cs\n",
            ":4: profiles.api.consumer_key: the environment variable NOT_SET_ANYWHERE is not set; export",
        ),
        (
            HEAD.replace("[api.example.com]", '["https://api.example.com/"]') + "    consumer_key: ck\n",
            ":3: profiles.api.hosts[0]: 'https://api.example.com/' is not a host",
        ),
        (HEAD + "    consumer_key: a: b\n", ":4: consumer_key: this is not valid YAML"),
        (
            HEAD + "    consumer_key: ck\n    consumer_secret: cs\n    realm: 2024-13-45\n",
            ":6: profiles.api.realm: this value cannot be read",
        ),
    ],
    ids=["misspelt-key", "bad-method", "unset-variable", "bad-host", "invalid-yaml", "impossible-date"],
)
def test_check_bad_config_exits_1_with_the_message_and_no_traceback(
    tmp_path: Path, text: str, message: str
) -> None:
    config = write(tmp_path, text)
    result = cli(tmp_path, "check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}{message}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_check_several_problems_prints_each(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "colour: blue\nprofiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n"
        "    consumer_secret: cs\n    placement: cookie\n",
    )
    result = cli(tmp_path, "check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}:1: colour: unknown key" in result.stderr
    assert f"{config}:7: profiles.api.placement: 'cookie' is not supported" in result.stderr


def test_check_missing_config_file_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    result = cli(tmp_path, "check", "--config", "nowhere.yaml")
    assert result.returncode == 1
    assert "nowhere.yaml: the config file does not exist; check the path" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_corrupt_token_store_exits_1_naming_it(tmp_path: Path) -> None:
    (tmp_path / "tokens.yaml").write_text("api: [unclosed\n")
    result = cli(tmp_path, "check", "--config", str(write(tmp_path, DANCE_CONFIG)))
    assert result.returncode == 1
    assert f"{tmp_path / 'tokens.yaml'}: the token store is not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr


# --- sign ----------------------------------------------------------------------------------------


def test_sign_reproduces_the_twitter_docs_signature(twitter_signed: subprocess.CompletedProcess[str]) -> None:
    result = twitter_signed
    assert result.returncode == 0, result.stderr
    authorization = [line for line in result.stdout.splitlines() if line.startswith("Authorization: ")]
    assert len(authorization) == 1
    assert f'oauth_signature="{TWITTER_SIGNATURE}"' in authorization[0]


def test_sign_prints_request_line_headers_blank_line_body(
    twitter_signed: subprocess.CompletedProcess[str],
) -> None:
    lines = twitter_signed.stdout.splitlines()
    assert lines[0] == f"POST {TWITTER_URL}"
    assert lines[1] == "Content-Type: application/x-www-form-urlencoded"
    assert lines[2].startswith("Authorization: OAuth ")
    assert lines[3:] == ["", TWITTER_BODY]


def test_sign_explain_prints_the_signature_base_string(
    twitter_explained: subprocess.CompletedProcess[str],
) -> None:
    result = twitter_explained
    assert result.returncode == 0
    assert TWITTER_BASE_STRING in result.stdout.splitlines()


def test_sign_never_prints_hmac_secrets(twitter_explained: subprocess.CompletedProcess[str]) -> None:
    result = twitter_explained
    assert TWITTER["consumer_secret"] not in result.stdout
    assert TWITTER["token_secret"] not in result.stdout


def test_sign_without_nonce_uses_a_fresh_one(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    outputs = [
        cli(tmp_path, "sign", "--config", str(config), "https://api.twitter.com/1.1/x.json").stdout
        for _ in range(2)
    ]
    assert outputs[0] != outputs[1]
    assert "oauth_nonce=" in outputs[0]


def test_sign_plaintext_signature_is_masked(tmp_path: Path) -> None:
    config = write(tmp_path, PLAINTEXT_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "https://api.example.com/v1/items")
    assert result.returncode == 0, result.stderr
    assert PLAIN_CONSUMER_SECRET not in result.stdout and PLAIN_TOKEN_SECRET not in result.stdout
    assert 'oauth_signature="***"' in result.stdout


def test_sign_plaintext_signature_shown_with_show_secrets(tmp_path: Path) -> None:
    config = write(tmp_path, PLAINTEXT_CONFIG)
    result = cli(
        tmp_path, "sign", "--config", str(config), "--show-secrets", "https://api.example.com/v1/items"
    )
    assert f'oauth_signature="{PLAIN_CONSUMER_SECRET}%26{PLAIN_TOKEN_SECRET}"' in result.stdout


def test_sign_plaintext_with_empty_secrets_keeps_url_and_body_intact(tmp_path: Path) -> None:
    # The PLAINTEXT signature with two empty secrets is "&": masking it must not
    # touch every "&" of the URL and the body.
    config = write(
        tmp_path, PLAINTEXT_CONFIG.replace(PLAIN_CONSUMER_SECRET, '""').replace(PLAIN_TOKEN_SECRET, '""')
    )
    result = cli(
        tmp_path, "sign", "--config", str(config), "-d", "a=1&b=2", "https://api.example.com/v1?x=1&y=2"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "POST https://api.example.com/v1?x=1&y=2"
    assert lines[-1] == "a=1&b=2"


def test_sign_url_matching_no_profile_exits_non_zero_with_the_fix(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "https://api.example.com/1.1/x.json")
    assert result.returncode != 0
    assert (
        f"no profile in {config} signs https://api.example.com/1.1/x.json" in result.stderr
        and "Check the profile's hosts and path_prefix." in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_sign_not_logged_in_exits_1_with_the_login_command(tmp_path: Path) -> None:
    config = write(tmp_path, DANCE_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "https://api.example.com/v1/items")
    assert result.returncode == 1
    assert 'Profile "api" is not logged in yet' in result.stderr
    assert f"oauth1-proxy login api --config {config}" in result.stderr


def test_sign_relative_url_exits_non_zero_asking_for_an_absolute_url(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "/1.1/x.json")
    assert result.returncode != 0
    assert "is not an absolute http(s) URL; write it as https://host/path." in result.stderr


def test_sign_passes_other_headers_through(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    result = cli(
        tmp_path,
        "sign",
        "--config",
        str(config),
        "-H",
        "Accept: application/json",
        "https://api.twitter.com/1.1/x.json",
    )
    assert "Accept: application/json" in result.stdout.splitlines()


def test_sign_unknown_profile_header_exits_non_zero(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    result = cli(
        tmp_path,
        "sign",
        "--config",
        str(config),
        "-H",
        "X-OAuth1-Profile: nope",
        "https://api.twitter.com/1.1/x.json",
    )
    assert result.returncode != 0
    assert "X-OAuth1-Profile: 'nope' does not sign" in result.stderr


# --- run ---------------------------------------------------------------------------------------


def test_run_bad_config_exits_1_before_starting_mitmproxy(tmp_path: Path) -> None:
    config = write(tmp_path, "profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n")
    result = cli(tmp_path, "run", "--config", str(config), "--listen-port", "0", timeout=15)
    assert result.returncode == 1
    assert f"{config}:2: profiles.api.consumer_secret: is required for HMAC-SHA1" in result.stderr
    assert "listening" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_run_missing_config_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    result = cli(tmp_path, "run", "--config", "nowhere.yaml", timeout=15)
    assert result.returncode == 1
    assert "nowhere.yaml: the config file does not exist" in result.stderr


# --- one policy (issue 13): the drifts between sign/check and the proxy ------------------------


def test_sign_with_clock_skew_adds_it_to_the_timestamp_as_the_proxy_does(tmp_path: Path) -> None:
    import re
    import time

    config = write(tmp_path, TWITTER_CONFIG + "    clock_skew: 3600\n")
    before = int(time.time())
    result = cli(tmp_path, "sign", "--config", str(config), TWITTER_URL)
    after = int(time.time())
    assert result.returncode == 0, result.stderr
    found = re.search(r'oauth_timestamp="(\d+)"', result.stdout)
    assert found is not None, result.stdout
    assert before + 3600 <= int(found.group(1)) <= after + 3600


def test_check_consumer_only_profile_with_a_leftover_token_says_consumer_only(tmp_path: Path) -> None:
    from oauth1_proxy.tokens import StoredToken, dump_token_store

    config = write(tmp_path, "token_store: tokens.yaml\nprofiles:\n  two:\n    hosts: [api.example.com]\n"
                             "    consumer_key: ck\n    consumer_secret: cs\n")
    (tmp_path / "tokens.yaml").write_text(dump_token_store({"two": StoredToken(token="t", token_secret="s")}))
    (tmp_path / "tokens.yaml").chmod(0o600)
    result = cli(tmp_path, "check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "two: api.example.com / HMAC-SHA1 header: consumer-only (two-legged)" in result.stdout
    assert "logged in" not in result.stdout


def test_sign_host_header_naming_another_host_is_refused_as_the_proxy_does(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "-H", "Host: evil.example", TWITTER_URL)
    assert result.returncode == 1
    assert "the Host header 'evil.example' does not match the destination api.twitter.com" in result.stderr
    assert "Traceback" not in result.stderr and "Authorization" not in result.stdout


def test_sign_authorize_page_is_not_signed_as_the_proxy_passes_it(tmp_path: Path) -> None:
    config = write(tmp_path, DANCE_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "https://api.example.com/oauth/authorize?oauth_token=x")
    assert result.returncode == 2
    assert "is the provider's authorize page" in result.stderr and "unsigned (RFC 5849 §2.2)" in result.stderr


def test_sign_removes_a_client_authorization_header_as_the_proxy_does(tmp_path: Path) -> None:
    config = write(tmp_path, TWITTER_CONFIG)
    result = cli(tmp_path, "sign", "--config", str(config), "-H", "Authorization: Basic dXNlcjpwdw==", TWITTER_URL)
    assert result.returncode == 0, result.stderr
    assert "Basic" not in result.stdout and result.stdout.count("Authorization: OAuth ") == 1


def test_check_consumer_only_and_dance_profiles_say_what_the_helper_says(tmp_path: Path) -> None:
    from oauth1_proxy import web
    from oauth1_proxy.config import load_config
    from oauth1_proxy.policy import LoginState, login_state

    config = write(tmp_path, DANCE_CONFIG + "  two:\n    hosts: [b.example.com]\n    consumer_key: ck\n"
                                            "    consumer_secret: cs\n")
    loaded = load_config(config)
    result = cli(tmp_path, "check", "--config", str(config))
    for profile in loaded.profiles:
        state = login_state(profile, None)
        assert f"  {profile.name}: " in result.stdout and str(state) in result.stdout
        shown = web.login_state(profile, None)
        assert shown["logged_in"] is False
        assert shown["source"] == ("consumer-only" if state is LoginState.CONSUMER_ONLY else None)
