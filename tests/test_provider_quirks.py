"""The test provider's dance-quirk switches (devtools/provider/quirks.py): each imitates one real provider."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest
import requests
from oauthlib.oauth1 import Client

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.devtools.provider.quirks import DanceQuirks

KEY, SECRET = "quirk-key", "quirk-Secret"


@pytest.fixture
def start() -> Iterator[type[Provider]]:
    started: list[Provider] = []

    def make(**switches: bool) -> Provider:
        p = Provider(clients=[ProviderClient(key=KEY, secret=SECRET)], auto_approve=True,
                     quirks=DanceQuirks(**switches)).start()
        started.append(p)
        return p

    yield make  # type: ignore[misc]
    for p in started:
        p.stop()


def signed(method: str, url: str, **kw: str) -> requests.Response:
    uri, headers, _ = Client(KEY, client_secret=SECRET, callback_uri="oob", **kw).sign(url, http_method=method)
    return requests.request(method, uri, headers=headers, timeout=5)


def test_provider_token_get_only_answers_405_to_post_and_serves_get(start: type[Provider]) -> None:
    p = start(token_get_only=True)
    refused = signed("POST", p.request_token_url)
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
    assert p.records == []  # refused before verification: nothing recorded
    accepted = signed("GET", p.request_token_url)
    assert accepted.status_code == 200 and "oauth_token=" in accepted.text
    assert [r.method for r in p.records] == ["GET"] and p.records[0].valid


def test_provider_callback_unconfirmed_says_false(start: type[Provider]) -> None:
    p = start(callback_unconfirmed=True)
    answer = dict(parse_qsl(signed("POST", p.request_token_url).text))
    assert answer["oauth_callback_confirmed"] == "false"


def test_provider_without_quirks_confirms_the_callback(start: type[Provider]) -> None:
    p = start()
    assert dict(parse_qsl(signed("POST", p.request_token_url).text))["oauth_callback_confirmed"] == "true"


def test_provider_key_token_authorize_takes_key_and_token_only(start: type[Provider]) -> None:
    p = start(key_token_authorize=True)
    token = dict(parse_qsl(signed("POST", p.request_token_url).text))["oauth_token"]
    assert requests.get(p.authorize_url, params={"oauth_token": token}, timeout=5).status_code == 400
    assert requests.get(p.authorize_url, params={"key": "other", "token": token}, timeout=5).status_code == 400
    page = requests.get(p.authorize_url, params={"key": KEY, "token": token}, timeout=5)
    assert page.status_code == 200 and 'id="pin"' in page.text  # auto-approved: the PIN page of an oob login


def test_provider_require_user_agent_refuses_a_request_without_one(start: type[Provider]) -> None:
    p = start(require_user_agent=True)
    connection = http.client.HTTPConnection(p.host, p.port, timeout=5)
    try:
        connection.request("GET", "/api/echo/x")  # http.client sends no User-Agent of its own
        response = connection.getresponse()
        assert response.status == 403 and b"User-Agent" in response.read()
    finally:
        connection.close()
    assert p.records == [] and p.refused_before_verification == ["GET /api/echo/x: no User-Agent"]
    assert signed("GET", f"{p.base_url}/api/echo/x").status_code == 200  # requests sends one


def test_provider_title_routes_serve_both_token_endpoints_from_one_script(start: type[Provider]) -> None:
    p = start(title_routes=True)
    script = f"{p.base_url}/w/index.php"
    answer = dict(parse_qsl(signed("POST", f"{script}?title=Special:OAuth/initiate").text))
    assert answer["oauth_callback_confirmed"] == "true"
    assert p.records[-1].endpoint == "request_token" and p.records[-1].valid
    assert p.records[-1].uri == f"{script}?title=Special:OAuth/initiate"  # the title is signed and verified
    verifier = p.approve(answer["oauth_token"])
    token = signed("POST", f"{script}?title=Special:OAuth/token", resource_owner_key=answer["oauth_token"],
                   resource_owner_secret=answer["oauth_token_secret"], verifier=verifier)
    assert token.status_code == 200 and "oauth_token_secret=" in token.text
    assert p.records[-1].endpoint == "access_token" and p.records[-1].valid
    assert requests.get(f"{script}?title=Main_Page", timeout=5).status_code == 404
