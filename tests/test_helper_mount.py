"""The helper's mitmproxy side (OAuth1Helper, the reverse Host check) on test flows (SPEC §10, issue 12).

Lowest level of the proofs in tests/security/test_helper_attacks.py: the
Host a DNS-rebinding page sends is refused before anything is signed or
served; allowed reverse requests reach the upstream with the Host
mitmproxy would have set; the helper's pages run side by side.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import exceptions, http
from mitmproxy.addons import proxyserver
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import taddons, tflow

from oauth1_proxy import web
from oauth1_proxy.mitmproxy_addon import OAuth1Signer
from oauth1_proxy.token_exchange import TemporaryCredentials

CONFIG = """\
token_store: tokens.yaml
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: "cs-secret-of-the-mount-tests"
    token: the-token
    token_secret: "ts-secret-of-the-mount-tests"
  dance:
    hosts: [dance.example.com]
    consumer_key: ck
    consumer_secret: "cs-secret-of-the-mount-tests"
    request_token_url: https://dance.example.com/oauth/request_token
    authorize_url: https://dance.example.com/oauth/authorize
    access_token_url: https://dance.example.com/oauth/access_token
"""
REVERSE = "reverse:https://api.example.com"


@contextmanager
def signer_in(tmp_path: Path, **options: Any) -> Iterator[tuple[OAuth1Signer, Any]]:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    path.chmod(0o600)
    signer = OAuth1Signer()
    with taddons.context(signer, proxyserver.Proxyserver()) as tctx:
        tctx.configure(signer, oauth1_config=str(path), oauth1_helper_port=-1, **options)
        yield signer, tctx


def reverse_flow(host: str | None, path: str = "/v1/items", method: str = "GET", body: bytes = b"",
                 sockname: tuple[str, int] = ("127.0.0.1", 8080)) -> http.HTTPFlow:
    """A flow as mitmproxy hands it to requestheaders in reverse mode with keep_host_header held on."""
    request = http.Request.make(method, f"https://api.example.com{path}", body)
    request.headers.pop("Host", None)
    if host is not None:
        request.headers["Host"] = host
    flow = tflow.tflow(req=request)
    flow.client_conn.proxy_mode = ProxyMode.parse(REVERSE)
    flow.client_conn.sockname = sockname
    return flow


def test_hold_keep_host_turns_it_on_for_reverse_mode_only_and_gives_the_users_value_back(tmp_path: Path) -> None:
    with signer_in(tmp_path) as (signer, tctx):
        assert tctx.options.keep_host_header is False
        tctx.configure(signer, mode=[REVERSE])
        assert tctx.options.keep_host_header is True and signer._user_keeps_host is False
        tctx.configure(signer, mode=["regular"])
        assert tctx.options.keep_host_header is False


@pytest.mark.parametrize("host", ["attacker.test:8080", "attacker.test", "127.0.0.1:9", "api.example.com", None],
                         ids=str)
def test_check_reverse_host_foreign_host_is_421_before_signing(tmp_path: Path, host: str | None) -> None:
    with signer_in(tmp_path, mode=[REVERSE]) as (signer, _):
        flow = reverse_flow(host)
        signer.requestheaders(flow)
        assert flow.response is not None and flow.response.status_code == 421
        assert "DNS rebinding" in flow.response.text
        assert signer.request(flow) is None
        assert "Authorization" not in flow.request.headers


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "LOCALHOST.:8080"], ids=str)
def test_check_reverse_host_own_host_is_signed_with_the_targets_host(tmp_path: Path, host: str) -> None:
    with signer_in(tmp_path, mode=[REVERSE]) as (signer, _):
        flow = reverse_flow(host)
        signer.requestheaders(flow)
        assert flow.response is None
        assert flow.request.host_header == "api.example.com"  # what mitmproxy's own rewrite gives
        signer.request(flow)
        assert flow.response is None and flow.request.headers["Authorization"].startswith("OAuth ")


def test_check_reverse_host_listed_names_pass(tmp_path: Path) -> None:
    with signer_in(tmp_path, mode=[REVERSE], oauth1_reverse_hosts=["api.local", "other.local:9"]) as (signer, _):
        for host, ok in [("api.local", True), ("api.local:8080", True), ("other.local:9", True),
                         ("other.local:8080", False), ("evil.local:8080", False)]:
            flow = reverse_flow(host)
            signer.requestheaders(flow)
            assert (flow.response is None) is ok, host


def test_oauth1_reverse_hosts_bad_value_names_it_and_the_fix(tmp_path: Path) -> None:
    with signer_in(tmp_path) as (signer, tctx):
        with pytest.raises(exceptions.OptionsError, match=r"oauth1_reverse_hosts: 'a/b' is not a host name"):
            tctx.configure(signer, oauth1_reverse_hosts=["a/b"])


def test_check_reverse_host_non_loopback_listener_accepts_its_own_address_only(tmp_path: Path) -> None:
    with signer_in(tmp_path, mode=[REVERSE]) as (signer, _):
        own = reverse_flow("192.0.2.7:8080", sockname=("192.0.2.7", 8080))
        signer.requestheaders(own)
        assert own.response is None
        other = reverse_flow("localhost:8080", sockname=("192.0.2.7", 8080))
        signer.requestheaders(other)
        assert other.response is not None and other.response.status_code == 421


def test_helper_pseudo_host_with_a_foreign_host_header_is_421(tmp_path: Path) -> None:
    with signer_in(tmp_path) as (signer, _):
        request = http.Request.make("GET", "http://oauth1.proxy/status.json")
        request.headers["Host"] = "attacker.test"
        flow = tflow.tflow(req=request)
        serving = signer.request(flow)
        assert serving is not None
        asyncio.run(serving)
        assert flow.response is not None and flow.response.status_code == 421


def test_helper_reverse_prefix_keeps_the_browsers_host_as_its_origin(tmp_path: Path) -> None:
    with signer_in(tmp_path, mode=[REVERSE]) as (signer, _):
        flow = reverse_flow("localhost:8080", path="/_oauth1/")
        signer.requestheaders(flow)
        assert flow.request.host_header == "localhost:8080"  # not rewritten: never leaves
        serving = signer.request(flow)
        assert serving is not None
        asyncio.run(serving)
        assert flow.response is not None and flow.response.status_code == 200
        assert 'action="/_oauth1/login/dance"' in flow.response.text


def test_helper_pages_answer_while_a_login_waits_on_the_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mitmproxy's WSGIApp would run these one at a time: status.json would wait for the provider."""
    release = threading.Event()

    def slow_request_token(*_: Any, **__: Any) -> TemporaryCredentials:
        release.wait(10)
        return TemporaryCredentials(token="rt", secret="s")

    monkeypatch.setattr(web, "obtain_request_token", slow_request_token)

    def helper_flow(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Any:
        request = http.Request.make(method, f"http://oauth1.proxy{path}", body,
                                    {"Host": "oauth1.proxy", **(headers or {})})
        return tflow.tflow(req=request)

    async def scenario(signer: OAuth1Signer) -> tuple[float, bool]:
        index = helper_flow("GET", "/login/dance")
        await signer.request(index)  # type: ignore[misc]
        token = index.response.text.split('name="csrf" value="')[1].split('"')[0]
        login = helper_flow("POST", "/login/dance", f"csrf={token}".encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://oauth1.proxy"})
        waiting = asyncio.ensure_future(signer.request(login))  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        status = helper_flow("GET", "/status.json")
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(signer.request(status), 5)  # type: ignore[arg-type]
        took = loop.time() - started
        still_waiting = not waiting.done()
        release.set()
        await waiting
        assert status.response.status_code == 200 and login.response.status_code == 303
        return took, still_waiting

    with signer_in(tmp_path) as (signer, _):
        took, still_waiting = asyncio.run(scenario(signer))
        signer.helper.done()
    assert still_waiting and took < 1.0


def test_check_reverse_host_foreign_host_of_a_streamed_request_kills_it(tmp_path: Path) -> None:
    with signer_in(tmp_path, mode=[REVERSE], stream_large_bodies="1k") as (signer, _):
        flow = reverse_flow("attacker.test:8080", method="POST")
        flow.request.headers.pop("content-length", None)
        flow.request.headers["Transfer-Encoding"] = "chunked"  # may start streaming after requestheaders
        signer.requestheaders(flow)
        assert flow.response is None and flow.error is not None  # killed: nothing is sent
