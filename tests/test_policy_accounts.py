"""policy.decide with accounts (SPEC §11): X-OAuth1-Account picks the token, is removed, and fails closed."""

from __future__ import annotations

from typing import Any

from oauth1_proxy import policy
from oauth1_proxy.accounts import accounts_in
from oauth1_proxy.errors import RequestRefused, TokenMissingError
from oauth1_proxy.policy import decide
from oauth1_proxy.tokens import StoredToken
from tests.test_policy import DANCE, NOW, make_config, make_request, refusal, signed

ALICE = StoredToken(token="tok-alice", token_secret="sec-alice")
BOB = StoredToken(token="tok-bob", token_secret="sec-bob")
UNNAMED = StoredToken(token="tok-unnamed", token_secret="sec-unnamed")


def run_with(store: dict[str, StoredToken], *, headers: dict[str, str] | None = None,
             profile: dict[str, Any] | None = None) -> policy.Decision:
    config = make_config(api={**DANCE, **(profile or {})})
    return decide(make_request(headers=headers), config, tokens=store.get,
                  login=lambda p: (f"http://oauth1.proxy/login/{p.name}",
                                   f", or run: oauth1-proxy login {p.name} --config c.yaml"),
                  now=NOW, nonce=lambda: "n0nce", accounts=lambda name: accounts_in(store, name))


def token_of(decision: policy.Decision) -> str:
    authorization = signed(decision).authorization or ""
    return authorization.split('oauth_token="', 1)[1].split('"', 1)[0]


def test_decide_account_header_picks_that_accounts_token_and_is_stripped() -> None:
    store = {"api@alice": ALICE, "api@bob": BOB}
    for name, token in (("alice", "tok-alice"), ("bob", "tok-bob")):
        decision = signed(run_with(store, headers={"X-OAuth1-Account": name}))
        assert token_of(decision) == token
        assert decision.account == name and decision.account_key == f"api@{name}"
        assert decision.strip_account_header


def test_decide_without_account_header_uses_the_unnamed_token_as_before() -> None:
    decision = signed(run_with({"api": UNNAMED, "api@alice": ALICE}))
    assert token_of(decision) == "tok-unnamed"
    assert decision.account is None and decision.account_key == "api"
    assert not decision.strip_account_header


def test_decide_without_account_header_uses_the_only_named_account() -> None:
    assert token_of(run_with({"api@alice": ALICE})) == "tok-alice"


def test_decide_several_accounts_and_no_default_is_refused_naming_header_and_profile() -> None:
    refused = refusal(run_with({"api@alice": ALICE, "api@bob": BOB}))
    assert isinstance(refused.error, RequestRefused) and refused.status == 400
    assert "X-OAuth1-Account" in refused.message and 'profile "api"' in refused.message
    assert "sec-" not in refused.message and "tok-" not in refused.message


def test_decide_unknown_account_is_401_with_the_login_url_of_that_account() -> None:
    refused = refusal(run_with({"api@alice": ALICE}, headers={"X-OAuth1-Account": "carol"}))
    assert isinstance(refused.error, TokenMissingError) and refused.status == 401
    assert refused.login_url == "http://oauth1.proxy/login/api?account=carol"
    assert refused.profile == "api"
    assert 'Account "carol" of profile "api" is not logged in yet' in refused.message
    assert "oauth1-proxy login api --config c.yaml --account carol" in refused.message


def test_decide_bad_account_name_is_refused_400_naming_the_header() -> None:
    refused = refusal(run_with({"api@alice": ALICE}, headers={"X-OAuth1-Account": "../alice"}))
    assert refused.status == 400 and "X-OAuth1-Account" in refused.message and "letters, digits" in refused.message


def test_decide_two_account_headers_are_refused_not_guessed() -> None:
    config = make_config(api=DANCE)
    store = {"api@alice": ALICE, "api@bob": BOB}
    request = make_request(fields=[("X-OAuth1-Account", "alice"), ("X-OAuth1-Account", "bob")])
    decision = decide(request, config, tokens=store.get, login=lambda p: ("u", ""), now=NOW, nonce=lambda: "n",
                      accounts=lambda name: accounts_in(store, name))
    assert refusal(decision).status == 400


def test_decide_account_header_on_a_static_token_profile_is_refused() -> None:
    config = make_config(api={"token": "t", "token_secret": "ts"})
    decision = decide(make_request(headers={"X-OAuth1-Account": "alice"}), config, tokens=lambda k: None,
                      login=lambda p: ("u", ""), now=NOW, nonce=lambda: "n")
    refused = refusal(decision)
    assert refused.status == 400 and "static token" in refused.message and "ts" not in refused.message.split()


def test_decide_account_header_on_an_unmatched_request_passes_it_untouched() -> None:
    config = make_config(api=DANCE)
    decision = decide(make_request(host="other.example.com", headers={"X-OAuth1-Account": "alice"}), config,
                      tokens=lambda k: None, login=lambda p: ("u", ""), now=NOW, nonce=lambda: "n")
    assert isinstance(decision, policy.Pass) and not decision.strip_profile_header


def test_decide_without_account_header_uses_default_account_over_the_unnamed_token() -> None:
    store = {"api": UNNAMED, "api@alice": ALICE, "api@bob": BOB}
    decision = signed(run_with(store, profile={"default_account": "bob"}))
    assert token_of(decision) == "tok-bob" and decision.account == "bob"


def test_decide_default_account_not_logged_in_is_401_naming_its_login_url() -> None:
    refused = refusal(run_with({"api@alice": ALICE}, profile={"default_account": "bob"}))
    assert refused.status == 401 and refused.login_url == "http://oauth1.proxy/login/api?account=bob"


def test_decide_account_header_wins_over_default_account() -> None:
    store = {"api@alice": ALICE, "api@bob": BOB}
    decision = run_with(store, headers={"X-OAuth1-Account": "alice"}, profile={"default_account": "bob"})
    assert token_of(decision) == "tok-alice"


def test_decide_expired_token_of_an_account_names_that_accounts_login_and_key() -> None:
    from oauth1_proxy.errors import TokenExpiredError
    from oauth1_proxy.lifetimes import format_instant

    expired = StoredToken(token="tok-old", token_secret="sec-old", expires_at=format_instant(NOW - 60),
                          session_handle="handle")
    refused = refusal(run_with({"api@alice": expired, "api@bob": BOB}, headers={"X-OAuth1-Account": "alice"}))
    assert isinstance(refused.error, TokenExpiredError)
    assert refused.error.key == "api@alice" and refused.error.refreshable
    assert refused.login_url == "http://oauth1.proxy/login/api?account=alice"
    assert 'account "alice" of profile "api" expired' in refused.message
