"""Two `oauth1-proxy run` instances sharing one Redis token store and one confdir (SPEC §12), for real.

A real redis-server (tests/redis_server.py: 127.0.0.1, an ephemeral port, a
password) and the oauthlib provider; the proxies are the e2e conftest's.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.fernet import Fernet

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.stores.managed import open_token_store
from oauth1_proxy.tokens import StoredToken
from tests.redis_server import ENCODED_PASSWORD, PASSWORD, RedisServer, redis_server, start_redis

from .conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, SECRETS, write_config
from .helper_forms import csrf_from, origin_of
from .test_token_dance import (
    approve_at_provider,
    dance_profile,
    dance_provider,
    read_authorize_url,
    resource_records,
    run_login,
)

__all__ = ["dance_provider", "redis_server"]  # fixtures

HELPER = "http://oauth1.proxy"
PASSWORD_ENV = "OAUTH1_TEST_REDIS_PASSWORD"
KEY_ENV = "OAUTH1_TEST_STORE_KEY"


def redis_config(tmp_path: Path, provider: Provider, port: int, **top: object) -> Path:
    # The password comes from the environment, as a deployment's would (${VAR}), percent-encoded for the URL.
    return write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider)},
                        token_store=f"redis://:${{{PASSWORD_ENV}}}@127.0.0.1:{port}/0", **top)


def through(proxy: Any) -> requests.Session:
    s = requests.Session()
    s.proxies = {"http": proxy.url, "https": proxy.url}
    return s


def raw_tokens(server: RedisServer) -> dict[bytes, bytes]:
    return server.client().hgetall("oauth1-proxy:tokens")  # type: ignore[attr-defined,no-any-return]


def no_password_in(*texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and ENCODED_PASSWORD not in text and "Zq9" not in text


def test_login_started_at_one_instance_completes_at_the_other_and_both_sign(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
    config = redis_config(tmp_path, dance_provider, redis_server.port)
    a, b = run_proxy(config), run_proxy(config)
    api = f"{dance_provider.base_url}/api/me"
    refused = through(a).get(api, timeout=10)
    assert refused.status_code == 401 and refused.json()["login_url"] == f"{HELPER}/login/p"
    # A browser behind a balancer: the login page from B, its button pressed at A, the callback at B.
    browser = through(b)
    page = browser.get(f"{HELPER}/login/p", timeout=10)
    assert page.status_code == 200 and 'id="start-login"' in page.text
    browser.proxies = through(a).proxies
    login = browser.post(f"{HELPER}/login/p", data={"csrf": csrf_from(page)},
                         headers={"Origin": origin_of(f"{HELPER}/login/p")}, allow_redirects=False, timeout=30)
    assert login.status_code == 303, login.text
    back = approve_at_provider(browser, login.headers["Location"])
    assert back.headers["Location"].startswith(f"{HELPER}/callback/p?")
    browser.proxies = through(b).proxies
    done = browser.get(back.headers["Location"], timeout=10)
    assert done.status_code == 200 and 'id="success"' in done.text and "alice" in done.text
    # B stored the token in Redis; both instances sign with it (A within its refresh interval, or by the re-read
    # a miss does off the loop).
    for proxy in (b, a):
        me = through(proxy).get(api, timeout=10)
        assert me.status_code == 200 and me.json()["screen_name"] == "alice"
        assert resource_records(dance_provider)[-1].valid
    assert set(raw_tokens(redis_server)) == {b"p"}
    statuses = [through(p).get(f"{HELPER}/status.json", timeout=10) for p in (a, b)]
    assert all(s.json()["profiles"][0]["logged_in"] is True for s in statuses)
    # The callback is taken once, whichever instance it reaches.
    replay = through(a).get(back.headers["Location"], timeout=10)
    assert replay.status_code in (400, 403) and 'id="success"' not in replay.text
    no_password_in(a.text(), b.text(), done.text, *(s.text for s in statuses),
                   through(a).get(f"{HELPER}/", timeout=10).text)
    for text in (a.text(), b.text(), *(s.text for s in statuses)):
        assert not any(secret in text for secret in SECRETS)


def test_logout_at_one_instance_is_seen_by_the_other(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
    config = redis_config(tmp_path, dance_provider, redis_server.port)
    a, b = run_proxy(config), run_proxy(config)
    browser = through(a)
    page = browser.get(f"{HELPER}/login/p", timeout=10)
    login = browser.post(f"{HELPER}/login/p", data={"csrf": csrf_from(page)},
                         headers={"Origin": HELPER}, allow_redirects=False, timeout=30)
    back = approve_at_provider(browser, login.headers["Location"])
    assert 'id="success"' in browser.get(back.headers["Location"], timeout=10).text
    api = f"{dance_provider.base_url}/api/me"
    assert through(b).get(api, timeout=10).status_code == 200
    index = through(b).get(f"{HELPER}/", timeout=10)
    out = through(b).post(f"{HELPER}/logout/p", data={"csrf": csrf_from(index)}, headers={"Origin": HELPER},
                          allow_redirects=False, timeout=10)
    assert out.status_code in (200, 303), out.text
    assert raw_tokens(redis_server) == {}
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and through(a).get(api, timeout=10).status_code != 401:
        time.sleep(0.1)
    assert through(a).get(api, timeout=10).status_code == 401


def test_sealed_redis_store_raw_value_holds_no_token_secret_and_both_instances_sign(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
    monkeypatch.setenv(KEY_ENV, key)
    config = redis_config(tmp_path, dance_provider, redis_server.port, token_store_key=f"${{{KEY_ENV}}}")
    a, b = run_proxy(config), run_proxy(config)
    browser = through(a)
    page = browser.get(f"{HELPER}/login/p", timeout=10)
    login = browser.post(f"{HELPER}/login/p", data={"csrf": csrf_from(page)}, headers={"Origin": HELPER},
                         allow_redirects=False, timeout=30)
    # The pending login in Redis holds no request token secret in clear either.
    pending = [redis_server.client().get(k)  # type: ignore[attr-defined]
               for k in redis_server.client().keys("oauth1-proxy:pending:*")]  # type: ignore[attr-defined]
    assert len(pending) == 1 and json.loads(pending[0])["secret"].startswith("fernet:")
    back = approve_at_provider(browser, login.headers["Location"])
    browser.proxies = through(b).proxies
    assert 'id="success"' in browser.get(back.headers["Location"], timeout=10).text
    raw = raw_tokens(redis_server)[b"p"]
    entry = json.loads(raw)
    assert entry["token_secret"].startswith("fernet:")
    secret = Fernet(key.encode()).decrypt(entry["token_secret"].removeprefix("fernet:").encode()).decode()
    assert len(secret) >= 16 and secret.encode() not in raw and key.encode() not in raw
    for proxy in (a, b):
        assert through(proxy).get(f"{dance_provider.base_url}/api/me", timeout=10).status_code == 200
    assert resource_records(dance_provider)[-1].valid  # signed with the secret the sealed value holds
    for text in (a.text(), b.text()):
        assert secret not in text and key not in text


def test_redis_down_refuses_signing_and_the_helper_says_so_without_the_password(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
    with start_redis(tmp_path / "redis") as server:
        port = server.port
    config = redis_config(tmp_path, dance_provider, port)  # nothing listens there now
    proxy = run_proxy(config)
    refused = through(proxy).get(f"{dance_provider.base_url}/api/me", timeout=20)
    assert refused.status_code >= 500 and "cannot be reached" in refused.text
    assert not resource_records(dance_provider)  # nothing left unsigned
    status = through(proxy).get(f"{HELPER}/status.json", timeout=20)
    assert status.status_code == 500 and "cannot be reached" in status.text
    check = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(config)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 1 and "cannot be reached" in check.stderr and "Traceback" not in check.stderr
    no_password_in(refused.text, status.text, proxy.text(), check.stdout, check.stderr)
    assert "Traceback" not in proxy.text() and f"redis://:***@127.0.0.1:{port}/0" in proxy.text()


def test_check_names_the_redis_store_redacted(
    tmp_path: Path, dance_provider: Provider, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
    config = redis_config(tmp_path, dance_provider, redis_server.port)
    check = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(config)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert f"token store redis://:***@127.0.0.1:{redis_server.port}/0" in check.stdout
    no_password_in(check.stdout, check.stderr)


def test_token_replaced_through_the_store_is_used_by_a_running_instance_within_the_refresh_interval(
    tmp_path: Path, run_proxy: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A renewal made elsewhere (another instance, a CLI login) replaces the token in Redis: an instance that
    # already signs with the old one switches within its refresh interval (tokens.WATCH_INTERVAL, 0.25 s).
    tokens = {"tok-old": "sec-old-Very-Secret", "tok-new": "sec-new-Very-Secret"}
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], access_tokens=tokens) as p:
        monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
        config = redis_config(tmp_path, p, redis_server.port)
        writer = open_token_store(redis_server.url)
        writer.put("p", StoredToken(token="tok-old", token_secret=tokens["tok-old"]))
        proxy = run_proxy(config)
        session = through(proxy)
        assert session.get(f"{p.base_url}/api/me", timeout=10).status_code == 200
        assert resource_records(p)[-1].token == "tok-old"
        writer.put("p", StoredToken(token="tok-new", token_secret=tokens["tok-new"]))
        replaced = time.monotonic()
        while True:
            assert session.get(f"{p.base_url}/api/me", timeout=10).status_code == 200
            if resource_records(p)[-1].token == "tok-new":
                break
            assert time.monotonic() - replaced < 2.0, "the running instance kept the old token"
            time.sleep(0.02)
        assert all(r.valid for r in resource_records(p))
        assert not any(t in proxy.text() for t in tokens.values())


def test_cli_login_stores_into_redis_and_a_running_instance_signs_with_it(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
    config = redis_config(tmp_path, dance_provider, redis_server.port)
    proxy = run_proxy(config)
    api = f"{dance_provider.base_url}/api/me"
    assert through(proxy).get(api, timeout=10).status_code == 401
    process = run_login(config, "--oob")
    url = read_authorize_url(process, dance_provider)
    pin_page = approve_at_provider(requests.Session(), url)
    pin = pin_page.text.split('id="pin">', 1)[1].split("<", 1)[0]
    out, _ = process.communicate(pin + "\n", timeout=30)
    assert process.returncode == 0 and "logged in as alice" in out, out
    assert f"token stored in redis://:***@127.0.0.1:{redis_server.port}/0" in out
    no_password_in(out)
    assert set(raw_tokens(redis_server)) == {b"p"}
    assert through(proxy).get(api, timeout=10).status_code == 200


def test_two_instances_past_the_idle_margin_make_one_renew_call_and_both_use_the_renewed_token(
    tmp_path: Path, run_proxy: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # SPEC §12: "a renewal made by one is used by all". 50 requests, split between two instances sharing one
    # Redis, arrive past the renewal point: the store's renewal lease lets one instance call the provider.
    from concurrent.futures import ThreadPoolExecutor

    from oauth1_proxy.devtools.provider import TokenLives
    from oauth1_proxy.lifetimes import format_instant

    token, secret = "tok-idle", "sec-idle-Very-Secret"
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], access_tokens={token: secret},
                  lives=TokenLives(idle_timeout=3, renew_delay=1.0)) as p:
        monkeypatch.setenv(PASSWORD_ENV, ENCODED_PASSWORD)
        profile = {**dance_profile(p), "renew_url": f"{p.base_url}/oauth/renew_access_token", "idle_timeout": 3}
        config = write_config(tmp_path / "proxy.yaml", {"p": profile},
                              token_store=f"redis://:${{{PASSWORD_ENV}}}@127.0.0.1:{redis_server.port}/0")
        a, b = run_proxy(config), run_proxy(config)
        # Logged in now (after the start-ups, which take longer than the renewal margin); seen within 0.25 s.
        open_token_store(redis_server.url).put("p", StoredToken(token=token, token_secret=secret,
                                                                obtained_at=format_instant(time.time())))
        time.sleep(0.6)
        sessions = [through(a), through(b)]
        for s in sessions:
            assert s.get(f"{p.base_url}/api/me", timeout=10).status_code == 200
        time.sleep(2.3)  # past the proxies' renewal point (3 s - 1 s margin), before the provider's limit
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda i: sessions[i % 2].get(f"{p.base_url}/api/me", timeout=30).status_code,
                                    range(50)))
        assert answers == [200] * 50
        assert p.lives is not None and p.lives.renewals == 1, a.text() + "\n-----\n" + b.text()
        assert all(r.valid for r in resource_records(p))
        renewed = open_token_store(redis_server.url).get("p")
        assert renewed is not None and renewed.renewed_at
        for proxy in (a, b):
            assert secret not in proxy.text()
