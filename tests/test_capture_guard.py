"""The capture guard, its restorer and the log filter, hook by hook (SPEC §8, issue 12).

The end-to-end proofs are in tests/security/ (test_mitmweb_leaks, test_refusal_echo_leaks, test_h2_debug_leaks,
test_secrets_never_leak); these pin each rule at the lowest level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from mitmproxy import http
from mitmproxy.addons import cut
from mitmproxy.test import taddons

from oauth1_proxy.mitmproxy_addon import (
    LOG_FILTER,
    CaptureGuard,
    OAuth1Signer,
    SecretLogFilter,
    _shown,
    install_command_redaction,
)
from tests.security.support import leaks, plaintext_signature_forms
from tests.test_mitmproxy_addon import CONSUMER_SECRET, TOKEN_SECRET, make_flow

PLAIN = f"""\
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: the-consumer-key
    consumer_secret: "{CONSUMER_SECRET}"
    token: the-token
    token_secret: "{TOKEN_SECRET}"
    signature_method: PLAINTEXT
"""
SIGNATURE = f"{quote(CONSUMER_SECRET, safe='~')}&{quote(TOKEN_SECRET, safe='~')}"  # RFC 5849 §3.4.4
ON_THE_WIRE = quote(SIGNATURE, safe="~")
FORMS = plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)


def leaked(data: bytes) -> list[str]:
    return leaks(data, [CONSUMER_SECRET, TOKEN_SECRET], FORMS)


def flow_text(flow: http.HTTPFlow) -> bytes:
    parts = [flow.request.path.encode(), bytes(flow.request.headers), flow.request.raw_content or b""]
    if flow.response is not None:
        parts += [bytes(flow.response.headers), flow.response.raw_content or b""]
    return b"\n".join(parts)


@contextmanager
def signing(tmp_path: Path) -> Iterator[OAuth1Signer]:
    path = tmp_path / "config.yaml"
    path.write_text(PLAIN, encoding="utf-8")
    signer = OAuth1Signer()
    with taddons.context(signer, cut.Cut()) as tctx:
        tctx.configure(signer, oauth1_config=str(path))
        yield signer


def signed_flow(signer: OAuth1Signer) -> http.HTTPFlow:
    flow = make_flow()
    signer.request(flow)
    assert flow.response is None and ON_THE_WIRE in flow.request.headers["authorization"]
    return flow


def echoing_refusal() -> http.Response:
    return http.Response.make(
        401, f"oauth_problem=signature_invalid&oauth_signature={ON_THE_WIRE}\n".encode(),
        {"WWW-Authenticate": f'OAuth realm="x", oauth_signature="{ON_THE_WIRE}"', "Content-Type": "text/plain"})


def test_capture_guard_echoed_plaintext_signature_is_redacted_for_save_and_restored_for_the_client(
    tmp_path: Path,
) -> None:
    with signing(tmp_path) as signer:
        guard = signer.guard
        flow = signed_flow(signer)
        guard.responseheaders(flow)  # the request has left: redacted for good
        assert leaked(flow_text(flow)) == []
        sent = echoing_refusal()
        flow.response = sent.copy()
        guard.response(flow)  # what Save, SaveHar and the Dumper see
        assert leaked(flow_text(flow)) == [] and b"REDACTED" in (flow.response.raw_content or b"")
        guard.restorer.response(flow)  # the end of the chain: the client gets the real one, the flow keeps none
        real, state = flow.response._oauth1_wire  # type: ignore[attr-defined]
        assert real.headers["www-authenticate"].endswith(f'oauth_signature="{ON_THE_WIRE}"')
        assert real.raw_content == sent.raw_content and state == flow.response.get_state()
        assert leaked(flow_text(flow)) == []
        assert "_oauth1_wire" not in str(flow.get_state())  # never saved with the flow


def test_capture_restorer_replaced_response_is_not_overwritten(tmp_path: Path) -> None:
    # A timestamp retry replaces flow.response in a later hook: the first answer's body must not come back.
    with signing(tmp_path) as signer:
        guard = signer.guard
        flow = signed_flow(signer)
        guard.responseheaders(flow)
        flow.response = echoing_refusal()
        guard.response(flow)
        retried = http.Response.make(200, b'{"ok": true}', {"Content-Type": "application/json"})
        flow.response = retried
        guard.restorer.response(flow)
        assert flow.response is retried and flow.response.raw_content == b'{"ok": true}'
        assert not hasattr(flow.response, "_oauth1_wire")


def test_capture_guard_plaintext_secrets_are_learnt_for_every_log_line() -> None:
    # A token from the store is not in the config: read back from the signature it was sent with.
    guard = CaptureGuard()
    flow = make_flow(headers={"Authorization": f'OAuth oauth_signature_method="PLAINTEXT", '
                                               f'oauth_signature="{ON_THE_WIRE}"'})
    guard.watch_request(flow)
    guard.responseheaders(flow)
    record = logging.LogRecord("mitmproxy", logging.WARNING, __file__, 1, "server said %s and %s",
                               (TOKEN_SECRET, quote(quote(CONSUMER_SECRET, safe=""), safe="")), None)
    LOG_FILTER.filter(record)
    assert leaked(record.getMessage().encode()) == [], record.getMessage()


def test_log_filter_traceback_loses_the_secret() -> None:
    log_filter = SecretLogFilter()
    try:
        raise ValueError(f"bad oauth_token_secret={TOKEN_SECRET}")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    log_filter.filter(record)
    assert record.exc_text is not None and TOKEN_SECRET not in record.exc_text
    assert TOKEN_SECRET not in logging.Formatter().format(record)


def test_shown_copy_is_redacted_and_the_flow_is_untouched(tmp_path: Path) -> None:
    # What a front end reads (mitmweb) while the signed request is in flight.
    with signing(tmp_path) as signer:
        flow = signed_flow(signer)
        shown = _shown(signer.guard, flow)
        assert shown is not flow and shown.id == flow.id
        assert leaked(flow_text(shown)) == [] and b"REDACTED" in flow_text(shown)
        assert ON_THE_WIRE in flow.request.headers["authorization"]  # what goes upstream


def test_reading_commands_get_redacted_copies(tmp_path: Path) -> None:
    with signing(tmp_path) as signer:
        flow = signed_flow(signer)
        from mitmproxy import ctx

        install_command_redaction(signer.guard, ctx.master.commands)
        install_command_redaction(signer.guard, ctx.master.commands)  # once is enough: not wrapped twice
        rows = ctx.master.commands.call("cut", [flow], ["request.header[authorization]"])
        assert leaked(str(rows).encode()) == [] and "REDACTED" in str(rows)
        assert ON_THE_WIRE in flow.request.headers["authorization"]


def test_capture_guard_hold_back_leaves_no_secret_in_the_flow_and_keeps_the_signed_request(tmp_path: Path) -> None:
    # The end of the request hook chain: from here on, mitmweb, the console and other addons read the flow.
    with signing(tmp_path) as signer:
        flow = signed_flow(signer)
        signer.guard.restorer.request(flow)
        assert leaked(flow_text(flow)) == [] and 'oauth_signature="REDACTED"' in flow.request.headers["authorization"]
        signed, state = flow.request._oauth1_wire  # type: ignore[attr-defined]
        assert ON_THE_WIRE in signed.headers["authorization"]  # what mitmproxy's HTTP layer writes upstream
        assert state == flow.request.get_state()
        assert "_oauth1_wire" not in str(flow.get_state())  # never saved with the flow


def test_capture_guard_hold_back_body_placement_keeps_the_signed_body(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(PLAIN + "    placement: body\n", encoding="utf-8")
    signer = OAuth1Signer()
    with taddons.context(signer) as tctx:
        tctx.configure(signer, oauth1_config=str(path))
        flow = make_flow("POST", body=b"a=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
        signer.request(flow)
        signer.guard.restorer.request(flow)
        signed, _ = flow.request._oauth1_wire  # type: ignore[attr-defined]
        assert ON_THE_WIRE.encode() in signed.raw_content
        assert leaked(flow_text(flow)) == [] and b"oauth_signature=REDACTED" in (flow.request.raw_content or b"")
        assert flow.request.headers["content-length"] == str(len(flow.request.raw_content or b""))


def test_capture_restorer_keeps_a_later_addons_own_change(tmp_path: Path) -> None:
    # --modify-headers (or a script) after the guard adds a header: the client gets it and the real credentials.
    with signing(tmp_path) as signer:
        guard = signer.guard
        flow = make_flow()
        flow.response = http.Response.make(200, b"oauth_token=t&oauth_token_secret=the-real-secret",
                                           {"Content-Type": "application/x-www-form-urlencoded"})
        guard.response(flow)
        assert b"the-real-secret" not in (flow.response.raw_content or b"")
        flow.response.headers["Access-Control-Allow-Origin"] = "*"
        guard.restorer.response(flow)
        real, _ = flow.response._oauth1_wire  # type: ignore[attr-defined]
        assert real.raw_content == b"oauth_token=t&oauth_token_secret=the-real-secret"
        assert real.headers["access-control-allow-origin"] == "*"
        assert real.headers["content-length"] == str(len(real.raw_content))
        assert b"the-real-secret" not in (flow.response.raw_content or b"")


def test_capture_guard_client_own_plaintext_request_is_redacted_once_sent() -> None:
    # A client signs its own PLAINTEXT request to a host no profile names: its secrets stay out of captures too.
    guard = CaptureGuard()
    own = f"{quote('client-consumer-secret', safe='~')}&{quote('client-token-secret', safe='~')}"
    flow = make_flow("POST", url="https://other.example.org/api?a=1",
                     body=f"oauth_signature_method=PLAINTEXT&oauth_signature={quote(own, safe='~')}".encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    guard.responseheaders(flow)
    body = flow.request.raw_content or b""
    assert b"client-consumer-secret" not in body and b"oauth_signature=REDACTED" in body
    assert flow.request.headers["content-length"] == str(len(body))


def test_capture_guard_hmac_request_of_a_client_is_left_alone() -> None:
    guard = CaptureGuard()
    header = 'OAuth oauth_signature_method="HMAC-SHA1", oauth_signature="abc%3D"'
    flow = make_flow(headers={"Authorization": header})
    guard.responseheaders(flow)
    assert flow.request.headers["authorization"] == header
