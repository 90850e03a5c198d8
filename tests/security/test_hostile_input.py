"""Hostile input (issue 6): whatever a client sends, no exception escapes a hook, and every request to a
configured host is either signed so that an independent oracle verifies it, or answered by the proxy itself
with a clear error (status >= 400, JSON with a message). Unit level with hypothesis over raw requests through
OAuth1Signer's hooks; a few of the same end to end, with raw sockets, to a real proxy and provider.

The oracle works on what the upstream receives: oauthlib's base string URI, normalization, signature base
string and HMAC/PLAINTEXT functions. oauthlib cannot hold parameters that are not UTF-8 (its escape encodes
text as UTF-8), so for those bytes the oracle normalizes per RFC 5849 §3.4.1.3.2 itself (octets, §3.6).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mitmproxy import http
from mitmproxy.test import taddons, tflow
from oauthlib.oauth1.rfc5849 import signature as oauthlib_signature
from oauthlib.oauth1.rfc5849 import utils as oauthlib_utils

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.mitmproxy_addon import OAuth1Signer
from tests.e2e.conftest import CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, profile_for, write_config

from .support import raw_request

HOST = "api.example.com"
FORM = "application/x-www-form-urlencoded"
PROFILES = {
    "/h/": {},
    "/q/": {"placement": "query"},
    "/b/": {"placement": "body"},
    "/p/": {"signature_method": "PLAINTEXT"},
    "/x/": {"signature_method": "HMAC-SHA256", "body_hash": True},
    "/r/": {"realm": 'Photos "x" \\ y', "signature_method": "HMAC-SHA512"},
}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    profiles = {
        f"p{i}": {"hosts": [HOST], "path_prefix": prefix, "consumer_key": CONSUMER_KEY,
                  "consumer_secret": CONSUMER_SECRET, "token": TOKEN, "token_secret": TOKEN_SECRET, **extra}
        for i, (prefix, extra) in enumerate(PROFILES.items())
    }
    return write_config(tmp / "proxy.yaml", profiles)


@pytest.fixture
def signer(config_file: Path) -> Iterator[OAuth1Signer]:
    addon = OAuth1Signer()
    with taddons.context(addon) as tctx:
        tctx.configure(addon, oauth1_config=str(config_file))
        yield addon


# --- the oracle -------------------------------------------------------------------------------------


def form_decode(data: bytes) -> list[tuple[bytes, bytes]]:
    """application/x-www-form-urlencoded as RFC 5849 §3.4.1.3.1 asks (W3C HTML 4.0 §17.13.4), on octets."""
    pairs = []
    for segment in data.split(b"&"):
        if segment:
            name, _, value = segment.partition(b"=")
            pairs.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def normalize(pairs: list[tuple[bytes, bytes]]) -> str:
    """RFC 5849 §3.4.1.3.2 with oauthlib's function, or on octets where oauthlib cannot hold them."""
    try:
        text = [(k.decode("utf-8"), v.decode("utf-8")) for k, v in pairs]
    except UnicodeDecodeError:
        encoded = sorted((quote_from_bytes(k, safe="~"), quote_from_bytes(v, safe="~")) for k, v in pairs)
        return "&".join(f"{k}={v}" for k, v in encoded)
    return str(oauthlib_signature.normalize_parameters(text))


def oracle_verifies(request: http.Request) -> bool:
    """Check the request as the upstream receives it: its signature, its body hash, its protocol parameters."""
    target = request.data.path
    raw_path, _, raw_query = target.partition(b"?")
    content_type = request.headers.get("content-type", "")
    is_form = content_type.split(";", 1)[0].strip().lower() == FORM
    body = request.raw_content or b""
    params = form_decode(raw_query)
    authorization = request.headers.get("authorization", "")
    if authorization[:6].lower() == "oauth ":
        params += [(k.encode(), oauthlib_utils.unescape(v).encode())
                   for k, v in oauthlib_utils.parse_authorization_header(authorization) if k != "realm"]
    if is_form:
        params += form_decode(body)
    oauth = {k.decode(): v.decode() for k, v in params if k.startswith(b"oauth_")}
    if sum(k == b"oauth_signature" for k, _ in params) != 1 or oauth.get("oauth_consumer_key") != CONSUMER_KEY:
        return False
    if oauth.get("oauth_token") != TOKEN or len(oauth.get("oauth_nonce", "")) != 32:
        return False
    method = oauth["oauth_signature_method"]
    if "oauth_body_hash" in oauth:
        if is_form or oauth["oauth_body_hash"] != base64.b64encode(hashlib.sha256(body).digest()).decode():
            return False
    uri = f"{request.scheme}://{request.host}{raw_path.decode('ascii')}"
    base_string = oauthlib_signature.signature_base_string(
        request.method, oauthlib_signature.base_string_uri(uri),
        normalize([(k, v) for k, v in params if k != b"oauth_signature"]),
    )
    if method == "PLAINTEXT":
        expected = oauthlib_signature.sign_plaintext(CONSUMER_SECRET, TOKEN_SECRET)
    else:  # oauthlib's HMAC for SHA-1, SHA-256 and SHA-512 (it has sign_* functions for the first two only)
        client = SimpleNamespace(client_secret=CONSUMER_SECRET, resource_owner_secret=TOKEN_SECRET)
        expected = {
            "HMAC-SHA1": oauthlib_signature.sign_hmac_sha1_with_client,
            "HMAC-SHA256": oauthlib_signature.sign_hmac_sha256_with_client,
            "HMAC-SHA512": oauthlib_signature.sign_hmac_sha512_with_client,
        }[method](base_string, client)
    return bool(oauth["oauth_signature"] == expected)


# --- raw requests --------------------------------------------------------------------------------------

FRAGMENTS = [b"a", b"Z9", b"=", b"&", b"+", b"%", b"%zz", b"%2", b"%41", b"%7e", b"%7E", b"%FF", b"%C3%A4", b"\xff",
             b"\xc3\xa4", b"\x80\x81", b"~", b";", b"|", b"[]", b"'", b"!$*", b"oauth_nonce=forged",
             b"oauth_signature=x", b"%6Fauth_token=y", b"realm=r", b"x=1&x=1", b"==", b"&&"]
query_bytes = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map(b"".join),
    st.tuples(st.sampled_from(FRAGMENTS), st.integers(2000, 20000)).map(lambda t: t[0] * t[1]),  # huge
)
body_bytes = st.one_of(query_bytes, st.binary(max_size=300))
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "get", "Post", "M-SEARCH", "PROPFIND",
           "X_CUSTOM-1!", "CONNECTX"]
CONTENT_TYPES = [None, FORM, FORM, "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8", f" {FORM} ;q=1",
                 f"{FORM},text/plain", "application/json", "text/plain", "multipart/form-data; boundary=x",
                 "application/x-www-form-urlencodedx"]
CASINGS = ["Content-Type", "content-type", "CONTENT-TYPE", "cOnTeNt-TyPe"]
AUTHORIZATIONS = [None, 'OAuth oauth_nonce="old", oauth_signature="forged"', "oauth realm=x", "Basic YTpi",
                  "OAuth", 'OAuth oauth_token="%zz', "Bearer x"]


@st.composite
def raw_requests(draw: st.DrawFn) -> http.HTTPFlow:
    prefix = draw(st.sampled_from(list(PROFILES)))
    path = prefix.encode() + draw(st.sampled_from([b"", b"items", b"a;b=c/d", b"%7E/x", b"sp%20ace", b"a/../b"]))
    if draw(st.booleans()):
        path += b"?" + draw(query_bytes)
    headers: list[tuple[bytes, bytes]] = [(draw(st.sampled_from([b"Host", b"host", b"HOST"])), HOST.encode())]
    one_content_type = st.sampled_from(CONTENT_TYPES[1:])
    content_types = draw(st.one_of(st.just([]), st.lists(one_content_type, min_size=1, max_size=1),
                                   st.lists(one_content_type, min_size=2, max_size=2)))
    for ct in content_types:
        headers.append((draw(st.sampled_from(CASINGS)).encode(), ct.encode()))
    body = draw(body_bytes)
    if draw(st.booleans()):
        headers.append((b"Transfer-Encoding", b"chunked"))
    else:
        headers.append((b"Content-Length", str(len(body)).encode()))
    encoding = draw(st.sampled_from([None] * 6 + [b"gzip", b"identity", b"br"]))
    if encoding is not None:
        headers.append((b"Content-Encoding", encoding))
    authorization = draw(st.sampled_from(AUTHORIZATIONS))
    if authorization is not None:
        headers.append((draw(st.sampled_from([b"Authorization", b"authorization"])), authorization.encode()))
    chosen = draw(st.sampled_from([None] * 6 + [b"p0", b"p1", b"nobody"]))
    if chosen is not None:
        headers.append((b"X-OAuth1-Profile", chosen))
    method = draw(st.sampled_from(METHODS)).encode()
    request = http.Request(HOST, 443, method, b"https", b"", path, b"HTTP/1.1", http.Headers(headers), body, None,
                           0.0, 0.0)
    return tflow.tflow(req=request)


def run_hooks(signer: OAuth1Signer, flow: http.HTTPFlow) -> None:
    """requestheaders then request, as mitmproxy calls them; an exception here fails the test."""
    signer.requestheaders(flow)
    if flow.error is None:
        signer.request(flow)


def assert_signed_or_refused_clearly(flow: http.HTTPFlow) -> None:
    assert flow.error is None  # nothing killed: without stream_large_bodies every body is read first
    if flow.response is None:
        assert oracle_verifies(flow.request), flow.request.data
        return
    assert flow.response.status_code >= 400
    assert flow.response.headers["Server"] == "oauth1-proxy"
    message = json.loads(flow.response.content or b"")["message"]
    assert message and "could not sign this request" not in message  # no internal error
    assert CONSUMER_KEY not in flow.request.headers.get("authorization", "")  # never signed


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], max_examples=300)
@given(flow=raw_requests())
def test_signer_any_raw_request_is_signed_verifiably_or_refused_clearly(signer: OAuth1Signer,
                                                                       flow: http.HTTPFlow) -> None:
    run_hooks(signer, flow)
    assert_signed_or_refused_clearly(flow)


def make_raw(method: bytes, path: bytes, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> http.HTTPFlow:
    request = http.Request(HOST, 443, method, b"https", b"", path, b"HTTP/1.1",
                           http.Headers([(b"Host", HOST.encode()), *headers]), body, None, 0.0, 0.0)
    return tflow.tflow(req=request)


@pytest.mark.parametrize(("path", "headers", "body"), [
    (b"/b/?%zz=%2&a=%FF\xff", [(b"Content-Type", FORM.encode())], b"v=%C3%28&w=\xc3\x28&%=%%"),
    (b"/q/x?" + b"a=1&" * 20000, [], b""),
    (b"/h/x", [(b"content-type", FORM.encode()), (b"CONTENT-TYPE", b"text/plain")], b"a=1"),
    (b"/x/up", [(b"Content-Type", b"application/octet-stream"), (b"Transfer-Encoding", b"chunked")],
     bytes(range(256)) * 1000),
], ids=["invalid-escapes-and-non-utf8", "huge-query", "duplicate-content-type", "chunked-binary-body-hash"])
def test_signer_hostile_request_examples(signer: OAuth1Signer, path: bytes, headers: list[tuple[bytes, bytes]],
                                        body: bytes) -> None:
    flow = make_raw(b"POST", path, headers, body)
    run_hooks(signer, flow)
    assert_signed_or_refused_clearly(flow)


def test_signer_duplicate_content_type_is_refused_with_400_naming_the_fix(signer: OAuth1Signer) -> None:
    flow = make_raw(b"POST", b"/h/x", [(b"Content-Type", FORM.encode()), (b"content-type", b"text/plain")], b"a=1")
    run_hooks(signer, flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert "2 Content-Type headers" in json.loads(flow.response.content or b"")["message"]


def test_signer_very_large_form_body_is_signed_verifiably(signer: OAuth1Signer) -> None:
    body = b"&".join(b"k%d=%s" % (i, b"v~%7E+" * 20) for i in range(60_000))  # ~8 MB, 60,000 parameters
    flow = make_raw(b"POST", b"/b/bulk", [(b"Content-Type", FORM.encode())], body)
    run_hooks(signer, flow)
    assert flow.response is None and oracle_verifies(flow.request)
    assert flow.request.raw_content is not None and flow.request.raw_content.startswith(body)


def test_signer_very_large_binary_body_with_body_hash_is_signed_verifiably(signer: OAuth1Signer) -> None:
    body = bytes(range(256)) * 131_072  # 32 MiB
    flow = make_raw(b"PUT", b"/x/blob", [(b"Content-Type", b"application/octet-stream")], body)
    run_hooks(signer, flow)
    assert flow.response is None and oracle_verifies(flow.request)


@example(query=b"%zz&\xff=\xc3")
@given(query=query_bytes)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
def test_oracle_rejects_a_tampered_request(signer: OAuth1Signer, query: bytes) -> None:
    # The oracle must be able to say no: sign a request, add one parameter, and it fails.
    flow = make_raw(b"GET", b"/h/v?" + query, [])
    run_hooks(signer, flow)
    assert flow.response is None and oracle_verifies(flow.request)
    flow.request.data.path += b"&tampered=1"
    assert not oracle_verifies(flow.request)


# --- end to end: raw bytes to a real proxy, verified by the provider (oauthlib's endpoints) --------------


@pytest.fixture
def proxy_port(tmp_path: Path, http_provider: Provider, run_proxy: Any) -> int:
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)}))
    return int(proxy.port)


def send(proxy_port: int, provider: Provider, head: str, body: bytes = b"") -> Any:
    return raw_request(proxy_port, head.replace("{origin}", provider.base_url).replace(
        "{host}", f"127.0.0.1:{provider.port}").encode() + b"\r\n\r\n" + body)


def test_e2e_chunked_form_body_is_signed_and_verified(http_provider: Provider, proxy_port: int) -> None:
    response = send(proxy_port, http_provider, "POST {origin}/api/echo/chunked HTTP/1.1\r\nHost: {host}\r\n"
                    f"Content-Type: {FORM}\r\nTransfer-Encoding: chunked",
                    b"5\r\na=1&b\r\n6\r\n=%7E+2\r\n0\r\n\r\n")
    assert response.status == 200, response.body
    assert [r.valid for r in http_provider.records] == [True]
    assert http_provider.records[0].body == b"a=1&b=%7E+2"


def test_e2e_odd_header_casing_and_content_type_parameters_verify(http_provider: Provider, proxy_port: int) -> None:
    response = send(proxy_port, http_provider, "PUT {origin}/api/echo/casing?Q=%7e HTTP/1.1\r\nhOsT: {host}\r\n"
                    "cOnTeNt-TyPe: Application/X-WWW-Form-URLEncoded ; Charset=UTF-8\r\ncontent-LENGTH: 9",
                    b"x=%C3%A4+")
    assert response.status == 200, response.body
    assert [r.valid for r in http_provider.records] == [True]


def test_e2e_duplicate_content_type_is_refused_and_never_sent(http_provider: Provider, proxy_port: int) -> None:
    response = send(proxy_port, http_provider, "POST {origin}/api/echo/dup HTTP/1.1\r\nHost: {host}\r\n"
                    f"Content-Type: {FORM}\r\nContent-Type: text/plain\r\nContent-Length: 3", b"a=1")
    assert response.status == 400
    assert "Content-Type headers" in response.json()["message"]
    assert http_provider.records == []


def test_e2e_huge_query_and_large_form_body_verify(http_provider: Provider, proxy_port: int) -> None:
    body = b"&".join(b"f%d=%%7E%d" % (i, i) for i in range(60_000))  # ~0.8 MB, 60,000 parameters
    query = "&".join(f"q{i}=%20{i}" for i in range(800))  # ~8 KB
    response = send(proxy_port, http_provider, f"POST {{origin}}/api/echo/big?{query} HTTP/1.1\r\nHost: {{host}}\r\n"
                    f"Content-Type: {FORM}\r\nContent-Length: {len(body)}", body)
    assert response.status == 200, response.body[:300]
    assert [r.valid for r in http_provider.records] == [True]


def test_e2e_lower_case_method_is_signed_as_the_upstream_reads_it(http_provider: Provider, proxy_port: int) -> None:
    response = send(proxy_port, http_provider, "delete {origin}/api/echo/lower HTTP/1.1\r\nHost: {host}")
    assert response.status == 200, response.body
    assert [r.valid for r in http_provider.records] == [True]
