"""``oauth1-proxy web`` (SPEC §13): the signer under mitmweb through our own console script, not ``-s``.

A real ``oauth1-proxy web`` on loopback ports; curl sends PLAINTEXT-signed (the signature is the secrets) and
HMAC-signed requests through it to the HTTPS provider, which verifies each; then mitmweb's own HTTP API is read:
``GET /flows``, each message's ``content.data`` and content view, the curl/raw exports, ``/flows/dump``, and the
HAR export. No secret in any of them, in any encoding (support.leaks), nor in the process's output.
"""

from __future__ import annotations

import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from tests.e2e.conftest import (
    BIN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    TOKEN,
    TOKEN_SECRET,
    RunningProxy,
    profile_for,
    start_proxy,
    write_config,
)

from .support import leaks, plaintext_signature_forms
from .test_mitmweb_leaks import PROXY_LISTENING, Scan, Web, every_view_of, free_port, wait_for_flow

pytestmark = pytest.mark.e2e


def start_web(config: Path, confdir: Path, token: str, web_port: int, *extra: str) -> RunningProxy:
    command = [str(BIN / "oauth1-proxy"), "web", "--config", str(config), "--no-web-open-browser",
               "--listen-port", "0", "--set", f"web_port={web_port}", "--set", f"web_password={token}", *extra]
    proxy = start_proxy(command, confdir)
    assert proxy.wait_for("HTTP(S) proxy listening at", timeout=30), proxy.text()
    m = PROXY_LISTENING.search(proxy.text())
    assert m, proxy.text()
    proxy = replace(proxy, port=int(m.group(1)))
    assert proxy.wait_for("oauth1-proxy: profile", timeout=20), proxy.text()
    return proxy


@pytest.fixture(scope="module")
def web_scan(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> Iterator[tuple[Scan, list[int], str]]:
    tmp = tmp_path_factory.mktemp("web-verb")
    scan = Scan(secrets=[CONSUMER_SECRET, TOKEN_SECRET])
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp / "tls")
    statuses: list[int] = []
    with provider:
        config = write_config(tmp / "proxy.yaml", {
            "plain": profile_for(provider, signature_method="PLAINTEXT", path_prefix="/api/echo/plain"),
            "hmac": profile_for(provider, path_prefix="/api/echo/hmac"),
        })
        config.chmod(0o600)
        token = secrets.token_hex(8)
        web_port = free_port()
        proxy = start_web(config, confdir, token, web_port,
                          "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        try:
            web = Web(f"http://127.0.0.1:{web_port}", token)
            web.get("/")
            base = f"https://{provider.host}:{provider.port}"
            for path in ("/api/echo/plain/a?x=1", "/api/echo/hmac/b?y=2"):
                result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                                         str(proxy.ca_file), "-x", proxy.url, base + path],
                                        capture_output=True, text=True, timeout=60)
                statuses.append(int(result.stdout or 0))
            for path in ("/api/echo/plain/a", "/api/echo/hmac/b"):
                flow = wait_for_flow(web, path, lambda f: "response" in f)
                every_view_of(web, scan, flow, f"mitmweb's views of {path}")
            har = tmp / "web.har"
            web.post("/commands/save.har", {"arguments": ["@all", str(har)]})
            scan.add("save.har", har.read_bytes())
            scan.add("GET /flows", web.get("/flows").content)
        finally:
            proxy.stop()
        scan.add("oauth1-proxy web's output", proxy.text())
        yield scan, statuses, proxy.text()


def test_web_verb_signs_through_mitmweb(web_scan: tuple[Scan, list[int], str]) -> None:
    _, statuses, output = web_scan
    assert statuses == [200, 200], output  # the provider verified both signatures
    assert re.search(r"Web server listening at http://127\.0\.0\.1:\d+/", output), output


def test_web_verb_no_view_of_mitmweb_shows_a_secret(web_scan: tuple[Scan, list[int], str]) -> None:
    scan, _, _ = web_scan
    assert set(scan.outputs) >= {"GET /flows", "save.har", "oauth1-proxy web's output"}
    extra = plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)
    for name, data in scan.outputs.items():
        assert leaks(data, scan.secrets, extra) == [], name
    # The views were not empty: the flows and their (redacted) Authorization are there.
    assert b"/api/echo/plain/a" in scan.outputs["GET /flows"]
    assert b"oauth_signature" in scan.outputs["mitmweb's views of /api/echo/plain/a"]


def test_web_verb_ui_in_chromium_shows_the_flow_without_a_secret(tmp_path: Path, confdir: Path) -> None:
    """mitmweb's own UI in real headless chromium: the flow list and a PLAINTEXT flow's request tab, screenshots
    kept under the test's tmp folder (looked at when this test was written: the request tab shows the
    Authorization header with oauth_signature="REDACTED", the consumer key and token in clear)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.test_helper_browser import CHROMIUM, FLAGS

    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                        access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp_path / "tls")
    with provider:
        config = write_config(tmp_path / "proxy.yaml", {
            "plain": profile_for(provider, signature_method="PLAINTEXT")})
        config.chmod(0o600)
        token, web_port = secrets.token_hex(8), free_port()
        proxy = start_web(config, confdir, token, web_port,
                          "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
        try:
            answer = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert",
                                     str(proxy.ca_file), "-x", proxy.url,
                                     f"https://{provider.host}:{provider.port}/api/echo/ui?x=1"],
                                    capture_output=True, text=True, timeout=60)
            assert answer.stdout == "200", answer.stderr
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 900})
                    page.goto(f"http://127.0.0.1:{web_port}/?token={token}")
                    row = page.get_by_text("/api/echo/ui").first
                    row.wait_for(timeout=30000)
                    page.screenshot(path=str(tmp_path / "mitmweb-flow-list.png"))
                    seen = page.content()
                    row.click()
                    page.get_by_text("Authorization", exact=False).first.wait_for(timeout=30000)
                    page.screenshot(path=str(tmp_path / "mitmweb-request-tab.png"))
                    seen += page.content() + page.inner_text("body")
                finally:
                    browser.close()
        finally:
            proxy.stop()
    assert 'oauth_signature="REDACTED"' in seen  # the request tab shows the Authorization header, redacted
    assert leaks(seen.encode(), [CONSUMER_SECRET, TOKEN_SECRET], plaintext_signature_forms(CONSUMER_SECRET,
                                                                                          TOKEN_SECRET)) == []
    assert (tmp_path / "mitmweb-request-tab.png").stat().st_size > 0
