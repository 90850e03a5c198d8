"""The per-request line's buffer (shell/logs.py SignedLines, issue 17), in process: the event log mitmweb
shows gets the lines, redacted; without mitmproxy's handlers records pass through as before."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
from mitmproxy import log as mitmproxy_log
from mitmproxy.addons.eventstore import CallbackLogger
from mitmproxy.addons.termlog import TermLogHandler

from oauth1_proxy.shell import logs

ARGS = ("api", "GET", "api.example.com", "/v1/secret-in-path-123456", "HMAC-SHA1")


@pytest.fixture
def fresh() -> Iterator[logs.SignedLines]:
    """A SignedLines of its own on the logger (the module's one is left alone), removed after the test."""
    lines = logs.SignedLines()
    yield lines
    lines.loop = None
    if lines in logs.logger.filters:
        logs.logger.removeFilter(lines)


def sign_one(lines: logs.SignedLines, args: tuple[str, ...] = ARGS) -> None:
    record = logging.LogRecord.__new__(logging.LogRecord)  # a minimal record: what the filter reads of one
    record.msg, record.args, record.created = logs.SIGNED_LINE, args, 1_700_000_000.5
    logs.logger.handle(record)


async def test_signed_lines_feed_the_event_log_within_the_interval_redacted(fresh: logs.SignedLines) -> None:
    entries: list[mitmproxy_log.LogEntry] = []
    handler = CallbackLogger(entries.append)
    handler.install()
    try:
        fresh.start()
        fresh.know_secrets(["secret-in-path-123456"])
        assert fresh.active
        sign_one(fresh)
        assert entries == [] and len(fresh.pending) == 1  # taken off the hot path
        await asyncio.sleep(logs.FLUSH_INTERVAL + 0.1)
    finally:
        handler.uninstall()
    assert [e.level for e in entries] == ["info"]
    assert entries[0].msg.endswith("oauth1-proxy: signed profile=api GET api.example.com /v1/REDACTED HMAC-SHA1")
    assert entries[0].msg.startswith("[") and "secret-in-path" not in entries[0].msg


async def test_signed_lines_go_to_the_terminal_in_one_batch_as_mitmproxys_formatter_writes_them(
    fresh: logs.SignedLines,
) -> None:
    out = io.StringIO()
    handler = TermLogHandler(out)
    handler.install()
    try:
        fresh.start()
        for _ in range(3):
            sign_one(fresh)
        fresh.flush()
        record = logging.makeLogRecord({"msg": logs.SIGNED_LINE, "args": ARGS, "created": 1_700_000_000.5,
                                        "msecs": 500.0, "levelno": logging.INFO})
        expected = handler.format(record)
    finally:
        handler.uninstall()
    assert out.getvalue() == (expected + "\n") * 3


async def test_signed_lines_without_mitmproxys_handlers_pass_records_through(fresh: logs.SignedLines) -> None:
    fresh.start()  # a loop runs, but nothing prints or shows lines (taddons, unit tests)
    assert not fresh.active and fresh not in logs.logger.filters


def test_signed_lines_at_exit_write_what_waits_after_termlog_was_taken_away(fresh: logs.SignedLines) -> None:
    out = io.StringIO()
    handler = TermLogHandler(out)

    async def run() -> None:
        handler.install()
        fresh.start()
        handler.uninstall()  # mitmproxy's done
        sign_one(fresh)
        fresh.flush()  # the timer after done: termlog is gone, the last handlers seen still print
        sign_one(fresh)

    asyncio.run(run())
    fresh.stop()  # atexit
    assert out.getvalue().count("signed profile=api") == 2


def test_signed_lines_after_their_loop_closed_write_every_line_then_let_records_through(
    fresh: logs.SignedLines, caplog: pytest.LogCaptureFixture
) -> None:
    out = io.StringIO()
    handler = TermLogHandler(out)

    async def run() -> None:
        handler.install()
        fresh.start()
        sign_one(fresh)

    asyncio.run(run())  # the loop closes with one line waiting
    caplog.set_level(logging.INFO, logger="oauth1_proxy")
    sign_one(fresh)  # a request after the loop closed (its record was made while the buffer was active)
    assert out.getvalue().count("signed profile=api") == 2 and not fresh.active
    logs.logger.handle(logs._signed_line_record(ARGS))  # the module's buffer: not active, a full record
    handler.uninstall()
    assert [r.msg for r in caplog.records].count(logs.SIGNED_LINE) == 1


async def test_signed_line_taken_directly_prints_the_path_as_the_record_would(fresh: logs.SignedLines) -> None:
    # The signer calls take() with the target as sent (query, a non-UTF-8 octet as a lone surrogate); the
    # flush cuts the query and shows the octet as U+FFFD, as Sign.log_fields does for logger.handle.
    out = io.StringIO()
    handler = TermLogHandler(out)
    handler.install()
    target = "/v1/caf\udce9?oauth_token=t&q=1"
    try:
        fresh.start()
        fresh.take(1_700_000_000.5, ("api", "GET", "api.example.com", target, "HMAC-SHA1"))
        sign_one(fresh, ("api", "GET", "api.example.com", "/v1/caf\ufffd", "HMAC-SHA1"))  # what log_fields gives
        fresh.flush()
    finally:
        handler.uninstall()
    first, second = out.getvalue().splitlines()
    assert first == second
    assert first.endswith("signed profile=api GET api.example.com /v1/caf\ufffd HMAC-SHA1")
    assert "oauth_token" not in first


def test_line_args_is_idempotent() -> None:
    once = logs._line_args(("p", "GET", "h", "/a\udcff?b=1", "HMAC-SHA1"))
    assert once == ("p", "GET", "h", "/a\ufffd", "HMAC-SHA1")
    assert logs._line_args(once) is once


async def test_signed_lines_redact_a_secret_learnt_after_the_same_line_was_written(fresh: logs.SignedLines) -> None:
    # Messages are kept redacted per fields; a new redactor (a reloaded config, a secret the guard learnt)
    # must not be served the message made before it.
    out = io.StringIO()
    handler = TermLogHandler(out)
    handler.install()
    try:
        fresh.start()
        sign_one(fresh)
        fresh.flush()
        fresh.know_secrets(["secret-in-path-123456"])
        sign_one(fresh)
        fresh.flush()
    finally:
        handler.uninstall()
    first, second = out.getvalue().splitlines()
    assert first.endswith("/v1/secret-in-path-123456 HMAC-SHA1")
    assert second.endswith("/v1/REDACTED HMAC-SHA1") and "secret-in-path" not in second


async def test_signed_lines_honour_the_loggers_level_when_flushed(fresh: logs.SignedLines) -> None:
    # The signer hands lines to the buffer without asking the level (issue 17); the flush asks it.
    out = io.StringIO()
    handler = TermLogHandler(out)
    handler.install()
    level = logs.logger.level
    try:
        fresh.start()
        sign_one(fresh)
        logs.logger.setLevel(logging.WARNING)
        fresh.flush()
        logs.logger.setLevel(level)
        sign_one(fresh)
        fresh.flush()
    finally:
        logs.logger.setLevel(level)
        handler.uninstall()
    assert len(out.getvalue().splitlines()) == 1
