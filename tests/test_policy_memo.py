"""policy.ShapeMemo: the decision of a request of a shape seen before is decide's, as the store and the clock
change (issue 17).

Hypothesis draws sequences of steps over a small pool of request shapes (so shapes repeat) and one config
with a profile of each kind (static token, consumer-only, the dance with its unnamed account, named accounts
with a default, PLAINTEXT, require_headers, expiring tokens, a second config); between requests the store
gains, loses and replaces tokens and the clock crosses expiries. Every decision of the memo must be the
decision ``decide`` gives for the same inputs at that moment, field for field (a refusal: its kind, status
and message).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from oauth1_proxy import policy
from oauth1_proxy.accounts import accounts_in
from oauth1_proxy.config import ProxyConfig, parse_config
from oauth1_proxy.lifetimes import format_instant
from oauth1_proxy.policy import Pass, Prepared, Refuse, ShapeMemo, Sign, decide
from oauth1_proxy.tokens import StoredToken
from tests.test_policy import DANCE, NOW, make_request
from tests.test_signing_fast import shortcuts_off
from tests.test_signing_plan import fresh_plans
from tests.wire import rfc_sign


def _config(variant: int) -> ProxyConfig:
    base = {"consumer_key": "ck", "consumer_secret": "cs"}
    return parse_config({"profiles": {
        "static": {**base, "hosts": ["static.example.com"], "token": "t", "token_secret": "ts"},
        "two": {**base, "hosts": ["two.example.com"], "realm": f"R{variant}"},
        "dance": {**base, "hosts": ["api.example.com"], **DANCE},
        "named": {**base, "hosts": ["named.example.com"], **DANCE, **({"default_account": "alice"} if variant else {})},
        "plain": {**base, "hosts": ["plain.example.com"], "signature_method": "PLAINTEXT"},
        "ua": {**base, "hosts": ["ua.example.com"], "token": "t", "token_secret": "ts",
               "require_headers": ["User-Agent"]},
        "daily": {**base, "hosts": ["daily.example.com"], **DANCE, "expires_daily": "22:00 UTC"},
    }}, f"memo-{variant}.yaml")


CONFIGS = [_config(0), _config(1)]
HOSTS = ["static.example.com", "two.example.com", "api.example.com", "named.example.com", "plain.example.com",
         "ua.example.com", "daily.example.com", "other.example.com"]
HEADERS = [{}, {"User-Agent": "x/1"}, {"X-OAuth1-Account": "bob"}, {"X-OAuth1-Profile": "dance"},
           {"Authorization": "OAuth oauth_token=\"old\""}, {"Content-Type": "application/x-www-form-urlencoded"},
           {"Content-Type": "application/x-www-form-urlencoded", "Content-Encoding": "gzip"},
           {"Host": "elsewhere.example.com"}]
KEYS = ["dance", "named", "named@alice", "named@bob", "daily", "dance@bob"]


def _token(version: int, expires: int | None) -> StoredToken:
    return StoredToken(token=f"tok-{version}", token_secret=f"sec-{version}",
                       obtained_at=format_instant(NOW - 7200),
                       **({"expires_at": format_instant(expires)} if expires is not None else {}))


# Weighted towards requests that reach the second step (a Sign or a token refusal), where the memo matters.
shapes = st.tuples(st.sampled_from(HOSTS[:4] * 3 + HOSTS[4:]), st.sampled_from(["https"] * 5 + ["http"]),
                   st.sampled_from([0] * 6 + [1] * 3 + list(range(2, len(HEADERS)))), st.sampled_from(["GET", "POST"]),
                   st.sampled_from(["/v1/items"] * 4 + ["/v1/items?a=1", "*"]), st.sampled_from([b"", b"a=1&b=2"]),
                   st.sampled_from([None] * 6 + ["dance", "static"]))
steps = st.one_of(
    st.tuples(st.just("request"), st.integers(0, 2)),  # one of the example's three shapes: shapes repeat
    st.tuples(st.just("request"), st.integers(0, 2)),
    st.tuples(st.just("store"), st.sampled_from(KEYS), st.one_of(st.none(), st.integers(0, 3)),
              st.one_of(st.none(), st.integers(-60, 60))),
    st.tuples(st.just("clock"), st.integers(0, 90_000)),
    st.tuples(st.just("config"), st.integers(0, 1)),
)


def _request(shape: tuple[Any, ...]) -> tuple[policy.OutgoingRequest, str | None]:
    host, scheme, headers, method, target, body, chosen = shape
    fields = HEADERS[headers]
    matches = "Host" not in fields
    request = make_request(target, method=method, scheme=scheme, host=host, port=443 if scheme == "https" else 80,
                           headers=fields, body=body, host_header_matches=matches)
    return request, chosen


def _seen(decision: policy.Decision) -> object:
    if isinstance(decision, Refuse):
        return ("refuse", type(decision.error).__name__, decision.status, decision.message, decision.profile,
                decision.login_url)
    return decision


_DANCE_GET = ("api.example.com", "https", 0, "GET", "/v1/items", b"", None)


@settings(max_examples=300, deadline=None)
# The unnamed token goes while a named account stays: decide now picks the named one (choose_account).
@example([_DANCE_GET] * 3, {"dance": 1, "dance@bob": 2}, [("request", 0), ("store", "dance", None, None),
                                                          ("request", 0)])
# A token replaced, then expiring under the memo.
@example([_DANCE_GET] * 3, {"dance": 1}, [("request", 0), ("store", "dance", 2, 30), ("request", 0),
                                          ("clock", 31), ("request", 0)])
@given(st.lists(shapes, min_size=3, max_size=3), st.dictionaries(st.sampled_from(KEYS), st.integers(0, 3)),
       st.lists(steps, min_size=1, max_size=40))
def test_memo_decides_as_decide_while_tokens_accounts_clock_and_config_change(
    pool: list[tuple[Any, ...]], first_store: dict[str, int], sequence: list[tuple[Any, ...]],
) -> None:
    memo = ShapeMemo(size=6)
    store = {key: _token(version, None) for key, version in first_store.items()}
    now, config = NOW, CONFIGS[0]
    login = lambda p: (f"http://login/{p.name}", " hint")  # noqa: E731
    for step in sequence:
        if step[0] == "store":
            _, key, version, expires_in = step
            if version is None:
                store.pop(key, None)
            else:
                store[key] = _token(version, None if expires_in is None else now + expires_in)
        elif step[0] == "clock":
            now += step[1]
        elif step[0] == "config":
            config = CONFIGS[step[1]]
        else:
            request, chosen = _request(pool[step[1]])
            shape = pool[step[1]]
            common: dict[str, Any] = {
                "tokens": store.get, "login": login, "now": now, "nonce": lambda: "n0nce", "chosen": chosen,
                "accounts": lambda name: accounts_in(store, name),  # noqa: B023
            }
            expected = decide(request, config, **common)
            got = memo.decide(shape, lambda: request, config, **common)  # noqa: B023
            assert _seen(got) == _seen(expected), step


def _signing(memo: ShapeMemo, store: dict[str, StoredToken], request: policy.OutgoingRequest,
             config: ProxyConfig, now: int = NOW) -> policy.Decision:
    return memo.decide("shape", lambda: request, config, tokens=store.get, login=lambda p: ("u", ""), now=now,
                       nonce=lambda: "n", accounts=lambda name: accounts_in(store, name))


def test_memo_makes_the_request_once_for_a_shape_it_keeps() -> None:
    memo, made = ShapeMemo(), []
    request = make_request(host="static.example.com")

    def build() -> policy.OutgoingRequest:
        made.append(1)
        return request

    for _ in range(3):
        assert isinstance(memo.decide("s", build, CONFIGS[0], tokens=dict().get, login=lambda p: ("u", ""),
                                      now=NOW, nonce=lambda: "n"), Sign)
    assert made == [1] and len(memo) == 1


def test_memo_asks_the_store_again_for_an_unnamed_account() -> None:
    memo, store = ShapeMemo(), {"dance": _token(1, None)}
    request = make_request(host="api.example.com")
    assert isinstance(_signing(memo, store, request, CONFIGS[0]), Sign)
    del store["dance"]
    refused = _signing(memo, store, request, CONFIGS[0])
    assert isinstance(refused, Refuse) and refused.status == 401
    store["dance@bob"] = _token(2, None)  # now the only account is a named one: choose_account picks it
    assert isinstance(chosen := _signing(memo, store, request, CONFIGS[0]), Sign) and chosen.account == "bob"


def test_memo_never_keeps_a_choice_among_named_accounts() -> None:
    memo, store = ShapeMemo(), {"named@alice": _token(1, None), "named@bob": _token(2, None)}
    request = make_request(host="named.example.com", headers={"X-OAuth1-Account": "bob"})
    assert isinstance(_signing(memo, store, request, CONFIGS[0]), Sign)
    assert len(memo) == 0


def test_memo_checks_expiry_on_every_request() -> None:
    memo, store = ShapeMemo(), {"dance": _token(1, NOW + 10)}
    request = make_request(host="api.example.com")
    assert isinstance(_signing(memo, store, request, CONFIGS[0], NOW), Sign)
    expired = _signing(memo, store, request, CONFIGS[0], NOW + 10)
    assert isinstance(expired, Refuse) and "expired" in expired.message


def test_memo_forgets_every_shape_with_a_new_config() -> None:
    memo = ShapeMemo()
    request = make_request(host="two.example.com")
    first = _signing(memo, {}, request, CONFIGS[0])
    second = _signing(memo, {}, request, CONFIGS[1])
    assert isinstance(first, Sign) and isinstance(second, Sign)
    assert 'realm="R0"' in (first.authorization or "") and 'realm="R1"' in (second.authorization or "")
    assert len(memo) == 1


@pytest.mark.parametrize("host", ["other.example.com", "plain.example.com"])
def test_memo_keeps_no_pass_and_no_refusal_of_the_first_step(host: str) -> None:
    memo = ShapeMemo()
    decision = _signing(memo, {}, make_request(host=host, scheme="http", port=80), CONFIGS[0])
    assert isinstance(decision, Pass | Refuse) and len(memo) == 0


def test_memo_is_bounded_first_in_first_out() -> None:
    memo = ShapeMemo(size=3)
    for i in range(5):
        memo.decide(i, lambda: make_request(host="static.example.com"), CONFIGS[0], tokens=dict().get,
                    login=lambda p: ("u", ""), now=NOW, nonce=lambda: "n")
    assert len(memo) == 3 and list(memo._prepared) == [2, 3, 4]
    assert all(isinstance(kept.prepared, Prepared) for kept in memo._prepared.values())


# --- a kept shape signed from its plan (policy.finish's ``kept``) ---------------------------------------------

UNRESERVED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
FORM_TYPE = "application/x-www-form-urlencoded"


def _plan_config(method: str, placement: str, realm: str | None, body_hash: bool, token: str) -> ProxyConfig:
    profile: dict[str, Any] = {"consumer_key": "ck+/", "consumer_secret": "c s&", "hosts": ["api.example.com"],
                               "signature_method": method, "placement": placement, "body_hash": body_hash,
                               **({"realm": realm} if realm is not None else {})}
    if token == "static":
        profile |= {"token": "t/k", "token_secret": "t=s"}
    elif token == "stored":
        profile |= DANCE
    return parse_config({"profiles": {"p": profile}}, "plan.yaml")


plan_cases = st.fixed_dictionaries({
    "signature_method": st.sampled_from(["HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "PLAINTEXT"]),
    "placement": st.sampled_from(["header", "query", "body"]),
    "realm": st.sampled_from([None, "R", 'a "q"']),
    "body_hash": st.booleans(),
    "token": st.sampled_from(["static", "stored", "none"]),
    "method": st.sampled_from(["GET", "POST", "PUT"]),
    "target": st.sampled_from(["/v1/items", "/v1/items?a=1&b=%7E", "/a%2Fb?x=&y=1&y=0&oauth_nonce=old", "/?z"]),
    "form": st.booleans(),
    "body": st.sampled_from([b"", b"a=1&b=2", b"c=%20+d&oauth_token=x", b"{not a form}"]),
})
values = st.tuples(st.text(UNRESERVED, min_size=1, max_size=32), st.integers(0, 2**33))


@settings(max_examples=150, deadline=None)
@given(plan_cases, st.lists(values, min_size=4, max_size=6, unique_by=lambda v: v[0]))
def test_memo_signs_a_kept_shape_from_its_plan_as_the_plain_recipe_and_the_rfc(
    case: dict[str, Any], sequence: list[tuple[str, int]],
) -> None:
    # The same shape again and again, each time with its own nonce and clock: from the third time the memo's
    # record holds the plan and finish fills it (policy._from_plan). Each answer must equal decide's with every
    # shortcut off (no plan, no memo: test_signing_fast.shortcuts_off) field for field, and what it sends must
    # be tests/wire.py's independent recipe's.
    config = _plan_config(case["signature_method"], case["placement"], case["realm"], case["body_hash"],
                          case["token"])
    store = {"p": _token(1, None)} if case["token"] == "stored" else {}
    content_type = FORM_TYPE if case["form"] else "text/plain"
    request = make_request(case["target"], method=case["method"], headers={"Content-Type": content_type},
                           body=case["body"])
    token = {"static": ("t/k", "t=s"), "stored": ("tok-1", "sec-1"), "none": (None, "")}[case["token"]]
    memo, answered = ShapeMemo(), 0
    with fresh_plans(), mock.patch.object(policy, "_from_plan", wraps=policy._from_plan) as filled:
        for nonce, now in sequence:
            common: dict[str, Any] = {"tokens": store.get, "login": lambda p: ("u", ""), "now": now,
                                      "nonce": lambda: nonce}  # noqa: B023
            got = memo.decide("shape", lambda: request, config, **common)  # noqa: B023
            with shortcuts_off():
                expected = policy.decide(request, config, **common)
            assert isinstance(got, Sign) and got == expected
            rfc = rfc_sign(method=case["method"], url=f"https://api.example.com{case['target']}",
                           content_type=content_type, body=case["body"], consumer_key="ck+/", consumer_secret="c s&",
                           token=token[0], token_secret=token[1], signature_method=case["signature_method"],
                           nonce=nonce, timestamp=str(now), placement=case["placement"], realm=case["realm"],
                           include_body_hash=case["body_hash"])
            assert (got.url, got.authorization, got.body, got.base_string) == \
                (rfc.url, rfc.authorization, rfc.body, rfc.base_string)
            # ShapeMemo.again, for the same nonce and clock, once the caller has a record for the shape: the
            # texts of decide's Sign.
            kept = memo.kept("shape")
            assert kept is not None
            kept.applied = kept.applied or object()
            again = memo.again("shape", config, store.get, now, lambda: nonce, {})  # noqa: B023
            if again is not None:
                answered += 1
                assert kept.plan is not None and again[0] is kept
                placed = {"authorization": got.authorization, "url": got.url, "body": got.body.decode("latin-1")}
                assert (again[1], again[2]) == (placed[kept.plan.where], got.base_string)
    plannable = case["signature_method"] != "PLAINTEXT"
    # The comparisons above covered the plan's fill: from the third request on, for every HMAC method; and
    # ShapeMemo.again from the second on (the plan is made at the second request).
    assert filled.call_count == (len(sequence) - 2 if plannable else 0)
    assert answered == (len(sequence) - 1 if plannable else 0)
    assert (memo._prepared["shape"].plan is not None) == plannable


def test_memo_signs_from_the_plan_only_with_the_token_it_was_made_with() -> None:
    config = _plan_config("HMAC-SHA1", "header", None, False, "stored")
    store = {"p": _token(1, None)}
    request = make_request()
    memo, answers = ShapeMemo(), []
    with fresh_plans(), mock.patch.object(policy, "_from_plan", wraps=policy._from_plan) as filled:
        for version in (1, 1, 1, 2, 2, 2, 2):
            store["p"] = _token(version, None)
            again = memo.again("s", config, store.get, NOW, lambda: "abc", {})
            got = memo.decide("s", lambda: request, config, tokens=store.get, login=lambda p: ("u", ""), now=NOW,
                              nonce=lambda: "abc")
            assert isinstance(got, Sign) and f'oauth_token="tok-{version}"' in (got.authorization or "")
            kept = memo.kept("s")
            assert kept is not None
            kept.applied = object()
            answers.append(again is not None)
        # The third request, then the new token's third and fourth: its first two are the recipe's again.
        assert filled.call_count == 3
        # ShapeMemo.again likewise answers only with the plan's token (asked before each decide).
        assert answers == [False, False, True, False, False, True, True]


@pytest.mark.parametrize("token", ["static", "none"])
def test_memo_answers_again_only_for_a_nonce_of_unreserved_text_and_with_any_clock(token: str) -> None:
    # ShapeMemo.again does not ask the store for a static token or none (consumer-only), and does not look at
    # the timestamp (str of an int: digits, "-" with a clock behind 1970): only the nonce decides whether the
    # plan may fill it. Whatever it answers equals decide's texts for the same values.
    config = _plan_config("HMAC-SHA1", "header", None, False, token)
    request = make_request()
    memo = ShapeMemo()

    def asked(name: str) -> None:
        raise AssertionError("the store was asked")

    with fresh_plans():
        for _ in range(2):  # the first request, then the one that makes the plan
            memo.decide("s", lambda: request, config, tokens=asked, login=lambda p: ("u", ""), now=NOW,
                        nonce=lambda: "n0")
        kept = memo.kept("s")
        assert kept is not None and kept.plan is not None
        kept.applied = object()
        for nonce, now, answers in [("", NOW, False), ("a b", NOW, False), ("a+b", NOW, False), ("é", NOW, False),
                                    ("\udcff", NOW, False), ("aZ09-._~", NOW, True), ("abc", -5, True),
                                    ("abc", 0, True)]:
            again = memo.again("s", config, asked, now, lambda: nonce, {})  # noqa: B023
            assert (again is not None) == answers, (nonce, now)
            if again is not None:
                got = memo.decide("s", lambda: request, config, tokens=asked, login=lambda p: ("u", ""), now=now,
                                  nonce=lambda: nonce)  # noqa: B023
                assert isinstance(got, Sign) and (again[1], again[2]) == (got.authorization, got.base_string)
                assert f'oauth_timestamp="{now}"' in again[1]
