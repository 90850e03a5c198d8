"""The embedded provider, exercised with oauthlib's own client as the signer (never oauth1_proxy.signing).

Every test starts its own Provider on 127.0.0.1:0 and stops it. Requests are
signed with ``oauthlib.oauth1.Client`` and sent with ``requests`` (or
``http.client`` where the exact bytes on the wire matter).
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib import oauth1

from oauth1_proxy.devtools.provider import Provider, ProviderClient, VerifiedRequest

CONSUMER_KEY = "test-consumer"
CONSUMER_SECRET = "consumer-secret-&+/ä"
TOKEN = "preseeded-token"
TOKEN_SECRET = "token-secret-%20="
CALLBACK = "http://127.0.0.1:9/callback"


def make_provider(**overrides: Any) -> Provider:
    options: dict[str, Any] = {
        "clients": [ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
        "access_tokens": {TOKEN: TOKEN_SECRET},
    }
    options.update(overrides)
    return Provider(**options)


@pytest.fixture
def provider() -> Iterator[Provider]:
    with make_provider() as p:
        yield p


@pytest.fixture
def tls_provider(tmp_path: Path) -> Iterator[Provider]:
    with make_provider(tls=True, cert_dir=tmp_path / "certs") as p:
        yield p


@pytest.fixture(scope="module")
def rsa_key_pair() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def verify_for(p: Provider) -> str | bool:
    return p.ca_file if p.ca_file is not None else True


def send(
    p: Provider,
    client: oauth1.Client,
    method: str,
    path: str,
    *,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """Sign a request with oauthlib's Client and send it with requests."""
    uri, signed_headers, signed_body = client.sign(p.base_url + path, method, body, headers)
    data = signed_body.encode() if isinstance(signed_body, str) else signed_body
    return requests.request(
        method, uri, headers=signed_headers, data=data, verify=verify_for(p), allow_redirects=False, timeout=5
    )


def consumer(**kwargs: Any) -> oauth1.Client:
    return oauth1.Client(CONSUMER_KEY, client_secret=CONSUMER_SECRET, **kwargs)


def form(response: requests.Response) -> dict[str, str]:
    return dict(parse_qsl(response.text, keep_blank_values=True))


def raw_request(
    p: Provider, method: str, target: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """Send exact request-target bytes over plain http (requests would re-quote the URL)."""
    connection = http.client.HTTPConnection(p.host, p.port, timeout=5)
    try:
        connection.putrequest(method, target, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def request_token(p: Provider, callback: str = CALLBACK) -> dict[str, str]:
    response = send(p, consumer(callback_uri=callback), "POST", "/oauth/request_token")
    assert response.status_code == 200, response.text
    return form(response)


def access_token(p: Provider, temporary: dict[str, str], verifier: str) -> requests.Response:
    client = consumer(
        resource_owner_key=temporary["oauth_token"],
        resource_owner_secret=temporary["oauth_token_secret"],
        verifier=verifier,
    )
    return send(p, client, "POST", "/oauth/access_token")


def last(p: Provider) -> VerifiedRequest:
    assert p.records, "the provider recorded no request"
    return p.records[-1]


# -- the three-legged dance (RFC 5849 §2) -----------------------------------------------------


def test_provider_three_legged_dance_with_html_approval_reaches_api_me(provider: Provider) -> None:
    # 1. Temporary credentials.
    temporary = request_token(provider)
    assert temporary["oauth_callback_confirmed"] == "true"
    # 2. The resource owner sees the page and presses Approve (a form POST).
    page = requests.get(provider.authorize_url, params={"oauth_token": temporary["oauth_token"]}, timeout=5)
    assert page.status_code == 200
    assert f"Authorize {CONSUMER_KEY}?" in page.text
    assert 'method="post" action="/oauth/authorize"' in page.text
    assert ">Approve<" in page.text
    approved = requests.post(
        provider.authorize_url, data={"oauth_token": temporary["oauth_token"]},
        allow_redirects=False, timeout=5,
    )
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    assert location.geturl().startswith(CALLBACK + "?")
    returned = dict(parse_qsl(location.query))
    assert returned["oauth_token"] == temporary["oauth_token"]
    # 3. Token credentials.
    response = access_token(provider, temporary, returned["oauth_verifier"])
    assert response.status_code == 200, response.text
    token = form(response)
    assert token["user_id"] == "1001"
    assert token["screen_name"] == "demo_user"
    # 4. A protected resource with them.
    client = consumer(
        resource_owner_key=token["oauth_token"], resource_owner_secret=token["oauth_token_secret"]
    )
    me = send(provider, client, "GET", "/api/me")
    assert me.status_code == 200, me.text
    assert me.json() == {"user_id": "1001", "screen_name": "demo_user"}
    assert [r.endpoint for r in provider.records] == ["request_token", "access_token", "resource"]
    assert all(r.valid for r in provider.records)


def test_provider_three_legged_dance_with_approve_over_tls_reaches_api_me(tls_provider: Provider) -> None:
    assert tls_provider.base_url.startswith("https://localhost:")
    assert tls_provider.ca_file is not None and Path(tls_provider.ca_file).is_file()
    temporary = request_token(tls_provider)
    verifier = tls_provider.approve(temporary["oauth_token"])
    token = form(access_token(tls_provider, temporary, verifier))
    client = consumer(
        resource_owner_key=token["oauth_token"], resource_owner_secret=token["oauth_token_secret"]
    )
    me = send(tls_provider, client, "GET", "/api/me")
    assert me.status_code == 200, me.text
    assert me.json()["screen_name"] == "demo_user"


def test_provider_auto_approve_redirects_to_callback_at_once() -> None:
    with make_provider(auto_approve=True) as p:
        temporary = request_token(p)
        response = requests.get(
            p.authorize_url, params={"oauth_token": temporary["oauth_token"]},
            allow_redirects=False, timeout=5,
        )
        assert response.status_code == 302
        verifier = dict(parse_qsl(urlsplit(response.headers["Location"]).query))["oauth_verifier"]
        assert access_token(p, temporary, verifier).status_code == 200


def test_provider_oob_callback_shows_pin_page(provider: Provider) -> None:
    temporary = request_token(provider, callback="oob")
    response = requests.post(
        provider.authorize_url, data={"oauth_token": temporary["oauth_token"]}, timeout=5
    )
    assert response.status_code == 200
    start = response.text.index('id="pin">') + len('id="pin">')
    pin = response.text[start:response.text.index("<", start)]
    assert access_token(provider, temporary, pin).status_code == 200


def test_provider_refuses_reused_request_token(provider: Provider) -> None:
    temporary = request_token(provider)
    verifier = provider.approve(temporary["oauth_token"])
    assert access_token(provider, temporary, verifier).status_code == 200
    again = access_token(provider, temporary, verifier)
    assert again.status_code == 401
    assert form(again)["oauth_problem"] == "token_rejected"


def test_provider_refuses_wrong_verifier(provider: Provider) -> None:
    temporary = request_token(provider)
    provider.approve(temporary["oauth_token"])
    response = access_token(provider, temporary, "not-the-verifier")
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "verifier_invalid"


def test_provider_refuses_access_token_request_without_verifier(provider: Provider) -> None:
    temporary = request_token(provider)
    client = consumer(
        resource_owner_key=temporary["oauth_token"], resource_owner_secret=temporary["oauth_token_secret"]
    )
    response = send(provider, client, "POST", "/oauth/access_token")
    assert response.status_code == 400
    assert form(response)["oauth_problem"] == "parameter_absent"
    assert form(response)["oauth_parameters_absent"] == "oauth_verifier"


def test_provider_refuses_request_token_without_callback(provider: Provider) -> None:
    response = send(provider, consumer(), "POST", "/oauth/request_token")
    assert response.status_code == 400
    assert form(response)["oauth_parameters_absent"] == "oauth_callback"


def test_provider_approve_of_unknown_token_raises(provider: Provider) -> None:
    with pytest.raises(ValueError, match="unknown, already approved or already exchanged"):
        provider.approve("no-such-token")


# -- protected resources (RFC 5849 §3) --------------------------------------------------------


def test_provider_consumer_only_echo_verifies_with_body_hash(provider: Provider) -> None:
    body = '{"status": "hello"}'
    response = send(provider, consumer(), "POST", "/api/echo?x=1", body=body,
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["ok"] is True
    assert data["token"] is None
    assert data["consumer_key"] == CONSUMER_KEY
    assert data["body_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert last(provider).body_hash_ok is True  # oauthlib's Client sends oauth_body_hash (SHA-1)


def test_provider_preseeded_access_token_verifies(provider: Provider) -> None:
    client = consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET)
    response = send(provider, client, "GET", "/api/echo/deep/path?a=1")
    assert response.status_code == 200, response.text
    assert response.json()["token"] == TOKEN
    assert response.json()["path"] == "/api/echo/deep/path"


def test_provider_api_me_refuses_consumer_only_request(provider: Provider) -> None:
    response = send(provider, consumer(), "GET", "/api/me")
    assert response.status_code == 400
    assert form(response)["oauth_parameters_absent"] == "oauth_token"


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded; charset=UTF-8", "Application/X-WWW-Form-URLEncoded"],
    ids=["charset-parameter", "mixed-case"],
)
def test_provider_form_post_with_any_form_content_type_verifies(
    provider: Provider, content_type: str
) -> None:
    body = "status=Hello%20Ladies+%2B%20Gentlemen&a=1&a=2&empty="
    # oauthlib's Client.sign accepts only the bare media type; the header's
    # parameters and case are not part of the signature base string, so sign
    # with the bare type and send the variant.
    uri, headers, signed_body = consumer().sign(
        provider.base_url + "/api/echo", "POST", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    headers["Content-Type"] = content_type
    response = requests.post(uri, headers=headers, data=signed_body.encode(), timeout=5)
    assert response.status_code == 200, response.text
    record = last(provider)
    assert record.valid and record.content_type == content_type and record.body_hash_ok is None


def test_provider_form_body_params_are_signed(provider: Provider) -> None:
    uri, headers, body = consumer().sign(
        provider.base_url + "/api/echo", "POST", "a=1", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    response = requests.post(uri, headers=headers, data=b"a=2", timeout=5)  # the body changed after signing
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "signature_invalid"


def test_provider_refuses_reused_nonce(provider: Provider) -> None:
    client = consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET)
    uri, headers, _ = client.sign(provider.base_url + "/api/me", "GET")
    first = requests.get(uri, headers=headers, timeout=5)
    replay = requests.get(uri, headers=headers, timeout=5)
    assert first.status_code == 200
    assert replay.status_code == 401
    assert form(replay)["oauth_problem"] == "nonce_used"
    assert last(provider).reason == "nonce_used"


def test_provider_refuses_wrong_consumer_secret_with_signature_invalid(provider: Provider) -> None:
    client = oauth1.Client(CONSUMER_KEY, client_secret="wrong-secret")
    response = send(provider, client, "GET", "/api/echo")
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "signature_invalid"
    assert response.headers["WWW-Authenticate"] == f'OAuth realm="{provider.base_url}"'
    assert CONSUMER_SECRET not in response.text
    assert last(provider).reason == "signature_invalid"


def test_provider_refuses_unknown_consumer_key(provider: Provider) -> None:
    response = send(provider, oauth1.Client("someone-else", client_secret="x"), "GET", "/api/echo")
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "consumer_key_unknown"


def test_provider_refuses_stale_timestamp(provider: Provider) -> None:
    client = consumer(timestamp=str(int(time.time()) - 3600))
    response = send(provider, client, "GET", "/api/echo")
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "timestamp_refused"


def test_provider_refuses_body_hash_mismatch(provider: Provider) -> None:
    uri, headers, _ = consumer().sign(
        provider.base_url + "/api/echo", "POST", '{"a": 1}', {"Content-Type": "application/json"}
    )
    assert "oauth_body_hash" in headers["Authorization"]
    response = requests.post(uri, headers=headers, data=b'{"a": 2}', timeout=5)
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "body_hash_invalid"
    record = last(provider)
    assert (record.valid, record.body_hash_ok, record.reason) == (False, False, "body hash mismatch")


class BodyHashClient(oauth1.Client):  # type: ignore[misc]
    """oauthlib's Client, sending oauth_body_hash by a chosen hash for any body.

    oauthlib's own Client hashes with SHA-1 whatever the signature method, and
    only bodies that are not form-encoded.
    """

    def __init__(self, *args: Any, hash_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hash_name = hash_name

    def get_oauth_params(self, request: Any) -> list[tuple[str, str]]:
        params = [(k, v) for k, v in super().get_oauth_params(request) if k != "oauth_body_hash"]
        digest = hashlib.new(self.hash_name, (request.body or "").encode()).digest()
        return [*params, ("oauth_body_hash", base64.b64encode(digest).decode())]


def test_provider_refuses_body_hash_on_form_body(provider: Provider) -> None:
    client = BodyHashClient(CONSUMER_KEY, client_secret=CONSUMER_SECRET, hash_name="sha1")
    response = send(provider, client, "POST", "/api/echo", body="a=1",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 400
    record = last(provider)
    assert (record.body_hash_ok, record.reason) == (True, "oauth_body_hash on a form-encoded body")


def test_provider_hmac_sha256_body_hash_uses_sha256(provider: Provider) -> None:
    client = BodyHashClient(
        CONSUMER_KEY, client_secret=CONSUMER_SECRET, signature_method="HMAC-SHA256", hash_name="sha256"
    )
    response = send(provider, client, "PUT", "/api/echo", body="[1, 2]",
                    headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["signature_method"] == "HMAC-SHA256"
    assert last(provider).body_hash_ok is True


def test_provider_rsa_sha256_client_verifies(rsa_key_pair: tuple[str, str]) -> None:
    private, public = rsa_key_pair
    with Provider(clients=[ProviderClient(key="rsa-client", rsa_public_key_pem=public)]) as p:
        client = oauth1.Client("rsa-client", signature_method="RSA-SHA256", rsa_key=private)
        response = send(p, client, "GET", "/api/echo?q=1")
        assert response.status_code == 200, response.text
        assert response.json()["signature_method"] == "RSA-SHA256"
        # The same client may not fall back to an HMAC signature with an empty secret.
        hmac_response = send(p, oauth1.Client("rsa-client", client_secret=""), "GET", "/api/echo")
        assert form(hmac_response)["oauth_problem"] == "signature_method_rejected"


def test_provider_plaintext_verifies_over_tls(tls_provider: Provider) -> None:
    client = consumer(
        resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET, signature_method="PLAINTEXT"
    )
    response = send(tls_provider, client, "GET", "/api/me")
    assert response.status_code == 200, response.text
    assert last(tls_provider).signature_method == "PLAINTEXT"


def test_provider_refuses_realm_outside_configured_realms() -> None:
    with make_provider(realms=["photos"]) as p:
        assert send(p, consumer(realm="photos"), "GET", "/api/echo").status_code == 200
        refused = send(p, consumer(realm="videos"), "GET", "/api/echo")
        assert refused.status_code == 401
        assert form(refused)["oauth_problem"] == "permission_denied"
        assert refused.headers["WWW-Authenticate"] == 'OAuth realm="photos"'


# -- what the provider verifies against: the wire --------------------------------------------


def test_provider_verifies_raw_query_bytes_not_reencoded(provider: Provider) -> None:
    # On the wire: a raw "|", a lowercase escape and "+". Decoded as a form
    # (RFC 5849 §3.4.1.3.1) they equal the escaped query oauthlib's Client signs.
    _, headers, _ = consumer().sign(provider.base_url + "/api/echo?q=a%7Cb&t=%7e&s=a+b", "GET")
    status, body = raw_request(provider, "GET", "/api/echo?q=a|b&t=%7e&s=a+b", headers)
    assert status == 200, body
    assert json.loads(body)["query"] == "q=a|b&t=%7e&s=a+b"
    assert last(provider).uri == f"{provider.base_url}/api/echo?q=a|b&t=%7e&s=a+b"


def test_provider_verifies_raw_utf8_form_body(provider: Provider) -> None:
    _, headers, _ = consumer().sign(
        provider.base_url + "/api/echo", "POST", "status=caf%C3%A9",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    status, body = raw_request(provider, "POST", "/api/echo", headers, "status=café".encode())
    assert status == 200, body


def test_provider_verifies_against_host_header(provider: Provider) -> None:
    _, headers, _ = consumer().sign("http://api.example.test:8080/api/echo/h", "GET")
    status, body = raw_request(provider, "GET", "/api/echo/h", {**headers, "Host": "API.example.test:8080"})
    assert status == 200, body
    assert last(provider).uri == "http://API.example.test:8080/api/echo/h"


# -- records, other routes, lifecycle ---------------------------------------------------------


def test_provider_records_carry_request_fields(provider: Provider) -> None:
    client = consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET, realm="Example")
    send(provider, client, "POST", "/api/echo/r?x=1", body="[1]",
         headers={"Content-Type": "application/json"})
    send(provider, oauth1.Client(CONSUMER_KEY, client_secret="wrong"), "DELETE", "/api/echo/r")
    good, bad = provider.records
    assert good.endpoint == "resource"
    assert (good.method, good.uri, good.valid) == ("POST", f"{provider.base_url}/api/echo/r?x=1", True)
    assert (good.signature_method, good.consumer_key, good.token) == ("HMAC-SHA1", CONSUMER_KEY, TOKEN)
    assert good.nonce and good.realm == "Example"
    assert (good.content_type, good.body, good.body_hash_ok) == ("application/json", b"[1]", True)
    assert (good.reason, good.problem) == (None, None)
    assert (bad.method, bad.valid, bad.reason, bad.token) == ("DELETE", False, "signature_invalid", None)
    for record in provider.records:
        assert CONSUMER_SECRET not in repr(record) and TOKEN_SECRET not in repr(record)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD"])
def test_provider_echo_answers_every_method_on_subpaths(provider: Provider, method: str) -> None:
    response = send(provider, consumer(), method, "/api/echo/a/b")
    assert response.status_code == 200, response.text
    if method != "HEAD":
        assert response.json()["method"] == method
    assert last(provider).method == method


def test_provider_public_routes_need_no_signature(provider: Provider) -> None:
    assert "demo provider" in requests.get(provider.base_url + "/public/hello", timeout=5).text
    assert "/oauth/request_token" in requests.get(provider.base_url + "/", timeout=5).text
    assert provider.records == []


def test_provider_stop_closes_the_port() -> None:
    p = make_provider().start()
    port = p.port
    p.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_provider_tls_certificate_names_localhost_and_loopback_ip(tls_provider: Provider) -> None:
    context = ssl.create_default_context(cafile=tls_provider.ca_file)
    for name in ("localhost", "127.0.0.1"):
        with socket.create_connection(("127.0.0.1", tls_provider.port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=name) as tls:
            assert tls.version() is not None


# -- strict wire grammar and the second verifier (issue 12, SPEC §9) ---------------------------


def _signed_headers(p: Provider, path: str = "/api/echo") -> dict[str, str]:
    client = consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET)
    _, headers, _ = client.sign(p.base_url + path, "GET")
    return dict(headers)


def test_provider_refuses_duplicated_oauth_signature_with_400_parameter_rejected(provider: Provider) -> None:
    # Issue 12's shape: the raw signature, then its encoded copy. oauthlib alone
    # folds the header into a dict (the last copy wins) and accepted it.
    headers = _signed_headers(provider)
    encoded = headers["Authorization"].split('oauth_signature="', 1)[1].split('"', 1)[0]
    raw = unquote(encoded)
    headers["Authorization"] = headers["Authorization"].replace(
        f'oauth_signature="{encoded}"', f'oauth_signature="{raw}", oauth_signature="{encoded}"'
    ).replace(f'oauth_signature="{raw}", ', "")  # put the raw copy first, once
    headers["Authorization"] = headers["Authorization"].replace(
        f'oauth_signature="{encoded}"', f'oauth_signature="{encoded}", oauth_signature="{encoded}"'
    )
    status, body = raw_request(provider, "GET", "/api/echo", headers)
    answer = dict(parse_qsl(body.decode()))
    assert status == 400
    assert answer["oauth_problem"] == "parameter_rejected"
    assert "duplicated parameter: oauth_signature appears twice" in answer["oauth_problem_advice"]
    assert encoded not in body.decode() and not last(provider).valid


@pytest.mark.parametrize(
    ("change", "advice"),
    [
        (lambda h: h.replace("%2F", "%2f").replace("%3D", "%3d").replace("%2B", "%2b"), "not upper-case"),
        (lambda h: h.replace('oauth_version="1.0"', 'oauth_version="1%2E0"'), "escapes the unreserved character"),
        (lambda h: h.replace('", oauth_', '",oauth_'), "not separated by ', '"),
        (lambda h: h + ', realm="late"', "realm after other parameters"),
    ],
    ids=["lower-case-hex", "escaped-unreserved", "no-space-after-comma", "realm-not-first"],
)
def test_provider_refuses_authorization_outside_the_strict_grammar(
    provider: Provider, change: Any, advice: str
) -> None:
    headers = _signed_headers(provider)
    # A signature with an escape in it, so the lower-case variant changes something.
    while "%" not in headers["Authorization"].split("oauth_signature=", 1)[1]:
        headers = _signed_headers(provider)
    headers["Authorization"] = change(headers["Authorization"])
    status, body = raw_request(provider, "GET", "/api/echo", headers)
    answer = dict(parse_qsl(body.decode()))
    assert status == 400 and answer["oauth_problem"] == "parameter_rejected"
    assert advice in answer["oauth_problem_advice"]


def test_provider_refuses_protocol_parameter_twice_in_the_query(provider: Provider) -> None:
    client = consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET,
                      signature_type=oauth1.SIGNATURE_TYPE_QUERY)
    uri, _, _ = client.sign(provider.base_url + "/api/echo", "GET")
    target = uri.split(str(provider.port), 1)[1]
    status, body = raw_request(provider, "GET", target + "&oauth_nonce=again", {})
    assert status == 400
    assert "oauth_nonce appears twice in the query" in dict(parse_qsl(body.decode()))["oauth_problem_advice"]


def test_provider_refuses_what_authlib_refuses_though_oauthlib_accepts(
    provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oauth1_proxy.devtools.provider import app as provider_module

    monkeypatch.setattr(provider_module, "authlib_verifies", lambda *a, **k: False)
    response = send(provider, consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET), "GET",
                    "/api/echo")
    assert response.status_code == 401
    assert form(response)["oauth_problem"] == "signature_invalid"
    assert "Authlib" in form(response)["oauth_problem_advice"]


METHOD_PLACEMENTS = [(m, t) for m in ("HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "RSA-SHA1", "RSA-SHA512",
                                      "PLAINTEXT")
                     for t in (oauth1.SIGNATURE_TYPE_AUTH_HEADER, oauth1.SIGNATURE_TYPE_QUERY,
                               oauth1.SIGNATURE_TYPE_BODY)]


@pytest.mark.parametrize(("method", "placement"), METHOD_PLACEMENTS, ids=[f"{m}-{t}" for m, t in METHOD_PLACEMENTS])
def test_provider_authlib_agrees_with_oauthlib_for_every_method_and_placement(
    rsa_key_pair: tuple[str, str], monkeypatch: pytest.MonkeyPatch, method: str, placement: str
) -> None:
    from oauth1_proxy.devtools.provider import app as provider_module

    verdicts: list[bool] = []
    real = provider_module.authlib_verifies

    def spy(*args: Any, **kwargs: Any) -> bool:
        verdicts.append(real(*args, **kwargs))
        return verdicts[-1]

    monkeypatch.setattr(provider_module, "authlib_verifies", spy)
    private, public = rsa_key_pair
    # A token holding "%" (Authlib unescapes oauth_* values twice) and a query
    # with "'" and "$" (Authlib's form decoder refuses them).
    token, token_secret = "tok%en", "s%ecret&"
    clients = [ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET, rsa_public_key_pem=public)]
    with Provider(clients=clients, access_tokens={token: token_secret}) as p:
        client = oauth1.Client(CONSUMER_KEY, client_secret=CONSUMER_SECRET, resource_owner_key=token,
                               resource_owner_secret=token_secret, signature_method=method,
                               rsa_key=private if method.startswith("RSA") else None, signature_type=placement)
        body = "a=1&b=%27%24" if placement == oauth1.SIGNATURE_TYPE_BODY else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else None
        uri, signed_headers, signed_body = client.sign(p.base_url + "/api/echo?q=%27%24x", "POST", body, headers)
        target = uri.split(str(p.port), 1)[1].replace("%27%24x", "'$x")  # raw "'" and "$", as clients send
        data = signed_body.encode() if isinstance(signed_body, str) else b""
        status, answer = raw_request(p, "POST", target, dict(signed_headers), data)
        assert status == 200, answer
        assert verdicts == [True]


def test_provider_record_of_an_accepted_request_names_its_three_verifiers(provider: Provider) -> None:
    send(provider, consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET), "GET", "/api/echo")
    assert last(provider).verified_by == ("wire-grammar", "oauthlib", "authlib")
    send(provider, consumer(resource_owner_key=TOKEN, resource_owner_secret="wrong"), "GET", "/api/echo")
    assert last(provider).verified_by == ()


def test_provider_echo_masks_a_plaintext_signature_in_the_query(provider: Provider) -> None:
    # Now that a PLAINTEXT signature in the query verifies, the echo must not reflect the secrets it is.
    client = consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET, signature_method="PLAINTEXT",
                      signature_type=oauth1.SIGNATURE_TYPE_QUERY)
    response = send(provider, client, "GET", "/api/echo?a=1")
    assert response.status_code == 200, response.text
    assert "oauth_signature=***" in response.json()["query"] and "a=1" in response.json()["query"]
    assert "consumer-secret" not in response.text and "token-secret" not in response.text


@pytest.mark.parametrize("query", ["a=%zz&b=%", "q='$&r=|[]"], ids=["lone-percent", "refused-octets"])
def test_provider_verifies_query_octets_its_libraries_refuse_to_decode(provider: Provider, query: str) -> None:
    # Signed by the plain RFC recipe (tests/wire.py), never by oauth1_proxy.signing: a "%" that
    # starts no escape is a literal "%" (W3C form decoding), and "'", "$", "|", "[" are plain octets.
    from tests.wire import rfc_sign

    signed = rfc_sign(method="GET", url=f"{provider.base_url}/api/echo?{query}", content_type=None, body=b"",
                      consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, token=TOKEN,
                      token_secret=TOKEN_SECRET, signature_method="HMAC-SHA1", nonce=secrets.token_hex(16),
                      timestamp=str(int(time.time())))
    assert signed.authorization is not None
    status, body = raw_request(provider, "GET", f"/api/echo?{query}", {"Authorization": signed.authorization})
    assert status == 200, body
    assert last(provider).verified_by == ("wire-grammar", "oauthlib", "authlib")
