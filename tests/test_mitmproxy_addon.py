"""mitmproxy_addon.py: OAuth1Signer hooks on test flows, signatures checked with oauthlib (SPEC §5, §8)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mitmproxy import exceptions, hooks, http
from mitmproxy.addons import proxyauth, save
from mitmproxy.proxy.layers.http import (
    HttpRequestHeadersHook,
    HttpRequestHook,
    HttpResponseHeadersHook,
    HttpResponseHook,
)
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow
from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature as oauthlib_signature

from oauth1_proxy.mitmproxy_addon import OAuth1Signer, make_addons, use_sparse_dispatch
from oauth1_proxy.tokens import FileTokenStore, StoredToken

CONSUMER_SECRET = "cs-Very-Secret-&+"
TOKEN_SECRET = "ts-Very-Secret-%="
FORM = "application/x-www-form-urlencoded"

STATIC = f"""\
profiles:
  api:
    hosts: [api.example.com, "api.example.com:8443"]
    consumer_key: the-consumer-key
    consumer_secret: "{CONSUMER_SECRET}"
    token: the-token
    token_secret: "{TOKEN_SECRET}"
"""


def config_with(*profiles: str) -> str:
    return "profiles:\n" + "".join(profiles)


def profile_yaml(name: str, **keys: str | None) -> str:
    """One profile's YAML; a key given as None is left out."""
    body: dict[str, str | None] = {
        "hosts": "[api.example.com]",
        "consumer_key": f"key-of-{name}",
        "consumer_secret": f'"{CONSUMER_SECRET}"',
        "token": "the-token",
        "token_secret": f'"{TOKEN_SECRET}"',
        **keys,
    }
    return f"  {name}:\n" + "".join(f"    {k}: {v}\n" for k, v in body.items() if v is not None)


DANCE = {
    "request_token_url": "https://api.example.com/oauth/request_token",
    "authorize_url": "https://api.example.com/oauth/authorize",
    "access_token_url": "https://api.example.com/oauth/access_token",
}
NOT_LOGGED_IN = "token_store: tokens.yaml\n" + config_with(
    profile_yaml("api", token=None, token_secret=None, **DANCE)
)


@contextmanager
def signer_for(tmp_path: Path, config: str) -> Iterator[OAuth1Signer]:
    path = tmp_path / "config.yaml"
    path.write_text(config, encoding="utf-8")
    signer = OAuth1Signer()
    with taddons.context(signer) as tctx:
        tctx.configure(signer, oauth1_config=str(path))
        yield signer


def make_flow(
    method: str = "GET",
    url: str = "https://api.example.com/v1/items?q=%7E&x=a+b",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> http.HTTPFlow:
    """A live flow as a client sends it through the proxy: Host header included."""
    request = http.Request.make(method, url, body)
    # Set after make(): make() rewrites a Host header to match the URL.
    for name, value in {"Host": urlsplit(url).netloc, "User-Agent": "test", **(headers or {})}.items():
        request.headers[name] = value
    return tflow.tflow(req=request)


def oauthlib_verifies(request: http.Request, token_secret: str = TOKEN_SECRET) -> bool:
    """Verify the request's signature with oauthlib's functions, as its server endpoints do."""
    headers = dict(request.headers.items())
    is_form = FORM in request.headers.get("content-type", "")
    r = Request(
        request.url,
        http_method=request.method,
        body=request.raw_content.decode() if is_form and request.raw_content else "",
        headers=headers,
    )
    params = oauthlib_signature.collect_parameters(
        uri_query=r.uri_query, body=r.body, headers=r.headers, exclude_oauth_signature=False
    )
    r.signature = dict(params)["oauth_signature"]
    r.params = [(k, v) for k, v in params if k != "oauth_signature"]
    verify = {
        "HMAC-SHA1": oauthlib_signature.verify_hmac_sha1,
        "HMAC-SHA256": oauthlib_signature.verify_hmac_sha256,
        "PLAINTEXT": oauthlib_signature.verify_plaintext,
    }[dict(params)["oauth_signature_method"]]
    return bool(verify(r, CONSUMER_SECRET, token_secret))


def oauth_params(request: http.Request) -> dict[str, str]:
    return dict(
        oauthlib_signature.collect_parameters(
            headers={"Authorization": request.headers["Authorization"]}, exclude_oauth_signature=False
        )
    )


def answer(flow: http.HTTPFlow) -> dict[str, str]:
    assert flow.response is not None
    data: dict[str, str] = json.loads(flow.response.content or b"")
    return data


# --- signing -----------------------------------------------------------------------------------


def test_request_matched_gets_authorization_that_oauthlib_verifies(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow()
        signer.request(flow)
    assert flow.response is None
    assert flow.request.headers["Authorization"].startswith("OAuth ")
    assert oauthlib_verifies(flow.request)


def test_request_matched_on_non_default_port_signs_with_the_port(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(url="https://api.example.com:8443/v1/items")
        signer.request(flow)
    assert oauthlib_verifies(flow.request)


def test_request_form_post_signs_the_body_parameters(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(
            "POST", body=b"status=Hello%20world&n=1", headers={"Content-Type": f"{FORM}; charset=UTF-8"}
        )
        signer.request(flow)
    assert flow.request.raw_content == b"status=Hello%20world&n=1"
    assert oauthlib_verifies(flow.request)


def test_request_nonce_is_new_for_every_request(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flows = [make_flow() for _ in range(2)]
        for flow in flows:
            signer.request(flow)
    first, second = (oauth_params(f.request)["oauth_nonce"] for f in flows)
    assert first != second and len(first) >= 32


def test_request_unmatched_passes_byte_for_byte(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(
            "POST",
            url="https://other.example.com/v1/items?q=%7E&oauth_token=x",
            body=b"a=%7E",
            headers={"Content-Type": FORM, "Authorization": 'OAuth oauth_token="client"'},
        )
        before_headers, before_body, before_path = (
            flow.request.headers.fields,
            flow.request.raw_content,
            flow.request.data.path,
        )
        signer.request(flow)
    assert flow.response is None
    assert (flow.request.headers.fields, flow.request.raw_content, flow.request.data.path) == (
        before_headers,
        before_body,
        before_path,
    )


@pytest.mark.parametrize(
    "url",
    ["https://api.example.com:9443/v1/items", "https://evil.api.example.com/v1/items"],
    ids=["other-port", "subdomain"],
)
def test_request_to_near_miss_destination_is_not_signed(tmp_path: Path, url: str) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(url=url)
        signer.request(flow)
    assert (flow.response, flow.request.headers.get("Authorization")) == (None, None)


def test_request_to_other_destination_with_configured_host_header_is_not_signed(tmp_path: Path) -> None:
    # Matching is by the real destination: a Host header never earns a signature.
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(url="https://evil.example.com/v1/items", headers={"Host": "api.example.com"})
        signer.request(flow)
    assert "Authorization" not in flow.request.headers


def test_request_client_oauth_authorization_is_replaced_not_duplicated(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(headers={"Authorization": 'OAuth oauth_consumer_key="client", oauth_nonce="old"'})
        signer.request(flow)
    assert len(flow.request.headers.get_all("Authorization")) == 1
    assert oauthlib_verifies(flow.request)


def test_request_client_oauth_query_parameters_are_replaced(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(url="https://api.example.com/v1/items?oauth_nonce=client&q=%7E")
        signer.request(flow)
    assert flow.request.data.path == b"/v1/items?q=%7E"
    assert oauthlib_verifies(flow.request)


def test_request_query_placement_appends_to_the_clients_query_bytes(tmp_path: Path) -> None:
    with signer_for(tmp_path, config_with(profile_yaml("api", placement="query"))) as signer:
        flow = make_flow(url="https://api.example.com/v1/items?q=%7E&x=a+b")
        signer.request(flow)
    assert flow.request.data.path.startswith(b"/v1/items?q=%7E&x=a+b&oauth_")
    assert "Authorization" not in flow.request.headers
    assert oauthlib_verifies(flow.request)


def test_request_body_placement_appends_to_body_and_updates_content_length(tmp_path: Path) -> None:
    with signer_for(tmp_path, config_with(profile_yaml("api", placement="body"))) as signer:
        flow = make_flow("POST", body=b"a=%7E&b=1", headers={"Content-Type": FORM})
        signer.request(flow)
    body = flow.request.raw_content
    assert body is not None and body.startswith(b"a=%7E&b=1&oauth_")
    assert flow.request.headers["content-length"] == str(len(body))
    assert oauthlib_verifies(flow.request)


# --- refusals: the proxy answers itself (fail closed) -------------------------------------------------


def test_request_not_logged_in_answers_401_naming_the_login_url(tmp_path: Path) -> None:
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        flow = make_flow()
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 401
    assert flow.response.headers["Content-Type"] == "application/json"
    body = answer(flow)
    assert (body["profile"], body["login_url"]) == ("api", "http://oauth1.proxy/login/api")
    assert "Open http://oauth1.proxy/login/api to connect it" in body["message"]


def test_request_plaintext_over_http_is_refused(tmp_path: Path) -> None:
    with signer_for(tmp_path, config_with(profile_yaml("api", signature_method="PLAINTEXT"))) as signer:
        flow = make_flow(url="http://api.example.com/v1/items")
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code >= 400
    assert "Authorization" not in flow.request.headers
    assert re.search(r"PLAINTEXT.*over http.*set allow_insecure: true", answer(flow)["message"])


def test_request_plaintext_over_http_with_allow_insecure_is_signed(tmp_path: Path) -> None:
    config = config_with(profile_yaml("api", signature_method="PLAINTEXT", allow_insecure="true"))
    with signer_for(tmp_path, config) as signer:
        flow = make_flow(url="http://api.example.com/v1/items")
        signer.request(flow)
    assert flow.response is None
    assert oauthlib_verifies(flow.request)


@pytest.mark.parametrize(
    "host_header",
    ["evil.example.com", "api.example.com:8443", "api.example.com.evil.test"],
    ids=["other-host", "other-port", "suffix"],
)
def test_request_spoofed_host_header_answers_400(tmp_path: Path, host_header: str) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(headers={"Host": host_header})
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert "Authorization" not in flow.request.headers
    assert (
        f"the Host header {host_header!r} does not match the destination api.example.com"
        in answer(flow)["message"]
    )


@pytest.mark.parametrize(
    "host_header",
    ["API.Example.com", "api.example.com:443", "api.example.com."],
    ids=["case", "default-port", "trailing-dot"],
)
def test_request_equivalent_host_header_is_signed(tmp_path: Path, host_header: str) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(headers={"Host": host_header})
        signer.request(flow)
    assert flow.response is None and "Authorization" in flow.request.headers


def test_request_profile_header_picks_among_matches_and_is_removed(tmp_path: Path) -> None:
    config = config_with(profile_yaml("root"), profile_yaml("v1", path_prefix="/v1/"))
    with signer_for(tmp_path, config) as signer:
        flow = make_flow(headers={"X-OAuth1-Profile": "root"})
        signer.request(flow)
    assert oauth_params(flow.request)["oauth_consumer_key"] == "key-of-root"
    assert "X-OAuth1-Profile" not in flow.request.headers


def test_request_without_profile_header_uses_longest_prefix(tmp_path: Path) -> None:
    config = config_with(profile_yaml("root"), profile_yaml("v1", path_prefix="/v1/"))
    with signer_for(tmp_path, config) as signer:
        flow = make_flow()
        signer.request(flow)
    assert oauth_params(flow.request)["oauth_consumer_key"] == "key-of-v1"


def test_request_unknown_profile_header_answers_400_naming_the_candidates(tmp_path: Path) -> None:
    config = config_with(profile_yaml("root"), profile_yaml("v1", path_prefix="/v1/"))
    with signer_for(tmp_path, config) as signer:
        flow = make_flow(headers={"X-OAuth1-Profile": "nope"})
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert "X-OAuth1-Profile: 'nope' does not sign" in answer(flow)["message"]
    assert "the profiles that do are v1, root" in answer(flow)["message"]


def test_request_corrupt_token_store_is_answered_not_forwarded(tmp_path: Path) -> None:
    (tmp_path / "tokens.yaml").write_text("api: [unclosed\n")
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        flow = make_flow()
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code >= 500
    assert "Authorization" not in flow.request.headers
    assert "the token store is not valid YAML" in answer(flow)["message"]


def test_request_internal_error_answers_502_and_never_forwards_unsigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("oauth1_proxy.policy.sign_request", broken)
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow()
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 502
    assert flow.response.headers["Server"] == "oauth1-proxy"
    assert "Authorization" not in flow.request.headers


def test_request_form_body_with_content_encoding_is_refused(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(
            "POST", body=b"\x1f\x8b...", headers={"Content-Type": FORM, "Content-Encoding": "gzip"}
        )
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert "send it uncompressed" in answer(flow)["message"]


# --- captures and replays ---------------------------------------------------------------------


def test_request_flow_read_from_file_is_not_re_signed(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(headers={"Authorization": 'OAuth oauth_nonce="captured"'})
        flow.live = False
        before = flow.request.headers.fields
        signer.request(flow)
    assert (flow.response, flow.request.headers.fields) == (None, before)


def test_request_replayed_flow_is_re_signed_with_a_fresh_nonce(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow()
        signer.request(flow)
        old_nonce = oauth_params(flow.request)["oauth_nonce"]
        flow.is_replay = "request"
        signer.request(flow)
    assert len(flow.request.headers.get_all("Authorization")) == 1
    assert oauth_params(flow.request)["oauth_nonce"] != old_nonce
    assert oauthlib_verifies(flow.request)


def test_requestheaders_streamed_form_request_to_configured_host_is_sent_nowhere(tmp_path: Path) -> None:
    # A form body is part of the signature; a streamed non-form body is signed (tests/security).
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow("POST", headers={"Content-Type": FORM})
        flow.request.stream = True
        signer.requestheaders(flow)
    assert flow.request.host.endswith(".refused.oauth1.proxy")  # server_connect refuses that connection
    assert "Authorization" not in flow.request.headers


def test_requestheaders_streamed_request_to_other_host_is_left_alone(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(url="https://other.example.com/upload")
        flow.request.stream = True
        signer.requestheaders(flow)
    assert (flow.error, flow.request.stream) == (None, True)


# --- configure ---------------------------------------------------------------------------------


def test_configure_missing_config_raises_options_error_naming_the_file(tmp_path: Path) -> None:
    signer = OAuth1Signer()
    missing = tmp_path / "missing.yaml"
    with taddons.context(signer) as tctx:
        with pytest.raises(exceptions.OptionsError, match=re.escape(f"Cannot load oauth1_config {missing}")):
            tctx.configure(signer, oauth1_config=str(missing))


def test_configure_bad_config_raises_options_error_with_the_problem(tmp_path: Path) -> None:
    signer = OAuth1Signer()
    path = tmp_path / "config.yaml"
    path.write_text(STATIC + "    signature_method: HMAC-MD5\n")
    with taddons.context(signer) as tctx:
        with pytest.raises(
            exceptions.OptionsError,
            match=re.escape(f"{path}:8: profiles.api.signature_method: 'HMAC-MD5' is not supported"),
        ):
            tctx.configure(signer, oauth1_config=str(path))


def test_request_without_config_passes_through(tmp_path: Path) -> None:
    signer = OAuth1Signer()
    with taddons.context(signer):
        flow = make_flow()
        signer.request(flow)
    assert (flow.response, flow.request.headers.get("Authorization")) == (None, None)


# --- logs (SPEC §8) ------------------------------------------------------------------------------


def test_request_signed_logs_one_line_with_profile_method_host_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oauth1_proxy")
    with signer_for(tmp_path, STATIC) as signer:
        signer.request(make_flow())
    lines = [
        r.getMessage() for r in caplog.records if r.name == "oauth1_proxy" and "signed profile=" in r.getMessage()
    ]
    assert len(lines) == 1
    assert all(word in lines[0] for word in ("api", "GET", "api.example.com", "/v1/items", "HMAC-SHA1"))
    assert "q=%7E" not in lines[0]


def test_logs_at_debug_never_contain_a_secret_or_signature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="oauth1_proxy")
    caplog.set_level(logging.DEBUG, logger="oauthlib")
    config = config_with(
        profile_yaml("api"), profile_yaml("plain", signature_method="PLAINTEXT", hosts="[plain.example.com]")
    )
    with signer_for(tmp_path, config) as signer:
        flows = [
            make_flow(),
            make_flow(url="https://plain.example.com/x"),
            make_flow(url="http://plain.example.com/x"),
            make_flow(headers={"Host": "evil.example.com"}),
        ]
        for flow in flows:
            signer.request(flow)
    signatures = [oauth_params(f.request)["oauth_signature"] for f in flows[:2]]
    logged = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in (CONSUMER_SECRET, TOKEN_SECRET, *signatures):
        assert secret not in logged
    assert "OAuth " not in logged


# --- more: replays by placement, the helper's URL, start-up lines, captures -----------------------------


@pytest.mark.parametrize("placement", ["query", "body"], ids=["query", "body"])
def test_request_replayed_flow_replaces_old_oauth_parameters(tmp_path: Path, placement: str) -> None:
    with signer_for(tmp_path, config_with(profile_yaml("api", placement=placement))) as signer:
        flow = make_flow("POST", body=b"a=%7E", headers={"Content-Type": FORM})
        signer.request(flow)
        flow.is_replay = "request"
        signer.request(flow)
    sent = flow.request.data.path + b"&" + (flow.request.raw_content or b"")
    assert sent.count(b"oauth_signature=") == 1
    assert flow.request.headers["content-length"] == str(len(flow.request.raw_content or b""))
    assert oauthlib_verifies(flow.request)


def test_request_signs_once_a_token_is_stored_while_running(tmp_path: Path) -> None:
    # A running proxy picks up the token `oauth1-proxy login` writes to the store.
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        refused = make_flow()
        signer.request(refused)
        FileTokenStore(tmp_path / "tokens.yaml").put(
            "api",
            StoredToken(token="stored-token", token_secret=TOKEN_SECRET, obtained_at="2024-05-01T12:00:00Z"),
        )
        flow = make_flow()
        signer.request(flow)
    assert refused.response is not None and refused.response.status_code == 401
    assert flow.response is None
    assert oauth_params(flow.request)["oauth_token"] == "stored-token"
    assert oauthlib_verifies(flow.request)


def test_request_not_logged_in_in_reverse_mode_names_the_reverse_helper_url(tmp_path: Path) -> None:
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        flow = make_flow()
        flow.client_conn.proxy_mode = ProxyMode.parse("reverse:https://api.example.com")
        flow.client_conn.sockname = ("127.0.0.1", 8081)
        signer.request(flow)
    assert answer(flow)["login_url"] == "http://127.0.0.1:8081/_oauth1/login/api"


def test_running_logs_each_profile_and_never_a_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="oauth1_proxy")
    config = config_with(
        profile_yaml("api"), profile_yaml("plain", signature_method="PLAINTEXT", hosts="[plain.example.com]")
    )
    path = tmp_path / "config.yaml"
    path.write_text(config)
    signer = OAuth1Signer()
    with taddons.context(signer, proxyauth.ProxyAuth()) as tctx:  # mitmdump has the proxyauth option
        tctx.configure(signer, oauth1_config=str(path))
        signer.running()
    profile_lines = [r.getMessage() for r in caplog.records if "profile " in r.getMessage()]
    assert [line.split("profile ")[1].split(":")[0] for line in profile_lines] == ["api", "plain"]
    assert CONSUMER_SECRET not in caplog.text and TOKEN_SECRET not in caplog.text


async def run_flow(tctx: taddons.context, flow: http.HTTPFlow, response: http.Response) -> None:
    """Run a flow's events over every addon, as mitmdump does, the upstream answering ``response``."""
    for hook in (HttpRequestHeadersHook, HttpRequestHook):
        await tctx.master.addons.trigger_event(hook(flow))
    assert flow.response is None  # the request went upstream, as the proxy left it
    flow.response = response
    for hook in (HttpResponseHeadersHook, HttpResponseHook):
        await tctx.master.addons.trigger_event(hook(flow))
    await tctx.master.addons.trigger_event(hooks.DoneHook())


async def test_saved_flows_never_hold_a_plaintext_signature(tmp_path: Path) -> None:
    # SPEC §8: "Secrets (..., a PLAINTEXT signature) never appear ... in saved flows (-w, ...)".
    # Addons in the order `oauth1-proxy run` gives them: mitmdump's Save first, ours appended.
    saver, out = save.Save(), tmp_path / "capture.flows"
    addons = [saver, *make_addons()]
    config = tmp_path / "config.yaml"
    config.write_text(config_with(profile_yaml("plain", signature_method="PLAINTEXT")))
    with taddons.context(*addons) as tctx:
        tctx.configure(addons[-1], oauth1_config=str(config))
        tctx.configure(saver, save_stream_file=str(out))
        flow = make_flow(url="https://api.example.com/v1/items")
        await run_flow(tctx, flow, tflow.tresp())
    saved = out.read_bytes()
    assert b"Very-Secret" not in saved


async def test_saved_flows_redact_token_secret_of_an_access_token_response(tmp_path: Path) -> None:
    # SPEC §8: "token secrets in access-token responses are redacted in captures".
    saver, out = save.Save(), tmp_path / "capture.flows"
    addons = [saver, *make_addons()]
    config = tmp_path / "config.yaml"
    config.write_text(STATIC)
    with taddons.context(*addons) as tctx:
        tctx.configure(addons[-1], oauth1_config=str(config))
        tctx.configure(saver, save_stream_file=str(out))
        flow = make_flow(
            "POST",
            url="https://provider.example.net/oauth/access_token",
            body=b"",
            headers={"Content-Type": FORM},
        )
        response = http.Response.make(
            200, b"oauth_token=at-1&oauth_token_secret=ats-Very-Secret&user_id=42", {"Content-Type": FORM}
        )
        await run_flow(tctx, flow, response)
    saved = out.read_bytes()
    assert b"at-1" in saved
    assert b"ats-Very-Secret" not in saved


# --- one chain entry; the capture guard only while something records (issue 5, SPEC §8) ----------------------


@asynccontextmanager
async def running_mitmdump(
    tmp_path: Path, config: str, *, sparse: bool = False, **option_values: object
) -> AsyncIterator[tuple[Any, OAuth1Signer]]:
    """A real DumpMaster, running, with our addons added as ``oauth1-proxy run`` does (and its SparseDispatch)."""
    from mitmproxy import options
    from mitmproxy.tools.dump import DumpMaster

    root = logging.getLogger()
    handlers = list(root.handlers)
    path = tmp_path / "config.yaml"
    path.write_text(config)
    try:
        opts = options.Options()
        master = DumpMaster(opts, with_termlog=False)
        if sparse:
            use_sparse_dispatch(master)
        ours = make_addons()
        master.addons.add(*ours)
        opts.update(oauth1_config=str(path), oauth1_helper_port=-1, **option_values)
        await master.addons.trigger_event(hooks.RunningHook())
        yield master, ours[0]
    finally:
        root.handlers[:] = handlers  # DumpMaster's error check installs a handler


async def chain_under_mitmdump(tmp_path: Path, config: str, **option_values: object) -> list[str]:
    """The names in a running DumpMaster's chain, with our addons."""
    async with running_mitmdump(tmp_path, config, **option_values) as (master, _):
        return [str(getattr(a, "name", type(a).__name__.lower())) for a in master.addons.chain]


GUARD, RESTORER = "oauth1-capture-guard", "oauth1-capture-restore"
PLAINTEXT_QUERY = config_with(profile_yaml("plain", signature_method="PLAINTEXT", placement="query"))


async def test_chain_under_quiet_mitmdump_holds_one_entry_of_ours_and_no_guard(tmp_path: Path) -> None:
    for detail in (0, 1):
        names = await chain_under_mitmdump(tmp_path, STATIC, flow_detail=detail)
        assert names.count("oauth1signer") == 1
        assert GUARD not in names and RESTORER not in names
        assert not any("helper" in n for n in names)  # served from the signer's request hook


@pytest.mark.parametrize(
    ("config", "option_values"),
    [
        (STATIC, {"save_stream_file": "CAPTURE"}),
        (STATIC, {"hardump": "CAPTURE"}),
        (STATIC, {"flow_detail": 2}),
        (STATIC, {"flow_detail": 4}),
        (PLAINTEXT_QUERY, {"flow_detail": 1}),
        (STATIC, {"scripts": ["OTHER_SCRIPT"]}),
    ],
    ids=["save_stream_file", "hardump", "flow_detail=2", "flow_detail=4", "plaintext-and-flow_detail=1",
         "another-script"],
)
async def test_chain_gets_the_guard_first_and_the_restorer_last_when_something_records(
    tmp_path: Path, config: str, option_values: dict[str, object]
) -> None:
    other = tmp_path / "other_addon.py"
    other.write_text("addons = []\n")
    resolved = {
        k: ([str(other)] if v == ["OTHER_SCRIPT"] else str(tmp_path / "capture") if v == "CAPTURE" else v)
        for k, v in option_values.items()
    }
    names = await chain_under_mitmdump(tmp_path, config, **resolved)
    assert names[0] == GUARD and names[-1] == RESTORER
    assert names.count("oauth1signer") == 1


async def test_chain_of_plaintext_profile_without_output_has_no_guard(tmp_path: Path) -> None:
    names = await chain_under_mitmdump(tmp_path, PLAINTEXT_QUERY, flow_detail=0)
    assert GUARD not in names


async def test_chain_in_a_master_other_than_mitmdump_always_has_the_guard(tmp_path: Path) -> None:
    # mitmweb and the console keep and show every flow.
    config = tmp_path / "config.yaml"
    config.write_text(STATIC)
    addons = make_addons()
    with taddons.context(*addons, proxyauth.ProxyAuth()) as tctx:  # mitmdump has the proxyauth option
        tctx.configure(addons[0], oauth1_config=str(config))
        addons[0].running()
        names = [getattr(a, "name", "") for a in tctx.master.addons.chain]
    assert names[0] == GUARD and names[-1] == RESTORER


async def test_signed_line_record_has_every_field_a_logger_would_give_it() -> None:
    # The per-request record is built from a template (issue 5); handlers must see what Logger.makeRecord makes.
    from oauth1_proxy.mitmproxy_addon import SIGNED_LINE, _signed_line_record, logger

    args = ("api", "GET", "api.example.com", "/v1/items", "HMAC-SHA1")
    ours = _signed_line_record(args)
    made = logger.makeRecord(logger.name, logging.INFO, ours.pathname, 0, SIGNED_LINE, args, None, "sign_flow")
    assert set(vars(ours)) == set(vars(made))
    timing = {"created", "msecs", "relativeCreated"}
    assert {k: v for k, v in vars(ours).items() if k not in timing} == {
        k: v for k, v in vars(made).items() if k not in timing
    }
    assert abs(ours.created - made.created) < 1 and abs(ours.relativeCreated - made.relativeCreated) < 1000
    assert ours.getMessage() == "oauth1-proxy: signed profile=api GET api.example.com /v1/items HMAC-SHA1"
    assert ours.taskName is not None  # made inside a task, as the hooks are
