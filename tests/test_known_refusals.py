"""Refusals that re-signing cannot fix get one line: what it is and what to do (diagnostics.known_refusal)."""

from __future__ import annotations

import json

import pytest

from oauth1_proxy.diagnostics import (
    ETRADE_KEY_REJECTED,
    NETSUITE_CONCURRENCY,
    NETSUITE_INVALID_LOGIN,
    X_CLIENT_NOT_ENROLLED,
    known_refusal,
    parse_refusal,
)
from oauth1_proxy.errors import ExchangeError
from oauth1_proxy.token_exchange import check_status

# X's answer, as users quote it (xdevplatform/twitter-api-java-sdk#67).
X_NOT_ENROLLED = json.dumps({
    "client_id": "27988566",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from "
              "a Twitter developer App that is attached to a Project. You can create a project via the "
              "developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}).encode()
# NetSuite RESTlet over the account's concurrency limit: 400 with the SuiteScript error code.
NETSUITE_RESTLET = (b'{"error" : {"code" : "SSS_REQUEST_LIMIT_EXCEEDED", "message" : "Request limit exceeded. '
                    b'Please try again later."}}')
NETSUITE_SOAP = b"<soapenv:Fault><faultcode>ExceededConcurrentRequestLimitFault</faultcode></soapenv:Fault>"
NETSUITE_INVALID = b'{"error" : {"code" : "INVALID_LOGIN_ATTEMPT", "message" : "Invalid login attempt."}}'
# E*TRADE's Tomcat error page for an expired key (jessecooper/pyetrade#38).
ETRADE_PAGE = (b"<html><head><title> - Error report</title></head><body><h1>HTTP Status 401 - "
               b"oauth_problem=consumer_key_rejected</h1></body></html>")


@pytest.mark.parametrize(
    ("status", "body", "host", "line"),
    [
        (400, NETSUITE_RESTLET, "123456.restlets.api.netsuite.com", NETSUITE_CONCURRENCY),
        (500, NETSUITE_SOAP, "123456.suitetalk.api.netsuite.com", NETSUITE_CONCURRENCY),
        (401, NETSUITE_INVALID, "123456-sb1.restlets.api.netsuite.com", NETSUITE_INVALID_LOGIN),
        (403, X_NOT_ENROLLED, "api.x.com", X_CLIENT_NOT_ENROLLED),
        (401, ETRADE_PAGE, "api.etrade.com", ETRADE_KEY_REJECTED),
        (401, ETRADE_PAGE, "apisb.etrade.com", ETRADE_KEY_REJECTED),
    ],
    ids=["netsuite-restlet", "netsuite-soap", "netsuite-invalid-login", "x-client-not-enrolled", "etrade",
         "etrade-sandbox"],
)
def test_parse_refusal_known_refusal_gets_its_line(status: int, body: bytes, host: str, line: str) -> None:
    diagnosis = parse_refusal(status, {}, body, host=host)
    assert diagnosis.known == line
    assert diagnosis.summary().endswith(line)


@pytest.mark.parametrize(
    ("status", "body", "host"),
    [
        (401, NETSUITE_INVALID, "api.example.com"),  # "Invalid login attempt" means NetSuite's only from NetSuite
        (401, ETRADE_PAGE, "api.example.com"),  # consumer_key_rejected elsewhere: the generic advice
        (403, b'{"reason": "forbidden"}', "api.x.com"),
        (401, b"oauth_problem=signature_invalid", "api.etrade.com"),
    ],
    ids=["invalid-login-elsewhere", "key-rejected-elsewhere", "other-403", "etrade-signature"],
)
def test_known_refusal_other_refusals_get_none(status: int, body: bytes, host: str) -> None:
    assert known_refusal(status, body.decode(), host=host, problem=parse_refusal(status, {}, body).problem) is None
    assert parse_refusal(status, {}, body, host=host).known is None


def test_known_refusal_lines_say_what_to_do() -> None:
    assert "max_concurrency" in NETSUITE_CONCURRENCY and "concurrency" in NETSUITE_CONCURRENCY
    assert "Project" in X_CLIENT_NOT_ENROLLED and "developer portal" in X_CLIENT_NOT_ENROLLED
    assert "expire two years" in ETRADE_KEY_REJECTED and "new key" in ETRADE_KEY_REJECTED


def test_check_status_etrade_expired_key_during_the_dance_names_it() -> None:
    with pytest.raises(ExchangeError) as caught:
        check_status("request token", 401, ETRADE_PAGE, host="api.etrade.com", method="GET")
    message = str(caught.value)
    assert message.startswith("request token: the provider answered 401: oauth_problem=consumer_key_rejected")
    assert message.endswith(ETRADE_KEY_REJECTED)
    assert caught.value.problem == "consumer_key_rejected"


def test_check_status_405_names_token_method() -> None:
    with pytest.raises(ExchangeError, match="set token_method: GET on the profile"):
        check_status("request token", 405, b"Method Not Allowed", host="api.etrade.com", method="POST")
