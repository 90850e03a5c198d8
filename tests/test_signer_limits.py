"""The signer's hooks with limits (SPEC §11), in process (taddons): admission before signing, the 429,
the slot given back at response and error, streamed requests, the account header."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.test_mitmproxy_addon import STATIC, make_flow, signer_for

LIMITED = STATIC + "    max_concurrency: 1\n    queue_timeout: 0.2\n"


def test_signer_limited_request_is_signed_and_its_slot_given_back_at_response(tmp_path: Path) -> None:
    with signer_for(tmp_path, LIMITED) as signer:
        flow = make_flow()
        assert signer.request(flow) is None  # a free slot: signed at once
        assert "Authorization" in flow.request.headers and signer.limits.held(flow.id)
        signer.response(flow)
        assert not signer.limits.held(flow.id)


def test_signer_limited_request_slot_given_back_at_error(tmp_path: Path) -> None:
    with signer_for(tmp_path, LIMITED) as signer:
        flow = make_flow()
        signer.request(flow)
        signer.error(flow)
        assert not signer.limits.held(flow.id)


async def test_signer_over_max_concurrency_waits_then_answers_429_with_retry_after_unsigned(tmp_path: Path) -> None:
    with signer_for(tmp_path, LIMITED) as signer:
        first, second = make_flow(), make_flow()
        signer.request(first)
        waiting = signer.request(second)
        assert waiting is not None  # a coroutine: only this flow waits
        await waiting
        assert second.response is not None and second.response.status_code == 429
        assert second.response.headers["Retry-After"] == "1"
        assert second.response.headers["Server"] == "oauth1-proxy"
        assert "Authorization" not in second.request.headers  # never signed, never sent
        assert b"max_concurrency of 1" in second.response.content


async def test_signer_queued_request_is_signed_when_the_slot_frees(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC + "    max_concurrency: 1\n    queue_timeout: 5\n") as signer:
        first, second = make_flow(), make_flow()
        signer.request(first)
        waiting = signer.request(second)
        assert waiting is not None
        task = asyncio.ensure_future(waiting)
        await asyncio.sleep(0.05)
        assert not task.done() and "Authorization" not in second.request.headers
        signer.response(first)
        await asyncio.wait_for(task, 2)
        assert second.response is None and "Authorization" in second.request.headers
        assert signer.limits.held(second.id)


def test_signer_streamed_request_over_the_limit_is_sent_nowhere(tmp_path: Path) -> None:
    with signer_for(tmp_path, LIMITED) as signer:
        holder = make_flow()
        signer.request(holder)  # holds the one slot (while the flow lives: a dropped flow gives it back)
        flow = make_flow("PUT", headers={"Content-Type": "application/octet-stream"})
        flow.request.stream = True
        signer.requestheaders(flow)
        assert signer.limits.held(holder.id)
    assert flow.request.host.endswith(".refused.oauth1.proxy")
    assert "Authorization" not in flow.request.headers


def test_signer_account_header_on_a_static_token_profile_is_refused_400_not_sent(tmp_path: Path) -> None:
    with signer_for(tmp_path, STATIC) as signer:
        flow = make_flow(headers={"X-OAuth1-Account": "alice"})
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 400
    assert "Authorization" not in flow.request.headers


def test_signer_start_up_line_lists_the_accounts_of_a_profile(tmp_path: Path) -> None:
    from oauth1_proxy.shell.startup import login_state_text
    from oauth1_proxy.tokens import StoredToken, dump_token_store
    from tests.test_mitmproxy_addon import NOT_LOGGED_IN

    (tmp_path / "tokens.yaml").write_text(dump_token_store({
        "api@alice": StoredToken(token="a", token_secret="sa"), "api@bob": StoredToken(token="b", token_secret="sb")}))
    with signer_for(tmp_path, NOT_LOGGED_IN) as signer:
        assert signer.config is not None
        line = login_state_text(signer.config.profiles[0], signer.store)
    assert line == "2 accounts, each request names one with X-OAuth1-Account; accounts alice, bob"
