"""signing_fast.py's shortcuts against the recipe of the signing.py step each replaces (issue 13).

Each test runs a step twice: as shipped, and with its shortcut switched off
(``shortcuts_off``: every partial shortcut answers "does not apply", so the
step runs the code under its RFC quote). Both must give the same result, and
the shortcut must really answer on the inputs it was written for (else the
comparison would prove nothing). tests/test_signing_differential.py compares
the whole signer with tests/wire.py's independent recipe.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from unittest import mock

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from oauth1_proxy import signing, signing_fast, signing_plan
from oauth1_proxy.signing import (
    ClientCredentials,
    RequestToSign,
    TokenCredentials,
    base_string_uri,
    encode_octets,
    encode_protocol_parameters,
    encoded_form_items,
    percent_encode,
    sign_request,
    signature_base_string,
    signing_key,
    strip_oauth_parameters,
    without_client_oauth_parameters,
)
from tests.test_signing_differential import (
    FORM,
    UNRESERVED,
    _ours,
    canonical_texts,
    form_texts,
    sign_cases,
    urls,
    values,
)

# What each partial shortcut answers when it does not apply.
_DOES_NOT_APPLY: dict[str, object] = {
    "percent_encode": None,
    "escape_octets": None,
    "base_string_uri": None,
    "signature_base_string": None,
    "canonical_form_items": None,
    "protocol_parameters_unreserved": False,
    "is_unreserved": False,
    "holds_no_oauth_name": False,
}


@contextmanager
def shortcuts_off() -> Iterator[None]:
    """Every step runs its recipe: each partial shortcut says it does not apply; encode_base64 is percent_encode;
    no shape is planned (signing_plan.py)."""
    with ExitStack() as stack:
        for name, answer in _DOES_NOT_APPLY.items():
            stack.enter_context(mock.patch.object(signing_fast, name, lambda *_args, _a=answer: _a))
        stack.enter_context(mock.patch.object(signing_fast, "encode_base64", signing.percent_encode))
        stack.enter_context(mock.patch.object(signing_plan, "PLANS", signing_plan.PlanCache(0)))  # no plan either
        yield


def test_shortcuts_off_covers_every_shortcut_signing_fast_exports() -> None:
    assert set(signing_fast.__all__) - {"UNRESERVED", "SEP"} == {*_DOES_NOT_APPLY, "encode_base64"}


def test_signing_fast_unreserved_set_equals_the_one_signing_quotes() -> None:
    assert set(signing_fast.UNRESERVED) == set(signing._UNRESERVED) == set(UNRESERVED.encode())
    assert len(signing_fast.UNRESERVED) == len(signing._UNRESERVED) == 66


def test_encode_octets_recipe_is_rfc5849_3_6() -> None:
    # §3.6: unreserved characters stay, every other octet is "%" and two upper-case hex digits.
    assert encode_octets(bytes(range(256))) == "".join(
        chr(o) if chr(o) in UNRESERVED else f"%{o:02X}" for o in range(256)
    )


# --- percent_encode (RFC 5849 §3.6) ----------------------------------------------------------------


@given(st.one_of(values, st.binary(max_size=40), st.text("%=&:/+" + UNRESERVED, max_size=30)))
@example("a%b=c&d")  # the normalized-parameters form
@example("https://h/p")  # the base string URI form
@example("a+b/c=")  # base64
@example(bytes(range(256)))  # more than 12 distinct octets: the recipe
def test_percent_encode_shortcut_equals_the_recipe(value: str | bytes) -> None:
    with shortcuts_off():
        recipe = percent_encode(value)
    assert percent_encode(value) == recipe


def test_percent_encode_shortcut_answers_for_the_usual_values() -> None:
    for value in [b"abc", b"a%b=c&d", b"https://h/p", b"a+b/c=", b"caf\xc3\xa9 x"]:
        assert signing_fast.percent_encode(value) == encode_octets(value)
    assert signing_fast.percent_encode(bytes(range(256))) is None


@given(st.binary(min_size=1, max_size=64))
def test_encode_base64_equals_percent_encode_of_base64_text(raw: bytes) -> None:
    text = base64.b64encode(raw).decode("ascii")
    with shortcuts_off():
        recipe = percent_encode(text)
    assert signing_fast.encode_base64(text) == recipe


# --- base_string_uri (RFC 5849 §3.4.1.2) -------------------------------------------------------


@given(st.one_of(urls(), st.sampled_from(["http://EXAMPLE.com", "HTTPS://a.b:443/x/", "http://a.b:0080/",
                                          "https://u:p@Host.example:8443/p?q#f", "http://h/p q",
                                          "http://h:99999/", "http://[::1]:80/"])))
@example("HTTP://API.Example.COM:8080/a/b?c=d#e")
def test_base_string_uri_shortcut_equals_the_recipe(url: str) -> None:
    with shortcuts_off():
        try:
            recipe: str | type[ValueError] = base_string_uri(url)
        except ValueError:
            recipe = ValueError
    if recipe is ValueError:
        assert signing_fast.base_string_uri(url) is None
    else:
        assert base_string_uri(url) == recipe


def test_base_string_uri_shortcut_answers_for_a_plain_url() -> None:
    assert signing_fast.base_string_uri("HTTPS://Api.Example.com:443/1.1/x.json?a=1") == "https://api.example.com/1.1/x.json"


# --- signature_base_string (RFC 5849 §3.4.1.1) -------------------------------------------------


@given(st.sampled_from(["GET", "post", "M-SEARCH", "GÉT"]), st.one_of(urls().map(base_string_uri), values),
       st.one_of(st.lists(st.tuples(values, values), max_size=5).map(
           lambda ps: signing.normalize_parameters([(k.encode("utf-8", "surrogateescape"),
                                                     v.encode("utf-8", "surrogateescape")) for k, v in ps])),
           values))
@example("GET", "https://h/p", "a=1&b=%20")
def test_signature_base_string_shortcut_equals_the_recipe(method: str, uri: str, normalized: str) -> None:
    with shortcuts_off():
        recipe = signature_base_string(method, uri, normalized)
    assert signature_base_string(method, uri, normalized) == recipe


def test_signature_base_string_shortcut_answers_for_the_usual_parts() -> None:
    assert signing_fast.signature_base_string("get", "https://h/p", "a=1&b=%20") == (
        "GET&https%3A%2F%2Fh%2Fp&a%3D1%26b%3D%2520"
    )
    assert signing_fast.signature_base_string("M-SEARCH", "https://h/p", "") is None


# --- the request parameters (RFC 5849 §3.4.1.3.1, §3.4.1.3.2 step 1) ---------------------------


@given(st.one_of(form_texts, canonical_texts).map(lambda t: t.encode("utf-8", "surrogateescape")))
@example(b"a=1&b=%41")  # an escape of an unreserved octet: not canonical
@example(b"a=%2b")  # lower-case hex: not canonical
@example(b"a=1&b=%2B&c=")
def test_canonical_form_items_equal_the_recipe(data: bytes) -> None:
    with shortcuts_off():
        recipe = encoded_form_items(data)
    assert encoded_form_items(data) == recipe


@pytest.mark.parametrize("octet", range(256), ids=[f"{o:02X}" for o in range(256)])
def test_canonical_form_items_every_escape_in_either_case_equals_the_recipe(octet: int) -> None:
    # Exhaustive over the one-octet escapes: the canonical test's escape table is exactly RFC 5849 §3.6.
    for data in (f"a%{octet:02X}=%{octet:02X}".encode(), f"a=%{octet:02x}&b".encode()):
        with shortcuts_off():
            recipe = encoded_form_items(data)
        assert encoded_form_items(data) == recipe


def test_canonical_form_items_answer_for_a_canonical_query() -> None:
    assert signing_fast.canonical_form_items(b"a=1&b=%2B&c=") == ["a\x001", "b\x00%2B", "c\x00"]
    assert signing_fast.canonical_form_items(b"a=%2b") is None


@given(st.lists(st.tuples(st.sampled_from(["oauth_consumer_key", "oauth_nonce", "oauth_callback", "x y"]), values),
                max_size=7))
@example([("oauth_consumer_key", "ck"), ("oauth_nonce", "n0")])
def test_protocol_parameters_unreserved_shortcut_equals_the_recipe(params: list[tuple[str, str]]) -> None:
    with shortcuts_off():
        recipe = encode_protocol_parameters(params)
    assert encode_protocol_parameters(params) == recipe


@given(values, values)
@example("cs", "ts")
def test_signing_key_shortcut_equals_the_recipe(secret: str, token_secret: str) -> None:
    client, token = ClientCredentials(key="k", secret=secret), TokenCredentials(token="t", secret=token_secret)
    with shortcuts_off():
        recipe = signing_key(client, token)
    assert signing_key(client, token) == recipe


# --- SPEC §5: the client's own oauth_* parameters ---------------------------------------------------


@given(st.one_of(form_texts, canonical_texts).map(lambda t: t.encode("utf-8", "surrogateescape")))
@example(b"a=1&%6Fauth_nonce=2")
@example(b"a=%25&o%61uth_x=1")
@example(b"o%61uth_token=2")  # a name written with "o" first, spelling oauth_ with an escape
@example(b"offset=1&o%61uth_x=%20")
@example(b"+oauth_x=1&a=%20")  # "+" decodes to a space: not oauth_
@example(b"a=1&b=2")
def test_holds_no_oauth_name_shortcut_equals_the_recipe(data: bytes) -> None:
    with shortcuts_off():
        recipe = strip_oauth_parameters(data)
    assert strip_oauth_parameters(data) == recipe
    if signing_fast.holds_no_oauth_name(data):
        assert recipe == data


@given(urls(st.one_of(form_texts, canonical_texts)), st.sampled_from([None, FORM]),
       st.one_of(form_texts, canonical_texts).map(lambda t: t.encode("utf-8", "surrogateescape")))
def test_without_client_oauth_parameters_shortcut_equals_the_recipe(url: str, content_type: str | None,
                                                                     body: bytes) -> None:
    request = RequestToSign(method="POST", url=url, content_type=content_type, body=body)
    with shortcuts_off():
        recipe = without_client_oauth_parameters(request, content_type is not None)
    assert without_client_oauth_parameters(request, content_type is not None) == recipe


# --- the whole signer, every shortcut at once ---------------------------------------------------


@given(sign_cases(), st.booleans(), st.booleans(), st.lists(st.sampled_from(["a", "c@", "oauth_nonce"]), max_size=2))
def test_sign_request_with_every_shortcut_off_gives_the_same_bytes(
    case: dict[str, object], body_hash_on_forms: bool, key_ampersand: bool, exclude: list[str]
) -> None:
    quirks = {"body_hash_on_forms": body_hash_on_forms, "key_ampersand": key_ampersand, "exclude_params": exclude}
    with shortcuts_off():
        recipe = _ours(case, **quirks)
    assert _ours(case, **quirks) == recipe


def test_sign_request_usual_request_takes_the_shortcuts() -> None:
    # The shortcuts answer for the bench's request: the comparison above is not between two recipes.
    calls: list[str] = []
    originals = {name: getattr(signing_fast, name) for name in [*_DOES_NOT_APPLY, "encode_base64"]}

    def spy(name: str) -> object:
        def call(*args: object) -> object:
            answer = originals[name](*args)  # type: ignore[operator]
            if answer not in (None, False):
                calls.append(name)
            return answer
        return call

    with ExitStack() as stack:
        for name in originals:
            stack.enter_context(mock.patch.object(signing_fast, name, spy(name)))
        sign_request(RequestToSign(method="GET", url="https://api.example.com/1.1/x.json?count=20&since_id=1"),
                     client=ClientCredentials(key="ck", secret="cs"), token=TokenCredentials(token="t", secret="ts"),
                     signature_method=signing.SignatureMethod.HMAC_SHA1, nonce="n0", timestamp="1")
    assert {"holds_no_oauth_name", "protocol_parameters_unreserved", "canonical_form_items", "base_string_uri",
            "signature_base_string", "is_unreserved", "encode_base64"} <= set(calls)
