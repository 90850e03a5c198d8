"""The token dance end to end: helper in a real mitmdump, CLI login, against oauthlib's endpoints."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import yaml

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, SECRETS, write_config
from .helper_forms import log_out, start_login

HELPER = "http://oauth1.proxy"
DIRECT = re.compile(r"(http://127\.0\.0\.1:\d+/) direct")


@pytest.fixture
def dance_provider() -> Any:
    """A plain-http provider whose authorize page waits for a click on Approve."""
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice",
                  user_id="42") as p:
        yield p


def dance_profile(provider: Provider, **extra: object) -> dict[str, object]:
    return {
        "hosts": [f"{provider.host}:{provider.port}"],
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "request_token_url": provider.request_token_url,
        "authorize_url": provider.authorize_url,
        "access_token_url": provider.access_token_url,
        **extra,
    }


def approve_at_provider(session: requests.Session, authorize_url: str) -> requests.Response:
    """Open the provider's authorize page and press Approve (the form POST); return the redirect."""
    page = session.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    assert 'id="approve"' in page.text
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert token is not None
    return session.post(urljoin(authorize_url, "/oauth/authorize"), data={"oauth_token": token.group(1)},
                        allow_redirects=False, timeout=10)


def resource_records(provider: Provider) -> list[Any]:
    return [r for r in provider.records if r.endpoint == "resource"]


def assert_dance_records_valid(provider: Provider) -> None:
    endpoints = [r.endpoint for r in provider.records if r.valid]
    assert "request_token" in endpoints and "access_token" in endpoints
    assert all(r.valid for r in provider.records if r.endpoint in ("request_token", "access_token"))


def test_dance_through_proxy_regular_mode_then_signed_call(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    s = requests.Session()
    s.proxies = {"http": proxy.url, "https": proxy.url}
    # Before the dance: the proxy refuses, naming the login URL.
    refused = s.get(f"{dance_provider.base_url}/api/me", timeout=10)
    assert refused.status_code == 401 and refused.json()["login_url"] == f"{HELPER}/login/p"
    login = start_login(s, f"{HELPER}/login/p")
    assert login.status_code == 303
    assert login.headers["Location"].startswith(dance_provider.authorize_url + "?")
    back = approve_at_provider(s, login.headers["Location"])
    assert back.status_code == 302 and back.headers["Location"].startswith(f"{HELPER}/callback/p?")
    done = s.get(back.headers["Location"], timeout=10)
    assert done.status_code == 200 and 'id="success"' in done.text and "alice" in done.text
    assert_dance_records_valid(dance_provider)
    # The status page and JSON show who is logged in, never a secret.
    status = s.get(f"{HELPER}/status.json", timeout=10).json()
    assert status["profiles"][0]["logged_in"] is True and status["profiles"][0]["screen_name"] == "alice"
    me = s.get(f"{dance_provider.base_url}/api/me", timeout=10)
    assert me.status_code == 200 and me.json()["screen_name"] == "alice"
    assert resource_records(dance_provider)[-1].valid
    store = tmp_path / "tokens.yaml"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert yaml.safe_load(store.read_text())["p"]["screen_name"] == "alice"
    for text in (done.text, str(status), s.get(f"{HELPER}/", timeout=10).text, proxy.text()):
        for secret in SECRETS + (CONSUMER_SECRET,):
            assert secret not in text


def test_dance_reverse_mode_under_oauth1_prefix(tmp_path: Path, dance_provider: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config, "--mode", f"reverse:{dance_provider.base_url}")
    origin = f"http://127.0.0.1:{proxy.port}"
    s = requests.Session()  # a browser talking to the reverse proxy directly
    login = start_login(s, f"{origin}/_oauth1/login/p")
    assert login.status_code == 303, login.text
    back = approve_at_provider(s, login.headers["Location"])
    assert back.headers["Location"].startswith(f"{origin}/_oauth1/callback/p?")
    done = s.get(back.headers["Location"], timeout=10)
    assert 'id="success"' in done.text
    me = s.get(f"{origin}/api/me", timeout=10)
    assert me.status_code == 200, me.text
    assert_dance_records_valid(dance_provider)
    assert resource_records(dance_provider)[-1].valid


def test_dance_from_direct_helper_url_without_the_proxy(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    assert proxy.wait_for(" direct")
    m = DIRECT.search(proxy.text())
    assert m, proxy.text()
    direct = m.group(1)
    s = requests.Session()
    login = start_login(s, f"{direct}login/p")
    back = approve_at_provider(s, login.headers["Location"])
    assert back.headers["Location"].startswith(f"{direct}callback/p?")
    assert 'id="success"' in s.get(back.headers["Location"], timeout=10).text
    # The running proxy now signs with the new token.
    me = requests.get(f"{dance_provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=10)
    assert me.status_code == 200


def test_callback_forged_or_replayed_is_refused(tmp_path: Path, dance_provider: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    forged = s.get(f"{HELPER}/callback/p?oauth_token=forged&oauth_verifier=guess", timeout=10)
    assert forged.status_code == 400 and "Unknown or used request token" in forged.text
    login = start_login(s, f"{HELPER}/login/p")
    back = approve_at_provider(s, login.headers["Location"])
    assert s.get(back.headers["Location"], timeout=10).status_code == 200
    replayed = s.get(back.headers["Location"], timeout=10)
    assert replayed.status_code == 400
    assert not (tmp_path / "tokens.yaml").read_text().count("forged")


def test_logout_forgets_the_token_and_refuses_cross_site_posts(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    login = start_login(s, f"{HELPER}/login/p")
    s.get(approve_at_provider(s, login.headers["Location"]).headers["Location"], timeout=10)
    cross = s.post(f"{HELPER}/logout/p", headers={"Origin": "https://evil.test"}, allow_redirects=False, timeout=10)
    assert cross.status_code == 403
    assert s.get(f"{HELPER}/status.json", timeout=10).json()["profiles"][0]["logged_in"] is True
    null = log_out(s, f"{HELPER}/", "p", Origin="null")  # even with the page's token: a sandboxed iframe
    assert null.status_code == 403
    assert s.get(f"{HELPER}/status.json", timeout=10).json()["profiles"][0]["logged_in"] is True
    out = log_out(s, f"{HELPER}/", "p")
    assert out.status_code == 303
    assert s.get(f"{HELPER}/status.json", timeout=10).json()["profiles"][0]["logged_in"] is False
    assert s.get(f"{dance_provider.base_url}/api/me", timeout=10).status_code == 401


def test_dance_error_at_provider_is_a_page_naming_the_step(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    profile = dance_profile(dance_provider, consumer_secret="wrong-secret")
    config = write_config(tmp_path / "proxy.yaml", {"p": profile})
    proxy = run_proxy(config)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    page = start_login(s, f"{HELPER}/login/p")
    assert page.status_code == 502
    assert "request token" in page.text and "signature_invalid" in page.text
    assert "wrong-secret" not in page.text and "wrong-secret" not in proxy.text()
    assert proxy.wait_for("failed at request token")


def run_login(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(BIN / "oauth1-proxy"), "login", "p", "--config", str(config), "--no-browser", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def read_authorize_url(process: subprocess.Popen[str], provider: Provider) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(provider.authorize_url):
            return line.strip()  # printed on a line of its own
    raise AssertionError("no authorize URL was printed")


def test_cli_login_with_loopback_callback(tmp_path: Path, dance_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    process = run_login(config)
    url = read_authorize_url(process, dance_provider)
    s = requests.Session()
    back = approve_at_provider(s, url)
    assert back.headers["Location"].startswith("http://127.0.0.1:")
    assert s.get(back.headers["Location"], timeout=10).status_code == 200
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out
    assert "logged in as alice" in out
    assert yaml.safe_load((tmp_path / "tokens.yaml").read_text())["p"]["user_id"] == "42"
    assert_dance_records_valid(dance_provider)


def test_cli_login_oob_reads_the_pin_from_stdin(tmp_path: Path, dance_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    process = run_login(config, "--oob")
    url = read_authorize_url(process, dance_provider)
    pin_page = approve_at_provider(requests.Session(), url)
    pin = re.search(r'id="pin">([^<]+)<', pin_page.text)
    assert pin, pin_page.text
    out, _ = process.communicate(pin.group(1) + "\n", timeout=30)
    assert process.returncode == 0, out
    assert "logged in as alice" in out
    assert (tmp_path / "tokens.yaml").exists()


def test_cli_login_wrong_pin_fails_clearly_and_stores_nothing(tmp_path: Path, dance_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    process = run_login(config, "--oob")
    read_authorize_url(process, dance_provider)
    out, _ = process.communicate("not-the-pin\n", timeout=30)
    assert process.returncode == 1
    assert "access token" in out and "Traceback" not in out
    assert not (tmp_path / "tokens.yaml").exists()


def test_running_proxy_picks_up_token_from_cli_login(tmp_path: Path, dance_provider: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    proxies = {"http": proxy.url}
    assert requests.get(f"{dance_provider.base_url}/api/me", proxies=proxies, timeout=10).status_code == 401
    process = run_login(config, "--oob")
    url = read_authorize_url(process, dance_provider)
    pin = re.search(r'id="pin">([^<]+)<', approve_at_provider(requests.Session(), url).text)
    assert pin
    process.communicate(pin.group(1) + "\n", timeout=30)
    assert process.returncode == 0
    assert requests.get(f"{dance_provider.base_url}/api/me", proxies=proxies, timeout=10).status_code == 200


def test_demo_once_walks_through_and_exits_zero(tmp_path: Path) -> None:
    result = subprocess.run([str(BIN / "oauth1-proxy"), "demo", "--once"], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Demo OK." in result.stdout
    assert "signature verified by the provider" in result.stdout


def test_demo_prints_curl_lines_that_each_work(tmp_path: Path) -> None:
    import shlex

    process = subprocess.Popen([str(BIN / "oauth1-proxy"), "demo"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=dict(os.environ, HOME=str(tmp_path),
                                                                             PYTHONUNBUFFERED="1"))
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Serving until Ctrl-C" in line:
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        assert ready.wait(120), "".join(lines)
        curls = [line.strip() for line in lines if line.strip().startswith("curl ")]
        assert len(curls) >= 5
        for line in curls:
            command = shlex.split(line.split("  #", 1)[0])
            result = subprocess.run([*command, "-sS", "-o", "/dev/null", "-w", "%{http_code}"],
                                    capture_output=True, text=True, timeout=30)
            assert result.returncode == 0 and result.stdout == "200", (line, result.stdout, result.stderr)
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_cli_login_upstream_reaches_the_provider_through_that_proxy(
        tmp_path: Path, dance_provider: Provider, run_mitmdump: Any) -> None:
    # SPEC §11: login takes the route run would take in upstream mode; the upstream proxy's own flow lines
    # name both token calls, and the dance still verifies at the provider.
    upstream = run_mitmdump()
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    process = run_login(config, "--oob", "--upstream", upstream.url)
    url = read_authorize_url(process, dance_provider)
    pin_page = approve_at_provider(requests.Session(), url)
    pin = re.search(r'id="pin">([^<]+)<', pin_page.text)
    assert pin, pin_page.text
    out, _ = process.communicate(pin.group(1) + "\n", timeout=30)
    assert process.returncode == 0, out
    assert upstream.wait_for("/oauth/request_token") and upstream.wait_for("/oauth/access_token"), upstream.text()
    assert_dance_records_valid(dance_provider)


def test_cli_login_upstream_not_a_proxy_url_is_refused_naming_it(tmp_path: Path, dance_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    process = run_login(config, "--oob", "--upstream", "proxy.internal:3128")
    out, _ = process.communicate("", timeout=30)
    assert process.returncode != 0
    assert "--upstream 'proxy.internal:3128' is not a proxy URL" in out and "Traceback" not in out
    assert not dance_provider.records
