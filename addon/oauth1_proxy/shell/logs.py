"""The log side of the shell (SPEC §8): the secret filter on every handler, the quiet legacy events, and the
template of the per-request "signed" record (issue 5)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from mitmproxy import log as mitmproxy_log

from oauth1_proxy.redaction import Redactor, summarise_bytes_literals

SIGNED_LINE = "oauth1-proxy: signed profile=%s %s %s %s %s"  # SPEC §8: profile, method, host, path, method

logger = logging.getLogger("oauth1_proxy")
# mitmdump sets the root logger to DEBUG; records nobody reads still pass,
# each, through its log hook on the event loop. Ours start at INFO, oauthlib's at WARNING
# (it logs base strings and tokens at DEBUG).
logger.setLevel(logging.INFO)
logging.getLogger("oauthlib").setLevel(logging.WARNING)

class SecretLogFilter(logging.Filter):
    """Take secrets out of every log record, at every verbosity (SPEC §8).

    Installed on every handler of the root logger (mitmproxy's termlog, the
    event store mitmweb serves at /events, the legacy add_log events), it
    runs before any of them writes a record:
    - every oauth_signature and oauth_token_secret value, and every encoding
      of a secret the guard knows (the config's, and those read back from
      the PLAINTEXT signatures we made), in the message and in a traceback;
    - mitmproxy's proxy_debug lines lose their raw bytes (a length is kept):
      HTTP/2 headers are HPACK-coded and bodies may be compressed, so no text
      rule can see a secret inside them (issue 12).
    """

    def __init__(self) -> None:
        super().__init__()
        self.redactor = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg is SIGNED_LINE:  # ours, per signed request: names, method, host, path; never a secret
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot be formatted is not ours to judge
            return True
        text = message
        if record.name.startswith("mitmproxy.proxy") and record.levelno <= logging.DEBUG:
            text = summarise_bytes_literals(text)
        text = self.redactor.text(text, signature=True)
        if text != message:
            record.msg = text
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redactor.text(logging.Formatter().formatException(record.exc_info), signature=True)
        elif record.exc_text:
            record.exc_text = self.redactor.text(record.exc_text, signature=True)
        return True


LOG_FILTER = SecretLogFilter()


class QuietLegacyEvents(logging.Filter):
    """Keep our INFO lines (one per signed request) out of mitmproxy's deprecated add_log event.

    mitmproxy's LegacyLogEvents handler turns every record into an add_log
    event dispatched to every addon (~40) on the event loop: for our one line
    per signed request that costs more than signing it (issue 5). No built-in
    addon handles add_log; the terminal (termlog) and mitmweb's event log
    (their own handlers) still show the line. Warnings and errors still go
    through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or not record.name.startswith("oauth1_proxy")


QUIET_LEGACY_EVENTS = QuietLegacyEvents()


def install_log_filter() -> None:
    """Put the secret filter on every handler of the root logger (mitmproxy's termlog, event store, ...)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, mitmproxy_log.LegacyLogEvents) and QUIET_LEGACY_EVENTS not in handler.filters:
            handler.filters.insert(0, QUIET_LEGACY_EVENTS)  # first: a record it drops is never formatted
        if LOG_FILTER not in handler.filters:
            handler.addFilter(LOG_FILTER)


_SIGNED_LINE_FIELDS: dict[str, Any] = {}  # what never changes in our per-request record, from a first real one
_LOGGING_START: list[float] = []  # logging's start time (the base of relativeCreated), read off that record


def _signed_line_record(args: tuple[Any, ...]) -> logging.LogRecord:
    """The record of our per-request line: what LogRecord.__init__ makes, with less work per request (issue 5).

    Logger.info would also walk the stack for a caller nobody prints. The
    fields that cannot change in this process (file, module, function,
    process) come from one record made by makeRecord; the time, thread and
    task are this request's, computed as LogRecord does. A custom record
    factory (logging.setLogRecordFactory) is honoured: makeRecord then.
    """
    if logging.getLogRecordFactory() is not logging.LogRecord:
        return logger.makeRecord(logger.name, logging.INFO, __file__, 0, SIGNED_LINE, args, None, "sign_flow")
    if not _SIGNED_LINE_FIELDS:
        first = logger.makeRecord(logger.name, logging.INFO, __file__, 0, SIGNED_LINE, (), None, "sign_flow")
        _SIGNED_LINE_FIELDS.update(vars(first))
        _LOGGING_START.append(first.created - first.relativeCreated / 1000)
    record = logging.LogRecord.__new__(logging.LogRecord)
    values = record.__dict__
    values.update(_SIGNED_LINE_FIELDS)
    created = time.time()
    values["args"] = args
    values["created"] = created
    values["msecs"] = int((created - int(created)) * 1000) + 0.0
    values["relativeCreated"] = (created - _LOGGING_START[0]) * 1000
    values["thread"] = threading.get_ident()
    values["threadName"] = threading.current_thread().name
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop (a hook called from a test)
        task = None
    values["taskName"] = task.get_name() if task is not None and getattr(logging, "logAsyncioTasks", True) else None
    return record
