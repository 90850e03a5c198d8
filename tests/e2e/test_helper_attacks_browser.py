"""Hostile pages against the helper, in real headless chromium (issue 12 part 2, SPEC §10).

The attacker is a browser page: a DNS-rebinding page (chromium's
``--host-resolver-rules`` maps attacker.test to 127.0.0.1, and the first
document of the attacker's origin is served by the attacker, the rest by
our listener), a sandboxed iframe or a 307 that makes a POST carry
``Origin: null``, images that GET the login URL, a form of another site,
and a login callback of the attacker's own. The helper's own flows (oob PIN
page, reverse mode opened as localhost) run in the same browser.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, sync_playwright

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from tests.e2e.helper_forms import start_login

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, profile_for, write_config
from .test_helper_browser import CHROMIUM, FLAGS
from .test_token_dance import DIRECT, approve_at_provider, dance_profile

HELPER = "http://oauth1.proxy"
EVIL = "attacker.test"
Launch = Callable[..., Browser]


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Start chromium with extra flags (a proxy, host resolver rules); every browser is closed after the test."""
    assert Path(CHROMIUM).exists(), "Debian's chromium is required (make test installs it)"
    with sync_playwright() as p:
        browsers: list[Browser] = []

        def start(*extra: str) -> Browser:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*FLAGS, *extra])
            browsers.append(b)
            return b

        try:
            yield start
        finally:
            for b in browsers:
                b.close()


class AttackerSite:
    """The attacker's web server on loopback: pages by path, and /bounce (a 307 to ?to=URL)."""

    def __init__(self, pages: dict[str, str]) -> None:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = site.pages.get(self.path.partition("?")[0], "").encode()
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                to = self.path.partition("?to=")[2]
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(307)
                self.send_header("Location", to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.pages = pages
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker() -> Iterator[Callable[[dict[str, str]], AttackerSite]]:
    sites: list[AttackerSite] = []

    def start(pages: dict[str, str]) -> AttackerSite:
        sites.append(AttackerSite(pages))
        return sites[-1]

    yield start
    for s in sites:
        s.close()


@pytest.fixture
def dance_provider() -> Iterator[Provider]:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice",
                  user_id="42") as p:
        yield p


def stored(tmp_path: Path) -> dict[str, Any]:
    import yaml

    path = tmp_path / "tokens.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def dance_calls(provider: Provider) -> list[str]:
    return [r.endpoint for r in provider.records if r.endpoint in ("request_token", "access_token")]


def logged_in_proxy(tmp_path: Path, provider: Provider, run_proxy: Any, **extra: object) -> Any:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider, **extra)})
    proxy = run_proxy(config)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    login = start_login(s, f"{HELPER}/login/p")
    assert s.get(approve_at_provider(s, login.headers["Location"]).headers["Location"], timeout=10).status_code == 200
    assert "p" in stored(tmp_path)
    return proxy


def direct_url(proxy: Any) -> str:
    assert proxy.wait_for(" direct")
    m = DIRECT.search(proxy.text())
    assert m
    return str(m.group(1))


REBINDING_SCRIPT = """async () => {
  const out = {};
  for (const [name, path, init] of [["status", "/status.json", {}], ["index", "/", {}], ["loginPage", "/login/p", {}],
      ["logout", "/logout/p", {method: "POST", body: new URLSearchParams({csrf: "x"})}],
      ["login", "/login/p", {method: "POST", body: new URLSearchParams({csrf: "x"})}],
      ["verify", "/verify/p", {method: "POST", body: new URLSearchParams({csrf: "x", oauth_token: "t", pin: "1"})}],
      ["api", "/api/me", {}], ["reverseStatus", "/_oauth1/status.json", {}]]) {
    try { const r = await fetch(path, init); out[name] = [r.status, await r.text()]; }
    catch (e) { out[name] = [0, String(e)]; }
  }
  return out;
}"""


def rebinding_page(browser: Browser, port: int) -> Page:
    """A page of origin http://attacker.test:PORT after the rebinding: its script talks to our listener on PORT.

    The resolver rule sends attacker.test to 127.0.0.1, as the attacker's DNS
    does once the page is loaded. The attacker's script runs in that origin
    (page.evaluate); every request it makes reaches our listener with the
    Host attacker.test:PORT, same-origin for the browser, so it could read
    every answer. (The document is loaded from the loopback address itself:
    chromium's Local Network Access checks would block a page served from a
    public address first; browsers without them, and this test, do not
    count on them.)
    """
    page = browser.new_page()
    page.goto(f"http://{EVIL}:{port}/evil.html")
    return page


def test_browser_rebinding_page_reads_nothing_from_the_direct_helper_and_cannot_act(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, launch: Launch
) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    port = int(direct_url(proxy).rstrip("/").rpartition(":")[2])
    browser = launch(f"--host-resolver-rules=MAP {EVIL} 127.0.0.1")
    before = dance_calls(dance_provider)
    out = rebinding_page(browser, port).evaluate(REBINDING_SCRIPT)
    for name in ("status", "index", "loginPage", "logout", "login", "verify"):
        status, body = out[name]
        assert status == 421, (name, out[name])
        assert "alice" not in body and "csrf" not in body
    assert "p" in stored(tmp_path)  # not logged out
    assert dance_calls(dance_provider) == before  # no request token with oauth_callback=http://attacker.test:...


def test_browser_rebinding_page_cannot_use_the_reverse_proxy(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, launch: Launch
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(http_provider)})
    proxy = run_proxy(config, "--mode", f"reverse:{http_provider.base_url}")
    browser = launch(f"--host-resolver-rules=MAP {EVIL} 127.0.0.1")
    out = rebinding_page(browser, proxy.port).evaluate(REBINDING_SCRIPT)
    for name in ("api", "reverseStatus"):
        assert out[name][0] == 421, out[name]
    assert http_provider.records == []  # nothing was signed or sent upstream
    # The same page under the listener's own name works (the user's own page).
    own = browser.new_page()
    answer = own.goto(f"http://127.0.0.1:{proxy.port}/api/me")
    assert answer is not None and answer.status == 200
    assert http_provider.records[-1].valid


def through_proxy(launch: Launch, proxy: Any) -> Browser:
    # Chromium sends loopback addresses direct (the attacker's site, the provider), oauth1.proxy to the proxy.
    return launch(f"--proxy-server={proxy.url}")


def test_browser_sandboxed_iframe_and_307_logout_with_origin_null_are_refused(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, launch: Launch, attacker: Any
) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    frame = ('<form method="post" action="http://oauth1.proxy/logout/p"><input name="csrf" value="x"></form>'
             "<script>document.forms[0].submit()</script>")
    site = attacker({
        "/iframe.html": f'<iframe sandbox="allow-forms allow-scripts" srcdoc="{html.escape(frame)}"></iframe>',
        "/bounce.html": ('<form method="post" action="/bounce?to=http://oauth1.proxy/logout/p">'
                         '<input name="csrf" value="x"></form><script>document.forms[0].submit()</script>'),
    })
    browser = through_proxy(launch, proxy)
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{site.port}/iframe.html")
    assert proxy.wait_for("refused POST /logout/p from Origin 'null'", timeout=10), proxy.text()
    assert "p" in stored(tmp_path)
    count = proxy.text().count("from Origin 'null'")
    page.goto(f"http://127.0.0.1:{site.port}/bounce.html")
    page.wait_for_url(f"{HELPER}/logout/p")
    assert "Forbidden" in page.content()
    assert proxy.text().count("from Origin 'null'") == count + 1  # the redirected POST carried Origin: null
    assert "p" in stored(tmp_path)


def test_browser_twenty_images_of_the_login_url_make_no_provider_call(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, launch: Launch, attacker: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    site = attacker({"/imgs.html": "".join(f'<img src="http://oauth1.proxy/login/p?{i}">' for i in range(20))})
    page = through_proxy(launch, proxy).new_page()
    page.goto(f"http://127.0.0.1:{site.port}/imgs.html", wait_until="load")
    assert dance_calls(dance_provider) == []


def test_browser_cross_site_form_cannot_start_a_login(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, launch: Launch, attacker: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    site = attacker({"/form.html": ('<form method="post" action="http://oauth1.proxy/login/p"></form>'
                                    "<script>document.forms[0].submit()</script>")})
    page = through_proxy(launch, proxy).new_page()
    page.goto(f"http://127.0.0.1:{site.port}/form.html")
    page.wait_for_url(f"{HELPER}/login/p")
    assert "Forbidden" in page.content()
    assert dance_calls(dance_provider) == []


def test_browser_callback_of_the_attackers_login_completes_nothing(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, launch: Launch, attacker: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    mallory = requests.Session()  # the attacker's own browser: starts a login, approves as themselves
    mallory.proxies = {"http": proxy.url}
    callback = approve_at_provider(mallory, start_login(mallory, f"{HELPER}/login/p").headers["Location"])
    url = callback.headers["Location"]
    site = attacker({"/go.html": f'<script>location = {url!r}</script>'})
    page = through_proxy(launch, proxy).new_page()  # the user's browser, sent there by the attacker's page
    page.goto(f"http://127.0.0.1:{site.port}/go.html")
    page.wait_for_url(re.compile(r"http://oauth1\.proxy/callback/p\?"))
    page.wait_for_selector("#error")
    assert "another browser" in page.inner_text("#error")
    assert stored(tmp_path) == {} and "access_token" not in dance_calls(dance_provider)


def test_browser_oob_login_takes_the_pin_in_the_helper_page(
    tmp_path: Path, run_proxy: Any, launch: Launch
) -> None:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice") as provider:
        config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider, callback="oob")})
        proxy = run_proxy(config)
        direct = direct_url(proxy)
        page = launch().new_page()
        page.goto(direct)
        page.click("#login-p")  # POST with the page's token -> request token (oob) -> the PIN page
        page.wait_for_selector("#pin")
        assert "--oob" not in page.content()
        with page.context.expect_page() as popup_info:
            page.click("#authorize")  # the provider's page opens in a new tab
        popup = popup_info.value
        popup.wait_for_selector("#approve")
        popup.click("#approve")
        popup.wait_for_selector("#pin")
        pin = popup.inner_text("#pin").strip()
        page.fill("#pin", pin)
        page.click("#submit-pin")
        page.wait_for_selector("#success")
        assert "alice" in page.inner_text("#success")
        assert stored(tmp_path)["p"]["screen_name"] == "alice"
        assert requests.get(f"{provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=10).status_code == 200


def test_browser_reverse_mode_opened_as_localhost_logs_in_and_out(
    tmp_path: Path, run_proxy: Any, launch: Launch
) -> None:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice") as provider:
        config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider)})
        proxy = run_proxy(config, "--mode", f"reverse:{provider.base_url}")
        helper = f"http://localhost:{proxy.port}/_oauth1/"
        page = launch().new_page()
        page.goto(helper)
        page.click("#login-p")
        page.wait_for_selector("#approve")
        page.click("#approve")
        page.wait_for_selector("#success")
        assert page.url.startswith(f"http://localhost:{proxy.port}/_oauth1/callback/p?")
        page.goto(helper)
        page.click("#logout-p")
        page.wait_for_load_state()
        assert "not logged in" in page.inner_text("#profile-p .state")
        assert "p" not in stored(tmp_path)
