"""The helper's pages in a real headless browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, write_config
from .test_token_dance import DIRECT, dance_profile

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (make test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def test_helper_login_and_logout_in_a_real_browser(tmp_path: Path, browser: Browser, run_proxy: Any) -> None:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice") as provider:
        config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider)})
        proxy = run_proxy(config)
        assert proxy.wait_for(" direct")
        m = DIRECT.search(proxy.text())
        assert m
        direct = m.group(1)
        page = browser.new_page()
        page.goto(direct)
        assert "not logged in" in page.inner_text("#profile-p .state")
        page.click("#login-p")  # -> request token -> the provider's authorize page
        page.wait_for_selector("#approve")
        assert page.url.startswith(provider.authorize_url)
        page.click("#approve")  # -> callback -> access token
        page.wait_for_selector("#success")
        assert "alice" in page.inner_text("#success")
        page.goto(direct)
        assert re.search(r"logged in as alice since \d{4}-", page.inner_text("#profile-p .state"))
        page.click("#logout-p")
        page.wait_for_load_state()
        assert "not logged in" in page.inner_text("#profile-p .state")
        status = page.goto(f"{direct}status.json")
        assert status is not None and status.json()["profiles"][0]["logged_in"] is False
        content = page.content()
        assert CONSUMER_SECRET not in content


def test_helper_login_url_from_the_401_is_a_page_whose_button_logs_in_through_the_proxy(
    tmp_path: Path, run_proxy: Any
) -> None:
    """The URL the proxy's 401 names (http://oauth1.proxy/login/p), opened in a browser that uses the proxy."""
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice") as provider:
        config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider)})
        proxy = run_proxy(config)
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*FLAGS, f"--proxy-server={proxy.url}"])
            try:
                page = b.new_page()
                page.goto("http://oauth1.proxy/login/p")
                assert not [r for r in provider.records if r.endpoint == "request_token"]  # a GET asks nothing
                page.click("#start-login")
                page.wait_for_selector("#approve")
                page.click("#approve")
                page.wait_for_selector("#success")
                assert "alice" in page.inner_text("#success")
                assert page.url.startswith("http://oauth1.proxy/callback/p?")
            finally:
                b.close()
