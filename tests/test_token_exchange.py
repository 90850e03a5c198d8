"""token_exchange.py: the token dance of RFC 5849 §2, checked against oauthlib as an independent oracle."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature as oauthlib_signature

from oauth1_proxy.config import Profile, load_config
from oauth1_proxy.token_exchange import (
    ExchangeError,
    OutboundRequest,
    TemporaryCredentials,
    check_status,
    make_access_token_request,
    make_authorize_url,
    make_request_token_request,
    parse_access_token_response,
    parse_callback_query,
    parse_request_token_response,
)
from oauth1_proxy.tokens import StoredToken

CONSUMER_SECRET = "cs-Very-Secret &+/"
TEMPORARY = TemporaryCredentials(token="temp-token", secret="temp-Secret =%")
CALLBACK = "http://127.0.0.1:8765/callback/api"
NONCE, TIMESTAMP = "0123456789abcdef0123456789abcdef", "1700000000"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=1024)
RSA_PUBLIC_PEM = (
    RSA_KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)


def make_profile(tmp_path: Path, method: str = "HMAC-SHA1", extra: str = "") -> Profile:
    (tmp_path / "key.pem").write_bytes(
        RSA_KEY.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    secret_or_key = "private_key_file: key.pem" if method.startswith("RSA-") else "consumer_secret: ${SECRET}"
    path = tmp_path / "config.yaml"
    path.write_text(f"""\
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: the-consumer-key
    {secret_or_key}
    signature_method: {method}
    request_token_url: https://api.example.com/oauth/request_token
    authorize_url: https://api.example.com/oauth/authorize?lang=en
    access_token_url: https://api.example.com/oauth/access_token
{extra}""")
    return load_config(path, env={"SECRET": CONSUMER_SECRET}).profiles[0]


def oauthlib_verifies(request: OutboundRequest, token_secret: str) -> bool:
    """Verify a request's signature with oauthlib's own functions, as its server endpoints do."""
    headers = dict(request.headers)
    is_form = "application/x-www-form-urlencoded" in headers.get("Content-Type", "")
    r = Request(
        request.url,
        http_method=request.method,
        body=request.body.decode() if is_form else "",
        headers=headers,
    )
    params = oauthlib_signature.collect_parameters(
        uri_query=r.uri_query, body=r.body, headers=r.headers, exclude_oauth_signature=False
    )
    oauth = dict(params)
    r.signature = oauth["oauth_signature"]
    r.params = [(k, v) for k, v in params if k != "oauth_signature"]
    method = oauth["oauth_signature_method"]
    if method.startswith("RSA-"):
        verify_rsa = {
            "RSA-SHA1": oauthlib_signature.verify_rsa_sha1,
            "RSA-SHA256": oauthlib_signature.verify_rsa_sha256,
        }[method]
        return bool(verify_rsa(r, RSA_PUBLIC_PEM))
    verify = {
        "HMAC-SHA1": oauthlib_signature.verify_hmac_sha1,
        "HMAC-SHA256": oauthlib_signature.verify_hmac_sha256,
        "HMAC-SHA512": oauthlib_signature.verify_hmac_sha512,
        "PLAINTEXT": oauthlib_signature.verify_plaintext,
    }[method]
    return bool(verify(r, CONSUMER_SECRET, token_secret))


def oauth_params_of(request: OutboundRequest) -> dict[str, str]:
    return dict(
        oauthlib_signature.collect_parameters(headers=dict(request.headers), exclude_oauth_signature=False)
    )


METHODS = ["HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "RSA-SHA1", "RSA-SHA256", "PLAINTEXT"]


# --- request builders --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
def test_make_request_token_request_signature_verifies_with_oauthlib(tmp_path: Path, method: str) -> None:
    request = make_request_token_request(
        make_profile(tmp_path, method), CALLBACK, nonce=NONCE, timestamp=TIMESTAMP
    )
    assert oauthlib_verifies(request, token_secret="")


def test_make_request_token_request_is_a_form_post_to_request_token_url(tmp_path: Path) -> None:
    request = make_request_token_request(make_profile(tmp_path), CALLBACK, nonce=NONCE, timestamp=TIMESTAMP)
    assert (request.method, request.url, request.headers["Content-Type"]) == (
        "POST",
        "https://api.example.com/oauth/request_token",
        "application/x-www-form-urlencoded",
    )


@pytest.mark.parametrize("callback", [CALLBACK, "oob"], ids=["url", "oob"])
def test_make_request_token_request_carries_oauth_callback(tmp_path: Path, callback: str) -> None:
    request = make_request_token_request(make_profile(tmp_path), callback, nonce=NONCE, timestamp=TIMESTAMP)
    assert oauth_params_of(request)["oauth_callback"] == callback


def test_make_request_token_request_has_no_oauth_token(tmp_path: Path) -> None:
    request = make_request_token_request(make_profile(tmp_path), CALLBACK, nonce=NONCE, timestamp=TIMESTAMP)
    assert "oauth_token" not in oauth_params_of(request)


def test_make_request_token_request_uses_the_given_nonce_and_timestamp(tmp_path: Path) -> None:
    params = oauth_params_of(
        make_request_token_request(make_profile(tmp_path), CALLBACK, nonce=NONCE, timestamp=TIMESTAMP)
    )
    assert (params["oauth_nonce"], params["oauth_timestamp"]) == (NONCE, TIMESTAMP)


def test_make_request_token_request_puts_realm_in_the_header(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, extra='    realm: "Example"\n')
    request = make_request_token_request(profile, CALLBACK, nonce=NONCE, timestamp=TIMESTAMP)
    assert request.headers["Authorization"].startswith('OAuth realm="Example", ')
    assert oauthlib_verifies(request, token_secret="")


def test_make_request_token_request_without_url_names_the_step(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "profiles:\n  api:\n    hosts: [a.example.com]\n    consumer_key: k\n    consumer_secret: s\n"
    )
    with pytest.raises(
        ExchangeError, match=re.escape('request token: profile "api" has no request_token_url')
    ):
        make_request_token_request(
            load_config(path, env={}).profiles[0], CALLBACK, nonce=NONCE, timestamp=TIMESTAMP
        )


@pytest.mark.parametrize("method", METHODS, ids=METHODS)
def test_make_access_token_request_signature_verifies_with_temporary_secret(
    tmp_path: Path, method: str
) -> None:
    request = make_access_token_request(
        make_profile(tmp_path, method), TEMPORARY, "the-verifier", nonce=NONCE, timestamp=TIMESTAMP
    )
    assert oauthlib_verifies(request, token_secret=TEMPORARY.secret)


def test_make_access_token_request_carries_verifier_and_temporary_token(tmp_path: Path) -> None:
    request = make_access_token_request(
        make_profile(tmp_path), TEMPORARY, "the-verifier", nonce=NONCE, timestamp=TIMESTAMP
    )
    params = oauth_params_of(request)
    assert (params["oauth_verifier"], params["oauth_token"]) == ("the-verifier", "temp-token")
    assert request.url == "https://api.example.com/oauth/access_token"


def test_oracle_rejects_an_access_token_request_with_another_verifier(tmp_path: Path) -> None:
    # The oracle is not vacuous: a changed signed parameter fails verification.
    request = make_access_token_request(
        make_profile(tmp_path), TEMPORARY, "the-verifier", nonce=NONCE, timestamp=TIMESTAMP
    )
    forged = OutboundRequest(
        method=request.method,
        url=request.url,
        body=request.body,
        headers={
            **request.headers,
            "Authorization": request.headers["Authorization"].replace("the-verifier", "other"),
        },
    )
    assert not oauthlib_verifies(forged, token_secret=TEMPORARY.secret)


def test_make_authorize_url_carries_token_params_and_existing_query(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, extra="    authorize_params: {scope: read write, force_login: true}\n")
    url = make_authorize_url(profile, "temp token/1")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "api.example.com", "/oauth/authorize")
    assert sorted(parse_qsl(parts.query)) == [
        ("force_login", "true"),
        ("lang", "en"),
        ("oauth_token", "temp token/1"),
        ("scope", "read write"),
    ]


# --- response parsers --------------------------------------------------------------------------


def test_parse_request_token_response_reads_temporary_credentials() -> None:
    temporary = parse_request_token_response(
        b"oauth_token=t1&oauth_token_secret=s%2B1&oauth_callback_confirmed=true"
    )
    assert temporary == TemporaryCredentials(token="t1", secret="s+1")


@pytest.mark.parametrize(
    "body",
    [
        b"oauth_token=t1&oauth_token_secret=s1",
        b"oauth_token=t1&oauth_token_secret=s1&oauth_callback_confirmed=false",
    ],
    ids=["missing", "false"],
)
def test_parse_request_token_response_without_callback_confirmed_is_an_error(body: bytes) -> None:
    with pytest.raises(
        ExchangeError,
        match=re.escape("request token: the provider did not send oauth_callback_confirmed=true"),
    ):
        parse_request_token_response(body)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (b"oauth_token=t1&oauth_callback_confirmed=true", "oauth_token_secret"),
        (b"oauth_token_secret=s1&oauth_callback_confirmed=true", "oauth_token"),
    ],
    ids=["no-secret", "no-token"],
)
def test_parse_request_token_response_without_credentials_names_the_missing_one(
    body: bytes, missing: str
) -> None:
    with pytest.raises(
        ExchangeError, match=re.escape(f"request token: the provider's answer has no {missing}")
    ):
        parse_request_token_response(body)


def test_parse_access_token_response_without_secret_is_an_error() -> None:
    with pytest.raises(
        ExchangeError, match=re.escape("access token: the provider's answer has no oauth_token_secret")
    ):
        parse_access_token_response(b"oauth_token=a1&user_id=42", obtained_at="2024-05-01T12:00:00Z")


@pytest.mark.parametrize("body", [b'{"oauth_token": "a1"}', b"\xff\xfe"], ids=["json", "not-utf8"])
def test_parse_access_token_response_not_form_encoded_is_an_error(body: bytes) -> None:
    with pytest.raises(
        ExchangeError, match=re.escape("access token: the provider's answer is not form-encoded credentials")
    ):
        parse_access_token_response(body, obtained_at="2024-05-01T12:00:00Z")


def test_parse_access_token_response_keeps_what_the_provider_returned_besides() -> None:
    token = parse_access_token_response(
        b"oauth_token=a1&oauth_token_secret=as1&user_id=42&screen_name=alice",
        obtained_at="2024-05-01T12:00:00Z",
    )
    assert token == StoredToken(
        token="a1",
        token_secret="as1",
        obtained_at="2024-05-01T12:00:00Z",
        extra=(("screen_name", "alice"), ("user_id", "42")),
    )


def test_temporary_credentials_repr_hides_the_secret() -> None:
    assert TEMPORARY.secret not in repr(TEMPORARY)


def test_check_status_2xx_passes() -> None:
    assert check_status("access token", 200, b"oauth_token=a") is None


def test_check_status_names_the_step_and_the_oauth_problem() -> None:
    with pytest.raises(
        ExchangeError,
        match=re.escape("access token: the provider answered 401: oauth_problem=verifier_invalid"),
    ) as info:
        check_status("access token", 401, b"oauth_problem=verifier_invalid&oauth_problem_advice=try+again")
    assert (info.value.step, info.value.problem) == ("access token", "verifier_invalid")


def test_check_status_without_oauth_problem_shows_the_body() -> None:
    with pytest.raises(
        ExchangeError, match=re.escape("request token: the provider answered 503: down for maintenance")
    ):
        check_status("request token", 503, b"down for maintenance\n")


def test_check_status_empty_body_says_so() -> None:
    with pytest.raises(
        ExchangeError, match=re.escape("request token: the provider answered 500: (empty body)")
    ):
        check_status("request token", 500, b"")


def test_check_status_never_repeats_a_body_mentioning_secrets() -> None:
    with pytest.raises(ExchangeError) as info:
        check_status("access token", 400, b"bad request: consumer_secret=cs-Very-Secret was wrong")
    assert "cs-Very-Secret" not in str(info.value)


# --- callback --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "oauth_token=t1&oauth_verifier=v1",
        "?oauth_token=t1&oauth_verifier=v1",
        "oauth_token=t1&oauth_verifier=v1#_=_",
        f"  {CALLBACK}?oauth_token=t1&oauth_verifier=v1#_=_\n",
    ],
    ids=["query", "leading-question-mark", "facebook-fragment", "pasted-url"],
)
def test_parse_callback_query_reads_token_and_verifier(query: str) -> None:
    assert parse_callback_query(query) == ("t1", "v1", {})


def test_parse_callback_query_keeps_extra_parameters() -> None:
    query = f"{CALLBACK}?oauth_token=t1&oauth_verifier=v1&realmId=1234567890&state=x#_=_"
    assert parse_callback_query(query) == ("t1", "v1", {"realmId": "1234567890", "state": "x"})


@pytest.mark.parametrize(
    "query",
    ["oauth_token=t1", "oauth_verifier=v1", "", "denied=t1"],
    ids=["no-verifier", "no-token", "empty", "denied"],
)
def test_parse_callback_query_without_token_or_verifier_is_an_error(query: str) -> None:
    with pytest.raises(
        ExchangeError, match=re.escape("callback: the callback has no oauth_token and oauth_verifier")
    ):
        parse_callback_query(query)


# --- SPEC §10: PLAINTEXT over plain http is refused for the dance too (issue 12) ---


def plaintext_profile(tmp_path: Path, scheme: str, allow_insecure: bool = False) -> Profile:
    path = tmp_path / "plain.yaml"
    path.write_text(f"""\
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: the-consumer-key
    consumer_secret: ${{SECRET}}
    signature_method: PLAINTEXT
    allow_insecure: {str(allow_insecure).lower()}
    request_token_url: {scheme}://api.example.com/oauth/request_token
    authorize_url: {scheme}://api.example.com/oauth/authorize
    access_token_url: {scheme}://api.example.com/oauth/access_token
""")
    return load_config(path, env={"SECRET": CONSUMER_SECRET}).profiles[0]


def test_make_request_token_request_plaintext_over_http_is_refused_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ExchangeError) as e:
        make_request_token_request(plaintext_profile(tmp_path, "http"), "oob", nonce=NONCE, timestamp=TIMESTAMP)
    message = str(e.value)
    assert message.startswith("request token:") and "PLAINTEXT" in message and "in clear" in message
    assert "http://api.example.com/oauth/request_token" in message and "allow_insecure: true" in message
    assert CONSUMER_SECRET not in message


def test_make_access_token_request_plaintext_over_http_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExchangeError, match="^access token: .*PLAINTEXT"):
        make_access_token_request(plaintext_profile(tmp_path, "http"), TEMPORARY, "v", nonce=NONCE,
                                  timestamp=TIMESTAMP)


@pytest.mark.parametrize("scheme, allow", [("https", False), ("http", True)], ids=["https", "http-allow-insecure"])
def test_make_request_token_request_plaintext_over_https_or_allowed_is_built(
    tmp_path: Path, scheme: str, allow: bool
) -> None:
    request = make_request_token_request(plaintext_profile(tmp_path, scheme, allow), "oob", nonce=NONCE,
                                         timestamp=TIMESTAMP)
    assert 'oauth_signature_method="PLAINTEXT"' in request.headers["Authorization"]
