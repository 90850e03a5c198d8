"""The test provider's token-life switches (issue 14), exercised with oauthlib's client (never our signer)."""

from __future__ import annotations

import time
from typing import Any

import requests
from oauthlib import oauth1

from oauth1_proxy.devtools.provider import Provider, TokenLives
from tests.test_provider import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    TOKEN,
    TOKEN_SECRET,
    access_token,
    consumer,
    form,
    make_provider,
    request_token,
    send,
)


def with_token(token: str = TOKEN, secret: str = TOKEN_SECRET, **kwargs: Any) -> oauth1.Client:
    return consumer(resource_owner_key=token, resource_owner_secret=secret, **kwargs)


def login(p: Provider) -> dict[str, str]:
    temporary = request_token(p)
    verifier = p.approve(temporary["oauth_token"])
    response = access_token(p, temporary, verifier)
    assert response.status_code == 200, response.text
    return form(response)


def test_provider_lives_idle_token_is_rejected_until_renewed() -> None:
    with make_provider(lives=TokenLives(idle_timeout=0.5)) as p:
        assert send(p, with_token(), "GET", "/api/me").status_code == 200
        time.sleep(0.7)
        refused = send(p, with_token(), "GET", "/api/me")
        assert refused.status_code == 401
        assert form(refused)["oauth_problem"] == "token_rejected"
        renewed = send(p, with_token(), "GET", "/oauth/renew_access_token")
        assert renewed.status_code == 200, renewed.text
        assert p.lives is not None and p.lives.renewals == 1
        assert send(p, with_token(), "GET", "/api/me").status_code == 200


def test_provider_lives_renewal_needs_a_valid_signature() -> None:
    with make_provider(lives=TokenLives(idle_timeout=0.5)) as p:
        bad = with_token(secret="wrong")
        assert send(p, bad, "GET", "/oauth/renew_access_token").status_code == 401


def test_provider_lives_daily_expiry_refuses_with_token_expired_and_renewal_cannot_revive() -> None:
    with make_provider(lives=TokenLives(idle_timeout=60)) as p:
        assert send(p, with_token(), "GET", "/api/me").status_code == 200
        assert p.lives is not None
        p.lives.expire_at(time.time())
        refused = send(p, with_token(), "GET", "/api/me")
        assert (refused.status_code, form(refused)["oauth_problem"]) == (401, "token_expired")
        assert send(p, with_token(), "GET", "/oauth/renew_access_token").status_code == 401
        # A login after the expiry gives a token that works.
        fresh = login(p)
        assert send(p, with_token(fresh["oauth_token"], fresh["oauth_token_secret"]), "GET", "/api/me"
                    ).status_code == 200


def test_provider_lives_session_handle_buys_a_new_token_once() -> None:
    with make_provider(lives=TokenLives(session_life=1)) as p:
        first = login(p)
        assert first["oauth_expires_in"] == "1" and first["oauth_session_handle"]
        old = with_token(first["oauth_token"], first["oauth_token_secret"])
        assert send(p, old, "GET", "/api/me").status_code == 200
        time.sleep(1.2)
        refused = send(p, old, "GET", "/api/me")
        assert (refused.status_code, form(refused)["oauth_problem"]) == (401, "token_expired")
        refresh = _refresh(p, first)
        assert refresh.status_code == 200, refresh.text
        second = form(refresh)
        assert second["oauth_token"] != first["oauth_token"]
        assert second["oauth_session_handle"] != first["oauth_session_handle"]
        assert send(p, with_token(second["oauth_token"], second["oauth_token_secret"]), "GET", "/api/me"
                    ).status_code == 200
        assert _refresh(p, first).status_code == 401  # a handle is spent once


class _SessionClient(oauth1.Client):  # type: ignore[misc]
    """oauthlib's client with the Session extension's oauth_session_handle among the protocol parameters."""

    session_handle = ""

    def get_oauth_params(self, request: Any) -> list[tuple[str, str]]:
        return [*super().get_oauth_params(request), ("oauth_session_handle", self.session_handle)]


def _refresh(p: Provider, answer: dict[str, str]) -> requests.Response:
    """The Session extension's refresh, signed by oauthlib with the expired token."""
    client = _SessionClient(CONSUMER_KEY, client_secret=CONSUMER_SECRET, resource_owner_key=answer["oauth_token"],
                            resource_owner_secret=answer["oauth_token_secret"])
    client.session_handle = answer["oauth_session_handle"]
    return send(p, client, "POST", "/oauth/access_token")
