"""Dance variants (SPEC §11) through the real ``oauth1-proxy login`` and ``run`` against the test provider with
E*TRADE's quirks: GET-only token endpoints (405 to POST), oauth_callback_confirmed=false, key=/token= authorize."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from playwright.sync_api import Browser, sync_playwright

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.devtools.provider.quirks import DanceQuirks

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, SECRETS, write_config
from .test_helper_browser import CHROMIUM, FLAGS
from .test_token_dance import DIRECT, run_login

PATHS = ("/oauth/request_token", "/e/t/etws/authorize", "/oauth/access_token")
QUIRKS = DanceQuirks(token_get_only=True, callback_unconfirmed=True, key_token_authorize=True)


@pytest.fixture
def etrade_like() -> Any:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], auto_approve=True,
                  screen_name="trader", dance_paths=PATHS, quirks=QUIRKS) as p:
        yield p


def variant_profile(provider: Provider, **extra: object) -> dict[str, object]:
    """E*TRADE's settings, as the etrade preset has them, for a provider on loopback."""
    return {
        "hosts": [f"{provider.host}:{provider.port}"],
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "callback": "oob",
        "token_method": "GET",
        "require_callback_confirmed": False,
        "request_token_lifetime": 300,
        "request_token_url": provider.request_token_url,
        "authorize_url": f"{provider.base_url}{PATHS[1]}?key={{consumer_key}}&token={{oauth_token}}",
        "access_token_url": provider.access_token_url,
        **extra,
    }


def authorize_line(process: Any, provider: Provider) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(f"{provider.base_url}{PATHS[1]}"):
            return str(line.strip())
    raise AssertionError("no authorize URL was printed")


def test_cli_login_etrade_variants_then_run_signs(tmp_path: Path, etrade_like: Provider, run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": variant_profile(etrade_like)})
    process = run_login(config)
    url = authorize_line(process, etrade_like)
    assert re.fullmatch(rf"{re.escape(etrade_like.base_url)}/e/t/etws/authorize\?key={CONSUMER_KEY}&token=[\w-]+",
                        url), url
    pin = re.search(r'id="pin">([^<]+)<', requests.get(url, timeout=10).text)
    assert pin
    out, _ = process.communicate(pin.group(1) + "\n", timeout=30)
    assert process.returncode == 0, out
    assert "logged in as trader" in out
    assert yaml.safe_load((tmp_path / "tokens.yaml").read_text())["p"]["screen_name"] == "trader"
    assert [(r.endpoint, r.method, r.valid) for r in etrade_like.records] == [
        ("request_token", "GET", True), ("access_token", "GET", True)]
    proxy = run_proxy(config)
    reply = requests.get(f"{etrade_like.base_url}/api/me", proxies={"http": proxy.url}, timeout=10)
    assert reply.status_code == 200 and reply.json()["screen_name"] == "trader"
    for secret in SECRETS:
        assert secret not in out and secret not in proxy.text()


def test_cli_login_posting_to_get_only_endpoints_fails_naming_token_method(
    tmp_path: Path, etrade_like: Provider
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": variant_profile(etrade_like, token_method="POST")})
    process = run_login(config)
    out, _ = process.communicate("", timeout=30)
    assert process.returncode == 1, out
    assert "request token: the provider answered 405" in out and "set token_method: GET on the profile" in out
    assert "Traceback" not in out and not (tmp_path / "tokens.yaml").exists()
    assert etrade_like.records == []


def test_cli_login_callback_unconfirmed_without_the_setting_fails_clearly(
    tmp_path: Path, etrade_like: Provider
) -> None:
    profile = variant_profile(etrade_like, require_callback_confirmed=True)
    process = run_login(write_config(tmp_path / "proxy.yaml", {"p": profile}))
    out, _ = process.communicate("", timeout=30)
    assert process.returncode == 1, out
    assert "did not send oauth_callback_confirmed=true" in out and "require_callback_confirmed: false" in out
    assert "Traceback" not in out


def test_cli_login_rfc_authorize_url_is_refused_by_a_key_token_provider(tmp_path: Path, etrade_like: Provider) -> None:
    profile = variant_profile(etrade_like, authorize_url=f"{etrade_like.base_url}{PATHS[1]}")
    process = run_login(write_config(tmp_path / "proxy.yaml", {"p": profile}))
    url = authorize_line(process, etrade_like)
    assert "?oauth_token=" in url
    page = requests.get(url, timeout=10)
    assert page.status_code == 400 and "Unknown request token" in page.text  # no PIN to give
    process.kill()
    process.communicate(timeout=10)


@pytest.fixture
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (make test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def test_helper_etrade_variants_pin_login_in_a_real_browser(tmp_path: Path, chromium: Browser,
                                                            run_proxy: Any) -> None:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="trader",
                  dance_paths=PATHS, quirks=QUIRKS) as provider:
        proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"p": variant_profile(provider)}))
        assert proxy.wait_for(" direct")
        m = DIRECT.search(proxy.text())
        assert m
        helper = chromium.new_page()
        helper.goto(m.group(1))
        helper.click("#login-p")  # -> GET request token (unconfirmed callback) -> the helper's PIN page
        helper.wait_for_selector("#authorize")
        authorize = helper.get_attribute("#authorize", "href")
        assert authorize is not None
        assert authorize.startswith(f"{provider.base_url}{PATHS[1]}?key={CONSUMER_KEY}&token=")
        at_provider = chromium.new_page()  # the link opens a new tab
        at_provider.goto(authorize)
        at_provider.click("#approve")
        at_provider.wait_for_selector("#pin")
        pin = at_provider.inner_text("#pin")
        helper.fill("#pin", pin)
        helper.click("#submit-pin")  # -> GET access token
        helper.wait_for_selector("#success")
        assert "trader" in helper.inner_text("#success")
        assert [(r.endpoint, r.method, r.valid) for r in provider.records] == [
            ("request_token", "GET", True), ("access_token", "GET", True)]
        assert CONSUMER_SECRET not in helper.content()
