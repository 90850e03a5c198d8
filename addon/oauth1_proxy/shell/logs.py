"""The log side of the shell (SPEC §8): the secret filter on every handler, the quiet legacy events, the
template of the per-request "signed" record (issue 5), and the buffer that writes those lines off the hot path
(issue 17)."""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

from mitmproxy import log as mitmproxy_log
from mitmproxy.addons.eventstore import CallbackLogger
from mitmproxy.addons.termlog import TermLogHandler
from mitmproxy.contrib import click as miniclick

from oauth1_proxy.policy import shown_path
from oauth1_proxy.redaction import Redactor, make_redactor, summarise_bytes_literals

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
    SIGNED_LINES.start()


_SIGNED_LINE_FIELDS: dict[str, Any] = {}  # what never changes in our per-request record, from a first real one
_LOGGING_START: list[float] = []  # logging's start time (the base of relativeCreated), read off that record


def _signed_line_record(args: tuple[Any, ...], *, created: float | None = None) -> logging.LogRecord:
    """The record of our per-request line: what LogRecord.__init__ makes, with less work per request (issue 5).

    Logger.info would also walk the stack for a caller nobody prints. The
    fields that cannot change in this process (file, module, function,
    process) come from one record made by makeRecord; the time, thread and
    task are this request's, computed as LogRecord does. A custom record
    factory (logging.setLogRecordFactory) is honoured: makeRecord then.
    While SIGNED_LINES takes the lines the signer hands them to it directly
    (SignedLines.take) and makes no record. ``created``: the time it was
    signed, for the records a flush makes.
    """
    if logging.getLogRecordFactory() is not logging.LogRecord:
        record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, SIGNED_LINE, args, None, "sign_flow")
        if created is not None:
            record.created = created
        return record
    if not _SIGNED_LINE_FIELDS:
        first = logger.makeRecord(logger.name, logging.INFO, __file__, 0, SIGNED_LINE, (), None, "sign_flow")
        _SIGNED_LINE_FIELDS.update(vars(first))
        _LOGGING_START.append(first.created - first.relativeCreated / 1000)
    record = logging.LogRecord.__new__(logging.LogRecord)
    values = record.__dict__
    values.update(_SIGNED_LINE_FIELDS)
    created = time.time() if created is None else created
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


# --- the per-request line, buffered (issue 17) -----------------------------------------------------------

FLUSH_INTERVAL = 0.2  # seconds: a signed request's line is out within this, while the proxy runs
MAX_PENDING = 4096  # lines: more than this waiting and they are written at once (memory stays flat)
MAX_MESSAGES = 1024  # redacted messages kept by their fields (SignedLines._message)
_MILLISECONDS = tuple(f"{n:03d}" for n in range(1000))  # a time stamp's last part, as MitmFormatter writes it


class SignedLines(logging.Filter):
    """SPEC §8's one line per signed request, kept off the hot path (issue 17).

    A filter on the ``oauth1_proxy`` logger: once ``start``-ed on the event
    loop, under a master that prints (mitmdump's termlog) or shows
    (mitmweb's and the console's event log), it takes each "signed" record
    before any handler sees it and keeps only its time and fields. At most
    FLUSH_INTERVAL later, on the loop, the waiting lines are formatted as
    mitmproxy's formatter would, redacted as a batch by the secret filter's
    Redactor (and the config's secrets), and handed over: to termlog's file
    in one write and flush per batch, on the loop where termlog itself
    prints (a writer thread's write could land inside one of mitmproxy's
    own lines), to the event log as entries, to any other handler as records. At exit (atexit, after
    mitmproxy's ``done`` at SIGINT or SIGTERM) what is still waiting is
    written, so a normal stop loses no line. Without a running loop or such
    a handler (unit tests), records pass through as before.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[float, tuple[Any, ...]]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.armed = False
        self.sinks: list[logging.Handler] = []
        self.registered = False
        self._clock: tuple[int, str] = (-1, "")  # (second, "HH:MM:SS.") of the last line formatted
        self.known = Redactor()  # the config's secrets (startup.read_config): a client may put them in the path
        # A line's message, redacted, by its fields: clients repeat requests (issue 17). Emptied when a
        # redactor changes (a new config, a secret the guard learnt).
        self._messages: dict[tuple[Any, ...], str] = {}
        self._redactors: tuple[Redactor, Redactor] | None = None

    def know_secrets(self, secrets: Iterable[str]) -> None:
        """Redact these secrets (every encoding) from the lines too, whether or not the capture guard runs."""
        self.known = make_redactor(secrets)

    def redact(self, text: str) -> str:
        """The secret filter's redaction (the guard's learnt secrets, oauth_* values), then the config's secrets."""
        return self.known.text(LOG_FILTER.redactor.text(text, signature=True), signature=True)

    @property
    def active(self) -> bool:
        return self.loop is not None

    def start(self) -> None:
        """Take the signed lines from now on, if a loop runs and a mitmproxy handler prints or shows them."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        sinks = _sinks()
        if not _shows_lines(sinks):
            return
        self.sinks = sinks
        if not self.registered:
            self.registered = True
            atexit.register(self.stop)
        self.loop = loop
        if self not in logger.filters:
            logger.filters.insert(0, self)

    def stop(self) -> None:
        """Write what is waiting (the loop is gone: the terminal only) and pass records through again."""
        self.loop, self.armed = None, False
        self.flush(at_exit=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg is not SIGNED_LINE or self.loop is None:
            return True
        self.take(record.created, record.args)  # type: ignore[arg-type]
        return False

    def take(self, created: float, args: tuple[Any, ...]) -> None:
        """Keep one line (its time and fields) until the next flush; the signer calls this directly while active.

        ``args``: the line's fields; the path may still hold its query and
        lone surrogates (``_line_args`` cuts and replaces them at flush).
        Calling this, not ``logger.handle``, is what ``logger.handle`` would
        do: this filter is the logger's first and keeps every signed record.
        """
        self.pending.append((created, args))
        loop = self.loop
        if loop is None or loop.is_closed():  # that master is gone (an in-process test's): write, pass through
            self.stop()
            return
        if len(self.pending) >= MAX_PENDING:
            self.flush()
        elif not self.armed:
            self.armed = True
            loop.call_later(FLUSH_INTERVAL, self._timer)

    def _timer(self) -> None:
        self.armed = False
        self.flush()

    def flush(self, *, at_exit: bool = False) -> None:
        """Hand every waiting line to the handlers that would have shown it."""
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        if not logger.isEnabledFor(logging.INFO):  # the signer hands lines over without asking (SPEC §8's level)
            return
        current = _sinks()
        if not at_exit and _shows_lines(current):
            self.sinks = current  # else mitmproxy's done has taken termlog away: the last ones seen still print
        sample = _signed_line_record(_line_args(batch[0][1]), created=batch[0][0])
        redactors = (LOG_FILTER.redactor, self.known)
        if self._redactors is None or any(a is not b for a, b in zip(redactors, self._redactors, strict=True)):
            self._messages, self._redactors = {}, redactors
        for handler in self.sinks:
            if logging.INFO < handler.level or not handler.filter(sample):
                continue
            if isinstance(handler, TermLogHandler):
                _write(handler.file, "\n".join(self._format(handler.formatter, batch)) + "\n")
            elif isinstance(handler, CallbackLogger):
                if at_exit:
                    continue  # the event log's loop is gone, and nobody reads it any more
                for line in self._format(handler.formatter, batch):
                    handler.callback(mitmproxy_log.LogEntry(line, "info"))
            else:
                for created, args in batch:
                    record = _signed_line_record(_line_args(args), created=created)
                    record.msg, record.args = self.redact(record.getMessage()), None
                    handler.handle(record)

    def _message(self, args: tuple[Any, ...]) -> str:
        """SPEC §8's message for these fields (``_line_args``), redacted; kept per fields (bounded)."""
        messages = self._messages
        message = messages.get(args)
        if message is None:
            shown = _line_args(args)
            message = messages.get(shown)
            if message is None:
                message = self.redact(SIGNED_LINE % shown)
            if len(messages) >= MAX_MESSAGES:
                messages.clear()
            messages[args] = messages[shown] = message
        return message

    def _format(self, formatter: logging.Formatter | None, batch: list[tuple[float, tuple[Any, ...]]]) -> list[str]:
        """MitmFormatter.format of our records (no client, no traceback, INFO's colour: none), done cheaply.

        Each message is redacted (``_message``, kept per fields); the time stamp around it is ours. One loop,
        no call per line but for a message not seen before (issue 17).
        """
        if isinstance(formatter, mitmproxy_log.MitmFormatter):
            template, colorize = formatter.without_client, formatter.colorize
        else:
            template, colorize = "[%s] %s", False
        plain = template == "[%s] %s" and not colorize  # mitmdump's to a file or pipe: written as an f-string
        messages = self._messages
        clock_second, clock = self._clock
        lines = []
        for created, args in batch:
            second = int(created)
            if second != clock_second:
                clock_second, clock = second, time.strftime("%H:%M:%S.", time.localtime(second))
            message = messages.get(args) or self._message(args)
            if plain:  # template % (...), at less than half its cost (issue 17)
                lines.append(f"[{clock}{_MILLISECONDS[int((created - second) * 1000)]}] {message}")
                continue
            if colorize:
                message = miniclick.style(message)
            lines.append(template % (clock + _MILLISECONDS[int((created - second) * 1000)], message))
        self._clock = (clock_second, clock)
        return lines


def _line_args(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """SPEC §8's fields as printed: the path without its query, a lone surrogate (a non-UTF-8 octet) as U+FFFD.

    Done at flush, off the hot path; a path done already comes back as it is.
    """
    shown = shown_path(args[3])
    return args if shown == args[3] else (*args[:3], shown, *args[4:])


def _shows_lines(handlers: list[logging.Handler]) -> bool:
    """Tell whether mitmproxy's terminal or event log is among these handlers."""
    return any(isinstance(h, (TermLogHandler, CallbackLogger)) for h in handlers)


def _sinks() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if not isinstance(h, mitmproxy_log.LegacyLogEvents)]


def _write(file: IO[str], text: str) -> None:
    try:
        file.write(text)
        file.flush()
    except (OSError, ValueError):  # the terminal is gone (closed pipe, closed file): as termlog, print nothing
        pass


SIGNED_LINES = SignedLines()
