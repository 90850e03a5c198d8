"""policy.py: the signing decision (SPEC §5) as a pure function: Sign | Refuse | Pass."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy import policy
from oauth1_proxy.config import ProxyConfig, parse_config
from oauth1_proxy.errors import RequestRefused, SigningError, TokenMissingError
from oauth1_proxy.policy import (
    LoginState,
    OutgoingRequest,
    Pass,
    Refuse,
    RequestHeaders,
    Sign,
    authority_matches,
    decide,
    login_state,
    timestamp_for,
)
from oauth1_proxy.tokens import StoredToken

DANCE = {
    "request_token_url": "https://api.example.com/oauth/request_token",
    "authorize_url": "https://api.example.com/oauth/authorize",
    "access_token_url": "https://api.example.com/oauth/access_token",
}
NOW = 1_700_000_000


def make_config(**profiles: dict[str, Any]) -> ProxyConfig:
    base = {"hosts": ["api.example.com"], "consumer_key": "ck", "consumer_secret": "cs"}
    return parse_config({"profiles": {name: {**base, **p} for name, p in profiles.items()}}, "test.yaml")


def make_request(target: str = "/v1/items", *, method: str = "GET", scheme: str = "https",
                 host: str = "api.example.com", port: int = 443, headers: dict[str, str] | None = None,
                 body: bytes | None = b"", streamed: bool = False, host_header_matches: bool = True,
                 fields: list[tuple[str, str]] | None = None) -> OutgoingRequest:
    pairs = list((headers or {}).items()) + (fields or [])
    return OutgoingRequest(
        method=method, scheme=scheme, host=host, shown_host=host, port=port, target=target,
        headers=RequestHeaders.from_fields((k.encode(), v.encode()) for k, v in pairs),
        host_header_matches=host_header_matches, body=body, streamed=streamed,
    )


def run(request: OutgoingRequest, config: ProxyConfig, *, stored: StoredToken | None = None,
        **kw: Any) -> policy.Decision:
    return decide(request, config, tokens=lambda name: stored, login=lambda p: (f"http://login/{p.name}", " hint"),
                  now=NOW, nonce=lambda: "n0nce", **kw)


def refusal(decision: policy.Decision) -> Refuse:
    assert isinstance(decision, Refuse), decision
    return decision


def signed(decision: policy.Decision) -> Sign:
    assert isinstance(decision, Sign), decision
    return decision


# --- the module's rules -------------------------------------------------------------------


def test_policy_module_imports_no_mitmproxy_clock_randomness_or_io() -> None:
    tree = ast.parse(Path(policy.__file__).read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"mitmproxy", "time", "secrets", "random", "os", "socket", "pathlib", "io", "datetime"}


def test_decide_same_inputs_give_the_same_bytes() -> None:
    config = make_config(api={"token": "t", "token_secret": "ts"})
    assert run(make_request(), config) == run(make_request(), config)


# --- Pass ---------------------------------------------------------------------------------


def test_decide_destination_without_profile_passes() -> None:
    assert isinstance(run(make_request(host="other.example.com"), make_config(api={})), Pass)


def test_decide_authorize_page_passes_unsigned() -> None:
    decision = run(make_request("/oauth/authorize?oauth_token=x"), make_config(api=DANCE))
    assert decision is policy.PASS_AUTHORIZE_PAGE


def test_decide_authorize_page_with_a_profile_header_passes_without_the_header() -> None:
    decision = run(make_request("/oauth/authorize", headers={"X-OAuth1-Profile": "api"}), make_config(api=DANCE))
    assert isinstance(decision, Pass) and decision.strip_profile_header


def test_decide_passes_without_asking_for_a_nonce() -> None:
    def no_nonce() -> str:
        raise AssertionError("a nonce for a request that is not signed")

    decision = decide(make_request(host="other.example.com"), make_config(api={}), tokens=lambda n: None,
                      login=lambda p: ("", ""), now=NOW, nonce=no_nonce)
    assert isinstance(decision, Pass)


# --- Refuse (the messages are the proxy's) ------------------------------------------------


def test_decide_not_a_path_to_a_signed_destination_is_refused() -> None:
    r = refusal(run(make_request("*", method="OPTIONS"), make_config(api={})))
    assert isinstance(r.error, RequestRefused) and r.status == 400
    assert r.message.startswith("the request target '*' is not a path; https://api.example.com is a signed")


def test_decide_unknown_profile_header_is_refused_naming_the_profiles() -> None:
    r = refusal(run(make_request(headers={"X-OAuth1-Profile": "nope"}), make_config(api={})))
    assert r.message == ("X-OAuth1-Profile: 'nope' does not sign https://api.example.com:443; the profiles that "
                         "do are api. Fix the header or the profile's hosts.")


def test_decide_host_header_mismatch_is_refused() -> None:
    r = refusal(run(make_request(headers={"Host": "evil.example"}, host_header_matches=False),
                    make_config(api={})))
    assert r.message.startswith("the Host header 'evil.example' does not match the destination api.example.com;")


def test_decide_plaintext_over_http_is_refused() -> None:
    r = refusal(run(make_request(scheme="http", port=80), make_config(api={"signature_method": "PLAINTEXT"})))
    assert isinstance(r.error, SigningError) and r.status == 502
    assert "uses PLAINTEXT, which would send the secrets in clear over http (RFC 5849 §3.4.4)" in r.message
    assert "cs" not in r.message.replace("secrets", "")


def test_decide_several_content_types_are_refused() -> None:
    r = refusal(run(make_request(fields=[("Content-Type", "text/plain"), ("Content-Type", "text/html")]),
                    make_config(api={})))
    assert r.message.startswith("the request has 2 Content-Type headers;")


@pytest.mark.parametrize(("profile", "content_type", "start"), [
    ({}, "application/x-www-form-urlencoded", "its form body is streamed"),
    ({"body_hash": True}, "application/json", "its body is streamed (stream_large_bodies) before it can be read, "
                                              'and profile "api" signs an oauth_body_hash'),
], ids=["form", "body-hash"])
def test_decide_streamed_body_that_is_signed_is_refused(profile: dict[str, Any], content_type: str,
                                                        start: str) -> None:
    r = refusal(run(make_request(method="POST", headers={"Content-Type": content_type}, body=None, streamed=True),
                    make_config(api=profile)))
    assert r.message.startswith(start)


def test_decide_streamed_other_body_signs_without_it() -> None:
    s = signed(run(make_request(method="POST", headers={"Content-Type": "application/json"}, body=None,
                                streamed=True), make_config(api={})))
    assert s.body == b"" and not s.may_retry


def test_decide_unread_body_is_refused() -> None:
    r = refusal(run(make_request(method="POST", body=None), make_config(api={})))
    assert r.message == "the request body was streamed before it could be signed; it was not sent."


def test_decide_encoded_form_is_refused() -> None:
    r = refusal(run(make_request(method="POST", body=b"\x1f\x8b", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"}), make_config(api={})))
    assert r.message.startswith("a form body with a Content-Encoding cannot be signed")


def test_decide_not_logged_in_is_refused_with_the_login_url() -> None:
    r = refusal(run(make_request(), make_config(api=DANCE)))
    assert isinstance(r.error, TokenMissingError) and r.status == 401
    assert (r.profile, r.login_url) == ("api", "http://login/api")
    assert r.message == 'Profile "api" is not logged in yet. Open http://login/api to connect it hint.'


# --- Sign ---------------------------------------------------------------------------------


def test_decide_timestamp_adds_clock_skew_and_the_learned_offset() -> None:
    s = signed(run(make_request(), make_config(api={"clock_skew": 3600}), learned_skew={"api": 5}))
    assert s.authorization is not None and f'oauth_timestamp="{NOW + 3605}"' in s.authorization


def test_decide_explicit_timestamp_is_used_as_given() -> None:
    s = signed(run(make_request(), make_config(api={"clock_skew": 3600}), timestamp="42"))
    assert s.authorization is not None and 'oauth_timestamp="42"' in s.authorization


def test_decide_stored_token_signs_a_dance_profile() -> None:
    s = signed(run(make_request(), make_config(api=DANCE), stored=StoredToken(token="tok", token_secret="ts")))
    assert s.authorization is not None and 'oauth_token="tok"' in s.authorization


def test_decide_consumer_only_profile_ignores_a_leftover_token() -> None:
    s = signed(run(make_request(), make_config(api={}), stored=StoredToken(token="tok", token_secret="ts")))
    assert s.authorization is not None and "oauth_token=" not in s.authorization


def test_decide_strips_a_client_authorization_and_the_profile_header() -> None:
    s = signed(run(make_request(headers={"Authorization": "Basic eA==", "X-OAuth1-Profile": "api"}),
                   make_config(api={})))
    assert s.strip_authorization and s.strip_profile_header


def test_decide_query_placement_moves_the_parameters_into_the_target() -> None:
    s = signed(run(make_request("/v1/items?a=1"), make_config(api={"placement": "query"})))
    assert s.authorization is None and s.target.startswith("/v1/items?a=1&oauth_consumer_key=ck&")
    assert s.url == "https://api.example.com" + s.target
    assert s.log_fields[:4] == ("api", "GET", "api.example.com", "/v1/items")


def test_decide_body_placement_changes_the_body_and_its_length() -> None:
    s = signed(run(make_request(method="POST", body=b"a=1",
                                headers={"Content-Type": "application/x-www-form-urlencoded"}),
                   make_config(api={"placement": "body"})))
    assert s.body.startswith(b"a=1&oauth_consumer_key=ck&") and s.body_changed and s.set_content_length


# --- login state: one function for check, the log and the helper -------------------------


@pytest.mark.parametrize(("profile", "stored", "state"), [
    ({"token": "t", "token_secret": "s"}, None, LoginState.STATIC_TOKEN),
    (DANCE, StoredToken(token="t", token_secret="s"), LoginState.LOGGED_IN),
    (DANCE, None, LoginState.NOT_LOGGED_IN),
    ({}, None, LoginState.CONSUMER_ONLY),
    ({}, StoredToken(token="t", token_secret="s"), LoginState.CONSUMER_ONLY),
], ids=["static", "stored", "missing", "consumer-only", "consumer-only-leftover-token"])
def test_login_state_says_what_the_proxy_signs_with(profile: dict[str, Any], stored: StoredToken | None,
                                                    state: LoginState) -> None:
    assert login_state(make_config(api=profile).profiles[0], stored) is state


def test_timestamp_for_adds_clock_skew() -> None:
    assert timestamp_for(make_config(api={"clock_skew": -30}).profiles[0], NOW) == str(NOW - 30)


# --- the Host header ----------------------------------------------------------------------


def _parse(authority: str) -> tuple[str, int | None]:
    from mitmproxy.net.http import url

    return url.parse_authority(authority, check=True)


@pytest.mark.parametrize(("header", "matches"), [
    (None, True), ("api.example.com", True), ("API.Example.com.:443", True), ("api.example.com:443", True),
    ("api.example.com:8443", False), ("evil.example", False), ("bad host", False),
], ids=["none", "bare", "case-dot-port", "port", "other-port", "other-host", "malformed"])
def test_authority_matches_names_the_destination(header: str | None, matches: bool) -> None:
    assert authority_matches(header, "https", "api.example.com", 443, _parse) is matches
