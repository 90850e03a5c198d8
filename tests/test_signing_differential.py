"""signing.py's fast paths against the plain RFC recipe and the strict wire grammar (issue 12, SPEC §9).

The oracle is tests/wire.py: ``rfc_sign`` and its parts are written from the
text of RFC 5849, octet by octet, and share no code with signing.py; the
strict grammar is ``oauth1_proxy.wire_grammar``; ``verify_signed_request``
adds oauthlib and Authlib. Every fast path named in signing.py is compared
here with the recipe on inputs chosen to take it and to miss it.
"""

from __future__ import annotations

import base64
import hmac
import string
from collections import Counter
from unittest import mock

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import example, given
from hypothesis import strategies as st

from oauth1_proxy import signing, signing_plan
from oauth1_proxy.signing import (
    ClientCredentials,
    Placement,
    RequestToSign,
    SignatureMethod,
    TokenCredentials,
    authorization_header,
    base_string_uri,
    hmac_signature,
    normalize_parameters,
    percent_encode,
    sign_request,
    strip_oauth_parameters,
)
from oauth1_proxy.wire_grammar import WireError, parse_wire
from tests import rfc5849_vectors as vectors
from tests.wire import (
    LIBRARY_VERIFIERS,
    SignatureRefused,
    rfc_base_string_uri,
    rfc_form_decode,
    rfc_normalize,
    rfc_percent_encode,
    rfc_sign,
    rfc_strip_oauth,
    verify_signed_request,
)

FORM = "application/x-www-form-urlencoded"
UNRESERVED = string.ascii_letters + string.digits + "-._~"

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_PUBLIC_PEM = _KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
_HASH = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha512": hashes.SHA512}


def _rsa_signer(message: bytes, hash_name: str) -> bytes:
    return _KEY.sign(message, padding.PKCS1v15(), _HASH[hash_name]())


# What the matrix counted, per verifier and deviation (printed by the last test of this file).
MATRIX: Counter[str] = Counter()

# --- strategies -----------------------------------------------------------------------------------

# Text a value may hold: anything UTF-8 can carry, and the characters that need encoding most.
values = st.one_of(
    st.text(st.characters(codec="utf-8"), max_size=10),
    st.text(st.sampled_from(UNRESERVED + "%+=&'$ /é€\U0001f600\"\\"), max_size=10),
)
# A realm: a quoted-string carries no control characters (RFC 7230 §3.2.6).
realms = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_categories=("Cc",)), max_size=10))


def _escape(octets: bytes, lower: bool) -> str:
    return "".join(f"%{o:02x}" if lower else f"%{o:02X}" for o in octets)


# One character of a query or form body as clients write it: raw where the
# grammar allows, "+" for a space, escapes in either case of any octet (not
# UTF-8 too), an escape that is none ("%zz", a lone "%"), characters some
# verifiers refuse ("'", "$", "|", "["), and raw non-UTF-8 octets (a str
# carries them as surrogateescape).
_form_char = st.one_of(
    st.sampled_from(list(UNRESERVED + "!$'()*,/:;?@|[]+") + ["%2B", "%20", "%25", "%26", "%3D", "%7e", "%zz", "%"]),
    st.builds(_escape, st.binary(min_size=1, max_size=2), st.booleans()),
    st.characters(min_codepoint=0xA0, codec="utf-8"),
    st.sampled_from(["\udcff", "\udc80"]),  # raw octets 0xFF, 0x80
)
_form_name = st.one_of(st.lists(_form_char, max_size=5).map("".join), st.sampled_from(["a", "a", "oauthx", "c%40"]))
_form_value = st.lists(st.one_of(_form_char, st.just("=")), max_size=6).map("".join)
_segment = st.one_of(
    st.builds(lambda n, v: f"{n}={v}", _form_name, _form_value),
    _form_name,
    st.just(""),
    # A client's own protocol parameters, in any spelling: replaced (SPEC §5).
    st.sampled_from(["oauth_nonce=evil", "oauth_signature=forged", "%6Fauth_token=x", "oauth%5Fversion=2", "oauth_x"]),
)
form_texts = st.lists(_segment, max_size=6).map("&".join)
# The same, canonical already (the _form_items/_strip_to_items fast path).
canonical_texts = st.lists(
    st.builds(lambda n, v: f"{n}={v}", st.text(UNRESERVED, min_size=1, max_size=5),
              st.lists(st.one_of(st.sampled_from(list(UNRESERVED)), st.builds(_escape, st.binary(min_size=1,
                       max_size=1).filter(lambda b: b[0] not in bytes(UNRESERVED, "ascii")), st.just(False))),
                       max_size=5).map("".join)),
    min_size=1, max_size=5,
).map("&".join)

_label = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,5}[A-Za-z0-9]", fullmatch=True)
hosts = st.one_of(
    st.lists(_label, min_size=1, max_size=3).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
_path_char = st.one_of(
    st.sampled_from(list(UNRESERVED + "!$&'()*+,;=:@") + ["%20", "%2F", "%7e", "%zz"]),
    st.builds(_escape, st.binary(min_size=1, max_size=2), st.booleans()),
    st.characters(min_codepoint=0xA0, codec="utf-8"),
)
paths = st.one_of(st.just(""), st.lists(st.lists(_path_char, max_size=5).map("".join), min_size=1, max_size=3)
                  .map(lambda s: "/" + "/".join(s)))


@st.composite
def urls(draw: st.DrawFn, query: st.SearchStrategy[str] = form_texts) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    port = draw(st.one_of(st.none(), st.sampled_from([80, 443]), st.integers(1, 65535)))
    url = f"{scheme}://{draw(hosts)}{'' if port is None else f':{port}'}{draw(paths)}"
    q = draw(st.one_of(st.none(), query))
    return url if q is None else f"{url}?{q}"


# Every method shape: upper, lower, mixed, with "-" and "_" and digits (non-alpha take percent_encode).
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", "post", "Post", "M-SEARCH", "X_1", "A!b",
           "PROPFIND", "BREW2"]
FORM_TYPES = [FORM, "APPLICATION/X-WWW-FORM-URLENCODED", "application/x-www-form-urlencoded; charset=UTF-8"]
OTHER_TYPES = [None, "application/json", "text/plain; charset=utf-8", "multipart/form-data; boundary=x"]


def _encode_body(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


bodies = st.one_of(
    st.tuples(st.sampled_from(FORM_TYPES), st.one_of(form_texts, canonical_texts).map(_encode_body)),
    st.tuples(st.sampled_from(OTHER_TYPES), st.one_of(st.binary(max_size=24), form_texts.map(_encode_body))),
)


@st.composite
def sign_cases(draw: st.DrawFn) -> dict[str, object]:
    content_type, body = draw(bodies)
    token = draw(st.one_of(st.none(), st.tuples(values, values)))
    return {
        "method": draw(st.sampled_from(METHODS)),
        "url": draw(urls(st.one_of(form_texts, canonical_texts))),
        "content_type": content_type,
        "body": body,
        "consumer_key": draw(values),
        "consumer_secret": draw(values),
        "token": token,
        "signature_method": draw(st.sampled_from(list(SignatureMethod))),
        "nonce": draw(values),
        "timestamp": str(draw(st.integers(0, 2**33))),
        "placement": draw(st.sampled_from(list(Placement))),
        "realm": draw(realms),
        "include_body_hash": draw(st.booleans()),
        "extra": draw(st.sampled_from([(), (("oauth_callback", "oob"),), (("oauth_verifier", "v&1 %"),),
                                       (("oauth_callback", "http://127.0.0.1:9/cb?a=1&b=%20"),)])),
    }


def _ours(case: dict[str, object], **quirks: object) -> signing.SignedRequest:
    token = case["token"]
    assert token is None or isinstance(token, tuple)
    return sign_request(
        RequestToSign(method=str(case["method"]), url=str(case["url"]),
                      content_type=case["content_type"], body=case["body"]),  # type: ignore[arg-type]
        client=ClientCredentials(key=str(case["consumer_key"]), secret=str(case["consumer_secret"]),
                                 rsa_signer=_rsa_signer),
        token=None if token is None else TokenCredentials(token=token[0], secret=token[1]),
        signature_method=case["signature_method"],  # type: ignore[arg-type]
        nonce=str(case["nonce"]),
        timestamp=str(case["timestamp"]),
        placement=case["placement"],  # type: ignore[arg-type]
        realm=case["realm"],  # type: ignore[arg-type]
        include_body_hash=bool(case["include_body_hash"]),
        extra_oauth_params=case["extra"],  # type: ignore[arg-type]
        **quirks,  # type: ignore[arg-type]
    )


def _recipe(case: dict[str, object], **quirks: object) -> object:
    token = case["token"]
    assert token is None or isinstance(token, tuple)
    return rfc_sign(
        method=str(case["method"]), url=str(case["url"]), content_type=case["content_type"],  # type: ignore[arg-type]
        body=case["body"],  # type: ignore[arg-type]
        consumer_key=str(case["consumer_key"]), consumer_secret=str(case["consumer_secret"]),
        token=None if token is None else token[0], token_secret="" if token is None else token[1],
        signature_method=str(case["signature_method"]), nonce=str(case["nonce"]), timestamp=str(case["timestamp"]),
        placement=str(case["placement"]), realm=case["realm"],  # type: ignore[arg-type]
        include_body_hash=bool(case["include_body_hash"]), extra_oauth_params=case["extra"],  # type: ignore[arg-type]
        rsa_private_key=_KEY, **quirks,  # type: ignore[arg-type]
    )


def _received_headers(case: dict[str, object], authorization: str | None) -> list[tuple[str, str]]:
    headers = [] if case["content_type"] is None else [("Content-Type", str(case["content_type"]))]
    if authorization is not None:
        headers.append(("Authorization", authorization))
    return headers


# Pinned examples: the duplicated-signature shape of issue 12 (header, no
# realm, every value unreserved: the fast path that appended the raw
# signature to the list the header renders), and values needing encoding.
_PINNED = {
    "method": "GET", "url": "https://api.example.com/1/x?a=1", "content_type": None, "body": b"",
    "consumer_key": "ck", "consumer_secret": "cs", "token": ("tk", "ts"), "signature_method": SignatureMethod.HMAC_SHA1,
    "nonce": "n0", "timestamp": "1", "placement": Placement.HEADER, "realm": None, "include_body_hash": False,
    "extra": (),
}


# --- the whole signer --------------------------------------------------------------------------


@given(sign_cases())
@example(_PINNED)
@example({**_PINNED, "signature_method": SignatureMethod.PLAINTEXT, "placement": Placement.QUERY,
          "consumer_secret": "c%s&", "token": ("t k", "t%+s")})
@example({**_PINNED, "signature_method": SignatureMethod.PLAINTEXT, "placement": Placement.BODY,
          "content_type": FORM, "body": b"a=%27&b=$", "consumer_secret": "", "token": None})
@example({**_PINNED, "url": "http://[2001:DB8::1]:80/a;?q=%ff'$", "realm": 'R"\\e', "method": "m-search"})
# _append_params: after a trailing "&", onto nothing, and a query of client oauth_* only (its "?" goes).
@example({**_PINNED, "url": "https://h/p?a=1&", "placement": Placement.QUERY})
@example({**_PINNED, "url": "https://h/p?oauth_nonce=x", "placement": Placement.QUERY})
@example({**_PINNED, "url": "https://h/p?oauth_nonce=x"})
@example({**_PINNED, "content_type": FORM, "body": b"a=1&", "placement": Placement.BODY})
@example({**_PINNED, "content_type": FORM, "body": b"", "placement": Placement.BODY, "include_body_hash": True})
@example({**_PINNED, "content_type": FORM, "body": b"oauth_token=x", "placement": Placement.BODY})
def test_sign_request_wire_bytes_equal_the_rfc_recipe(case: dict[str, object]) -> None:
    ours, recipe = _ours(case), _recipe(case)
    # RSA-SHA* (PKCS #1 v1.5) is deterministic: every method compares byte for byte.
    assert (ours.url, ours.authorization, ours.body) == (recipe.url, recipe.authorization, recipe.body)  # type: ignore[attr-defined]
    assert ours.base_string == recipe.base_string  # type: ignore[attr-defined]
    assert ours.oauth_params == recipe.oauth_params  # type: ignore[attr-defined]


@given(sign_cases())
@example(_PINNED)
@example({**_PINNED, "signature_method": SignatureMethod.PLAINTEXT, "placement": Placement.QUERY,
          "consumer_secret": "c%s&", "token": ("t k", "t%+s")})
@example({**_PINNED, "signature_method": SignatureMethod.HMAC_SHA256, "placement": Placement.BODY,
          "content_type": FORM, "body": b"q='$&r=%7C", "consumer_secret": "", "nonce": "50%"})
def test_sign_request_output_verified_by_the_strict_grammar_and_every_verifier(case: dict[str, object]) -> None:
    signed = _ours(case)
    token = case["token"]
    verification = verify_signed_request(
        str(case["method"]), signed.url, _received_headers(case, signed.authorization), signed.body,
        consumer_secret=str(case["consumer_secret"]), token_secret="" if token is None else token[1],  # type: ignore[index]
        rsa_public_key_pem=_PUBLIC_PEM,
    )
    # Each protocol parameter decoded once gives the value signed.
    assert list(verification.params.items()) == list(signed.oauth_params)
    assert verification.wire.realm == (case["realm"] if verification.wire.placement == "header" else None)
    # The matrix: the grammar and the recipe always; each library unless a deviation names it.
    assert verification.verifiers[:2] == ["strict-grammar", "rfc-recipe"]
    for library in LIBRARY_VERIFIERS:
        skipped = [d for d in verification.deviations if d.startswith(f"{library}:") and "verified by the recipe" in d]
        assert (library in verification.verifiers) != bool(skipped), (library, verification.deviations)
    MATRIX["examples"] += 1
    MATRIX.update(verification.verifiers)
    MATRIX.update(d.split(";")[0].split("(")[0].strip() for d in verification.deviations)


@given(sign_cases(), st.booleans(), st.booleans(), st.lists(st.sampled_from(["a", "c@", "photo", "oauth_nonce"]),
                                                            max_size=2))
def test_sign_request_quirks_equal_the_recipe_quirks(
    case: dict[str, object], body_hash_on_forms: bool, key_ampersand: bool, exclude: list[str]
) -> None:
    quirks = {"body_hash_on_forms": body_hash_on_forms, "key_ampersand": key_ampersand, "exclude_params": exclude}
    ours, recipe = _ours(case, **quirks), _recipe(case, **quirks)
    assert (ours.url, ours.authorization, ours.body) == (recipe.url, recipe.authorization, recipe.body)  # type: ignore[attr-defined]


# --- each fast path against its recipe step -------------------------------------------------------


@given(st.one_of(values, st.binary(max_size=40), st.text(st.characters(codec="utf-8"), min_size=13, max_size=60)))
@example("%=&")  # the normalized-parameters path of _escape_octets
@example(bytes(range(256)))  # more than _MAX_REPLACES distinct octets: quote_from_bytes
@example("\udcff")  # a raw non-UTF-8 octet in a str
def test_percent_encode_fast_paths_equal_the_recipe(value: str | bytes) -> None:
    assert percent_encode(value) == rfc_percent_encode(value)


@given(st.one_of(urls(), st.sampled_from(["http://h/a b", "https://h/é/%7e", "http://h:8080/~x"])))
def test_encode_uri_equals_the_recipe_encoding_of_the_base_string_uri(url: str) -> None:
    uri = base_string_uri(url)
    assert signing._encode_uri(uri) == rfc_percent_encode(uri)


@given(st.one_of(st.binary(max_size=30), st.text("%=&" + UNRESERVED, max_size=20).map(str.encode)))
@example(b"a%b=c&d")  # only "%", "=" and "&" to escape: the replace path
@example(bytes(range(0x20, 0x7F)))  # many distinct octets: quote_from_bytes
def test_escape_octets_equals_the_recipe(data: bytes) -> None:
    special = bytes(o for o in data if o not in UNRESERVED.encode())
    if special:
        assert signing._escape_octets(data, special) == rfc_percent_encode(data)


@given(st.one_of(urls(), st.sampled_from(["http://EXAMPLE.com", "HTTPS://a.b:443/x/", "http://a.b:0080/",
                                          "https://u:p@Host.example:8443/p?q#f", "http://h/p q",
                                          "http://h/%7E;", "http://[::1]:80/", "https://[FE80::1]:8443"])))
def test_base_string_uri_plain_url_path_and_urlsplit_path_equal_the_recipe(url: str) -> None:
    assert base_string_uri(url).encode("utf-8", "surrogateescape") == rfc_base_string_uri(url)


@given(st.one_of(form_texts, canonical_texts).map(_encode_body))
@example(b"a=1&b=%41")  # an escape of an unreserved octet: not canonical
@example(b"a=%2b")  # lower-case hex: not canonical
@example(b"=&=")
def test_form_items_equal_the_recipe_encoding_of_the_decoded_form(data: bytes) -> None:
    items = [item.replace("\x00", "=") for item in signing._form_items(data)] if data else []
    assert sorted(items) == sorted(f"{rfc_percent_encode(k)}={rfc_percent_encode(v)}"
                                   for k, v in rfc_form_decode(data))


@given(st.one_of(form_texts, canonical_texts).map(_encode_body))
@example(b"oauth_nonce=1&a=2&oauth_x")
@example(b"a=1&&b=2&oauth_token=")
@example(b"oauth_a=1")
def test_strip_to_items_equals_the_recipe_strip_then_items(data: bytes) -> None:
    stripped, items = signing._strip_to_items(data)
    assert stripped == rfc_strip_oauth(data)
    assert sorted(i.replace("\x00", "=") for i in items) == sorted(
        f"{rfc_percent_encode(k)}={rfc_percent_encode(v)}" for k, v in rfc_form_decode(stripped))


@given(st.one_of(form_texts, canonical_texts).map(_encode_body))
@example(b"a=1&%6Fauth_nonce=2")
@example(b"%6Fauth_nonce=2")
@example(b"a=%25&o%61uth_x=1")
def test_strip_oauth_parameters_fast_path_equals_the_recipe(data: bytes) -> None:
    assert strip_oauth_parameters(data) == rfc_strip_oauth(data)


@given(st.lists(st.tuples(values, values), max_size=6))
def test_normalize_parameters_equals_the_recipe(params: list[tuple[str, str]]) -> None:
    as_bytes = [(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape")) for k, v in params]
    assert normalize_parameters(as_bytes) == rfc_normalize(as_bytes)


@given(st.text(st.characters(codec="utf-8"), max_size=30), values, values,
       st.sampled_from(["sha1", "sha256", "sha512"]))
def test_inlined_hmac_equals_hmac_signature_and_the_stdlib(base: str, secret: str, token_secret: str,
                                                          hash_name: str) -> None:
    base_string = rfc_percent_encode(base)
    key = f"{rfc_percent_encode(secret)}&{rfc_percent_encode(token_secret)}"
    expected = base64.b64encode(hmac.new(key.encode(), base_string.encode(), hash_name).digest()).decode()
    assert hmac_signature(base_string, key, hash_name) == expected
    method = {"sha1": SignatureMethod.HMAC_SHA1, "sha256": SignatureMethod.HMAC_SHA256,
              "sha512": SignatureMethod.HMAC_SHA512}[hash_name]
    signed = sign_request(RequestToSign(method="GET", url="https://h/"), client=ClientCredentials(key="k",
                          secret=secret), token=TokenCredentials(token="t", secret=token_secret),
                          signature_method=method, nonce="n", timestamp="1")
    assert dict(signed.oauth_params)["oauth_signature"] == base64.b64encode(
        hmac.new(key.encode(), signed.base_string.encode(), hash_name).digest()).decode()


@given(st.lists(st.tuples(st.sampled_from(["oauth_consumer_key", "oauth_token", "oauth_nonce", "oauth_callback"]),
                          values), max_size=4, unique_by=lambda p: p[0]), realms)
def test_authorization_header_renders_the_recipe_form_and_parses_strictly(
    params: list[tuple[str, str]], realm: str | None
) -> None:
    params = [*params, ("oauth_signature_method", "HMAC-SHA1"), ("oauth_timestamp", "1"),
              ("oauth_signature", "a+b/c=")]
    params = [*params, *([("oauth_consumer_key", "k")] if "oauth_consumer_key" not in dict(params) else []),
              *([("oauth_nonce", "n")] if "oauth_nonce" not in dict(params) else [])]
    header = authorization_header(params, realm)
    items = [f'{rfc_percent_encode(k)}="{rfc_percent_encode(v)}"' for k, v in params]
    if realm is not None:
        items.insert(0, 'realm="' + realm.replace("\\", "\\\\").replace('"', '\\"') + '"')
    assert header == "OAuth " + ", ".join(items)
    wire = parse_wire("GET", "https://h/", [("Authorization", header)], b"")
    assert list(wire.params.items()) == params and wire.realm == realm


# --- the strict grammar refuses what RFC 5849 forbids ----------------------------------------------

_GOOD = ('OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_signature_method="HMAC-SHA1", '
         'oauth_timestamp="137131200", oauth_nonce="wIjqoS", oauth_version="1.0", oauth_signature="a%2Bb%3D"')


def test_parse_wire_well_formed_header_gives_decoded_parameters() -> None:
    wire = parse_wire("GET", "https://h/", {"Authorization": _GOOD}, b"")
    assert wire.placement == "header" and wire.realm == "Photos" and wire.params["oauth_signature"] == "a+b="


@pytest.mark.parametrize(
    ("header", "match"),
    [
        # issue 12: the raw signature and its encoded copy.
        (_GOOD.replace('oauth_signature="a%2Bb%3D"', 'oauth_signature="a+b=", oauth_signature="a%2Bb%3D"'),
         "not percent-encoded"),
        (_GOOD + ', oauth_signature="a%2Bb%3D"', "duplicated parameter: oauth_signature appears twice"),
        (_GOOD + ', oauth_nonce="x"', "oauth_nonce appears twice"),
        (_GOOD.replace('realm="Photos", ', "") + ', realm="Photos"', "realm after other parameters"),
        (_GOOD.replace("%2B", "%2b"), "not upper-case"),
        (_GOOD.replace('"wIjqoS"', '"w%49jqoS"'), "escapes the unreserved character 'I'"),
        (_GOOD.replace('"wIjqoS"', '"w jq"'), "are not encoded"),
        (_GOOD.replace(", oauth_nonce", ",oauth_nonce"), "not separated by ', '"),
        (_GOOD.replace('oauth_nonce="wIjqoS"', "oauth_nonce=wIjqoS"), 'not name="value"'),
        (_GOOD.replace("OAuth ", "oauth "), "not 'OAuth '"),
        (_GOOD.replace(', oauth_nonce="wIjqoS"', ""), "missing oauth_nonce"),
        (_GOOD.replace('"1.0"', '"2.0"'), "MUST be \"1.0\""),
        (_GOOD + ', foo="bar"', "not a protocol parameter"),
        (_GOOD.replace('"Photos"', '"Ph\r\noto"'), "control character"),
    ],
    ids=["raw-and-encoded-signature", "signature-twice", "nonce-twice", "realm-last", "lower-hex",
         "escaped-unreserved", "raw-space", "comma-without-space", "unquoted", "scheme-case", "no-nonce",
         "version-2", "non-oauth-name", "realm-crlf"],
)
def test_parse_wire_header_breaking_rfc5849_3_5_1_refused(header: str, match: str) -> None:
    with pytest.raises(WireError, match=match):
        parse_wire("GET", "https://h/", {"Authorization": header}, b"")


_QUERY = ("oauth_consumer_key=k&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1&oauth_nonce=n"
          "&oauth_signature=a%2Bb%3D")


@pytest.mark.parametrize(
    ("query", "match"),
    [
        (_QUERY + "&oauth_nonce=m", "oauth_nonce appears twice in the query"),
        (_QUERY.replace("a%2Bb%3D", "a+b%3D"), "not percent-encoded"),  # "+" is a form space, not §3.6
        (_QUERY.replace("a%2Bb%3D", "a%252Bb%253D") + "&oauth_x=%41", "escapes the unreserved"),
        (_QUERY.replace("oauth_nonce=n", "oauth%5Fnonce=n"), "escapes the unreserved character '_'"),
        (_QUERY.replace("&oauth_nonce=n", "&oauth_nonce"), "has no '=value'"),
    ],
    ids=["nonce-twice", "plus-for-space", "escaped-unreserved-value", "escaped-name", "bare-name"],
)
def test_parse_wire_query_breaking_rfc5849_3_5_3_refused(query: str, match: str) -> None:
    with pytest.raises(WireError, match=match):
        parse_wire("GET", f"https://h/p?x=1&{query}", [], b"")


def test_parse_wire_protocol_parameters_in_two_places_refused() -> None:
    with pytest.raises(WireError, match="in the header and the query"):
        parse_wire("GET", "https://h/?oauth_callback=oob", {"Authorization": _GOOD}, b"")


def test_parse_wire_body_parameters_of_a_non_form_body_ignored() -> None:
    wire = parse_wire("POST", "https://h/", {"Authorization": _GOOD, "Content-Type": "text/plain"},
                      b"oauth_nonce=1&oauth_nonce=2")
    assert wire.placement == "header"


def test_parse_wire_two_oauth_authorization_headers_refused() -> None:
    with pytest.raises(WireError, match="2 OAuth Authorization headers"):
        parse_wire("GET", "https://h/", [("Authorization", _GOOD), ("Authorization", _GOOD)], b"")


def test_parse_wire_message_never_shows_a_signature_value() -> None:
    with pytest.raises(WireError) as caught:
        parse_wire("GET", "https://h/", {"Authorization": _GOOD.replace("a%2Bb%3D", "secret&tokensecret")}, b"")
    assert "secret" not in str(caught.value).replace("secrets", "")


def test_verify_signed_request_duplicated_signature_of_issue_12_refused() -> None:
    # What sign_request sent before commit 42fea3b: the raw signature, then the encoded one.
    signed = _ours(_PINNED)
    raw = dict(signed.oauth_params)["oauth_signature"]
    assert signed.authorization is not None
    doubled = signed.authorization.replace(", oauth_signature=", f', oauth_signature="{raw}", oauth_signature=')
    with pytest.raises(WireError):
        verify_signed_request("GET", signed.url, {"Authorization": doubled}, b"", consumer_secret="cs",
                              token_secret="ts")


def test_verify_signed_request_wrong_secret_refused_by_the_recipe() -> None:
    signed = _ours(_PINNED)
    with pytest.raises(SignatureRefused, match="the RFC 5849 recipe refuses"):
        verify_signed_request("GET", signed.url, {"Authorization": signed.authorization or ""}, b"",
                              consumer_secret="cs", token_secret="wrong")


# --- golden: the exact Authorization bytes -------------------------------------------------------

PHOTOS = vectors.OAUTH_CORE_1_0_A_5_PHOTOS_REQUEST
_PHOTOS_PARAMS = ('oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", '
                  'oauth_signature_method="{method}", oauth_timestamp="1191242096", oauth_nonce="kllo9940pd9333jh", '
                  'oauth_version="1.0", oauth_signature="{signature}"')


def _photos(method: SignatureMethod, realm: str | None = None) -> str | None:
    return sign_request(
        RequestToSign(method="GET", url=PHOTOS.url),
        client=ClientCredentials(key=PHOTOS.consumer_key, secret=PHOTOS.consumer_secret),
        token=TokenCredentials(token="nnch734d00sl2jdk", secret=PHOTOS.token_secret),
        signature_method=method, nonce=PHOTOS.nonce, timestamp=PHOTOS.timestamp, realm=realm,
    ).authorization


@pytest.mark.parametrize(
    ("method", "realm", "expected"),
    [
        # OAuth Core 1.0 Appendix A.5 (published): tR3+Ty81lMeYAr/Fid0kMTYa/WM=; also
        # printf '%s' "$BASE" | openssl dgst -sha1 -hmac 'kd94hf93k423kf44&pfkkdhi9sl3r4s00' -binary | base64
        # with BASE = vectors.OAUTH_CORE_1_0_A_5_PHOTOS_REQUEST.base_string.
        (SignatureMethod.HMAC_SHA1, None,
         "OAuth " + _PHOTOS_PARAMS.format(method="HMAC-SHA1", signature="tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D")),
        (SignatureMethod.HMAC_SHA1, "Photos",
         'OAuth realm="Photos", '
         + _PHOTOS_PARAMS.format(method="HMAC-SHA1", signature="tR3%2BTy81lMeYAr%2FFid0kMTYa%2FWM%3D")),
        # printf '%s' "${BASE/HMAC-SHA1/HMAC-SHA256}" | openssl dgst -sha256 \
        #   -hmac 'kd94hf93k423kf44&pfkkdhi9sl3r4s00' -binary | base64
        # -> WVPzl1j6ZsnkIjWr7e3OZ3jkenL57KwaLFhYsroX1hg=
        (SignatureMethod.HMAC_SHA256, None,
         "OAuth " + _PHOTOS_PARAMS.format(method="HMAC-SHA256",
                                          signature="WVPzl1j6ZsnkIjWr7e3OZ3jkenL57KwaLFhYsroX1hg%3D")),
        # RFC 5849 §3.4.4: the key itself, "kd94hf93k423kf44&pfkkdhi9sl3r4s00", encoded once in the header.
        (SignatureMethod.PLAINTEXT, 'Ph"o\\tos',
         'OAuth realm="Ph\\"o\\\\tos", '
         + _PHOTOS_PARAMS.format(method="PLAINTEXT", signature="kd94hf93k423kf44%26pfkkdhi9sl3r4s00")),
    ],
    ids=["hmac-sha1", "hmac-sha1-realm", "hmac-sha256", "plaintext-quoted-realm"],
)
def test_sign_request_golden_authorization_bytes(method: SignatureMethod, realm: str | None, expected: str) -> None:
    # Three times: the third (and, for HMAC, the second) comes from a plan of the shape (signing_plan.py).
    with mock.patch.object(signing_plan, "PLANS", signing_plan.PlanCache()) as plans:
        assert [_photos(method, realm) for _ in range(3)] == [expected] * 3
        assert any(isinstance(v, signing_plan.Plan) for v in plans._plans.values()) == method.is_hmac


# BASE='POST&https%3A%2F%2Fapi.example.com%2Fv1%2Fa%2520b&oauth_consumer_key%3Dck%2520%252B%252F%25C3%25A9%26'\
# 'oauth_nonce%3Dn%2526x%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26oauth_token%3D'\
# 'tk%253D1%26oauth_version%3D1.0%26q%3Dcaf%25C3%25A9%26x%3D1%25202'
# printf '%s' "$BASE" | openssl dgst -sha1 -hmac 'c%20s&t%26s' -binary | base64  ->  qCoJAejYvGynSUKukMg/FYWrarg=
ENCODED_BASE = (
    "POST&https%3A%2F%2Fapi.example.com%2Fv1%2Fa%2520b&oauth_consumer_key%3Dck%2520%252B%252F%25C3%25A9%26"
    "oauth_nonce%3Dn%2526x%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D1700000000%26oauth_token%3D"
    "tk%253D1%26oauth_version%3D1.0%26q%3Dcaf%25C3%25A9%26x%3D1%25202"
)


def test_sign_request_golden_values_needing_encoding() -> None:
    signed = sign_request(
        RequestToSign(method="post", url="https://API.example.com:443/v1/a%20b?q=caf%C3%A9&x=1+2"),
        client=ClientCredentials(key="ck +/é", secret="c s"), token=TokenCredentials(token="tk=1", secret="t&s"),
        signature_method=SignatureMethod.HMAC_SHA1, nonce="n&x", timestamp="1700000000",
    )
    assert signed.base_string == ENCODED_BASE
    assert signed.authorization == (
        'OAuth oauth_consumer_key="ck%20%2B%2F%C3%A9", oauth_token="tk%3D1", oauth_signature_method="HMAC-SHA1", '
        'oauth_timestamp="1700000000", oauth_nonce="n%26x", oauth_version="1.0", '
        'oauth_signature="qCoJAejYvGynSUKukMg%2FFYWrarg%3D"'
    )


def test_zz_verifier_matrix_both_libraries_verified_examples(capsys: pytest.CaptureFixture[str]) -> None:
    """Print the matrix the Hypothesis run of this file counted; both libraries really verified examples."""
    with capsys.disabled():
        print("\nverifier matrix:", dict(sorted(MATRIX.items())))
    if MATRIX["examples"]:  # the verification test ran in this session
        assert MATRIX["strict-grammar"] == MATRIX["rfc-recipe"] == MATRIX["examples"]
        assert MATRIX["oauthlib"] > MATRIX["examples"] // 3 and MATRIX["authlib"] > MATRIX["examples"] // 3





@pytest.mark.parametrize("realm", ["a\r\nX-Evil: 1", "a\nb", "nul\x00", "del\x7f"], ids=["crlf", "lf", "nul", "del"])
def test_sign_request_realm_with_a_control_character_raises_naming_it(realm: str) -> None:
    # A CR or LF in a quoted-string would end the Authorization header and start another.
    with pytest.raises(ValueError, match="holds a control character, which an Authorization header cannot carry"):
        sign_request(RequestToSign(method="GET", url="https://h/"), client=ClientCredentials(key="k", secret="s"),
                     token=None, signature_method=SignatureMethod.HMAC_SHA1, nonce="n", timestamp="1", realm=realm)


def test_sign_request_realm_with_a_tab_is_a_valid_quoted_string() -> None:
    signed = sign_request(RequestToSign(method="GET", url="https://h/"), client=ClientCredentials(key="k", secret="s"),
                          token=None, signature_method=SignatureMethod.HMAC_SHA1, nonce="n", timestamp="1",
                          realm="a\tb")
    assert parse_wire("GET", signed.url, {"Authorization": signed.authorization or ""}, b"").realm == "a\tb"
