"""Renewing and refreshing stored tokens (SPEC §11): request builders and answer readers (pure).

Two provider calls keep a token alive:
- **Renewal** (``renew_url``): a signed request with the token itself that
  revives a token the provider inactivated after ``idle_timeout`` (E*TRADE's
  ``GET /oauth/renew_access_token``); the token and its secret stay the same.
- **Session refresh** (the OAuth Session extension, Yahoo and old Xero): a
  request to the access-token URL signed with the expired token, carrying
  ``oauth_session_handle``; the answer is a new token (and maybe a new handle).

Rule: no I/O, no clock, no randomness here: the shell passes ``now``, the
nonce and the timestamp, and sends what is built with transport.fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from .config import Profile
from .errors import ExchangeError
from .lifetimes import DailyExpiry, expires_at_for, format_instant
from .signing import Placement, RequestToSign, sign_request
from .token_exchange import FORM, OutboundRequest, parse_credentials_response, refuse_plaintext_in_clear
from .tokens import StoredToken

SESSION_HANDLE = "oauth_session_handle"
EXPIRES_IN = "oauth_expires_in"
# What the OAuth Session extension's answer carries besides the token; kept out of ``extra``.
SESSION_ANSWER_KEYS = frozenset({SESSION_HANDLE, EXPIRES_IN, "oauth_authorization_expires_in"})

# oauth_problem values that say "this token is not accepted now" (OAuth Problem Reporting):
# token_expired (the Session extension's), and E*TRADE's answer to an
# inactivated token, token_rejected. A profile with renew_url renews once on
# either; a token with a session handle is refreshed once on token_expired.
INACTIVE_PROBLEMS = frozenset({"token_expired", "token_rejected"})
EXPIRED_PROBLEM = "token_expired"


def _signed(profile: Profile, method: str, url: str, token: StoredToken, extra: tuple[tuple[str, str], ...],
            nonce: str, timestamp: str, step: str) -> OutboundRequest:
    """One request signed with the token, parameters in the Authorization header (as the dance's calls)."""
    refuse_plaintext_in_clear(profile, step, url)
    body_less = method in ("GET", "HEAD", "DELETE")
    signed = sign_request(
        RequestToSign(method=method, url=url, content_type=None if body_less else FORM, body=b""),
        client=profile.client,
        token=token.credentials,
        nonce=nonce,
        timestamp=timestamp,
        extra_oauth_params=extra,
        **{**profile.signing_options(urlsplit(url).hostname or ""), "placement": Placement.HEADER},
    )
    assert signed.authorization is not None
    headers = {"Authorization": signed.authorization}
    if not body_less:
        headers["Content-Type"] = FORM
    return OutboundRequest(method=method, url=signed.url, headers=headers, body=signed.body)


def make_renew_request(profile: Profile, url: str, method: str, token: StoredToken, *, nonce: str,
                       timestamp: str) -> OutboundRequest:
    """Build the signed renewal call (E*TRADE: "GET /oauth/renew_access_token" with oauth_token in the header)."""
    return _signed(profile, method.upper(), url, token, (), nonce, timestamp, "renew")


def make_session_refresh_request(profile: Profile, token: StoredToken, *, nonce: str, timestamp: str,
                                 method: str = "POST") -> OutboundRequest:
    """Build the OAuth Session extension's refresh: the access-token URL, the expired token, its session handle.

    "oauth_session_handle: The session handle ... the Consumer MUST include
    [it] in the request for a new Access Token" (OAuth Session 1.0 draft 1,
    §4.3), signed with the expired token and its secret.
    """
    if profile.access_token_url is None:
        raise ExchangeError("session refresh", f'profile "{profile.name}" has no access_token_url')
    if not token.session_handle:
        raise ExchangeError("session refresh", f'the token of profile "{profile.name}" has no session handle; '
                                               "log in again")
    return _signed(profile, method.upper(), profile.access_token_url, token,
                   ((SESSION_HANDLE, token.session_handle),), nonce, timestamp, "session refresh")


def lives_from_answer(params: Mapping[str, str], *, now: int, daily: DailyExpiry | None) -> dict[str, str]:
    """The token-life fields of an access-token answer: expires_at and session_handle (empty when absent)."""
    expires = expires_at_for(now, expires_in=params.get(EXPIRES_IN), daily=daily)
    return {
        "expires_at": format_instant(expires) if expires is not None else "",
        "session_handle": params.get(SESSION_HANDLE, ""),
    }


def with_lives(token: StoredToken, *, now: int, daily: DailyExpiry | None) -> StoredToken:
    """A token fresh from the dance, with its life read from what the provider said (``extra``)."""
    extra = dict(token.extra)
    lives = lives_from_answer(extra, now=now, daily=daily)
    return replace(token, extra=tuple((k, v) for k, v in token.extra if k not in SESSION_ANSWER_KEYS), **lives)


def renewed(token: StoredToken, *, now: int) -> StoredToken:
    """The same token after a successful renewal: only ``renewed_at`` changes (its daily expiry never moves)."""
    return replace(token, renewed_at=format_instant(now))


def parse_session_refresh_response(old: StoredToken, body: bytes, *, now: int,
                                   daily: DailyExpiry | None) -> StoredToken:
    """Read the new token of a session refresh; the old handle stays when the provider sends none."""
    params = parse_credentials_response("session refresh", body)
    lives = lives_from_answer(params, now=now, daily=daily)
    rest = {k: v for k, v in params.items()
            if k not in ("oauth_token", "oauth_token_secret") and k not in SESSION_ANSWER_KEYS}
    extra = {**dict(old.extra), **rest}
    stamp = format_instant(now)
    return StoredToken(
        token=params["oauth_token"],
        token_secret=params["oauth_token_secret"],
        obtained_at=stamp,
        extra=tuple(sorted(extra.items())),
        expires_at=lives["expires_at"],
        renewed_at=stamp,
        session_handle=lives["session_handle"] or old.session_handle,
    )
