"""config_lifetimes.py: renew_url, renew_method, idle_timeout, expires_daily; each mistake names line, key, fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oauth1_proxy.config import load_config
from oauth1_proxy.lifetimes import DailyExpiry
from tests.test_config import GOOD_PROFILE, at, problems_of, write


def test_load_config_lifetime_keys_land_on_the_profile(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + """\
    renew_url: https://api.example.com/oauth/renew_access_token
    renew_method: get
    idle_timeout: 7200
    expires_daily: "00:00 America/New_York"
""")
    p = load_config(path, env={}).profiles[0]
    assert (p.renew_url, p.renew_method, p.idle_timeout) == ("https://api.example.com/oauth/renew_access_token",
                                                             "GET", 7200)
    assert p.expires_daily == DailyExpiry(hour=0, minute=0, zone="America/New_York")


def test_load_config_without_lifetime_keys_has_none() -> None:
    from oauth1_proxy.config import parse_config

    p = parse_config({"profiles": {"a": {"hosts": ["h"], "consumer_key": "k", "consumer_secret": "s"}}}, "t.yaml",
                     env={}).profiles[0]
    assert (p.renew_url, p.renew_method, p.idle_timeout, p.expires_daily) == (None, "GET", None, None)


@pytest.mark.parametrize(
    ("line", "key", "message"),
    [
        ('expires_daily: "00:00 America/Nowhere"', "expires_daily",
         "'00:00 America/Nowhere': 'America/Nowhere' is not an IANA time zone; write Area/City, e.g. America/New_York"),
        ('expires_daily: "midnight"', "expires_daily", "'midnight' is not a time and zone; write e.g."),
        ("renew_method: PUT", "renew_method", "'PUT' is not GET or POST; write renew_method: GET"),
        ("idle_timeout: two hours", "idle_timeout", "'two hours' is not a number of seconds"),
        ("idle_timeout: 7200", "idle_timeout", "needs renew_url"),
        ("renew_url: ftp://x", "renew_url", "'ftp://x' is not an http(s) URL"),
    ],
    ids=["unknown-zone", "not-a-time", "bad-method", "idle-not-a-number", "idle-without-renew-url", "bad-url"],
)
def test_load_config_bad_lifetime_value_names_line_key_and_fix(tmp_path: Path, line: str, key: str,
                                                               message: str) -> None:
    path = write(tmp_path, GOOD_PROFILE + f"    {line}\n")
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert re.match(at(path, 6, f"profiles.api.{key}") + re.escape(message), problems[0]), problems[0]


def test_apply_preset_fills_host_in_a_presets_renew_url() -> None:
    from oauth1_proxy.presets import apply_preset

    merged = apply_preset({"renew_url": "https://{host}/oauth/renew_access_token"}, {"hosts": ["apisb.etrade.com"]})
    assert merged["renew_url"] == "https://apisb.etrade.com/oauth/renew_access_token"


def test_check_says_an_expired_token_with_a_session_handle_is_refreshed_not_to_log_in(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from oauth1_proxy.cli import main
    from oauth1_proxy.tokens import FileTokenStore, StoredToken

    path = write(tmp_path, f"""\
token_store: {tmp_path / "tokens.yaml"}
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: cs
    request_token_url: https://api.example.com/rt
    authorize_url: https://api.example.com/a
    access_token_url: https://api.example.com/at
""")
    FileTokenStore(tmp_path / "tokens.yaml").put("api", StoredToken(
        token="t", token_secret="s", obtained_at="2026-01-02T03:04:05+00:00",
        expires_at="2026-01-02T05:00:00+00:00", session_handle="handle-Secret-1"))
    assert main(["check", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "expired (the proxy refreshes it with its session handle at the next request)" in out
    assert "expired 2026-01-02T05:00:00+00:00" in out and "handle-Secret-1" not in out
