"""The helper app (web.py) through Flask's test client: loopback only, no secrets, safe state changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from oauth1_proxy.config import ProxyConfig, load_config
from oauth1_proxy.tokens import MemoryTokenStore, StoredToken
from oauth1_proxy.web import PendingLogins, is_loopback, make_web_app

SECRET = "web-consumer-secret-123"
TOKEN_SECRET = "web-token-secret-456"


@pytest.fixture
def config(tmp_path: Path) -> ProxyConfig:
    path = tmp_path / "c.yaml"
    path.write_text(f"""
profiles:
  dance:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: {SECRET}
    request_token_url: https://api.example.com/oauth/request_token
    authorize_url: https://api.example.com/oauth/authorize
    access_token_url: https://api.example.com/oauth/access_token
  twoleg:
    hosts: [partner.example.com]
    consumer_key: ck2
    consumer_secret: {SECRET}
""")
    return load_config(path)


@pytest.fixture
def store() -> MemoryTokenStore:
    return MemoryTokenStore({"dance": StoredToken(token="tok", token_secret=TOKEN_SECRET,
                                                  obtained_at="2026-01-02T03:04:05+00:00",
                                                  extra=(("screen_name", "alice"), ("user_id", "42")))})


@pytest.fixture
def client(config: ProxyConfig, store: MemoryTokenStore) -> FlaskClient:
    app = make_web_app(lambda: config, lambda: store)
    return app.test_client()


LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def test_web_status_json_lists_profiles_and_who_without_secrets(client: FlaskClient) -> None:
    response = client.get("/status.json", environ_base=LOCAL)
    data = response.get_json()
    by_name = {p["name"]: p for p in data["profiles"]}
    assert by_name["dance"]["logged_in"] is True
    assert by_name["dance"]["screen_name"] == "alice"
    assert by_name["dance"]["since"] == "2026-01-02T03:04:05+00:00"
    assert by_name["twoleg"]["logged_in"] is False and by_name["twoleg"]["source"] == "consumer-only"
    for secret in (SECRET, TOKEN_SECRET, "tok\""):
        assert secret not in response.get_data(as_text=True)


def test_web_index_shows_login_and_logout_buttons_without_secrets(client: FlaskClient) -> None:
    page = client.get("/", environ_base=LOCAL).get_data(as_text=True)
    assert 'id="login-dance"' in page and 'id="logout-dance"' in page
    assert 'id="login-twoleg"' not in page
    assert SECRET not in page and TOKEN_SECRET not in page


@pytest.mark.parametrize("address", ["10.0.0.5", "192.168.1.20", "2001:db8::1", ""], ids=str)
def test_web_refuses_non_loopback_clients(client: FlaskClient, address: str) -> None:
    response = client.get("/status.json", environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 403


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"], ids=str)
def test_is_loopback_accepts_loopback_addresses(address: str) -> None:
    assert is_loopback(address)


def test_web_callback_for_unknown_request_token_is_400(client: FlaskClient) -> None:
    response = client.get("/callback/dance?oauth_token=forged&oauth_verifier=v", environ_base=LOCAL)
    assert response.status_code == 400
    assert "Unknown or used request token" in response.get_data(as_text=True)


def test_web_callback_without_verifier_is_400(client: FlaskClient) -> None:
    assert client.get("/callback/dance?oauth_token=x", environ_base=LOCAL).status_code == 400


def test_web_logout_refuses_cross_site_origin(client: FlaskClient, store: MemoryTokenStore) -> None:
    response = client.post("/logout/dance", headers={"Origin": "https://evil.test"}, environ_base=LOCAL)
    assert response.status_code == 403
    assert store.get("dance") is not None


def test_web_logout_refuses_cross_site_fetch_metadata(client: FlaskClient, store: MemoryTokenStore) -> None:
    response = client.post("/logout/dance", headers={"Sec-Fetch-Site": "cross-site"}, environ_base=LOCAL)
    assert response.status_code == 403
    assert store.get("dance") is not None


def test_web_logout_is_post_only(client: FlaskClient, store: MemoryTokenStore) -> None:
    assert client.get("/logout/dance", environ_base=LOCAL).status_code == 405
    assert store.get("dance") is not None


def test_web_logout_same_origin_forgets_token(client: FlaskClient, store: MemoryTokenStore) -> None:
    response = client.post("/logout/dance", headers={"Origin": "http://localhost", "Host": "localhost"},
                           environ_base=LOCAL)
    assert response.status_code == 303
    assert store.get("dance") is None


def test_web_login_unknown_profile_is_404(client: FlaskClient) -> None:
    assert client.get("/login/nope", environ_base=LOCAL).status_code == 404


def test_web_login_profile_without_dance_is_400(client: FlaskClient) -> None:
    assert client.get("/login/twoleg", environ_base=LOCAL).status_code == 400


def test_web_serves_under_reverse_prefix_with_prefixed_links(client: FlaskClient) -> None:
    page = client.get("/_oauth1/", environ_base=LOCAL).get_data(as_text=True)
    assert 'href="/_oauth1/login/dance"' in page
    assert 'action="/_oauth1/logout/dance"' in page


def test_pending_logins_are_taken_once_and_expire() -> None:
    from oauth1_proxy.token_exchange import TemporaryCredentials

    now = [0.0]
    pending = PendingLogins(lifetime=600, clock=lambda: now[0])
    pending.add("p", TemporaryCredentials(token="t1", secret="s"))
    pending.add("p", TemporaryCredentials(token="t2", secret="s"))
    assert pending.take("t1") is not None
    assert pending.take("t1") is None  # once
    now[0] = 601.0
    assert pending.take("t2") is None  # expired
