"""policy.py and token lives (SPEC §11): an expired token counts as missing; login_state says "expired"."""

from __future__ import annotations

from oauth1_proxy.errors import TokenExpiredError
from oauth1_proxy.lifetimes import format_instant
from oauth1_proxy.policy import LoginState, login_state
from oauth1_proxy.tokens import StoredToken
from tests.test_policy import DANCE, NOW, make_config, make_request, refusal, run, signed


def stored(**fields: str) -> StoredToken:
    return StoredToken(token="tok", token_secret="ts", obtained_at=format_instant(NOW - 3600), **fields)


def test_decide_token_past_its_expires_at_is_refused_with_the_login_url_and_the_time() -> None:
    config = make_config(api=DANCE)
    decision = refusal(run(make_request(), config, stored=stored(expires_at=format_instant(NOW))))
    assert isinstance(decision.error, TokenExpiredError) and not decision.error.refreshable
    assert decision.status == 401 and decision.login_url == "http://login/api" and decision.profile == "api"
    assert decision.message == (f'The token of profile "api" expired at {format_instant(NOW)}; nothing was sent. '
                                "Log in again: open http://login/api hint.")


def test_decide_token_before_its_expires_at_signs() -> None:
    signed(run(make_request(), make_config(api=DANCE), stored=stored(expires_at=format_instant(NOW + 1))))


def test_decide_token_obtained_before_the_last_daily_expiry_is_refused() -> None:
    # NOW = 2023-11-14T22:13:20Z; the token was obtained at 21:13:20, the daily time 22:00 UTC passed since.
    config = make_config(api={**DANCE, "expires_daily": "22:00 Etc/UTC"})
    assert isinstance(refusal(run(make_request(), config, stored=stored())).error, TokenExpiredError)
    signed(run(make_request(), make_config(api={**DANCE, "expires_daily": "23:00 Etc/UTC"}), stored=stored()))


def test_decide_expired_token_with_a_session_handle_is_refreshable() -> None:
    decision = refusal(run(make_request(), make_config(api=DANCE),
                           stored=stored(expires_at=format_instant(NOW), session_handle="handle-Secret-9")))
    assert isinstance(decision.error, TokenExpiredError) and decision.error.refreshable
    assert "handle-Secret-9" not in decision.message


def test_login_state_says_expired_only_when_asked_with_a_time() -> None:
    profile = make_config(api=DANCE).profiles[0]
    token = stored(expires_at=format_instant(NOW))
    assert login_state(profile, token, NOW) is LoginState.EXPIRED and not LoginState.EXPIRED.signs
    assert login_state(profile, token, NOW - 1) is LoginState.LOGGED_IN
    assert login_state(profile, token) is LoginState.LOGGED_IN
    assert str(LoginState.EXPIRED) == "expired"
