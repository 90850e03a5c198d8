"""redaction.py: what is taken out of captures, logs and front ends (SPEC §8, issue 12)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oauth1_proxy.redaction import (
    MIN_KNOWN_LENGTH,
    REDACTED,
    is_plaintext_signed,
    make_redactor,
    plaintext_signature_value,
    redact_signature_bytes,
    redact_signature_text,
    redact_token_secret,
    redact_token_secret_text,
    secrets_of_plaintext_signature,
    summarise_bytes_literals,
)
from tests.security.support import secret_forms as every_form

CONSUMER_SECRET = "c-secret-&+/ä"
TOKEN_SECRET = "t-secret-%20="
SIGNATURE = f"{quote(CONSUMER_SECRET, safe='~')}&{quote(TOKEN_SECRET, safe='~')}"  # RFC 5849 §3.4.4
ON_THE_WIRE = quote(SIGNATURE, safe="~")  # RFC 5849 §3.5.1: percent-encoded once more


@pytest.mark.parametrize("text", [
    f'OAuth oauth_signature_method="PLAINTEXT", oauth_signature="{ON_THE_WIRE}"',
    f"/api?oauth_signature={ON_THE_WIRE}&x=1",
    f'{{"oauth_signature": "{SIGNATURE}"}}',
    f'OAuth realm="x", oauth_problem="signature_invalid", oauth_signature="{ON_THE_WIRE}"',
], ids=["header", "query", "json", "www-authenticate-echo"])
def test_redact_signature_text_every_placement_loses_the_value(text: str) -> None:
    redacted = redact_signature_text(text)
    assert ON_THE_WIRE not in redacted and SIGNATURE not in redacted
    assert REDACTED in redacted


def test_redact_signature_text_keeps_the_header_grammar() -> None:
    header = f'OAuth oauth_nonce="n", oauth_signature="{ON_THE_WIRE}", oauth_version="1.0"'
    assert redact_signature_text(header) == f'OAuth oauth_nonce="n", oauth_signature="{REDACTED}", oauth_version="1.0"'


@pytest.mark.parametrize("body", [
    f"oauth_problem=signature_invalid&oauth_signature={ON_THE_WIRE}&oauth_signature_base_string=GET%26x".encode(),
    json.dumps({"error": "invalid", "oauth_signature": SIGNATURE}).encode(),
], ids=["form", "json"])
def test_redact_signature_bytes_echoed_body_loses_the_value(body: bytes) -> None:
    redacted = redact_signature_bytes(body)
    assert ON_THE_WIRE.encode() not in redacted and SIGNATURE.encode() not in redacted
    assert b"oauth_signature_base_string=GET%26x" in redacted or b"invalid" in redacted


@pytest.mark.parametrize("data", [
    b"oauth_token=t&oauth_token_secret=s3cr3t&oauth_callback_confirmed=true",
    b'{"oauth_token": "t", "oauth_token_secret": "s3cr3t"}',
], ids=["form", "json"])
def test_redact_token_secret_credentials_response_loses_the_secret(data: bytes) -> None:
    redacted = redact_token_secret(data)
    assert b"s3cr3t" not in redacted and b"oauth_token=t" in redacted.replace(b'"oauth_token": "t"', b"oauth_token=t")


def test_redact_token_secret_text_quoted_header_loses_the_secret() -> None:
    assert redact_token_secret_text('X: oauth_token_secret="s3cr3t", a=1') == f'X: oauth_token_secret="{REDACTED}", a=1'


def test_secrets_of_plaintext_signature_reads_both_secrets_back() -> None:
    # RFC 5849 §3.4.4: the signature is percent(consumer secret) & percent(token secret).
    assert secrets_of_plaintext_signature(ON_THE_WIRE) == (CONSUMER_SECRET, TOKEN_SECRET)
    assert secrets_of_plaintext_signature(f'"{ON_THE_WIRE}"') == (CONSUMER_SECRET, TOKEN_SECRET)
    assert secrets_of_plaintext_signature("no-ampersand") is None


def test_plaintext_signature_value_is_found_in_a_header_and_a_query() -> None:
    assert plaintext_signature_value(f'OAuth oauth_signature="{ON_THE_WIRE}"') == f'"{ON_THE_WIRE}"'
    assert plaintext_signature_value(f"/p?a=1&oauth_signature={ON_THE_WIRE}") == ON_THE_WIRE
    assert plaintext_signature_value("/p?a=1") is None


@pytest.mark.parametrize("text, expected", [
    ('OAuth oauth_signature_method="PLAINTEXT", oauth_signature="x"', True),
    ("/api?oauth_signature_method=PLAINTEXT&oauth_signature=x", True),
    ('OAuth oauth_signature_method="HMAC-SHA1", oauth_signature="x"', False),
    ("/api/PLAINTEXT", False),
], ids=["header", "query", "hmac", "word-in-path"])
def test_is_plaintext_signed_reads_the_signature_method(text: str, expected: bool) -> None:
    assert is_plaintext_signed(text) is expected


def test_redactor_known_secret_is_replaced_in_every_encoding() -> None:
    redactor = make_redactor([CONSUMER_SECRET, TOKEN_SECRET])
    for secret in (CONSUMER_SECRET, TOKEN_SECRET):
        for form in every_form(secret):
            text = form.decode("utf-8", "replace")
            assert secret not in redactor.text(f"said: {text} !", signature=False)
            assert form not in redactor.bytes(b"said: " + form + b" !", signature=False), form


def test_redactor_known_secret_inside_a_twice_encoded_signature_is_replaced() -> None:
    redactor = make_redactor([CONSUMER_SECRET, TOKEN_SECRET])
    text = redactor.text(f"expected another signature than {quote(ON_THE_WIRE, safe='')}", signature=False)
    assert "c-secret" not in text and "t-secret" not in text


def test_redactor_short_secret_is_left_to_the_patterns() -> None:
    redactor = make_redactor(["x" * (MIN_KNOWN_LENGTH - 1)])
    assert redactor.forms == ()
    assert redactor.text("xxxxx oauth_token_secret=xxxxx", signature=False) == f"xxxxx oauth_token_secret={REDACTED}"


def test_redactor_hmac_signature_is_kept_unless_asked() -> None:
    header = 'OAuth oauth_signature_method="HMAC-SHA1", oauth_signature="abc%3D"'
    assert make_redactor([]).text(header, signature=False) == header
    assert "abc" not in make_redactor([]).text(header, signature=True)


def test_redactor_repr_shows_no_secret() -> None:
    assert CONSUMER_SECRET not in repr(make_redactor([CONSUMER_SECRET]))


@given(st.text(min_size=MIN_KNOWN_LENGTH, max_size=40).filter(lambda s: s not in REDACTED))
def test_redactor_any_secret_disappears_from_its_own_forms(secret: str) -> None:
    redactor = make_redactor([secret])
    for form in every_form(secret):
        if len(form) >= MIN_KNOWN_LENGTH:
            assert form not in redactor.bytes(b"<" + form + b">", signature=False)


def test_summarise_bytes_literals_replaces_each_literal_with_its_length() -> None:
    line = "<< SendData(server, b'\\x00\\x01ab') and DataReceived(client, b\"it's\")"
    assert summarise_bytes_literals(line) == "<< SendData(server, <4 bytes>) and DataReceived(client, <4 bytes>)"


def test_summarise_bytes_literals_cut_literal_goes_too() -> None:
    # proxy_debug cuts long lines with "…": the literal has no closing quote.
    summary = summarise_bytes_literals("<< SendData(server, b'\\x00\\x01abc…")
    assert "abc" not in summary and summary.startswith("<< SendData(server, <") and "bytes>" in summary


def test_summarise_bytes_literals_plain_text_is_unchanged() -> None:
    line = "server connect localhost:443 (Web's b-side)"
    assert summarise_bytes_literals(line) == line
