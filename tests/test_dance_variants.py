"""The authorize URL's placeholders (dance_variants.py, SPEC §11): what the config accepts, what the dance fills."""

from __future__ import annotations

import pytest

from oauth1_proxy.dance_variants import authorize_url_problem, fill_authorize_url, placeholders_in

ETRADE = "https://us.etrade.com/e/t/etws/authorize?key={consumer_key}&token={oauth_token}"


def test_fill_authorize_url_percent_encodes_each_value() -> None:
    filled = fill_authorize_url(ETRADE, {"consumer_key": "a b&c=d/é", "oauth_token": "t+1~x_y.z-"})
    # RFC 3986 §2.1: everything outside "unreserved" (ALPHA DIGIT - . _ ~) is percent-encoded, UTF-8 first.
    assert filled == "https://us.etrade.com/e/t/etws/authorize?key=a%20b%26c%3Dd%2F%C3%A9&token=t%2B1~x_y.z-"


def test_placeholders_in_lists_them_in_order() -> None:
    assert placeholders_in(ETRADE) == ["consumer_key", "oauth_token"]
    assert placeholders_in("https://a.example/authorize") == []


@pytest.mark.parametrize("url", [ETRADE, "https://w.example/wiki/Special:OAuth/authorize?oauth_consumer_key={consumer_key}",
                                 "https://a.example/authorize/{oauth_token}", "https://a.example/authorize"])
def test_authorize_url_problem_known_placeholders_are_fine(url: str) -> None:
    assert authorize_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://a.example/authorize?t={token}", "{token} is not a placeholder oauth1-proxy fills in; use "
                                                  "{oauth_token} (the request token) or {consumer_key}"),
        ("https://a.example/authorize?t={}", "{} is not a placeholder"),
        ("https://{consumer_key}.example/authorize", "placeholders go in the path or the query, not in the host"),
        ("https://a.example/a?x={oauth_token}&y={oauth_token}", "{oauth_token} appears 2 times; write it once."),
    ],
    ids=["unknown", "empty", "in-host", "twice"],
)
def test_authorize_url_problem_names_the_placeholder_and_the_fix(url: str, message: str) -> None:
    problem = authorize_url_problem(url)
    assert problem is not None and problem.startswith(message)
