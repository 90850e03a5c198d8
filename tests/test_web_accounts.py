"""The helper's accounts (SPEC §11): /login/P?account=N, the forms carry it, the token lands under its key,
status.json and the index list accounts, logout forgets one. CSRF rules unchanged."""

from __future__ import annotations

from flask.testing import FlaskClient

from oauth1_proxy.config import ProxyConfig
from oauth1_proxy.tokens import MemoryTokenStore, StoredToken
from oauth1_proxy.web import make_web_app
from tests import test_web
from tests.test_web import LOCAL, SECRET, TOKEN_SECRET, FakeProvider, csrf_of

config = test_web.config  # the fixtures of tests/test_web.py: a dance profile, a stand-in provider
provider = test_web.provider

ALICE = StoredToken(token="tok-a", token_secret=TOKEN_SECRET, obtained_at="2026-12-01T00:00:00+00:00",
                    extra=(("screen_name", "alice"),))


def app_with(config: ProxyConfig, store: MemoryTokenStore) -> FlaskClient:
    return make_web_app(lambda: config, lambda: store).test_client()


def test_web_login_page_with_account_carries_it_in_the_form(config: ProxyConfig) -> None:
    client = app_with(config, MemoryTokenStore({}))
    text = client.get("/login/dance?account=bob", environ_base=LOCAL).get_data(as_text=True)
    assert '<input type="hidden" name="account" value="bob">' in text and csrf_of(text)
    assert "account <b>bob</b> of profile <b>dance</b>" in text


def test_web_login_page_with_bad_account_is_400_naming_the_rule(config: ProxyConfig) -> None:
    client = app_with(config, MemoryTokenStore({}))
    response = client.get("/login/dance?account=%3Cscript%3E", environ_base=LOCAL)
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "may only use letters, digits" in text and "<script>" not in text


def test_web_login_with_account_stores_the_token_under_that_account(config: ProxyConfig,
                                                                     provider: FakeProvider) -> None:
    store = MemoryTokenStore({"dance": ALICE})
    client = app_with(config, store)
    text = client.get("/login/dance?account=bob", environ_base=LOCAL).get_data(as_text=True)
    started = client.post("/login/dance", data={"csrf": csrf_of(text), "account": "bob"}, environ_base=LOCAL)
    assert started.status_code == 303
    done = client.get("/callback/dance?oauth_token=rt1&oauth_verifier=v1", environ_base=LOCAL)
    assert done.status_code == 200
    assert "Account <b>bob</b> of profile <b>dance</b> is now logged in" in done.get_data(as_text=True)
    assert store.get("dance@bob") is not None and store.get("dance@bob").token == "new"  # type: ignore[union-attr]
    assert store.get("dance") == ALICE  # the unnamed account is untouched


def test_web_login_post_without_the_page_token_is_refused_with_an_account_too(config: ProxyConfig,
                                                                               provider: FakeProvider) -> None:
    client = app_with(config, MemoryTokenStore({}))
    response = client.post("/login/dance", data={"account": "bob"}, environ_base=LOCAL)
    assert response.status_code == 403 and provider.request_token_calls == []


def test_web_status_json_lists_accounts_default_and_whether_one_must_be_named(config: ProxyConfig) -> None:
    store = MemoryTokenStore({"dance@alice": ALICE, "dance@bob": ALICE})
    data = app_with(config, store).get("/status.json", environ_base=LOCAL).get_json()
    dance = next(p for p in data["profiles"] if p["name"] == "dance")
    assert dance["account_required"] is True
    assert [(a["name"], a["logged_in"], a["screen_name"]) for a in dance["accounts"]] == [
        ("alice", True, "alice"), ("bob", True, "alice")]
    text = str(data)
    assert TOKEN_SECRET not in text and SECRET not in text


def test_web_index_shows_each_account_with_its_buttons(config: ProxyConfig) -> None:
    page = app_with(config, MemoryTokenStore({"dance@alice": ALICE})).get("/", environ_base=LOCAL)
    text = page.get_data(as_text=True)
    assert 'id="account-dance-alice"' in text and 'id="logout-dance-alice"' in text
    assert "logged in</span> as alice" in text  # the only account signs requests without the header
    assert TOKEN_SECRET not in text


def test_web_logout_with_account_forgets_only_that_account(config: ProxyConfig) -> None:
    store = MemoryTokenStore({"dance": ALICE, "dance@alice": ALICE})
    client = app_with(config, store)
    token = csrf_of(client.get("/", environ_base=LOCAL).get_data(as_text=True))
    response = client.post("/logout/dance", data={"csrf": token, "account": "alice"}, environ_base=LOCAL)
    assert response.status_code == 303
    assert store.get("dance@alice") is None and store.get("dance") == ALICE
