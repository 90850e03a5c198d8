"""accounts.py: which account of a profile signs a request (SPEC §11), and how the token store keys it."""

from __future__ import annotations

import pytest

from oauth1_proxy.accounts import (
    AccountChoice,
    AccountRefusal,
    accounts_in,
    choose_account,
    is_account_name,
    login_hint_for,
    split_key,
    token_key,
)


def test_token_key_unnamed_account_keeps_the_profiles_own_key() -> None:
    assert token_key("twitter", None) == "twitter"
    assert token_key("twitter", "") == "twitter"


def test_token_key_named_account_is_profile_at_account_and_splits_back() -> None:
    assert token_key("twitter", "alice") == "twitter@alice"
    assert split_key("twitter@alice") == ("twitter", "alice")
    assert split_key("twitter") == ("twitter", None)


def test_token_key_distinct_pairs_give_distinct_keys() -> None:
    pairs = [("a", None), ("a", "b"), ("a-b", None), ("a", "b-c"), ("a_b", "c")]
    assert len({token_key(p, a) for p, a in pairs}) == len(pairs)


def test_accounts_in_lists_only_that_profiles_named_accounts_sorted() -> None:
    keys = ["shop", "shop@bob", "shop@alice", "shopx@carol", "other@dave", "shop@"]
    assert accounts_in(keys, "shop") == ("alice", "bob")


@pytest.mark.parametrize("name", ["alice", "shop-2", "A_b", "x" * 64], ids=["plain", "dash", "underscore", "64"])
def test_is_account_name_accepts_the_profile_charset(name: str) -> None:
    assert is_account_name(name)


@pytest.mark.parametrize("name", ["", "a b", "a@b", "a/b", "ä", "a\r\n", "x" * 65, "a, b"],
                         ids=["empty", "space", "at", "slash", "unicode", "crlf", "65", "two-headers"])
def test_is_account_name_refuses_other_characters(name: str) -> None:
    assert not is_account_name(name)


def _choose(wanted: str | None, default: str | None, keys: set[str]) -> AccountChoice | AccountRefusal:
    return choose_account("shop", wanted, default, has_key=keys.__contains__,
                          stored_accounts=lambda p: accounts_in(keys, p))


def test_choose_account_header_names_the_account() -> None:
    assert _choose("bob", "alice", {"shop@alice", "shop@bob"}) == AccountChoice("bob", "shop@bob")


def test_choose_account_header_naming_an_account_not_stored_still_chooses_it() -> None:
    # The caller answers 401 with the login URL of that account.
    assert _choose("carol", None, {"shop@alice"}) == AccountChoice("carol", "shop@carol")


def test_choose_account_bad_header_value_is_refused_naming_the_header_and_the_rule() -> None:
    refusal = _choose("a b", None, {"shop@alice"})
    assert isinstance(refusal, AccountRefusal)
    assert "X-OAuth1-Account" in refusal.message and "letters, digits" in refusal.message


def test_choose_account_without_header_uses_default_account() -> None:
    assert _choose(None, "alice", {"shop", "shop@alice", "shop@bob"}) == AccountChoice("alice", "shop@alice")


def test_choose_account_without_header_or_default_uses_the_unnamed_account() -> None:
    assert _choose(None, None, {"shop", "shop@alice"}) == AccountChoice(None, "shop")


def test_choose_account_without_header_or_default_uses_the_only_named_account() -> None:
    assert _choose(None, None, {"shop@alice"}) == AccountChoice("alice", "shop@alice")


def test_choose_account_nothing_stored_chooses_the_profile_key_not_logged_in() -> None:
    assert _choose(None, None, set()) == AccountChoice(None, "shop")


def test_choose_account_several_and_no_default_is_refused_naming_header_profile_and_accounts() -> None:
    refusal = _choose(None, None, {"shop@alice", "shop@bob"})
    assert isinstance(refusal, AccountRefusal)
    assert 'profile "shop"' in refusal.message
    assert "X-OAuth1-Account: NAME" in refusal.message
    assert "alice, bob" in refusal.message and "default_account" in refusal.message


def test_login_hint_for_account_adds_the_query_and_the_flag() -> None:
    url, hint = login_hint_for(
        "http://oauth1.proxy/login/shop",
        " (or http://127.0.0.1:5000/login/shop in a browser), or run: oauth1-proxy login shop --config c.yaml",
        "shop", "bob")
    assert url == "http://oauth1.proxy/login/shop?account=bob"
    assert "http://127.0.0.1:5000/login/shop?account=bob in a browser" in hint
    assert hint.endswith("oauth1-proxy login shop --config c.yaml --account bob")


def test_login_hint_for_unnamed_account_is_unchanged() -> None:
    assert login_hint_for("u", "h", "shop", None) == ("u", "h")
