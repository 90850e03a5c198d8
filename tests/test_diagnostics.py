"""Reading providers' refusals (diagnostics.py)."""

from __future__ import annotations

import pytest

from oauth1_proxy.diagnostics import clock_correction, diff_base_strings, parse_refusal

OURS = "GET&https%3A%2F%2Fapi.example.com%2Fv1&a%3D1%26oauth_nonce%3Dn%26x%3D1"


@pytest.mark.parametrize(
    ("headers", "body", "problem"),
    [
        ({}, b"oauth_problem=signature_invalid&oauth_problem_advice=x", "signature_invalid"),
        ({"www-authenticate": 'OAuth realm="r", oauth_problem="token_rejected"'}, b"", "token_rejected"),
        ({}, b'{"errors":[{"code":32,"message":"Could not authenticate you."}]}', "signature_invalid"),
        ({}, b'{"errors":[{"code":135,"message":"Timestamp out of bounds."}]}', "timestamp_refused"),
        ({}, b"<html>oauth_problem=nonce_used</html>", "nonce_used"),
        ({}, b"Unauthorized", None),
    ],
    ids=["form", "www-authenticate", "twitter-32", "twitter-135", "html", "none"],
)
def test_parse_refusal_finds_the_oauth_problem(headers: dict[str, str], body: bytes, problem: str | None) -> None:
    assert parse_refusal(401, headers, body).problem == problem


def test_parse_refusal_reads_jira_base_string() -> None:
    body = b"oauth_problem=signature_invalid&oauth_signature_base_string=GET%26https%253A%252F%252Fj%26a%253D1"
    assert parse_refusal(401, {}, body).provider_base_string == "GET&https%3A%2F%2Fj&a%3D1"


def test_parse_refusal_reads_flickr_debug_sbs() -> None:
    body = b"oauth_problem=signature_invalid&debug_sbs=GET&https%3A%2F%2Fwww.flickr.com%2Fservices&a%3D1"
    expected = "GET&https%3A%2F%2Fwww.flickr.com%2Fservices&a%3D1"  # appended unencoded, "&"s included
    assert parse_refusal(401, {}, body).provider_base_string == expected


def test_parse_refusal_reads_a_quoted_base_string_in_a_message() -> None:
    body = b'{"message": "Invalid signature. Expected signature base string: POST&https%3A%2F%2Fa%2Fb&c%3D1"}'
    assert parse_refusal(400, {}, body).provider_base_string == "POST&https%3A%2F%2Fa%2Fb&c%3D1"


def test_parse_refusal_reads_acceptable_timestamps_and_date() -> None:
    d = parse_refusal(401, {"date": "Fri, 27 Nov 2026 19:00:00 GMT"},
                      b"oauth_problem=timestamp_refused&oauth_acceptable_timestamps=1000-2000")
    assert d.acceptable_timestamps == (1000, 2000)
    assert d.provider_time == 1795806000.0


def test_clock_correction_prefers_acceptable_timestamps_midpoint() -> None:
    d = parse_refusal(401, {}, b"oauth_problem=timestamp_refused&oauth_acceptable_timestamps=1000-2000")
    assert clock_correction(d, now=500.0) == 1000


def test_clock_correction_falls_back_to_date_header() -> None:
    d = parse_refusal(401, {"date": "Thu, 01 Jan 1970 00:16:40 GMT"}, b"oauth_problem=timestamp_refused")
    assert clock_correction(d, now=100.0) == 900


def test_clock_correction_unknown_without_either() -> None:
    assert clock_correction(parse_refusal(401, {}, b"oauth_problem=timestamp_refused"), now=0) is None


def test_diff_base_strings_names_a_differing_parameter() -> None:
    theirs = OURS.replace("x%3D1", "x%3D2")
    assert diff_base_strings(OURS, theirs) == ["parameter 'x': ours '1'; provider's '2'"]


def test_diff_base_strings_names_a_parameter_only_one_side_has() -> None:
    theirs = "GET&https%3A%2F%2Fapi.example.com%2Fv1&a%3D1%26oauth_nonce%3Dn"
    assert diff_base_strings(OURS, theirs) == ["parameter 'x': only in ours ('1')"]


def test_diff_base_strings_names_uri_and_method() -> None:
    theirs = OURS.replace("GET", "POST").replace("api.example.com", "api.example.com%3A443")
    lines = diff_base_strings(OURS, theirs)
    assert lines[0] == "method: ours 'GET', provider's 'POST'"
    assert lines[1].startswith("base string URI: ours 'https://api.example.com/v1'")


def test_diff_identical_base_strings_points_at_the_secrets() -> None:
    assert "secrets" in diff_base_strings(OURS, OURS)[0]
