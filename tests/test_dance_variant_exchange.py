"""Dance variants (SPEC §11) in the config, the dance's builders and the policy: GET token calls, unconfirmed
callbacks, authorize-URL placeholders, request-token lifetimes and required headers."""

from __future__ import annotations

from typing import Any

import pytest

from oauth1_proxy.config import parse_config
from oauth1_proxy.errors import ConfigError, ExchangeError, RequestRefused
from oauth1_proxy.token_exchange import (
    TemporaryCredentials,
    make_access_token_request,
    make_authorize_url,
    make_request_token_request,
    parse_request_token_response,
)

from .test_policy import make_request, refusal, run, signed
from .test_token_exchange import CALLBACK, CONSUMER_SECRET, NONCE, TEMPORARY, TIMESTAMP, oauthlib_verifies

BASE = {
    "hosts": ["api.example.com"], "consumer_key": "the consumer/key", "consumer_secret": CONSUMER_SECRET,
    "request_token_url": "https://api.example.com/oauth/request_token",
    "authorize_url": "https://api.example.com/oauth/authorize?lang=en",
    "access_token_url": "https://api.example.com/oauth/access_token",
}


def profile(**keys: Any) -> Any:
    return parse_config({"profiles": {"p": {**BASE, **keys}}}, "test.yaml").profiles[0]


def problems(**keys: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"profiles": {"p": {**BASE, **keys}}}, "test.yaml")
    return caught.value.problems


# --- token_method ------------------------------------------------------------------------------


def test_make_request_token_request_token_method_get_has_no_body_and_verifies() -> None:
    request = make_request_token_request(profile(token_method="get"), "oob", nonce=NONCE, timestamp=TIMESTAMP)
    assert (request.method, request.url, request.body) == ("GET", "https://api.example.com/oauth/request_token", b"")
    assert "Content-Type" not in request.headers and request.headers["Authorization"].startswith("OAuth ")
    assert oauthlib_verifies(request, token_secret="")


def test_make_access_token_request_token_method_get_signs_with_the_temporary_secret() -> None:
    request = make_access_token_request(profile(token_method="GET"), TEMPORARY, "v", nonce=NONCE,
                                        timestamp=TIMESTAMP)
    assert request.method == "GET" and request.body == b""
    assert oauthlib_verifies(request, token_secret=TEMPORARY.secret)


def test_make_request_token_request_default_token_method_is_post() -> None:
    assert make_request_token_request(profile(), CALLBACK, nonce=NONCE, timestamp=TIMESTAMP).method == "POST"


def test_config_token_method_other_than_get_or_post_names_the_fix() -> None:
    assert any("profiles.p.token_method: 'PUT' is not a method for the token calls; use POST" in p
               for p in problems(token_method="PUT"))


# --- require_callback_confirmed ------------------------------------------------------------------


def test_parse_request_token_response_unconfirmed_is_accepted_when_the_profile_says_so() -> None:
    body = b"oauth_token=t1&oauth_token_secret=s1&oauth_callback_confirmed=false"
    temporary = parse_request_token_response(body, require_callback_confirmed=False)
    assert (temporary.token, temporary.secret) == ("t1", "s1")


def test_parse_request_token_response_unconfirmed_by_default_names_the_setting() -> None:
    with pytest.raises(ExchangeError, match="set require_callback_confirmed: false on the profile"):
        parse_request_token_response(b"oauth_token=t1&oauth_token_secret=s1&oauth_callback_confirmed=false")


def test_config_require_callback_confirmed_defaults_to_true() -> None:
    assert profile().require_callback_confirmed is True
    assert profile(require_callback_confirmed=False).require_callback_confirmed is False


# --- authorize_url placeholders --------------------------------------------------------------------


def test_make_authorize_url_etrade_placeholders_are_filled_percent_encoded() -> None:
    p = profile(authorize_url="https://us.etrade.com/e/t/etws/authorize?key={consumer_key}&token={oauth_token}")
    url = make_authorize_url(p, "req/tok+en=")
    assert url == "https://us.etrade.com/e/t/etws/authorize?key=the%20consumer%2Fkey&token=req%2Ftok%2Ben%3D"


def test_make_authorize_url_consumer_key_only_still_appends_oauth_token() -> None:
    p = parse_config({"profiles": {"w": {"preset": "mediawiki", "hosts": ["meta.wikimedia.org"],
                                         "consumer_key": "the consumer/key", "consumer_secret": "cs",
                                         "authorize_params": {"uselang": "de"}}}}, "test.yaml").profiles[0]
    url = make_authorize_url(p, "rt")
    assert url == ("https://meta.wikimedia.org/wiki/Special:OAuth/authorize?oauth_consumer_key=the%20consumer%2Fkey"
                   "&uselang=de&oauth_token=rt")


def test_make_authorize_url_without_placeholders_is_unchanged() -> None:
    assert make_authorize_url(profile(), "rt") == "https://api.example.com/oauth/authorize?lang=en&oauth_token=rt"


def test_config_authorize_url_unknown_placeholder_is_named() -> None:
    found = problems(authorize_url="https://api.example.com/authorize?t={token}")
    assert any("profiles.p.authorize_url: {token} is not a placeholder oauth1-proxy fills in" in p for p in found)


# --- request_token_lifetime ---------------------------------------------------------------------------


def test_config_request_token_lifetime_takes_seconds() -> None:
    assert profile(request_token_lifetime=300).request_token_lifetime == 300
    assert profile().request_token_lifetime is None
    assert any("request_token_lifetime: 'soon' is not a number of seconds" in p
               for p in problems(request_token_lifetime="soon"))


# --- require_headers ----------------------------------------------------------------------------------


def test_config_require_headers_must_be_header_names_the_proxy_does_not_write() -> None:
    found = problems(require_headers=["User-Agent: x", "Authorization"])
    assert any("require_headers[0]: 'User-Agent: x' is not a header name" in p for p in found)
    assert any("require_headers[1]: Authorization is written or removed by the proxy itself" in p for p in found)
    assert any("require_headers: must be a list of header names" in p for p in problems(require_headers="UA"))


def test_decide_require_headers_missing_refuses_before_signing_naming_the_header() -> None:
    config = parse_config({"profiles": {"d": {"preset": "discogs", "consumer_key": "ck", "consumer_secret": "cs",
                                              "token": "t", "token_secret": "ts"}}}, "test.yaml")
    request = make_request("/oauth/identity", host="api.discogs.com")
    refused = refusal(run(request, config))
    assert isinstance(refused.error, RequestRefused) and refused.status == 400
    assert refused.message.startswith('profile "d" requires the header User-Agent (require_headers), and the '
                                      "request has none; it was not sent.")
    assert "User-Agent: my-app/1.0" in refused.message
    empty = make_request("/oauth/identity", host="api.discogs.com", headers={"user-agent": " "})
    assert isinstance(run(empty, config), type(refused))  # an empty value is none


def test_decide_require_headers_present_in_any_case_signs() -> None:
    config = parse_config({"profiles": {"d": {"preset": "discogs", "consumer_key": "ck", "consumer_secret": "cs",
                                              "token": "t", "token_secret": "ts"}}}, "test.yaml")
    request = make_request("/oauth/identity", host="api.discogs.com", headers={"user-agent": "MyTool/1.0"})
    assert signed(run(request, config)).profile.name == "d"


def test_temporary_credentials_repr_hides_the_secret() -> None:
    assert "s1" not in repr(TemporaryCredentials(token="t1", secret="s1"))


def test_cmd_login_request_token_older_than_its_lifetime_is_never_sent(tmp_path: Any, monkeypatch: Any,
                                                                         capsys: Any) -> None:
    import io

    from oauth1_proxy import login
    from oauth1_proxy.errors import LoginError

    config = tmp_path / "proxy.yaml"
    config.write_text("profiles:\n  p:\n    preset: etrade\n    consumer_key: ck\n    consumer_secret: cs\n")
    clock = iter([1000.0, 1000.0 + 301])
    sent: list[str] = []
    monkeypatch.setattr(login.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(login, "obtain_request_token", lambda profile, callback, **_: TemporaryCredentials(
        token="rt", secret="rs"))
    monkeypatch.setattr(login, "obtain_access_token", lambda *a, **kw: sent.append("access token"))
    monkeypatch.setattr("sys.stdin", io.StringIO("PIN123\n"))
    expected = (r"the request token expired before the verifier arrived \(it lives 300 s at this provider: "
                r'request_token_lifetime of profile "p"\); nothing was sent')
    with pytest.raises(LoginError, match=expected):
        login.cmd_login("p", str(config), oob=False, timeout=600, open_browser=False)
    assert sent == []
    out = capsys.readouterr().out
    assert "https://us.etrade.com/e/t/etws/authorize?key=ck&token=rt" in out  # the E*TRADE authorize page
    assert "The request token lives 300 s" in out
