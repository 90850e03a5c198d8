"""SPEC §11 accounts and limits end to end: a real ``oauth1-proxy run`` and the provider (its users and
concurrency switches). Every server is on loopback, on an ephemeral port, and stopped by its fixture."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, profile_for, write_config
from .helper_forms import start_login
from .test_token_dance import dance_profile

HELPER = "http://oauth1.proxy"
USERS = [("1001", "alice"), ("1002", "bob")]


@pytest.fixture
def users_provider() -> Any:
    """A plain-http provider with two resource owners, alice and bob, and a concurrency cap of 2 (NetSuite)."""
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                  access_tokens={TOKEN: TOKEN_SECRET}, users=USERS, concurrency_limit=2) as p:
        yield p




def session_through(proxy: Any) -> requests.Session:
    s = requests.Session()
    s.proxies = {"http": proxy.url, "https": proxy.url}
    return s


def log_in_account(s: requests.Session, account: str, user_id: str) -> requests.Response:
    """The helper's login for one account, approved at the provider as one user; the helper's answer."""
    login = start_login(s, f"{HELPER}/login/p?account={account}", account=account)
    assert login.status_code == 303, login.text
    page = s.get(login.headers["Location"], timeout=10)
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert token is not None and f'value="{user_id}"' in page.text
    back = s.post(urljoin(login.headers["Location"], "/oauth/authorize"),
                  data={"oauth_token": token.group(1), "user": user_id}, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith(f"{HELPER}/callback/p?")
    return s.get(back.headers["Location"], timeout=10)


def test_accounts_two_logged_in_the_header_picks_each_and_never_reaches_the_provider(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(users_provider)})
    proxy = run_proxy(config)
    s = session_through(proxy)
    for account, user_id, name in (("a", "1001", "alice"), ("b", "1002", "bob")):
        done = log_in_account(s, account, user_id)
        assert done.status_code == 200 and f"Account <b>{account}</b> of profile <b>p</b>" in done.text
        assert name in done.text
    api = users_provider.base_url
    for account, name in (("a", "alice"), ("b", "bob")):
        me = s.get(f"{api}/api/me", headers={"X-OAuth1-Account": account}, timeout=10)
        assert me.status_code == 200, me.text
        assert me.json()["screen_name"] == name
        # The provider saw that user's token, and no X-OAuth1-Account header.
        record = users_provider.records[-1]
        assert record.valid and users_provider.users.user_of(record.token).screen_name == name
        echo = s.get(f"{api}/api/echo", headers={"X-OAuth1-Account": account}, timeout=10).json()
        assert "x-oauth1-account" not in echo["header_names"]
    # Two accounts, no default_account, no header: the proxy's own refusal, nothing sent.
    before = len(users_provider.records)
    refused = s.get(f"{api}/api/me", timeout=10)
    assert refused.status_code == 400 and refused.headers["Server"] == "oauth1-proxy"
    assert "X-OAuth1-Account" in refused.json()["message"] and 'profile "p"' in refused.json()["message"]
    # An account not logged in: 401 with the login URL of that account.
    unknown = s.get(f"{api}/api/me", headers={"X-OAuth1-Account": "carol"}, timeout=10)
    assert unknown.status_code == 401 and unknown.json()["login_url"] == f"{HELPER}/login/p?account=carol"
    assert len(users_provider.records) == before
    # status.json lists both, never a secret.
    status = s.get(f"{HELPER}/status.json", timeout=10).json()["profiles"][0]
    assert [(a["name"], a["screen_name"]) for a in status["accounts"]] == [("a", "alice"), ("b", "bob")]
    for text in (str(status), proxy.text(), refused.text, unknown.text):
        for secret in (*SECRETS, CONSUMER_SECRET):
            assert secret not in text
    # default_account: a proxy on the same store signs header-less requests as b.
    config2 = write_config(tmp_path / "proxy2.yaml", {"p": dance_profile(users_provider, default_account="b")})
    proxy2 = run_proxy(config2)
    me = session_through(proxy2).get(f"{api}/api/me", timeout=10)
    assert me.status_code == 200 and me.json()["screen_name"] == "bob"


def slow_in_parallel(proxy: Any, url: str, n: int) -> list[requests.Response]:
    results: list[requests.Response] = []
    lock = threading.Lock()

    def one() -> None:
        r = session_through(proxy).get(url, timeout=60)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_limits_max_concurrency_2_the_provider_never_sees_more_than_2_at_once(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(users_provider, max_concurrency=2,
                                                                      queue_timeout=30)})
    proxy = run_proxy(config)
    results = slow_in_parallel(proxy, f"{users_provider.base_url}/api/slow?seconds=1", 6)
    assert [r.status_code for r in results] == [200] * 6, [r.text for r in results]
    assert users_provider.concurrency.max_in_flight == 2
    assert users_provider.concurrency.refused == 0


def test_limits_without_max_concurrency_the_provider_sees_them_all_and_refuses_the_excess(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    # The negative of the test above: the same provider and requests, no limit in the proxy.
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(users_provider)})
    proxy = run_proxy(config)
    results = slow_in_parallel(proxy, f"{users_provider.base_url}/api/slow?seconds=1", 6)
    refused = [r for r in results if r.status_code == 400]
    assert refused and refused[0].json()["error"]["code"] == "SSS_REQUEST_LIMIT_EXCEEDED"
    assert users_provider.concurrency.max_in_flight > 2
    # The proxy's diagnosis of that refusal (diagnostics.py) points at the setting the test above uses.
    assert proxy.wait_for("max_concurrency", timeout=5), proxy.text()


def test_limits_rate_limit_over_a_short_queue_timeout_is_429_with_retry_after_and_not_sent(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(users_provider, rate_limit="2/minute",
                                                                      queue_timeout=1)})
    proxy = run_proxy(config)
    s = session_through(proxy)
    url = f"{users_provider.base_url}/api/echo"
    assert [s.get(url, timeout=10).status_code for _ in range(2)] == [200, 200]
    started = time.monotonic()
    over = s.get(url, timeout=10)
    assert time.monotonic() - started < 1.0  # refused at once: the next slot is a minute away
    assert over.status_code == 429 and over.headers["Server"] == "oauth1-proxy"
    assert 55 <= int(over.headers["Retry-After"]) <= 60
    assert "rate_limit of 2/minute" in over.json()["message"]
    assert len([r for r in users_provider.records if r.endpoint == "resource"]) == 2  # never forwarded


def test_limits_rate_limit_within_queue_timeout_waits_and_sends_each_in_its_slot(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(users_provider, rate_limit="2/second",
                                                                      queue_timeout=10)})
    proxy = run_proxy(config)
    started = time.monotonic()
    results = slow_in_parallel(proxy, f"{users_provider.base_url}/api/echo", 6)
    elapsed = time.monotonic() - started
    assert [r.status_code for r in results] == [200] * 6
    assert elapsed >= 1.9  # 6 at 2 a second: the last pair leaves 2 s after the first


def raw_get(proxy: Any, url: str) -> socket.socket:
    """Send a GET through the proxy on a raw socket and return it unread (to hang up on it)."""
    sock = socket.create_connection((proxy.host, proxy.port), timeout=10)
    sock.sendall(f"GET {url} HTTP/1.1\r\nHost: {url.split('/')[2]}\r\n\r\n".encode())
    return sock


def test_limits_no_slot_leaks_on_client_disconnects_and_upstream_errors(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there: the upstream connection fails
    profile = profile_for(users_provider, max_concurrency=1, queue_timeout=8)
    profile["hosts"] = [*profile["hosts"], f"127.0.0.1:{dead_port}"]  # type: ignore[misc]
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": profile}))
    s = session_through(proxy)
    api = users_provider.base_url
    # 1. An upstream error (connection refused): its slot comes back.
    failed = s.get(f"http://127.0.0.1:{dead_port}/api/echo", timeout=10)
    assert failed.status_code == 502
    # 2. A client that hangs up while its request is at the provider, and one that hangs up while queued.
    in_flight = raw_get(proxy, f"{api}/api/slow?seconds=2")
    time.sleep(0.5)
    queued = raw_get(proxy, f"{api}/api/slow?seconds=0")
    time.sleep(0.3)
    in_flight.close()
    queued.close()
    # 3. Each later request still gets the one slot, one at a time, within queue_timeout.
    for _ in range(3):
        ok = s.get(f"{api}/api/echo", timeout=20)
        assert ok.status_code == 200, ok.text
    # (The provider may have seen 2 at once: the slot of a client that hung up is given back then, while the
    # provider, like a real one, finishes the abandoned request. See notes/acct14.md.)
    assert "internal error" not in proxy.text()


def test_accounts_cli_login_account_then_a_running_proxy_signs_as_that_user(
    tmp_path: Path, users_provider: Provider, run_proxy: Any
) -> None:
    from .test_token_dance import read_authorize_url, run_login

    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(users_provider)})
    proxy = run_proxy(config)
    s = session_through(proxy)
    process = run_login(config, "--oob", "--account", "carol")
    url = read_authorize_url(process, users_provider)
    page = requests.get(url, timeout=10)
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert token is not None
    pin_page = requests.post(urljoin(url, "/oauth/authorize"), data={"oauth_token": token.group(1), "user": "1002"},
                             timeout=10)
    pin = re.search(r'id="pin">([^<]+)<', pin_page.text)
    assert pin, pin_page.text
    out, _ = process.communicate(pin.group(1) + "\n", timeout=30)
    assert process.returncode == 0, out
    assert 'Account "carol" of profile "p" is logged in as bob' in out and "X-OAuth1-Account: carol" in out
    # The only account: used with or without the header.
    for headers in ({"X-OAuth1-Account": "carol"}, {}):
        me = s.get(f"{users_provider.base_url}/api/me", headers=headers, timeout=10)
        assert me.status_code == 200 and me.json()["screen_name"] == "bob"
    for secret in (*SECRETS, CONSUMER_SECRET):
        assert secret not in out
