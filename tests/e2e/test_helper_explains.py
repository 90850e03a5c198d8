"""The helper page explains this run (SPEC §13): per profile, requests signed and refused (by the proxy, by the
provider), the provider's last refusal with its diagnosis and base-string difference, the learned clock
correction; it refreshes itself without a reload (real headless chromium); no secret on it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, profile_for, write_config
from .test_helper_browser import browser as browser  # the chromium fixture
from .test_token_dance import DIRECT

pytestmark = pytest.mark.e2e
WRONG_SECRET = "explain-wrong-consumer-secret"


@pytest.fixture
def provider() -> Iterator[Provider]:
    # 15 minutes ahead; a signature_invalid answer carries the provider's own base string (Jira-style).
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                  access_tokens={TOKEN: TOKEN_SECRET}, clock_offset=900, report_base_string=True) as p:
        yield p


def by_name(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in status["profiles"]}


def test_helper_explains_counts_refusals_and_clock_and_refreshes_itself(
    tmp_path: Path, provider: Provider, run_proxy: Any, browser: Browser
) -> None:
    dance = {"token": None, "token_secret": None, "request_token_url": provider.request_token_url,
             "authorize_url": provider.authorize_url, "access_token_url": provider.access_token_url}
    config = write_config(tmp_path / "proxy.yaml", {
        "api": profile_for(provider, path_prefix="/api/echo/api"),
        "bad": profile_for(provider, path_prefix="/api/echo/bad", consumer_secret=WRONG_SECRET, clock_skew=900),
        "fresh": profile_for(provider, path_prefix="/api/echo/fresh", **dance),
    })
    proxy = run_proxy(config)
    assert proxy.wait_for(" direct")
    m = DIRECT.search(proxy.text())
    assert m
    direct = m.group(1)
    proxies = {"http": proxy.url}
    base = provider.base_url
    # api: refused for its timestamp, corrected, retried (signed twice); bad: a wrong secret; fresh: not logged in.
    assert requests.get(f"{base}/api/echo/api/a?x=1", proxies=proxies, timeout=40).status_code == 200
    assert requests.get(f"{base}/api/echo/bad/b?y=2", proxies=proxies, timeout=20).status_code == 401
    assert requests.get(f"{base}/api/echo/fresh/c", proxies=proxies, timeout=20).status_code == 401

    status = requests.get(f"{direct}status.json", timeout=10)
    assert status.status_code == 200
    profiles = by_name(status.json())
    api, bad, fresh = profiles["api"]["run"], profiles["bad"]["run"], profiles["fresh"]["run"]
    assert (api["signed"], api["refused_by_provider"]) == (2, 1)
    assert abs(api["learned_clock_offset"] - 900) <= 2  # read from the provider's Date header: to the second
    assert api["last_provider_refusal"]["problem"] == "timestamp_refused"
    assert (bad["signed"], bad["refused_by_provider"], bad["learned_clock_offset"]) == (1, 1, None)
    last = bad["last_provider_refusal"]
    assert last["problem"] == "signature_invalid" and last["status"] == 401
    assert last["request"] == f"GET {provider.host}/api/echo/bad/b"  # no query
    assert "check consumer_secret and token_secret" in last["summary"]
    assert last["base_string_differences"] == [
        "the base strings are identical: check the secrets (consumer_secret, token_secret)"]
    assert (fresh["signed"], fresh["refused_by_proxy"]) == (0, 1)
    assert any(re.fullmatch(r"learned clock correction: \+(89[89]|90[0-2]) s \(the provider's clock against ours\)",
                            line) for line in profiles["api"]["explain"]), profiles["api"]["explain"]

    page = browser.new_page()
    page.goto(direct)
    assert "signed 2, refused by the proxy 0, refused by the provider 1" in page.inner_text("#run-api")
    assert "oauth_problem=signature_invalid" in page.inner_text("#run-bad")
    assert "refused by the proxy 1" in page.inner_text("#run-fresh")
    page.evaluate("window.notReloaded = true")
    assert requests.get(f"{base}/api/echo/api/again", proxies=proxies, timeout=20).status_code == 200
    page.wait_for_function("document.getElementById('run-api').textContent.includes('signed 3,')", timeout=15000)
    assert page.evaluate("window.notReloaded") is True  # the same document: refreshed in place
    time.sleep(0.2)
    seen = page.content() + status.text + requests.get(f"{direct}status.json", timeout=10).text
    for secret in (*SECRETS, WRONG_SECRET):
        assert secret not in seen
    assert not any(s in proxy.text() for s in (*SECRETS, WRONG_SECRET))
