"""The helper app (web.py) through Flask's test client: loopback only, no secrets, safe state changes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from oauth1_proxy import web
from oauth1_proxy.config import Profile, ProxyConfig, load_config
from oauth1_proxy.token_exchange import TemporaryCredentials
from oauth1_proxy.tokens import MemoryTokenStore, StoredToken
from oauth1_proxy.web import DIRECT_ENV, ORIGIN_ENV, PendingLogins, is_loopback, make_web_app, normalize_authority

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


def csrf_of(page: str) -> str:
    """The same-origin token embedded in one of the helper's forms."""
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, page
    return m.group(1)


def test_web_logout_same_origin_forgets_token(client: FlaskClient, store: MemoryTokenStore) -> None:
    token = csrf_of(client.get("/", environ_base=LOCAL).get_data(as_text=True))
    response = client.post("/logout/dance", data={"csrf": token},
                           headers={"Origin": "http://localhost", "Host": "localhost"}, environ_base=LOCAL)
    assert response.status_code == 303
    assert store.get("dance") is None


def test_web_login_unknown_profile_is_404(client: FlaskClient) -> None:
    assert client.get("/login/nope", environ_base=LOCAL).status_code == 404


def test_web_login_profile_without_dance_is_400(client: FlaskClient) -> None:
    assert client.get("/login/twoleg", environ_base=LOCAL).status_code == 400


def test_web_serves_under_reverse_prefix_with_prefixed_links(client: FlaskClient) -> None:
    page = client.get("/_oauth1/", environ_base=LOCAL).get_data(as_text=True)
    assert 'action="/_oauth1/login/dance"' in page
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


# --- SPEC §10: the helper is a web page, and the web is hostile (issue 12, part 2) ---

DIRECT_PORT = 8765
DIRECT = {**LOCAL, DIRECT_ENV: DIRECT_PORT}


class FakeProvider:
    """Stands in for transport.py: counts the calls that would reach the provider."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.request_token_calls: list[str] = []  # the oauth_callback of each
        self.access_token_calls: list[tuple[str, str]] = []  # (request token, verifier)
        monkeypatch.setattr(web, "obtain_request_token", self.obtain_request_token)
        monkeypatch.setattr(web, "obtain_access_token", self.obtain_access_token)

    def obtain_request_token(self, profile: Profile, callback: str, **_: Any) -> TemporaryCredentials:
        self.request_token_calls.append(callback)
        return TemporaryCredentials(token=f"rt{len(self.request_token_calls)}", secret="temporary-secret")

    def obtain_access_token(self, profile: Profile, temporary: TemporaryCredentials, verifier: str,
                            **_: Any) -> StoredToken:
        self.access_token_calls.append((temporary.token, verifier))
        return StoredToken(token="new", token_secret=TOKEN_SECRET, obtained_at="2026-12-01T00:00:00+00:00",
                           extra=(("screen_name", "bob"),))


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    return FakeProvider(monkeypatch)


@pytest.mark.parametrize("value, normal", [
    ("127.0.0.1:8765", "127.0.0.1:8765"), ("LOCALHOST.:8765", "localhost:8765"), ("[::1]:8765", "[::1]:8765"),
    ("oauth1.proxy", "oauth1.proxy:80"), ("Oauth1.Proxy:80", "oauth1.proxy:80"),
    ("attacker.test:8765", "attacker.test:8765"),
    ("", None), ("a:b", None), ("a:1:2", None), ("[::1", None), ("a b", None), ("a/b", None), ("a@b", None),
    ("a:0", None), ("a:70000", None), ("a..", None),
], ids=str)
def test_normalize_authority_reads_host_port_or_refuses(value: str, normal: str | None) -> None:
    assert normalize_authority(value) == normal


@pytest.mark.parametrize("host", [f"127.0.0.1:{DIRECT_PORT}", f"localhost:{DIRECT_PORT}", f"[::1]:{DIRECT_PORT}",
                                  f"LocalHost.:{DIRECT_PORT}"], ids=str)
def test_web_direct_listener_own_host_answers(client: FlaskClient, host: str) -> None:
    response = client.get("/status.json", headers={"Host": host}, environ_base=DIRECT)
    assert response.status_code == 200


@pytest.mark.parametrize("host", [f"attacker.test:{DIRECT_PORT}", "attacker.test", "127.0.0.1:9999",
                                  "localhost", "127.0.0.1", "oauth1.proxy", f"127.0.0.1.nip.io:{DIRECT_PORT}", ""],
                         ids=str)
@pytest.mark.parametrize("route", ["/", "/status.json", "/login/dance",
                                   "/callback/dance?oauth_token=a&oauth_verifier=b"])
def test_web_direct_listener_foreign_host_is_421(client: FlaskClient, host: str, route: str) -> None:
    """DNS rebinding: the page's own name in the Host reaches the loopback port; nothing is answered."""
    response = client.get(route, headers={"Host": host}, environ_base=DIRECT)
    assert response.status_code == 421
    assert "alice" not in response.get_data(as_text=True)


def test_web_direct_listener_foreign_host_cannot_log_out(client: FlaskClient, store: MemoryTokenStore) -> None:
    own = {"Host": f"127.0.0.1:{DIRECT_PORT}"}
    token = csrf_of(client.get("/", headers=own, environ_base=DIRECT).get_data(as_text=True))
    evil = f"attacker.test:{DIRECT_PORT}"
    response = client.post("/logout/dance", data={"csrf": token}, headers={"Host": evil, "Origin": f"http://{evil}"},
                           environ_base=DIRECT)
    assert response.status_code == 421
    assert store.get("dance") is not None


def test_web_direct_listener_foreign_host_never_builds_the_callback(
    client: FlaskClient, provider: FakeProvider
) -> None:
    evil = f"attacker.test:{DIRECT_PORT}"
    response = client.post("/login/dance", headers={"Host": evil, "Origin": f"http://{evil}"}, environ_base=DIRECT)
    assert response.status_code == 421
    assert provider.request_token_calls == []


def test_web_fallback_hosting_answers_loopback_names_only(client: FlaskClient) -> None:
    assert client.get("/", headers={"Host": "localhost:5000"}, environ_base=LOCAL).status_code == 200
    assert client.get("/", headers={"Host": "evil.test:5000"}, environ_base=LOCAL).status_code == 421


def test_web_login_get_is_a_page_with_a_button_and_calls_no_provider(
    client: FlaskClient, provider: FakeProvider
) -> None:
    page = client.get("/login/dance", environ_base=LOCAL)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="start-login"' in text and 'method="post" action="/login/dance"' in text and csrf_of(text)
    assert provider.request_token_calls == []
    assert page.headers["X-Frame-Options"] == "DENY"


def test_web_twenty_cross_site_login_gets_make_no_provider_call(client: FlaskClient, provider: FakeProvider) -> None:
    for _ in range(20):  # 20 <img src=".../login/dance"> on another site
        client.get("/login/dance", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"},
                   environ_base=LOCAL)
    assert provider.request_token_calls == []


@pytest.mark.parametrize("headers, data", [
    ({}, {}),  # a form of another site: no token
    ({"Origin": "null"}, {"csrf": "SAME"}),  # a sandboxed iframe, or a 307 to the helper
    ({"Origin": "https://evil.test"}, {"csrf": "SAME"}),
    ({"Origin": "http://localhost"}, {"csrf": "0" * 64}),  # a made-up token
], ids=["no-token", "origin-null", "origin-evil", "forged-token"])
@pytest.mark.parametrize("route", ["/login/dance", "/logout/dance", "/verify/dance"])
def test_web_post_without_proof_of_own_page_is_403(
    client: FlaskClient, store: MemoryTokenStore, provider: FakeProvider, headers: dict[str, str],
    data: dict[str, str], route: str
) -> None:
    token = csrf_of(client.get("/", environ_base=LOCAL).get_data(as_text=True))
    data = {k: (token if v == "SAME" else v) for k, v in data.items()} | {"oauth_token": "rt1", "pin": "1234"}
    response = client.post(route, data=data, headers=headers, environ_base=LOCAL)
    assert response.status_code == 403
    assert store.get("dance") is not None
    assert provider.request_token_calls == [] and provider.access_token_calls == []


def test_web_token_of_one_origin_is_refused_at_another(client: FlaskClient, store: MemoryTokenStore) -> None:
    token = csrf_of(client.get("/", headers={"Host": "localhost:1"}, environ_base=LOCAL).get_data(as_text=True))
    response = client.post("/logout/dance", data={"csrf": token}, headers={"Host": "localhost:2"},
                           environ_base=LOCAL)
    assert response.status_code == 403 and store.get("dance") is not None


def start_login(client: FlaskClient, environ: dict[str, Any], host: str = "localhost") -> Any:
    token = csrf_of(client.get("/login/dance", headers={"Host": host}, environ_base=environ).get_data(as_text=True))
    return client.post("/login/dance", data={"csrf": token}, headers={"Host": host, "Origin": f"http://{host}"},
                       environ_base=environ)


def test_web_login_post_asks_the_provider_once_with_the_checked_origin_and_binds_a_cookie(
    client: FlaskClient, provider: FakeProvider
) -> None:
    host = f"localhost:{DIRECT_PORT}"
    response = start_login(client, DIRECT, host)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://api.example.com/oauth/authorize?")
    assert provider.request_token_calls == [f"http://{host}/callback/dance"]
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("oauth1_login_") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/" in cookie


def test_web_callback_completes_only_the_login_this_browser_started(
    config: ProxyConfig, store: MemoryTokenStore, provider: FakeProvider
) -> None:
    app = make_web_app(lambda: config, lambda: store)
    user, attacker = app.test_client(), app.test_client()
    assert start_login(user, LOCAL).status_code == 303
    callback = "/callback/dance?oauth_token=rt1&oauth_verifier=v1"
    refused = attacker.get(callback, environ_base=LOCAL)  # another browser (no cookie)
    assert refused.status_code == 403 and "another browser" in refused.get_data(as_text=True)
    assert provider.access_token_calls == []
    done = user.get(callback, environ_base=LOCAL)  # the login was not used up by the refusal
    assert done.status_code == 200 and 'id="success"' in done.get_data(as_text=True)
    assert provider.access_token_calls == [("rt1", "v1")]
    assert store.get("dance") is not None and store.get("dance").token == "new"  # type: ignore[union-attr]
    assert user.get(callback, environ_base=LOCAL).status_code == 400  # once


def test_web_reverse_origin_given_by_the_addon_accepts_localhost(
    client: FlaskClient, store: MemoryTokenStore
) -> None:
    """Reverse mode opened as localhost:PORT: the origin is the Host the browser used (was 127.0.0.1 only)."""
    environ = {**LOCAL, ORIGIN_ENV: "http://localhost:8080"}
    page = client.get("/_oauth1/", headers={"Host": "localhost:8080"}, environ_base=environ)
    response = client.post("/_oauth1/logout/dance", data={"csrf": csrf_of(page.get_data(as_text=True))},
                           headers={"Host": "localhost:8080", "Origin": "http://localhost:8080"}, environ_base=environ)
    assert response.status_code == 303
    assert store.get("dance") is None


@pytest.fixture
def oob_config(tmp_path: Path) -> ProxyConfig:
    path = tmp_path / "oob.yaml"
    path.write_text(f"""
profiles:
  dance:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: {SECRET}
    callback: oob
    request_token_url: https://api.example.com/oauth/request_token
    authorize_url: https://api.example.com/oauth/authorize
    access_token_url: https://api.example.com/oauth/access_token
""")
    return load_config(path)


def test_web_oob_page_takes_the_pin_for_the_pending_login(
    oob_config: ProxyConfig, provider: FakeProvider
) -> None:
    store = MemoryTokenStore({})
    app = make_web_app(lambda: oob_config, lambda: store)
    user, attacker = app.test_client(), app.test_client()
    page = start_login(user, LOCAL)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and provider.request_token_calls == ["oob"]
    assert 'id="authorize"' in text and 'id="pin"' in text and 'action="/verify/dance"' in text
    assert "--oob" not in text  # no more "paste it into oauth1-proxy login --oob" (which starts a new dance)
    form = {"csrf": csrf_of(text), "oauth_token": "rt1", "pin": " 424242 "}
    # Another browser with its own valid page token cannot enter a PIN for this login.
    other = csrf_of(attacker.get("/", environ_base=LOCAL).get_data(as_text=True))
    assert attacker.post("/verify/dance", data={**form, "csrf": other}, environ_base=LOCAL).status_code == 403
    assert provider.access_token_calls == []
    done = user.post("/verify/dance", data=form, headers={"Origin": "http://localhost"}, environ_base=LOCAL)
    assert done.status_code == 200 and 'id="success"' in done.get_data(as_text=True)
    assert provider.access_token_calls == [("rt1", "424242")]
    assert store.get("dance") is not None


def test_web_oob_without_pin_is_400(oob_config: ProxyConfig, provider: FakeProvider) -> None:
    app = make_web_app(lambda: oob_config, lambda: MemoryTokenStore({}))
    user = app.test_client()
    text = start_login(user, LOCAL).get_data(as_text=True)
    response = user.post("/verify/dance", data={"csrf": csrf_of(text), "oauth_token": "rt1", "pin": ""},
                         environ_base=LOCAL)
    assert response.status_code == 400 and provider.access_token_calls == []


def test_web_421_names_the_host_as_plain_text_never_sniffed(client: FlaskClient) -> None:
    response = client.get("/", headers={"Host": "<script>x</script>.test"}, environ_base=DIRECT)
    assert response.status_code == 421
    assert response.content_type.startswith("text/plain") and response.headers["X-Content-Type-Options"] == "nosniff"


def test_login_state_consumer_only_with_a_leftover_token_is_consumer_only_as_policy_says(config: ProxyConfig) -> None:
    from oauth1_proxy.policy import LoginState, login_state

    twoleg = next(p for p in config.profiles if p.name == "twoleg")
    leftover = StoredToken(token="t", token_secret=TOKEN_SECRET)
    assert login_state(twoleg, leftover) is LoginState.CONSUMER_ONLY
    shown = web.login_state(twoleg, leftover)
    assert (shown["logged_in"], shown["source"]) == (False, "consumer-only")
    assert TOKEN_SECRET not in repr(shown)


def test_pending_logins_profile_lifetime_shorter_than_the_helpers_wins_and_is_told() -> None:
    from oauth1_proxy.token_exchange import TemporaryCredentials

    now = [0.0]
    pending = PendingLogins(lifetime=600, clock=lambda: now[0])
    pending.add("etrade", TemporaryCredentials(token="t1", secret="s"), "b", lifetime=300)
    pending.add("other", TemporaryCredentials(token="t2", secret="s"), "b")
    now[0] = 301.0
    assert pending.take("t1", "b") is None  # E*TRADE's 5 minutes are over
    assert pending.expired_life("t1") == 300 and pending.expired_life("t1") is None  # told once
    assert pending.take("t2", "b") is not None  # the helper's own 600 s
    assert pending.expired_life("t2") is None


def test_web_oob_pin_after_the_request_token_lifetime_is_refused_unsent(
    tmp_path: Path, provider: FakeProvider
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("""\
profiles:
  dance:
    preset: etrade
    consumer_key: ck
    consumer_secret: cs
""")
    now = [0.0]
    app = make_web_app(lambda: load_config(path), lambda: MemoryTokenStore({}),
                       pending=PendingLogins(clock=lambda: now[0]))
    user = app.test_client()
    text = start_login(user, LOCAL).get_data(as_text=True)
    assert "https://us.etrade.com/e/t/etws/authorize?key=ck&amp;token=rt1" in text  # the placeholders, filled in
    now[0] = 300.0  # E*TRADE's request token lives 5 minutes
    response = user.post("/verify/dance", data={"csrf": csrf_of(text), "oauth_token": "rt1", "pin": "424242"},
                         headers={"Origin": "http://localhost"}, environ_base=LOCAL)
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "Request token expired" in body
    assert "lived 300 s" in body and "request_token_lifetime of profile" in body
    assert provider.access_token_calls == []
