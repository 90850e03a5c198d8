"""Each preset against a provider on oauthlib's endpoints with that provider's quirk, through real mitmdumps.

The proxy signs for the real host names (api.twitter.com, 123456-sb1.restlets.api.netsuite.com, ...): it
runs in upstream mode through a second mitmdump (the "redirector") that sends every request to the loopback
provider, keeping the Host header and telling the original scheme in X-Forwarded-Proto, the way a TLS
terminator in front of a real provider does. The proxy trusts the redirector's certificates (same confdir CA).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.devtools.provider.quirks import DanceQuirks

from .conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, RunningProxy, curl, write_config
from .helper_forms import csrf_from, origin_of, start_login

REDIRECT_SCRIPT = """
from mitmproxy import http

def request(flow: http.HTTPFlow) -> None:
    original_host = flow.request.host_header
    flow.request.headers["X-Forwarded-Proto"] = flow.request.scheme
    flow.request.scheme = "http"
    flow.request.host = "127.0.0.1"
    flow.request.port = {port}
    if original_host:
        flow.request.headers["Host"] = original_host
"""
CONFIG = Path(__file__).resolve().parents[2] / "config" / "presets"


class Chain:
    """Our proxy in upstream mode through a redirector to one provider."""

    def __init__(self, proxy: RunningProxy, provider: Provider, tmp_path: Path) -> None:
        self.proxy, self.provider, self.tmp_path = proxy, provider, tmp_path

    def session(self) -> requests.Session:
        s = requests.Session()
        s.proxies = {"http": self.proxy.url, "https": self.proxy.url}
        s.verify = str(self.proxy.ca_file)
        s.trust_env = False  # the environment's CA bundle would win over verify
        return s

    def login(self, profile: str) -> requests.Response:
        """Run the dance through the helper (the provider auto-approves); return the success page."""
        page = start_login(self.session(), f"http://oauth1.proxy/login/{profile}", follow=True)
        assert page.status_code == 200 and 'id="success"' in page.text, page.text[:500]
        return page


@pytest.fixture
def chain(tmp_path: Path, run_proxy: Any, run_mitmdump: Any, confdir: Path) -> Iterator[Any]:
    started: list[Provider] = []

    def start(profile: dict[str, object], provider: Provider, *, name: str = "p") -> Chain:
        provider.start()
        started.append(provider)
        script = tmp_path / "redirect.py"
        script.write_text(REDIRECT_SCRIPT.format(port=provider.port))
        redirector = run_mitmdump("-s", str(script), "--set", "connection_strategy=lazy")
        config = write_config(tmp_path / "proxy.yaml", {name: profile})
        proxy = run_proxy(config, "--mode", f"upstream:{redirector.url}",
                          "--set", f"ssl_verify_upstream_trusted_ca={confdir / 'mitmproxy-ca-cert.pem'}")
        return Chain(proxy, provider, tmp_path)

    yield start
    for p in started:
        p.stop()


def provider_for(**kw: Any) -> Provider:
    kw.setdefault("clients", [ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)])
    return Provider(trust_forwarded_proto=True, auto_approve=True, **kw)


def valid(provider: Provider) -> bool:
    return bool(provider.records) and all(r.valid for r in provider.records)


KEYS = {"consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
STATIC = {"token": TOKEN, "token_secret": TOKEN_SECRET}


def test_preset_twitter_dance_then_json_and_multipart_uploads_verify(chain: Any) -> None:
    c = chain({"preset": "twitter", **KEYS}, provider_for())
    c.login("p")
    s = c.session()
    tweet = s.post("https://api.twitter.com/api/echo/2/tweets", json={"text": "hello"}, timeout=20)
    assert tweet.status_code == 200, tweet.text  # a JSON body is not part of the signature
    # The v1.1 upload on upload.twitter.com was retired in 2025: media goes to api.x.com's v2 upload.
    upload = s.post("https://api.x.com/api/echo/2/media/upload",
                    files={"media": ("a.png", b"\x89PNG..")}, data={"media_category": "tweet_image"}, timeout=20)
    assert upload.status_code == 200, upload.text  # nor are multipart fields
    assert upload.json()["content_type"].startswith("multipart/form-data")
    assert valid(c.provider)
    assert c.provider.records[-1].uri.startswith("https://api.x.com/api/echo/2/media/upload")


def test_preset_netsuite_sends_the_realm_derived_from_the_account_host(chain: Any) -> None:
    profile = {"preset": "netsuite", "hosts": ["123456-sb1.restlets.api.netsuite.com"], **KEYS, **STATIC}
    c = chain(profile, provider_for(realms=["123456_SB1"], access_tokens={TOKEN: TOKEN_SECRET}))
    reply = c.session().get("https://123456-sb1.restlets.api.netsuite.com/api/echo/restlet.nl?script=1&deploy=1",
                            timeout=20)
    assert reply.status_code == 200, reply.text
    assert reply.json()["realm"] == "123456_SB1" and reply.json()["signature_method"] == "HMAC-SHA256"
    assert valid(c.provider)


def test_preset_netsuite_without_the_realm_is_refused_by_the_provider(chain: Any) -> None:
    profile = {"preset": "netsuite", "hosts": ["123456-sb1.restlets.api.netsuite.com"], "realm_from_host": False,
               **KEYS, **STATIC}
    c = chain(profile, provider_for(realms=["123456_SB1"], access_tokens={TOKEN: TOKEN_SECRET}))
    reply = c.session().get("https://123456-sb1.restlets.api.netsuite.com/api/echo/x", timeout=20)
    assert reply.status_code == 401  # the quirk is real: the provider demands the realm


def test_preset_woocommerce_query_placement_consumer_only(chain: Any) -> None:
    c = chain({"preset": "woocommerce", "hosts": ["shop.example.com"], **KEYS}, provider_for())
    reply = c.session().get("http://shop.example.com/api/echo/wp-json/wc/v3/products?per_page=5", timeout=20)
    assert reply.status_code == 200, reply.text
    assert "oauth_signature=" in reply.json()["query"] and reply.json()["token"] is None
    assert valid(c.provider)


def test_preset_woocommerce_legacy_key_without_ampersand(chain: Any) -> None:
    profile = {"preset": "woocommerce", "hosts": ["shop.example.com"], "key_ampersand": False, **KEYS}
    c = chain(profile, provider_for(legacy_key=True))
    assert c.session().get("http://shop.example.com/api/echo/wc-api/v3/orders", timeout=20).status_code == 200
    assert valid(c.provider)


def test_preset_magento_bracketed_query_keys_signed_as_sent(chain: Any) -> None:
    c = chain({"preset": "magento", "hosts": ["shop.example.com"], **KEYS, **STATIC},
              provider_for(access_tokens={TOKEN: TOKEN_SECRET}))
    query = ("searchCriteria[filter_groups][0][filters][0][field]=sku"
             "&searchCriteria[filter_groups][0][filters][0][value]=24-MB01")
    data = curl("--cacert", str(c.proxy.ca_file), "-x", c.proxy.url, "-g",
                f"https://shop.example.com/api/echo/rest/V1/products?{query}")
    assert data.returncode == 0, data.stderr
    assert json.loads(data.stdout)["query"] == query
    assert valid(c.provider)


def test_preset_magento_dance_sends_the_verifier(chain: Any) -> None:
    paths = ("/oauth/token/request", "/admin/oauth_authorize", "/oauth/token/access")
    c = chain({"preset": "magento", "hosts": ["shop.example.com"], **KEYS}, provider_for(dance_paths=paths))
    c.login("p")
    assert [r.endpoint for r in c.provider.records] == ["request_token", "access_token"]
    assert valid(c.provider)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_preset_jira_rsa_sha1_dance_under_plugins_servlet(chain: Any, tmp_path: Path) -> None:
    key = rsa_key()
    (tmp_path / "jira.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    paths = ("/plugins/servlet/oauth/request-token", "/plugins/servlet/oauth/authorize",
             "/plugins/servlet/oauth/access-token")
    provider = provider_for(clients=[ProviderClient(key="jira-app", rsa_public_key_pem=public_pem(key))],
                            dance_paths=paths)
    c = chain({"preset": "jira", "hosts": ["jira.example.com"], "consumer_key": "jira-app",
               "private_key_file": str(tmp_path / "jira.pem")}, provider)
    c.login("p")
    reply = c.session().get("https://jira.example.com/api/me", timeout=20)
    assert reply.status_code == 200
    assert {r.signature_method for r in c.provider.records} == {"RSA-SHA1"}
    assert valid(c.provider)


def test_preset_trello_authorize_params_and_dance(chain: Any) -> None:
    paths = ("/1/OAuthGetRequestToken", "/1/OAuthAuthorizeToken", "/1/OAuthGetAccessToken")
    c = chain({"preset": "trello", **KEYS, "authorize_params": {"scope": "read,write"}},
              provider_for(dance_paths=paths))
    login = start_login(c.session(), "http://oauth1.proxy/login/p")
    location = login.headers["Location"]
    assert location.startswith("https://trello.com/1/OAuthAuthorizeToken?")
    assert "name=oauth1-proxy" in location and "expiration=30days" in location and "scope=read%2Cwrite" in location
    c.login("p")
    assert c.session().get("https://api.trello.com/api/me", timeout=20).status_code == 200
    assert valid(c.provider)


def test_preset_flickr_leaves_photo_out_of_the_signature(chain: Any) -> None:
    c = chain({"preset": "flickr", **KEYS, **STATIC},
              provider_for(excluded_params=["photo"], access_tokens={TOKEN: TOKEN_SECRET}))
    reply = c.session().post("https://up.flickr.com/api/echo/services/upload/",
                             data={"title": "sunset", "photo": "raw-bytes-here"}, timeout=20)
    assert reply.status_code == 200, reply.text
    assert valid(c.provider)


def test_preset_flickr_provider_refuses_a_signature_over_photo(chain: Any) -> None:
    c = chain({"preset": "flickr", "exclude_params": [], **KEYS, **STATIC},
              provider_for(excluded_params=["photo"], access_tokens={TOKEN: TOKEN_SECRET}))
    reply = c.session().post("https://up.flickr.com/api/echo/services/upload/",
                             data={"title": "sunset", "photo": "raw-bytes-here"}, timeout=20)
    assert reply.status_code == 401  # the quirk is real


def test_preset_lti11_form_launch_in_body_and_xml_outcome_with_body_hash(chain: Any) -> None:
    c = chain({"preset": "lti11", "hosts": ["tool.example.com"], **KEYS}, provider_for())
    s = c.session()
    launch = s.post("https://tool.example.com/api/echo/launch",
                    data={"lti_message_type": "basic-lti-launch-request", "resource_link_id": "r1"}, timeout=20)
    assert launch.status_code == 200, launch.text
    outcome = s.post("https://tool.example.com/api/echo/outcomes", data=b"<imsx_POXEnvelopeRequest/>",
                     headers={"Content-Type": "application/xml"}, timeout=20)
    assert outcome.status_code == 200, outcome.text
    assert [r.body_hash_ok for r in c.provider.records] == [None, True]
    assert valid(c.provider)


def test_preset_mastercard_pkcs12_key_and_body_hash_on_every_request(chain: Any, tmp_path: Path) -> None:
    key = rsa_key()
    (tmp_path / "mc.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"mc", key, None, None, serialization.BestAvailableEncryption(b"keystorepassword")))
    provider = provider_for(clients=[ProviderClient(key="mc-consumer", rsa_public_key_pem=public_pem(key))],
                            require_body_hash=True, form_body_hash=True)
    c = chain({"preset": "mastercard", "hosts": ["sandbox.api.mastercard.com"], "consumer_key": "mc-consumer",
               "private_key_file": str(tmp_path / "mc.p12"), "private_key_password": "keystorepassword"}, provider)
    s = c.session()
    assert s.get("https://sandbox.api.mastercard.com/api/echo/atms", timeout=20).status_code == 200
    assert s.post("https://sandbox.api.mastercard.com/api/echo/x", data={"a": "1"}, timeout=20).status_code == 200
    assert s.post("https://sandbox.api.mastercard.com/api/echo/y", json={"a": 1}, timeout=20).status_code == 200
    assert [r.body_hash_ok for r in c.provider.records] == [True, True, True]
    assert {r.signature_method for r in c.provider.records} == {"RSA-SHA256"}
    assert valid(c.provider)


def test_preset_garmin_dance_then_wellness_call(chain: Any) -> None:
    paths = ("/oauth-service/oauth/request_token", "/oauthConfirm", "/oauth-service/oauth/access_token")
    c = chain({"preset": "garmin", **KEYS}, provider_for(dance_paths=paths))
    c.login("p")
    assert c.session().get("https://apis.garmin.com/api/me", timeout=20).status_code == 200
    assert valid(c.provider)


# --- issue 14: E*TRADE's dance variants, Discogs' User-Agent, Tumblr, SmugMug -------------------------

ETRADE_PATHS = ("/oauth/request_token", "/e/t/etws/authorize", "/oauth/access_token")
ETRADE_QUIRKS = DanceQuirks(token_get_only=True, callback_unconfirmed=True, key_token_authorize=True)
AUTHORIZE_LINK = re.compile(r'id="authorize" href="([^"]+)"')


def etrade_provider() -> Provider:
    return provider_for(dance_paths=ETRADE_PATHS, quirks=ETRADE_QUIRKS)


def oob_login_page(c: Chain, profile: str = "p") -> tuple[requests.Session, requests.Response]:
    """Start a callback: oob login at the helper; its page links the authorize URL and takes the PIN."""
    s = c.session()
    page = start_login(s, f"http://oauth1.proxy/login/{profile}")
    return s, page


def test_preset_etrade_pin_login_through_the_helper_then_signed_call(chain: Any) -> None:
    c = chain({"preset": "etrade", **KEYS}, etrade_provider())
    s, page = oob_login_page(c)
    assert page.status_code == 200, page.text
    link = AUTHORIZE_LINK.search(page.text)
    assert link, page.text
    authorize = link.group(1).replace("&amp;", "&")
    assert authorize.startswith(f"https://us.etrade.com/e/t/etws/authorize?key={CONSUMER_KEY}&token=")
    pin_page = s.get(authorize, timeout=20)  # the browser on E*TRADE's page: key= and token=, passed unsigned
    pin = re.search(r'id="pin">([^<]+)<', pin_page.text)
    assert pin, pin_page.text
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert token
    done = s.post("http://oauth1.proxy/verify/p", data={"csrf": csrf_from(page), "oauth_token": token.group(1),
                                                        "pin": pin.group(1)},
                  headers={"Origin": origin_of("http://oauth1.proxy/")}, timeout=30)
    assert done.status_code == 200 and 'id="success"' in done.text, done.text[:500]
    assert s.get("https://api.etrade.com/api/me", timeout=20).status_code == 200
    dance = [(r.endpoint, r.method) for r in c.provider.records if r.endpoint != "resource"]
    assert dance == [("request_token", "GET"), ("access_token", "GET")]  # E*TRADE's GET-only endpoints
    assert valid(c.provider)


def test_preset_etrade_with_token_method_post_gets_405_and_the_page_names_the_fix(chain: Any) -> None:
    c = chain({"preset": "etrade", **KEYS, "token_method": "POST"}, etrade_provider())
    _, page = oob_login_page(c)
    assert page.status_code == 502
    assert "request token" in page.text and "405" in page.text
    assert "set token_method: GET on the profile" in page.text
    assert c.provider.records == []  # the provider verified nothing: refused at the door
    assert c.provider.refused_before_verification == ["POST /oauth/request_token: GET only"]


def test_preset_etrade_requiring_callback_confirmed_fails_clearly(chain: Any) -> None:
    c = chain({"preset": "etrade", **KEYS, "require_callback_confirmed": True}, etrade_provider())
    _, page = oob_login_page(c)
    assert page.status_code == 502
    assert "did not send oauth_callback_confirmed=true" in page.text
    assert "require_callback_confirmed: false" in page.text


def test_preset_etrade_authorize_url_without_placeholders_is_refused_by_the_provider(chain: Any) -> None:
    c = chain({"preset": "etrade", **KEYS, "authorize_url": "https://us.etrade.com/e/t/etws/authorize"},
              etrade_provider())
    s, page = oob_login_page(c)
    link = AUTHORIZE_LINK.search(page.text)
    assert link and "?oauth_token=" in link.group(1)  # RFC 5849's form, which E*TRADE does not read
    refused = s.get(link.group(1).replace("&amp;", "&"), timeout=20)
    assert refused.status_code == 400 and "Unknown request token" in refused.text


def final_answer(stdout: bytes) -> tuple[str, str]:
    """curl -i through a proxy: the head and body of the answer, after the CONNECT's "200 Connection established"."""
    text = stdout.decode("utf-8", "replace")
    while text.startswith("HTTP/1.1 200 Connection established"):
        text = text.partition("\r\n\r\n")[2]
    head, _, body = text.partition("\r\n\r\n")
    return head, body


def test_preset_discogs_without_user_agent_is_refused_by_the_proxy_and_nothing_is_sent(chain: Any) -> None:
    c = chain({"preset": "discogs", **KEYS, **STATIC},
              provider_for(access_tokens={TOKEN: TOKEN_SECRET}, quirks=DanceQuirks(require_user_agent=True)))
    base = ("--cacert", str(c.proxy.ca_file), "-x", c.proxy.url, "-i")
    refused = curl(*base, "-H", "User-Agent:", "https://api.discogs.com/api/echo/oauth/identity")
    head, body = final_answer(refused.stdout)
    assert head.split(" ")[1] == "400", refused.stdout
    assert "server: oauth1-proxy" in head.lower()
    assert 'requires the header User-Agent (require_headers)' in json.loads(body)["message"]
    assert c.provider.records == [] and c.provider.refused_before_verification == []  # nothing left the proxy
    sent = curl(*base, "-A", "MyCollection/1.0", "https://api.discogs.com/api/echo/oauth/identity")
    assert final_answer(sent.stdout)[0].split(" ")[1] == "200", sent.stdout
    assert valid(c.provider)


def test_preset_discogs_rule_off_lets_the_provider_refuse_a_request_without_user_agent(chain: Any) -> None:
    c = chain({"preset": "discogs", **KEYS, **STATIC, "require_headers": []},
              provider_for(access_tokens={TOKEN: TOKEN_SECRET}, quirks=DanceQuirks(require_user_agent=True)))
    refused = curl("--cacert", str(c.proxy.ca_file), "-x", c.proxy.url, "-i", "-H", "User-Agent:",
                   "https://api.discogs.com/api/echo/oauth/identity")
    assert final_answer(refused.stdout)[0].split(" ")[1] == "403", refused.stdout  # the quirk is real
    assert len(c.provider.refused_before_verification) == 1


def test_preset_tumblr_dance_then_api_call(chain: Any) -> None:
    c = chain({"preset": "tumblr", **KEYS}, provider_for())
    c.login("p")
    assert c.session().get("https://api.tumblr.com/api/me", timeout=20).status_code == 200
    assert [r.uri.split("?")[0] for r in c.provider.records if r.endpoint != "resource"] == [
        "https://www.tumblr.com/oauth/request_token", "https://www.tumblr.com/oauth/access_token"]
    assert valid(c.provider)


def test_preset_smugmug_authorize_params_dance_and_upload_host(chain: Any) -> None:
    paths = ("/services/oauth/1.0a/getRequestToken", "/services/oauth/1.0a/authorize",
             "/services/oauth/1.0a/getAccessToken")
    c = chain({"preset": "smugmug", **KEYS}, provider_for(dance_paths=paths))
    location = start_login(c.session(), "http://oauth1.proxy/login/p").headers["Location"]
    assert location.startswith("https://api.smugmug.com/services/oauth/1.0a/authorize?")
    assert "Access=Full" in location and "Permissions=Read" in location
    c.login("p")  # the authorize page on the signed host api.smugmug.com passes unsigned
    s = c.session()
    assert s.get("https://api.smugmug.com/api/me", timeout=20).status_code == 200
    assert s.post("https://upload.smugmug.com/api/echo/", data=b"jpeg", timeout=20).status_code == 200
    assert valid(c.provider)


def test_preset_mediawiki_pin_login_with_title_routes_then_api_call_on_another_wiki(chain: Any) -> None:
    paths = ("/oauth/request_token", "/wiki/Special:OAuth/authorize", "/oauth/access_token")
    c = chain({"preset": "mediawiki", "hosts": ["meta.wikimedia.org", "en.wikipedia.org"], **KEYS},
              provider_for(dance_paths=paths, quirks=DanceQuirks(title_routes=True)))
    s, page = oob_login_page(c)
    assert page.status_code == 200, page.text
    link = AUTHORIZE_LINK.search(page.text)
    assert link, page.text
    authorize = link.group(1).replace("&amp;", "&")
    assert authorize.startswith("https://meta.wikimedia.org/wiki/Special:OAuth/authorize?oauth_consumer_key="
                                f"{CONSUMER_KEY}&oauth_token=")
    pin = re.search(r'id="pin">([^<]+)<', s.get(authorize, timeout=20).text)  # passed unsigned
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert pin and token
    done = s.post("http://oauth1.proxy/verify/p", data={"csrf": csrf_from(page), "oauth_token": token.group(1),
                                                        "pin": pin.group(1)},
                  headers={"Origin": origin_of("http://oauth1.proxy/")}, timeout=30)
    assert done.status_code == 200 and 'id="success"' in done.text, done.text[:500]
    dance = [r.uri for r in c.provider.records]
    assert dance == ["https://meta.wikimedia.org/w/index.php?title=Special:OAuth/initiate",
                     "https://meta.wikimedia.org/w/index.php?title=Special:OAuth/token"]
    reply = s.get("https://en.wikipedia.org/api/echo/w/api.php?action=query&meta=userinfo", timeout=20)
    assert reply.status_code == 200, reply.text
    assert valid(c.provider)


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIG.glob("*.yaml")))
def test_preset_example_config_loads_with_check(name: str, tmp_path: Path) -> None:
    text = (CONFIG / f"{name}.yaml").read_text()
    (tmp_path / f"{name}.yaml").write_text(text)
    for key_file in re.findall(r"private_key_file: (\S+)", text):
        key = rsa_key()
        if key_file.endswith(".p12"):
            data = pkcs12.serialize_key_and_certificates(b"k", key, None, None,
                                                         serialization.BestAvailableEncryption(b"pw"))
        else:
            data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        (tmp_path / key_file).write_bytes(data)
    env = dict(os.environ, **{v: "pw" if "PASSWORD" in v else "value" for v in re.findall(r"\$\{(\w+)\}", text)})
    result = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(tmp_path / f"{name}.yaml")],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"(preset {name})" in result.stdout


def test_preset_etrade_sandbox_trading_day_one_pin_login_renewed_while_idle_then_midnight_asks_for_a_login(
        chain: Any) -> None:
    # Issue 14's "done means", against the provider's E*TRADE switches: log in once with the PIN, run a script
    # whose calls are idle longer than E*TRADE's limit (3 s here, 2 hours there) without touching the proxy; at
    # the daily expiry (the next minute boundary in New York here, midnight there) the proxy says plainly that a
    # new login is needed, and sends nothing. The wait for the boundary is real (up to ~85 s).
    import time
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from oauth1_proxy.devtools.provider import TokenLives

    boundary = (datetime.now(ZoneInfo("America/New_York")) + timedelta(seconds=25)).replace(
        second=0, microsecond=0) + timedelta(minutes=1)
    profile = {"preset": "etrade-sandbox", **KEYS, "idle_timeout": 3,
               "expires_daily": f"{boundary:%H:%M} America/New_York"}
    c = chain(profile, provider_for(dance_paths=ETRADE_PATHS, quirks=ETRADE_QUIRKS,
                                    lives=TokenLives(idle_timeout=3)))
    s, page = oob_login_page(c)
    authorize = AUTHORIZE_LINK.search(page.text)
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert authorize and token, page.text
    pin = re.search(r'id="pin">([^<]+)<', s.get(authorize.group(1).replace("&amp;", "&"), timeout=20).text)
    assert pin
    done = s.post("http://oauth1.proxy/verify/p", data={"csrf": csrf_from(page), "oauth_token": token.group(1),
                                                        "pin": pin.group(1)},
                  headers={"Origin": origin_of("http://oauth1.proxy/")}, timeout=30)
    assert 'id="success"' in done.text, re.sub(r"<style>.*?</style>", "", done.text, flags=re.S)[-1500:]
    script = c.session()
    for _ in range(3):  # the script's calls, each after an idle gap past the renewal point (3 s - 1 s margin)
        assert script.get("https://apisb.etrade.com/api/me", timeout=20).status_code == 200
        time.sleep(2.5)
    assert c.provider.lives is not None and c.provider.lives.renewals >= 2
    time.sleep(max(0.0, boundary.timestamp() - time.time() + 1.0))  # "midnight"
    hits = sum(1 for r in c.provider.records if r.endpoint == "resource")
    late = script.get("https://apisb.etrade.com/api/me", timeout=20)
    assert late.status_code == 401, late.text
    assert "expired" in late.text and "oauth1.proxy/login/p" in late.text, late.text
    assert sum(1 for r in c.provider.records if r.endpoint == "resource") == hits  # nothing was sent
    assert valid(c.provider)
