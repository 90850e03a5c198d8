"""signing_plan.py: a request signed from a plan is the recipe's request, octet for octet (issue 17).

Each case is signed several times through a fresh cache, each time with another nonce and timestamp of
unreserved text: the first time by the recipe, the second by the recipe run for the markers (the plan is
made), the later ones from the plan. Every answer is compared with
- the recipe with every shortcut off and no plan (test_signing_fast.shortcuts_off, ``planned=False``), and
- tests/wire.py's independent RFC 5849 recipe (``rfc_sign``), written from the RFC's text alone;
and the tests below check that the usual requests really are planned, else the comparison would prove nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from oauth1_proxy import signing, signing_plan
from oauth1_proxy.signing import (
    ClientCredentials,
    Placement,
    RequestToSign,
    SignatureMethod,
    TokenCredentials,
    sign_request,
)
from oauth1_proxy.signing_plan import NONCE_MARK, TIMESTAMP_MARK, Plan, PlanCache
from tests.test_signing_differential import _PINNED, FORM, _ours, _recipe, sign_cases
from tests.test_signing_fast import shortcuts_off

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
nonces = st.text(UNRESERVED, min_size=1, max_size=40)
timestamps = st.one_of(st.integers(0, 2**33).map(str), st.text(UNRESERVED, min_size=1, max_size=12))


@contextmanager
def fresh_plans(size: int = signing_plan.MAX_PLANS) -> Iterator[PlanCache]:
    cache = PlanCache(size)
    with mock.patch.object(signing_plan, "PLANS", cache):
        yield cache


def _planned_shapes(cache: PlanCache) -> list[Plan]:
    return [value for value in cache._plans.values() if isinstance(value, Plan)]


def _fields(signed: object) -> tuple[object, ...]:
    return (signed.url, signed.authorization, signed.body, signed.oauth_params,  # type: ignore[attr-defined]
            signed.base_string)  # type: ignore[attr-defined]


# --- a planned request against both recipes ----------------------------------------------------------------


# Most cases plannable (an HMAC method, no dance parameter); the others check that no plan is made for them.
plannable = st.one_of(st.none(), st.sampled_from([m for m in SignatureMethod if m.is_hmac]))


@settings(max_examples=200)
@given(sign_cases(), plannable, st.lists(st.tuples(nonces, timestamps), min_size=4, max_size=4), st.booleans(),
       st.booleans(), st.lists(st.sampled_from(["a", "c@", "oauth_nonce", "oauth_timestamp"]), max_size=2))
@example({**_PINNED, "extra": ()}, None, [("n0", "1"), ("n1", "2"), ("abc", "1700000000"), ("Z-._~", "0")], False,
         True, [])
@example({**_PINNED, "content_type": FORM, "body": b"a=1&oauth_nonce=x&b=%20", "placement": Placement.BODY,
          "extra": ()}, None, [("n0", "1"), ("n1", "2"), ("n2", "3"), ("n3", "4")], False, True, [])
@example({**_PINNED, "url": f"https://h/p?x={NONCE_MARK}", "placement": Placement.QUERY, "extra": ()}, None,
         [("n0", "1"), ("n1", "2"), ("n2", "3"), ("n3", "4")], False, True, [])
def test_every_planned_request_equals_the_recipe_and_the_independent_recipe(
    case: dict[str, object], hmac_method: SignatureMethod | None, values: list[tuple[str, str]],
    body_hash_on_forms: bool, key_ampersand: bool, exclude: list[str],
) -> None:
    if hmac_method is not None:
        case = {**case, "signature_method": hmac_method, "extra": ()}
    quirks = {"body_hash_on_forms": body_hash_on_forms, "key_ampersand": key_ampersand, "exclude_params": exclude}
    with fresh_plans():
        for nonce, timestamp in values:
            one = {**case, "nonce": nonce, "timestamp": timestamp}
            ours = _ours(one, **quirks)
            with shortcuts_off():
                plain = _ours(one, **quirks)
            assert ours == plain
            independent = _recipe(one, **quirks)
            assert _fields(ours) == _fields(independent)


# --- the usual requests are planned -------------------------------------------------------------------------

_SHAPES = {
    "get-query-string": ("GET", "https://api.example.com/1.1/statuses/home_timeline.json?count=20&since_id=1",
                         None, b""),
    "post-form": ("POST", "https://api.example.com/1.1/statuses/update.json", FORM, b"status=Hello%20world&x=1"),
    "post-json": ("POST", "http://127.0.0.1:8080/v1/items?a=%7E", "application/json", b'{"name": "x"}'),
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
@pytest.mark.parametrize("placement", list(Placement))
@pytest.mark.parametrize("method", [m for m in SignatureMethod if m.is_hmac])
@pytest.mark.parametrize("token", [None, ("tk-1", "ts s")], ids=["consumer-only", "token"])
@pytest.mark.parametrize("body_hash", [False, True], ids=["", "body-hash"])
def test_usual_request_is_planned_the_second_time_and_signed_from_the_plan_after(
    shape: str, placement: Placement, method: SignatureMethod, token: tuple[str, str] | None, body_hash: bool,
) -> None:
    verb, url, content_type, body = _SHAPES[shape]
    request = RequestToSign(method=verb, url=url, content_type=content_type, body=body)
    options = {"client": ClientCredentials(key="ck", secret="c&s"),
               "token": None if token is None else TokenCredentials(token=token[0], secret=token[1]),
               "signature_method": method, "placement": placement, "realm": "Photos",
               "include_body_hash": body_hash}
    with fresh_plans() as cache, mock.patch.object(Plan, "signed", autospec=True,
                                                   side_effect=Plan.signed) as from_plan:
        answers = [sign_request(request, nonce=f"nonce{i}", timestamp=str(1700000000 + i), **options)
                   for i in range(4)]
        assert len(_planned_shapes(cache)) == 1
        assert from_plan.call_count == 3  # the second request (the plan just made), the third and the fourth
    for i, answer in enumerate(answers):
        assert answer == sign_request(request, nonce=f"nonce{i}", timestamp=str(1700000000 + i), planned=False,
                                      **options)


def test_a_one_off_request_makes_no_plan() -> None:
    # The first sighting only notes the shape: a URL never seen again costs no marker run.
    request = RequestToSign(method="GET", url="https://api.example.com/x?cursor=1")
    with fresh_plans() as cache, mock.patch.object(signing_plan, "make_plan") as make:
        sign_request(request, client=ClientCredentials(key="ck", secret="cs"), token=None,
                     signature_method=SignatureMethod.HMAC_SHA1, nonce="n0", timestamp="1")
        assert make.call_count == 0
        assert _planned_shapes(cache) == []


@pytest.mark.parametrize(
    ("why", "overrides"),
    [
        ("RSA signs with the private key, not planned", {"signature_method": SignatureMethod.RSA_SHA256}),
        ("PLAINTEXT's signature is the key", {"signature_method": SignatureMethod.PLAINTEXT}),
        ("the dance's oauth_callback", {"extra_oauth_params": (("oauth_callback", "oob"),)}),
        ("a nonce that needs encoding", {"nonce": "n&1"}),
        ("an empty nonce", {"nonce": ""}),
        ("a timestamp that needs encoding", {"timestamp": "1 2"}),
    ],
)
def test_no_plan_where_the_template_argument_does_not_hold(why: str, overrides: dict[str, object]) -> None:
    from tests.test_signing_differential import _rsa_signer

    options: dict[str, object] = {
        "client": ClientCredentials(key="ck", secret="cs", rsa_signer=_rsa_signer), "token": None,
        "signature_method": SignatureMethod.HMAC_SHA1, "nonce": "n0", "timestamp": "1", **overrides}
    request = RequestToSign(method="GET", url="https://api.example.com/x?a=1")
    with fresh_plans() as cache, mock.patch.object(signing_plan, "make_plan") as make:
        answers = [sign_request(request, **options) for _ in range(3)]  # type: ignore[arg-type]
        assert make.call_count == 0, why
        assert len(cache) == 0, why
    assert answers[2] == sign_request(request, planned=False, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("why", "url", "exclude"),
    [
        ("a marker in the query would be cut too", f"https://h/p?x={NONCE_MARK}", ()),
        ("the timestamp's marker in the path", f"https://h/{TIMESTAMP_MARK}", ()),
        ("exclude_params leaves the nonce out of the base string", "https://h/p", ("oauth_nonce",)),
    ],
)
def test_shape_is_remembered_as_unplannable_when_a_marker_is_not_exactly_once(
    why: str, url: str, exclude: tuple[str, ...]
) -> None:
    options: dict[str, object] = {"client": ClientCredentials(key="ck", secret="cs"), "token": None,
                                  "signature_method": SignatureMethod.HMAC_SHA1, "exclude_params": exclude}
    request = RequestToSign(method="GET", url=url)
    with fresh_plans() as cache:
        answers = [sign_request(request, nonce=f"n{i}", timestamp=str(i), **options)  # type: ignore[arg-type]
                   for i in range(4)]
        assert len(cache) == 1 and _planned_shapes(cache) == [], why
    for i, answer in enumerate(answers):
        assert answer == sign_request(request, nonce=f"n{i}", timestamp=str(i), planned=False,  # type: ignore[arg-type]
                                      **options)


def test_changed_credentials_are_another_shape() -> None:
    request = RequestToSign(method="GET", url="https://api.example.com/x")
    with fresh_plans():
        for secret in ("s1", "s1", "s1", "s2", "s2", "s2"):
            options = {"client": ClientCredentials(key="ck", secret="cs"),
                       "token": TokenCredentials(token="t", secret=secret),
                       "signature_method": SignatureMethod.HMAC_SHA1, "nonce": "n", "timestamp": "1"}
            assert sign_request(request, **options) == sign_request(request, planned=False, **options)


def test_cache_keeps_at_most_its_size_first_in_first_out() -> None:
    with fresh_plans(size=4) as cache:
        for i in range(10):
            for _ in range(3):
                sign_request(RequestToSign(method="GET", url=f"https://h/p{i}"), client=ClientCredentials(key="k"),
                             token=None, signature_method=SignatureMethod.HMAC_SHA1, nonce="n", timestamp="1")
        assert len(cache) == 4
        assert [key[6] for key in cache._plans] == [f"https://h/p{i}" for i in range(6, 10)]


def test_long_url_or_body_is_never_planned() -> None:
    long_url = "https://h/p?" + "a" * signing_plan.MAX_KEYED_BYTES
    with fresh_plans() as cache:
        for _ in range(3):
            sign_request(RequestToSign(method="GET", url=long_url), client=ClientCredentials(key="k"), token=None,
                         signature_method=SignatureMethod.HMAC_SHA1, nonce="n", timestamp="1")
        assert len(cache) == 0


def test_planned_signature_is_the_hmac_of_the_whole_base_string() -> None:
    # The plan feeds the HMAC the base string up to the nonce once (hashlib's copy()); the signature is still
    # RFC 5849 §3.4.2's HMAC of the whole base string, computed here in one call.
    import base64
    import hmac

    request = RequestToSign(method="GET", url="https://api.example.com/1/x?a=1")
    options = {"client": ClientCredentials(key="ck", secret="cs"), "token": TokenCredentials(token="t", secret="ts"),
               "signature_method": SignatureMethod.HMAC_SHA256}
    with fresh_plans():
        for i in range(3):
            signed = sign_request(request, nonce=f"n{i}", timestamp="7", **options)  # type: ignore[arg-type]
    expected = base64.b64encode(hmac.digest(b"cs&ts", signed.base_string.encode("ascii"), "sha256")).decode()
    assert dict(signed.oauth_params)["oauth_signature"] == expected
    assert signing.SignedRequest is type(signed)


@pytest.mark.parametrize("method", [m for m in SignatureMethod if m.is_hmac])
def test_planned_authorization_has_the_signature_percent_encoded_with_or_without_plus_and_slash(
    method: SignatureMethod,
) -> None:
    # Plan.place replaces "+" and "/" only where a signature has them, and the plan's last piece holds the
    # padding's "%3D" (one "=" for SHA-1 and SHA-256, two for SHA-512). Oracles: the standard library's HMAC,
    # base64 and quote (RFC 5849 §3.6), and tests/wire.py's independent recipe; every case below is seen.
    import base64
    import hmac
    from urllib.parse import quote

    request = RequestToSign(method="GET", url="https://api.example.com/1/x?a=1")
    seen = set()
    with fresh_plans() as cache:
        for i in range(200):
            signed = sign_request(request, client=ClientCredentials(key="ck", secret="cs"),
                                  token=TokenCredentials(token="t", secret="ts"), signature_method=method,
                                  nonce=f"n{i}", timestamp="7")
            assert signed.authorization is not None
            digest = hmac.digest(b"cs&ts", signed.base_string.encode("ascii"), method.value[5:].lower())
            signature = base64.b64encode(digest).decode()
            assert dict(signed.oauth_params)["oauth_signature"] == signature
            assert f'oauth_signature="{quote(signature, safe="")}"' in signed.authorization
            one = {**_PINNED, "extra": (), "signature_method": method, "nonce": f"n{i}", "timestamp": "7"}
            assert _fields(_ours(one)) == _fields(_recipe(one))
            seen.add(("+" in signature, "/" in signature))
        assert _planned_shapes(cache)
    assert seen == {(False, False), (True, False), (False, True), (True, True)}


@settings(max_examples=300, deadline=None)
@example(b"", b"", b"", "sha1")
@example(b"k" * 64, b"a", b"b", "sha1")  # a key of exactly one block: padded with nothing, not hashed
@example(b"k" * 65, b"a", b"b", "sha1")  # one octet longer: hashed first (RFC 2104 §3)
@example(b"k" * 129, b"x" * 200, b"y" * 70, "sha512")  # SHA-512's block is 128 octets
@given(st.binary(max_size=300), st.binary(max_size=300), st.binary(max_size=300),
       st.sampled_from(["sha1", "sha256", "sha512"]))
def test_plan_hmac_states_give_the_standard_librarys_hmac_for_any_key_and_split(
    key: bytes, first: bytes, rest: bytes, hash_name: str,
) -> None:
    # signing_plan.hmac_states is RFC 2104 §2 on hashlib's objects; the oracle is Python's hmac module.
    import hmac

    inner, outer = signing_plan.hmac_states(key, first, hash_name)
    for _ in range(2):  # the states are copied, never consumed: a second request gets the same answer
        mac = inner.copy()
        mac.update(rest)
        out = outer.copy()
        out.update(mac.digest())
        assert out.digest() == hmac.new(key, first + rest, hash_name).digest()
