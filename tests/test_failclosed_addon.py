"""The signer fails closed (issue 12, part 4), at the unit level: targets that are not a path, raw TCP to a
signed destination, and the token store read from a snapshot, never from the disk on the event loop.

End to end (a real proxy, raw bytes, a listener that records what arrives): tests/security/test_failclosed.py.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest
from mitmproxy import tcp
from mitmproxy.test import tflow

from oauth1_proxy.stores.managed import ManagedTokenStore
from oauth1_proxy.tokens import FileTokenStore, StoredToken
from tests.test_mitmproxy_addon import (
    NOT_LOGGED_IN,
    STATIC,
    TOKEN_SECRET,
    answer,
    make_flow,
    oauth_params,
    oauthlib_verifies,
    signer_for,
)

ASTERISK = [("OPTIONS", b"*"), ("GET", b"*"), ("POST", b"*"), ("GET", b"*/v1/items"), ("GET", b"api.example.com:443")]


@pytest.mark.parametrize(("method", "target"), ASTERISK, ids=[f"{m} {t.decode()}" for m, t in ASTERISK])
def test_sign_flow_target_that_is_not_a_path_to_a_signed_host_is_refused_with_400(
    tmp_path: Path, method: str, target: bytes
) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(method)
        flow.request.data.path = target
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert "Authorization" not in flow.request.headers
    assert f"the request target {target.decode()!r} is not a path" in answer(flow)["message"]
    assert "OPTIONS * is not supported" in answer(flow)["message"]


def test_sign_flow_asterisk_to_an_unconfigured_host_passes_through_untouched(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow("OPTIONS", "https://elsewhere.example.com/")
        flow.request.data.path = b"*"
        signer.request(flow)
    assert flow.response is None and flow.request.data.path == b"*"
    assert "Authorization" not in flow.request.headers


def test_profiles_for_asterisk_to_a_signed_host_names_that_hosts_profiles(tmp_path: Path) -> None:
    # requestheaders (streamed bodies) asks _profiles_for whether a request is ours: "*" must be.
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow("OPTIONS")
        flow.request.data.path = b"*"
        assert [p.name for p in signer._profiles_for(flow.request)] == ["api"]


def tcp_flow_to(host: str, port: int, data: bytes) -> tcp.TCPFlow:
    flow = tflow.ttcpflow()
    flow.server_conn.address = (host, port)
    flow.messages = [tcp.TCPMessage(True, data)]
    return flow


def test_tcp_message_to_a_signed_destination_relays_nothing(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = tcp_flow_to("API.example.com", 8443, b"\r\nGET /v1/items HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
        signer.tcp_message(flow)
    assert flow.messages[-1].content == b""


def test_tcp_message_to_another_destination_is_relayed_untouched(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = tcp_flow_to("elsewhere.example.com", 443, b"raw bytes")
        signer.tcp_message(flow)
    assert flow.messages[-1].content == b"raw bytes"


def test_tcp_message_from_the_server_is_relayed_untouched(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = tcp_flow_to("api.example.com", 443, b"")
        flow.messages = [tcp.TCPMessage(False, b"from the server")]
        signer.tcp_message(flow)
    assert flow.messages[-1].content == b"from the server"


# --- the token store: a snapshot on the event loop --------------------------------------------------

STORED = StoredToken(token="stored-token", token_secret=TOKEN_SECRET, obtained_at="2024-05-01T12:00:00Z")


def test_request_with_a_stored_token_does_not_touch_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FileTokenStore(tmp_path / "tokens.yaml").put("api", STORED)
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        touched: list[str] = []
        real_stat, real_open = os.stat, os.open
        main = threading.get_ident()

        def stat(*a: object, **k: object) -> os.stat_result:
            if threading.get_ident() == main:  # the watcher thread may stat; the request path must not
                touched.append("stat")
            return real_stat(*a, **k)  # type: ignore[arg-type]

        def open_(*a: object, **k: object) -> int:
            if threading.get_ident() == main:
                touched.append("open")
            return real_open(*a, **k)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "stat", stat)
        monkeypatch.setattr(os, "open", open_)
        flow = make_flow()
        signer.request(flow)
        monkeypatch.undo()
    assert touched == []
    assert flow.response is None and oauth_params(flow.request)["oauth_token"] == "stored-token"


async def test_request_not_logged_in_rereads_the_store_off_the_event_loop_then_signs(tmp_path: Path) -> None:
    # The snapshot has no token yet (another process just stored it): the request waits for a re-read done in a
    # worker thread, never on the loop, and is signed.
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        assert isinstance(signer.store, ManagedTokenStore) and isinstance(signer.store.backend, FileTokenStore)
        signer.store.unwatch()  # no watcher: only the miss path can see the new token
        FileTokenStore(tmp_path / "tokens.yaml").put("api", STORED)
        loop_thread = threading.get_ident()
        readers: list[int] = []
        refresh = signer.store.refresh

        def recording_refresh() -> None:
            readers.append(threading.get_ident())
            refresh()

        signer.store.refresh = recording_refresh  # type: ignore[method-assign]
        flow = make_flow(headers={"X-OAuth1-Profile": "api"})
        pending = signer.request(flow)
        assert pending is not None and flow.response is None
        await pending
    assert readers and loop_thread not in readers
    assert flow.response is None and oauth_params(flow.request)["oauth_token"] == "stored-token"
    assert oauthlib_verifies(flow.request)
    assert "X-OAuth1-Profile" not in flow.request.headers


async def test_request_not_logged_in_after_the_reread_is_answered_401(tmp_path: Path) -> None:
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        flow = make_flow()
        pending = signer.request(flow)
        assert pending is not None
        await pending
    assert flow.response is not None and flow.response.status_code == 401
    assert "Authorization" not in flow.request.headers


def test_request_sees_a_token_another_writer_stored_within_the_watch_interval(tmp_path: Path) -> None:
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        assert isinstance(signer.store, ManagedTokenStore) and isinstance(signer.store.backend, FileTokenStore)
        FileTokenStore(tmp_path / "tokens.yaml").put("api", STORED)
        deadline = time.monotonic() + 2.0
        while signer.store.cached("api") is None and time.monotonic() < deadline:
            time.sleep(0.02)
        seen_after = 2.0 - (deadline - time.monotonic())
    assert signer.store.cached("api") == STORED
    assert seen_after < 1.5  # WATCH_INTERVAL is 0.25 s; the rest is margin for a loaded machine


def test_request_uses_no_token_another_writer_deleted_within_the_watch_interval(tmp_path: Path) -> None:
    FileTokenStore(tmp_path / "tokens.yaml").put("api", STORED)
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        assert isinstance(signer.store, ManagedTokenStore) and isinstance(signer.store.backend, FileTokenStore)
        assert signer.store.cached("api") == STORED
        FileTokenStore(tmp_path / "tokens.yaml").delete("api")
        time.sleep(1.0)
        flow = make_flow()
        pending = signer.request(flow)
        if pending is not None:
            asyncio.run(pending)
    assert flow.response is not None and flow.response.status_code == 401
    assert "Authorization" not in flow.request.headers


def test_request_with_a_fifo_as_token_store_is_refused_with_500_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "tokens.yaml")
    done = threading.Event()
    flows = []

    def run() -> None:
        with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
            flow = make_flow()
            signer.request(flow)
            flows.append(flow)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    assert done.wait(10), "the signer waited on the FIFO"
    flow = flows[0]
    assert flow.response is not None and flow.response.status_code == 500
    assert "named pipe (FIFO), not a regular file" in answer(flow)["message"]
    assert "Authorization" not in flow.request.headers


def test_requestheaders_streamed_asterisk_to_a_signed_host_is_sent_nowhere(tmp_path: Path) -> None:
    # A streamed body leaves right after requestheaders: "*" must be refused there, not pass unsigned.
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow("POST", body=b"x" * 10)
        flow.request.data.path = b"*"
        flow.request.stream = True
        signer.requestheaders(flow)
    assert flow.request.host.endswith(".refused.oauth1.proxy")
    assert "Authorization" not in flow.request.headers
