"""The provider's SPEC §11 switches for accounts and limits: per-user approvals, NetSuite's concurrency cap,
the slow endpoint. Signed with oauthlib's client (tests/test_provider.py's helpers), never our signer."""

from __future__ import annotations

import threading
from typing import Any

import requests

from tests.test_provider import (
    TOKEN,
    TOKEN_SECRET,
    access_token,
    consumer,
    form,
    make_provider,
    request_token,
    send,
)

USERS = [("1001", "alice"), ("1002", "bob")]


def log_in_as(p: Any, user_id: str) -> dict[str, str]:
    """The dance, approved on the authorize page's button of one user."""
    temporary = request_token(p, callback="oob")
    page = requests.get(p.authorize_url, params={"oauth_token": temporary["oauth_token"]}, timeout=5)
    assert f'name="user" value="{user_id}"' in page.text
    approved = requests.post(p.authorize_url, data={"oauth_token": temporary["oauth_token"], "user": user_id},
                             timeout=5)
    start = approved.text.index('id="pin">') + len('id="pin">')
    pin = approved.text[start:approved.text.index("<", start)]
    answer = access_token(p, temporary, pin)
    assert answer.status_code == 200, answer.text
    return form(answer)


def test_provider_users_each_approval_gives_that_users_token_and_api_me_answers_as_them() -> None:
    with make_provider(users=USERS) as p:
        alice, bob = log_in_as(p, "1001"), log_in_as(p, "1002")
        assert (alice["screen_name"], bob["screen_name"]) == ("alice", "bob")
        assert alice["oauth_token"] != bob["oauth_token"]
        for granted, name in ((alice, "alice"), (bob, "bob")):
            client = consumer(resource_owner_key=granted["oauth_token"],
                              resource_owner_secret=granted["oauth_token_secret"])
            me = send(p, client, "GET", "/api/me")
            assert me.json()["screen_name"] == name
        # The provider records as whom each request came.
        resources = [r for r in p.records if r.endpoint == "resource"]
        assert [p.users.user_of(r.token).screen_name for r in resources] == ["alice", "bob"]


def test_provider_users_unknown_user_on_the_approve_form_is_refused() -> None:
    with make_provider(users=USERS) as p:
        temporary = request_token(p, callback="oob")
        refused = requests.post(p.authorize_url, data={"oauth_token": temporary["oauth_token"], "user": "9"},
                                timeout=5)
        assert refused.status_code == 400


def test_provider_without_users_keeps_its_one_user_and_approve_button() -> None:
    with make_provider() as p:
        temporary = request_token(p, callback="oob")
        page = requests.get(p.authorize_url, params={"oauth_token": temporary["oauth_token"]}, timeout=5)
        assert 'id="approve"' in page.text and 'name="user"' not in page.text
        granted = form(access_token(p, temporary, p.approve(temporary["oauth_token"])))
        assert granted["screen_name"] == "demo_user"


def preseeded() -> Any:
    return consumer(resource_owner_key=TOKEN, resource_owner_secret=TOKEN_SECRET)


def parallel(p: Any, n: int, seconds: float) -> list[requests.Response]:
    results: list[requests.Response] = []
    lock = threading.Lock()

    def one() -> None:
        r = send(p, preseeded(), "GET", f"/api/slow?seconds={seconds}")
        with lock:
            results.append(r)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    return results


def test_provider_slow_endpoint_holds_requests_open_and_counts_them_in_flight() -> None:
    with make_provider() as p:
        results = parallel(p, 4, 0.8)
        assert [r.status_code for r in results] == [200] * 4
        assert all(r.json()["slept"] == 0.8 for r in results)
        assert p.concurrency.max_in_flight == 4 and p.concurrency.in_flight == 0


def test_provider_concurrency_limit_refuses_the_excess_as_netsuite_does() -> None:
    with make_provider(concurrency_limit=2) as p:
        results = parallel(p, 5, 1.0)
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 200, 400, 400, 400]
        refused = next(r for r in results if r.status_code == 400)
        assert refused.json()["error"]["code"] == "SSS_REQUEST_LIMIT_EXCEEDED"
        # A refused one is counted in and out at once: the peak is the 2 held plus one arriving.
        assert p.concurrency.refused == 3 and p.concurrency.max_in_flight == 3


def test_provider_slow_endpoint_verifies_the_signature() -> None:
    with make_provider() as p:
        wrong = consumer(resource_owner_key=TOKEN, resource_owner_secret="not-the-secret")
        assert send(p, wrong, "GET", "/api/slow?seconds=0").status_code == 401
