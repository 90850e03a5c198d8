"""The helper's page and status.json show each token's expiry and last renewal (SPEC §11); never the handle."""

from __future__ import annotations

import time

from flask.testing import FlaskClient

from oauth1_proxy.config import ProxyConfig
from oauth1_proxy.lifetimes import format_instant
from oauth1_proxy.tokens import MemoryTokenStore, StoredToken
from oauth1_proxy.web import make_web_app
from tests.test_web import LOCAL, SECRET, TOKEN_SECRET, config  # noqa: F401 (the config fixture)

HANDLE = "web-session-handle-789"


def client_with(config: ProxyConfig, token: StoredToken) -> FlaskClient:  # noqa: F811
    store = MemoryTokenStore({"dance": token})
    return make_web_app(lambda: config, lambda: store).test_client()


def test_web_status_json_shows_expiry_and_renewal_never_the_session_handle(config: ProxyConfig) -> None:  # noqa: F811
    later = format_instant(time.time() + 3600)
    token = StoredToken(token="tok", token_secret=TOKEN_SECRET, obtained_at=format_instant(time.time()),
                        expires_at=later, renewed_at="2026-01-02T04:00:00+00:00", session_handle=HANDLE)
    client = client_with(config, token)
    response = client.get("/status.json", environ_base=LOCAL)
    dance = {p["name"]: p for p in response.get_json()["profiles"]}["dance"]
    assert (dance["logged_in"], dance["expired"], dance["expires_at"], dance["renewed_at"]) == (
        True, False, later, "2026-01-02T04:00:00+00:00")
    page = client.get("/", environ_base=LOCAL).get_data(as_text=True)
    assert f"expires {later}" in page and "renewed 2026-01-02T04:00:00+00:00" in page
    for text in (response.get_data(as_text=True), page):
        for secret in (HANDLE, SECRET, TOKEN_SECRET):
            assert secret not in text


def test_web_status_json_says_an_expired_token_is_expired_not_logged_in(config: ProxyConfig) -> None:  # noqa: F811
    token = StoredToken(token="tok", token_secret=TOKEN_SECRET, obtained_at="2026-01-02T03:04:05+00:00",
                        expires_at="2026-01-02T05:00:00+00:00")
    client = client_with(config, token)
    dance = {p["name"]: p for p in client.get("/status.json", environ_base=LOCAL).get_json()["profiles"]}["dance"]
    assert (dance["logged_in"], dance["expired"], dance["source"]) == (False, True, "token store")
    page = client.get("/", environ_base=LOCAL).get_data(as_text=True)
    assert "expired</span> at 2026-01-02T05:00:00+00:00: log in again" in page
    assert 'id="login-dance"' in page and 'id="logout-dance"' not in page


def test_web_expired_token_with_a_session_handle_says_the_proxy_refreshes_it(config: ProxyConfig) -> None:  # noqa: F811
    token = StoredToken(token="tok", token_secret=TOKEN_SECRET, obtained_at="2026-01-02T03:04:05+00:00",
                        expires_at="2026-01-02T05:00:00+00:00", session_handle=HANDLE)
    client = client_with(config, token)
    dance = {p["name"]: p for p in client.get("/status.json", environ_base=LOCAL).get_json()["profiles"]}["dance"]
    assert dance["expired"] is True and dance["refreshable"] is True
    page = client.get("/", environ_base=LOCAL).get_data(as_text=True)
    assert "refreshed with its session handle at the next request" in page and HANDLE not in page
