"""token_renewal.py and the token store's life fields: renewal and session-refresh requests (checked by
oauthlib), the answers they read, and old and new store files round-tripped."""

from __future__ import annotations

from pathlib import Path

import pytest

from oauth1_proxy.errors import ExchangeError
from oauth1_proxy.lifetimes import DailyExpiry
from oauth1_proxy.token_renewal import (
    make_renew_request,
    make_session_refresh_request,
    parse_session_refresh_response,
    renewed,
    with_lives,
)
from oauth1_proxy.tokens import FileTokenStore, StoredToken, dump_token_store, parse_token_store
from tests.test_token_exchange import NONCE, TIMESTAMP, make_profile, oauth_params_of, oauthlib_verifies

TOKEN = StoredToken(token="access-token", token_secret="access-Secret =%", obtained_at="2026-07-01T12:00:00+00:00",
                    session_handle="handle-Secret-1")
MIDNIGHT_NY = DailyExpiry(hour=0, minute=0, zone="America/New_York")
NOW = 1782921600  # 2026-07-01T16:00:00+00:00 (date -d @1782921600 -u)


def test_make_renew_request_is_a_signed_get_with_the_token_in_the_header(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    request = make_renew_request(profile, "https://api.example.com/oauth/renew_access_token", "get", TOKEN,
                                 nonce=NONCE, timestamp=TIMESTAMP)
    assert (request.method, request.url, request.body) == ("GET", "https://api.example.com/oauth/renew_access_token",
                                                           b"")
    assert "Content-Type" not in request.headers
    assert oauth_params_of(request)["oauth_token"] == "access-token"
    assert oauthlib_verifies(request, TOKEN.token_secret)
    assert "handle-Secret-1" not in str(request)


def test_make_session_refresh_request_signs_the_handle_with_the_expired_token(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    request = make_session_refresh_request(profile, TOKEN, nonce=NONCE, timestamp=TIMESTAMP)
    assert (request.method, request.url) == ("POST", "https://api.example.com/oauth/access_token")
    params = oauth_params_of(request)
    assert params["oauth_session_handle"] == "handle-Secret-1" and params["oauth_token"] == "access-token"
    assert oauthlib_verifies(request, TOKEN.token_secret)


def test_make_session_refresh_request_without_a_handle_says_log_in_again(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    with pytest.raises(ExchangeError, match="has no session handle; log in again"):
        make_session_refresh_request(profile, StoredToken(token="t", token_secret="s"), nonce=NONCE,
                                     timestamp=TIMESTAMP)


def test_make_renew_request_refuses_plaintext_over_http(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, "PLAINTEXT")
    with pytest.raises(ExchangeError, match="PLAINTEXT"):
        make_renew_request(profile, "http://api.example.com/renew", "GET", TOKEN, nonce=NONCE, timestamp=TIMESTAMP)


def test_with_lives_reads_expires_in_and_session_handle_out_of_extra() -> None:
    fresh = StoredToken(token="t", token_secret="s", obtained_at="x",
                        extra=(("oauth_expires_in", "5"), ("oauth_session_handle", "h"), ("user_id", "1")))
    lived = with_lives(fresh, now=NOW, daily=None)
    assert (lived.expires_at, lived.session_handle, lived.extra) == ("2026-07-01T16:00:05+00:00", "h",
                                                                     (("user_id", "1"),))
    daily = with_lives(StoredToken(token="t", token_secret="s"), now=NOW, daily=MIDNIGHT_NY)
    assert daily.expires_at == "2026-07-02T04:00:00+00:00"


def test_parse_session_refresh_response_keeps_the_old_handle_when_none_is_sent() -> None:
    new = parse_session_refresh_response(TOKEN, b"oauth_token=n&oauth_token_secret=ns&oauth_expires_in=5",
                                         now=NOW, daily=None)
    assert (new.token, new.token_secret, new.session_handle) == ("n", "ns", "handle-Secret-1")
    assert new.expires_at == "2026-07-01T16:00:05+00:00" and new.renewed_at == new.obtained_at
    other = parse_session_refresh_response(
        TOKEN, b"oauth_token=n&oauth_token_secret=ns&oauth_session_handle=h2", now=NOW, daily=None)
    assert other.session_handle == "h2" and other.expires_at == ""


def test_renewed_moves_only_renewed_at() -> None:
    after = renewed(TOKEN, now=NOW)
    assert after.renewed_at == "2026-07-01T16:00:00+00:00"
    assert (after.token, after.obtained_at, after.session_handle) == (TOKEN.token, TOKEN.obtained_at,
                                                                      TOKEN.session_handle)


def test_token_store_round_trips_life_fields_and_never_reprs_the_handle(tmp_path: Path) -> None:
    stored = StoredToken(token="t", token_secret="s", obtained_at="2026-07-01T12:00:00+00:00",
                         expires_at="2026-07-02T04:00:00+00:00", renewed_at="2026-07-01T13:00:00+00:00",
                         session_handle="handle-Secret-1", extra=(("user_id", "1"),))
    store = FileTokenStore(tmp_path / "tokens.yaml")
    store.put("etrade", stored)
    assert FileTokenStore(tmp_path / "tokens.yaml").get("etrade") == stored
    assert "handle-Secret-1" not in repr(stored)


def test_token_store_old_file_without_life_fields_still_loads_and_is_written_as_before() -> None:
    text = "profile:\n  token: t\n  token_secret: s\n  obtained_at: '2026-07-01T12:00:00+00:00'\n  user_id: '1'\n"
    old = parse_token_store(text, "tokens.yaml")["profile"]
    assert (old.expires_at, old.renewed_at, old.session_handle, old.extra) == ("", "", "", (("user_id", "1"),))
    assert "expires_at" not in dump_token_store({"profile": old})


def test_redaction_takes_the_session_handle_out_of_credentials_answers_and_text() -> None:
    from oauth1_proxy.redaction import has_token_secret, redact_token_secret, redact_token_secret_text

    body = b"oauth_token=t&oauth_token_secret=s3cret&oauth_session_handle=h4ndle&oauth_expires_in=5"
    assert has_token_secret(b"oauth_token=t&oauth_session_handle=h4ndle")
    redacted = redact_token_secret(body)
    assert b"h4ndle" not in redacted and b"s3cret" not in redacted and b"oauth_expires_in=5" in redacted
    assert b"h4ndle" not in redact_token_secret(b'{"oauth_session_handle": "h4ndle"}')
    assert "h4ndle" not in redact_token_secret_text('OAuth oauth_session_handle="h4ndle", oauth_token="t"')
