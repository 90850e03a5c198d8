"""Token lives end to end (SPEC §11): a real `oauth1-proxy run` in front of the provider's TokenLives switches.

Each feature has its negative: without it, the provider refuses. Hits are
counted at the provider (its records), so "nothing forwarded" is measured
where it matters. Idle limits are a few seconds; every test waits at most ~6 s.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from oauth1_proxy.devtools.provider import Provider, ProviderClient, TokenLives
from oauth1_proxy.lifetimes import format_instant
from oauth1_proxy.tokens import FileTokenStore, StoredToken

from .conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, write_config
from .helper_forms import start_login
from .test_token_dance import dance_profile as profile  # the same dance profile

HELPER = "http://oauth1.proxy"


@pytest.fixture
def lives_provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    """A plain-http, auto-approving provider with the TokenLives switches the test names (a new one each test)."""
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                  access_tokens={TOKEN: TOKEN_SECRET}, auto_approve=True, lives=TokenLives(**request.param)) as p:
        yield p


def lives(**switches: Any) -> Any:
    return pytest.mark.parametrize("lives_provider", [switches], indirect=True, ids=["lives"])




def renewing(provider: Provider, **extra: object) -> dict[str, object]:
    return profile(provider, renew_url=f"{provider.base_url}/oauth/renew_access_token", **extra)


def store_token(tmp_path: Path, **fields: str) -> None:
    """Put the provider's token in the store as a login would have, obtained now (the proxy sees it in 0.25 s)."""
    fields.setdefault("obtained_at", format_instant(time.time()))
    FileTokenStore(tmp_path / "tokens.yaml").put("p", StoredToken(token=TOKEN, token_secret=TOKEN_SECRET, **fields))
    time.sleep(0.6)


def me(proxy: Any, provider: Provider) -> requests.Response:
    return requests.get(f"{provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=20)


def resource_hits(provider: Provider) -> int:
    return sum(1 for r in provider.records if r.endpoint == "resource")


def problem(response: requests.Response) -> str:
    return dict(x.split("=", 1) for x in response.text.split("&") if "=" in x).get("oauth_problem", "")


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- idle inactivation and renew_url ---------------------------------------------------------------------


@lives(idle_timeout=3)
@pytest.mark.parametrize("configured", [True, False], ids=["renews-before-the-idle-limit", "without-renew-url"])
def test_idle_token_is_renewed_before_the_limit_or_else_the_provider_refuses(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any, configured: bool) -> None:
    extra = {"idle_timeout": 3} if configured else {}
    p = renewing(lives_provider, **extra) if configured else profile(lives_provider)
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": p}))
    store_token(tmp_path)
    assert me(proxy, lives_provider).status_code == 200
    time.sleep(3.3)  # past the provider's idle limit
    second = me(proxy, lives_provider)
    assert lives_provider.lives is not None
    if configured:
        assert second.status_code == 200, second.text
        assert lives_provider.lives.renewals == 1
        assert [r.valid for r in lives_provider.records if r.endpoint == "renew"] == [True]
        renewed_at = yaml.safe_load((tmp_path / "tokens.yaml").read_text())["p"]["renewed_at"]
        assert renewed_at.endswith("+00:00")
        assert proxy.wait_for("renewed its token")
    else:
        assert (second.status_code, problem(second)) == (401, "token_rejected")
        assert lives_provider.lives.renewals == 0
    assert_no_secret(proxy.text())


@lives(idle_timeout=3)
def test_inactive_token_is_renewed_once_after_the_providers_refusal_and_the_request_retried(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any) -> None:
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": renewing(lives_provider)}))  # no idle_timeout
    store_token(tmp_path)
    assert me(proxy, lives_provider).status_code == 200
    time.sleep(3.3)
    second = me(proxy, lives_provider)
    assert second.status_code == 200, second.text
    assert lives_provider.lives is not None and lives_provider.lives.renewals == 1
    # The provider saw: the first call, the refused one, the retry.
    assert [(r.valid, r.problem) for r in lives_provider.records if r.endpoint == "resource"] == [
        (True, None), (False, "token_rejected"), (True, None)]


@lives(idle_timeout=3)
def test_renewal_takes_the_upstream_proxy_route_as_the_dance_does(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any, run_mitmdump: Any) -> None:
    second = run_mitmdump()
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": renewing(lives_provider, idle_timeout=3)}),
                      "--mode", f"upstream:{second.url}")
    store_token(tmp_path)
    assert me(proxy, lives_provider).status_code == 200
    time.sleep(2.3)
    assert me(proxy, lives_provider).status_code == 200
    assert lives_provider.lives is not None and lives_provider.lives.renewals == 1
    # The upstream proxy carried the renewal (its flow line names the URL).
    assert second.wait_for("/oauth/renew_access_token"), second.text()


@lives(idle_timeout=3, renew_delay=1.0)
def test_fifty_concurrent_requests_past_the_idle_margin_make_exactly_one_renew_call(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any) -> None:
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": renewing(lives_provider, idle_timeout=3)}))
    store_token(tmp_path)
    assert me(proxy, lives_provider).status_code == 200
    time.sleep(2.3)  # past the proxy's renewal point (3 s - 1 s margin), before the provider's limit
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda _: me(proxy, lives_provider).status_code, range(50)))
    assert answers == [200] * 50
    assert lives_provider.lives is not None and lives_provider.lives.renewals == 1
    assert resource_hits(lives_provider) == 51


# --- expiry: stored expires_at, expires_daily ----------------------------------------------------------------


@lives()
@pytest.mark.parametrize("known", [True, False], ids=["proxy-knows-the-expiry", "expiry-unknown-to-the-proxy"])
def test_expired_token_gets_the_proxys_401_with_login_url_and_nothing_is_forwarded(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any, known: bool) -> None:
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": profile(lives_provider)}))
    expiry = time.time() + 4
    assert lives_provider.lives is not None
    lives_provider.lives.expire_at(expiry)  # the provider's "midnight", a few seconds from now
    store_token(tmp_path, **({"expires_at": format_instant(expiry + 1)} if known else {}))
    assert me(proxy, lives_provider).status_code == 200
    hits = resource_hits(lives_provider)
    time.sleep(max(0.0, expiry + 1.2 - time.time()))
    refused = me(proxy, lives_provider)
    assert refused.status_code == 401
    if known:
        assert refused.headers["Server"] == "oauth1-proxy"
        body = refused.json()
        assert body["error"] == "TokenExpiredError" and body["login_url"] == f"{HELPER}/login/p"
        assert "expired at" in body["message"] and "Log in again" in body["message"]
        assert resource_hits(lives_provider) == hits  # nothing forwarded
    else:
        assert problem(refused) == "token_expired"  # the provider's own refusal
        assert resource_hits(lives_provider) == hits + 1


@lives()
def test_expires_daily_past_since_the_login_refuses_and_check_says_expired(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any) -> None:
    now = time.time()
    # The most recent whole minute at least 60 s ago, as a daily time in UTC; the token was obtained before it.
    daily = int((now - 60) // 60 * 60)
    wall = datetime.fromtimestamp(daily, UTC).strftime("%H:%M")
    config = write_config(tmp_path / "proxy.yaml", {"p": profile(lives_provider, expires_daily=f"{wall} Etc/UTC"),
                                                    "q": profile(lives_provider, expires_daily=f"{wall} Etc/UTC",
                                                                 path_prefix="/public")})
    FileTokenStore(tmp_path / "tokens.yaml").put("p", StoredToken(
        token=TOKEN, token_secret=TOKEN_SECRET, obtained_at=format_instant(daily - 30)))
    FileTokenStore(tmp_path / "tokens.yaml").put("q", StoredToken(
        token=TOKEN, token_secret=TOKEN_SECRET, obtained_at=format_instant(daily + 1)))
    check = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(config)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    lines = {line.split(":")[0].strip(): line for line in check.stdout.splitlines() if line.startswith("  ")}
    assert "expired" in lines["p"] and f"expired {format_instant(daily)}" in lines["p"]
    assert "logged in" in lines["q"] and f"expires {format_instant(daily + 86400)}" in lines["q"]
    proxy = run_proxy(config)
    refused = me(proxy, lives_provider)
    assert refused.status_code == 401 and refused.json()["error"] == "TokenExpiredError"
    assert resource_hits(lives_provider) == 0
    assert_no_secret(check.stdout, check.stderr, proxy.text())


# --- the OAuth Session extension ---------------------------------------------------------------------------


def log_in_through_the_helper(proxy: Any) -> None:
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    login = start_login(s, f"{HELPER}/login/p")
    assert login.status_code == 303, login.text
    back = s.get(login.headers["Location"], allow_redirects=False, timeout=10)  # auto-approved: to the callback
    assert back.status_code == 302, back.text
    done = s.get(back.headers["Location"], timeout=10)
    assert done.status_code == 200 and 'id="success"' in done.text


@lives(session_life=5)
@pytest.mark.parametrize("when", ["before-use", "after-the-providers-refusal", "without-a-handle"])
def test_session_handle_buys_a_new_token_once_and_the_request_goes_through(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any, when: str) -> None:
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": profile(lives_provider)}))
    log_in_through_the_helper(proxy)
    store = tmp_path / "tokens.yaml"
    first = yaml.safe_load(store.read_text())["p"]
    assert first["session_handle"].startswith("sh-") and first["expires_at"]
    assert "oauth_session_handle" not in first and "oauth_expires_in" not in first
    assert me(proxy, lives_provider).status_code == 200
    if when != "before-use":  # the proxy no longer knows when the token dies: only the provider says it
        entry = FileTokenStore(store).get("p")
        assert entry is not None
        handle = "" if when == "without-a-handle" else entry.session_handle
        FileTokenStore(store).put("p", replace(entry, expires_at="", session_handle=handle))
    time.sleep(5.5)
    second = me(proxy, lives_provider)
    assert lives_provider.lives is not None
    if when == "without-a-handle":
        assert (second.status_code, problem(second)) == (401, "token_expired")
        assert lives_provider.lives.refreshes == 0
        return
    assert second.status_code == 200, second.text
    assert lives_provider.lives.refreshes == 1
    now = yaml.safe_load(store.read_text())["p"]
    assert now["token"] != first["token"] and now["session_handle"] != first["session_handle"]
    assert now["renewed_at"] and now["expires_at"] != first["expires_at"]
    refresh = [r for r in lives_provider.records if r.endpoint == "session_refresh"]
    assert [r.valid for r in refresh] == [True]
    assert_no_secret(proxy.text())
    for secret in (first["token_secret"], first["session_handle"], now["token_secret"], now["session_handle"]):
        assert secret not in proxy.text()


@lives(session_life=5)
def test_cli_login_stores_the_session_handle_and_says_when_the_token_expires(
        tmp_path: Path, lives_provider: Provider) -> None:
    import os
    import re

    config = write_config(tmp_path / "proxy.yaml", {"p": profile(lives_provider, callback="oob")})
    process = subprocess.Popen([str(BIN / "oauth1-proxy"), "login", "p", "--config", str(config), "--no-browser",
                                "--oob"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert process.stdout is not None
    url = next(line.strip() for line in process.stdout if line.startswith(lives_provider.authorize_url))
    pin = re.search(r'id="pin">([^<]+)<', requests.get(url, timeout=10).text)  # auto-approved: the PIN page
    assert pin
    out, _ = process.communicate(pin.group(1) + "\n", timeout=30)
    assert process.returncode == 0, out
    assert re.search(r"The token expires \S+ \(in \d s\)\.", out), out
    stored = yaml.safe_load((tmp_path / "tokens.yaml").read_text())["p"]
    assert stored["session_handle"] and stored["session_handle"] not in out and stored["expires_at"]


# --- what /metrics says of token lives (SPEC §12) -----------------------------------------------------------


@lives(idle_timeout=3)
def test_metrics_show_each_tokens_expiry_and_count_renewals(
        tmp_path: Path, lives_provider: Provider, run_proxy: Any) -> None:
    from .test_ops_listener import fetch, ops_url, sample

    config = write_config(tmp_path / "proxy.yaml", {"p": renewing(lives_provider, idle_timeout=3)})
    proxy = run_proxy(config, "--set", "oauth1_ops_listen=127.0.0.1:0")
    expires = int(time.time()) + 3600
    store_token(tmp_path, expires_at=format_instant(expires))
    url = ops_url(proxy)
    status, text = fetch(url + "/metrics")
    assert status == 200
    assert sample(text, "oauth1_proxy_token_expiry_timestamp_seconds", profile="p", account="") == expires
    assert me(proxy, lives_provider).status_code == 200
    time.sleep(2.3)  # past the renewal point (3 s - 1 s margin)
    assert me(proxy, lives_provider).status_code == 200
    assert lives_provider.lives is not None and lives_provider.lives.renewals == 1
    _, text = fetch(url + "/metrics")
    assert sample(text, "oauth1_proxy_token_renewals_total", profile="p", account="", result="ok") == 1
    FileTokenStore(tmp_path / "tokens.yaml").delete("p")  # logged out: its series goes
    time.sleep(0.6)
    _, text = fetch(url + "/metrics")
    assert "oauth1_proxy_token_expiry_timestamp_seconds{" not in text
    assert_no_secret(text)
