"""Capture protection (SPEC §8, issue 12): the CaptureGuard and CaptureRestorer. The wire substitution and the
redacted copies mitmweb and the flow-reading commands get are in frontends.py."""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from typing import NamedTuple

from mitmproxy import ctx, http

from oauth1_proxy.config import ProxyConfig
from oauth1_proxy.redaction import (
    Redactor,
    has_token_secret,
    has_unredacted_signature,
    is_plaintext_signed,
    make_redactor,
    plaintext_signature_value,
    secrets_of_plaintext_signature,
)
from oauth1_proxy.shell.frontends import (
    READING_COMMANDS as READING_COMMANDS,
)
from oauth1_proxy.shell.frontends import (
    _shown as _shown,
)
from oauth1_proxy.shell.frontends import (
    install_command_redaction,
    install_web_redaction,
    install_wire_substitution,
)
from oauth1_proxy.shell.logs import LOG_FILTER, install_log_filter


def _redact_request_message(request: http.Request, redactor: Redactor, *, signature: bool) -> None:
    """Redact a request's headers, path and body in place."""
    _redact_headers(request.headers, redactor, signature=signature)
    path = request.path
    redacted = redactor.text(path, signature=signature)
    if redacted != path:
        request.path = redacted
    _redact_body(request, redactor, signature=signature)


def _redact_headers(headers: http.Headers, redactor: Redactor, *, signature: bool) -> bool:
    """Redact every header value in place; tell whether one changed."""
    fields = headers.fields
    out: list[tuple[bytes, bytes]] = []
    changed = False
    for name, value in fields:
        text = value.decode("utf-8", "surrogateescape")
        redacted = redactor.text(text, signature=signature)
        if redacted != text:
            changed = True
            value = redacted.encode("utf-8", "surrogateescape")
        out.append((name, value))
    if changed:
        headers.fields = tuple(out)
    return changed


def _redact_body(message: http.Message, redactor: Redactor, *, signature: bool) -> bool:
    """Redact a message body in place (decoded first when it has a Content-Encoding); tell whether it changed."""
    raw = message.raw_content
    if not raw:
        return False
    if "content-encoding" in message.headers:
        body = message.get_content(strict=False) or b""
        redacted = redactor.bytes(body, signature=signature)
        if redacted == body:
            return False
        message.set_content(redacted)
        return True
    redacted = redactor.bytes(raw, signature=signature)
    if redacted == raw:
        return False
    message.raw_content = redacted
    if "transfer-encoding" not in message.headers:
        message.headers["content-length"] = str(len(redacted))
    return True


def _plaintext_texts(request: http.Request) -> tuple[str, str, str]:
    """Where a request carries its OAuth parameters: the Authorization header, the path, a body naming PLAINTEXT."""
    body = request.raw_content
    return (request.headers.get("authorization", ""), request.path,
            body.decode("latin-1") if body and b"PLAINTEXT" in body else "")


def _says_plaintext(request: http.Request) -> bool:
    """Tell whether a request (ours or a client's own) was signed with PLAINTEXT: its signature is then a secret."""
    return is_plaintext_signed(*_plaintext_texts(request))


def _holds_a_plaintext_signature(request: http.Request) -> bool:
    """Tell whether a request says PLAINTEXT and still carries a signature value (not yet redacted)."""
    texts = _plaintext_texts(request)
    return is_plaintext_signed(*texts) and any(has_unredacted_signature(t) for t in texts)


def _copy_message[M: http.Message](message: M) -> M:
    """A copy of a request or response that shares nothing mutable with it (its headers and trailers are copied).

    What Message.copy() makes, without its get_state/from_state round trip: that round trip is most of
    Message.copy()'s time, and a copy is made for each flow a capture writes or shows.
    """
    copy = object.__new__(type(message))
    copy.__dict__.update(message.__dict__)
    data = object.__new__(type(message.data))
    data.__dict__.update(message.data.__dict__)
    data.headers = message.data.headers.copy()
    if data.trailers is not None:
        data.trailers = data.trailers.copy()
    copy.data = data
    return copy


class _Original(NamedTuple):
    """A response as received and as the guard redacted it: what the restorer gives back to the client."""

    response: http.Response
    fields: tuple[tuple[bytes, bytes], ...]  # as received
    redacted_fields: tuple[tuple[bytes, bytes], ...]
    changed: tuple[tuple[bytes, bytes, bytes], ...]  # (name, redacted value, value received), by position
    raw_content: bytes | None  # as received
    redacted_raw: bytes | None

    def restore_onto(self, response: http.Response) -> None:
        """Put back what the guard redacted, and only that, in a copy of the response as it is now.

        A later addon's own changes stay (--modify-headers, a script).
        """
        current = response.headers.fields
        if current == self.redacted_fields:
            response.headers.fields = self.fields
        else:
            undo = {(name.lower(), new): old for name, new, old in self.changed}
            response.headers.fields = tuple((n, undo.get((n.lower(), v), v)) for n, v in current)
        if response.raw_content == self.redacted_raw:
            response.raw_content = self.raw_content
        if "content-length" in response.headers and "transfer-encoding" not in response.headers:
            response.headers["content-length"] = str(len(response.raw_content or b""))


class CaptureGuard:
    """Keep secrets out of captures, logs and front ends, whatever the order addons were loaded in (SPEC §8).

    Installed first in mitmproxy's chain (ahead of Save, SaveHar, the Dumper
    and mitmweb's View) with a CaptureRestorer last:
    - a request signed with PLAINTEXT is redacted in the flow at the end of
      its request hook chain (hold_back); mitmproxy's HTTP layer writes the
      signed copy upstream (install_wire_substitution). Replays re-sign. The
      secrets its signature carries are learnt (in memory only), so every
      other encoding of them is redacted too, in flows and in logs;
    - a response carrying oauth_token_secret, or (to a PLAINTEXT request) an
      echo of the signature or of the secrets (net.oauth reports the
      signature it received in WWW-Authenticate and the body), is redacted
      before Save, the Dumper and mitmweb's View see it, for good; the
      restorer hands the response as received (with any later addon's own
      changes) to mitmproxy's HTTP layer for the client;
    - under mitmweb, everything mitmweb serves is a redacted copy
      (install_web_redaction), and in every front end the commands that
      read flows get redacted copies (install_command_redaction).
    Nothing is kept in flow.metadata (it is saved with the flow).
    """

    name = "oauth1-capture-guard"

    def __init__(self, config: Callable[[], ProxyConfig | None] = lambda: None) -> None:
        self.restorer = CaptureRestorer(self)
        self._config = config
        self._requests: weakref.WeakValueDictionary[str, http.HTTPFlow] = weakref.WeakValueDictionary()
        self._plaintext: weakref.WeakValueDictionary[str, http.HTTPFlow] = weakref.WeakValueDictionary()
        self._originals: dict[str, _Original] = {}
        self._learnt: set[str] = set()
        self._redactor_key: tuple[int, int] | None = None
        self._redactor = Redactor()
        install_log_filter()  # now, not at running: records of the start-up (configure) are filtered too

    def install(self) -> None:
        """Put the guard first and the restorer last in the master's chain (once); cover mitmweb's outputs."""
        manager = ctx.master.addons
        for addon in (self, self.restorer):
            if manager.get(addon.name) is None:
                manager.register(addon)
        # A new list, never a mutation: an event being dispatched keeps iterating the old one.
        rest = [a for a in manager.chain if a is not self and a is not self.restorer]
        if manager.chain[:1] != [self] or manager.chain[-1:] != [self.restorer]:
            manager.chain = [self, *rest, self.restorer]
        web_master = sys.modules.get("mitmproxy.tools.web.master")  # loaded only under mitmweb
        if web_master is not None and isinstance(ctx.master, web_master.WebMaster):
            install_web_redaction(self)
        install_command_redaction(self, ctx.master.commands)
        install_wire_substitution()
        self.redactor()

    # --- what is secret -----------------------------------------------------------------

    def redactor(self) -> Redactor:
        """The redactor for every secret known now: the config's, and those learnt from our PLAINTEXT signatures."""
        config = self._config()
        key = (id(config), len(self._learnt))
        if key != self._redactor_key:
            known = set(self._learnt)
            if config is not None:
                for p in config.profiles:
                    known.add(p.consumer_secret)
                    if p.token_secret:
                        known.add(p.token_secret)
            self._redactor = make_redactor(known)
            self._redactor_key = key
            LOG_FILTER.redactor = self._redactor
        return self._redactor

    def _learn(self, request: http.Request) -> None:
        """Read back the secrets of the PLAINTEXT signature we put on this request (RFC 5849 §3.4.4)."""
        body = request.raw_content or b""
        for text in (request.headers.get("authorization", ""), request.path,
                     body.decode("utf-8", "surrogateescape") if b"oauth_signature=" in body else ""):
            value = plaintext_signature_value(text)
            found = secrets_of_plaintext_signature(value) if value else None
            if found is not None:
                new = {s for s in found if s} - self._learnt
                if new:
                    self._learnt |= new
                    self.redactor()

    def needs_signature_redaction(self, flow: http.HTTPFlow) -> bool:
        return flow.id in self._plaintext or _says_plaintext(flow.request)

    def redact_flow(self, flow: http.HTTPFlow, *, signature: bool) -> None:
        """Redact a whole flow in place, request and response (a copy a front end shows)."""
        redactor = self.redactor()
        _redact_request_message(flow.request, redactor, signature=signature)
        if flow.response is not None:
            _redact_headers(flow.response.headers, redactor, signature=signature)
            _redact_body(flow.response, redactor, signature=signature)

    # --- the chain's hooks ----------------------------------------------------------------

    def watch_request(self, flow: http.HTTPFlow) -> None:
        self._requests[flow.id] = flow
        self._plaintext[flow.id] = flow

    def hold_back(self, flow: http.HTTPFlow) -> None:
        """Keep a PLAINTEXT signature out of the flow object from its request hook on (issue 12).

        Called last in the request hook chain (by the restorer). The flow's
        request is redacted now; the request as signed is kept on the side,
        and mitmproxy's HTTP layer is given that one when it writes the
        request upstream (install_wire_substitution). Whatever reads the flow
        later (mitmweb, the console, intercept, other addons) reads no secret.
        A request changed after this (a user's edit while intercepted) goes
        as edited, with the redacted signature: the provider refuses it.
        """
        request = flow.request
        if flow.id not in self._requests or request.stream or request.raw_content is None:
            return
        signed = _copy_message(request)
        self._redact_request(flow)
        request._oauth1_wire = (signed, request.get_state())  # type: ignore[attr-defined]

    def _redact_request(self, flow: http.HTTPFlow) -> None:
        """Redact a request that has left: ours signed with PLAINTEXT, or a client's own PLAINTEXT one."""
        request = flow.request
        if self._requests.pop(flow.id, None) is not None:
            self._learn(request)
        elif not _holds_a_plaintext_signature(request):
            return
        _redact_request_message(request, self.redactor(), signature=True)

    def _redact_response(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None:
            return
        signature = self.needs_signature_redaction(flow)
        if not signature:
            # The usual case: no PLAINTEXT, so only a credentials response's token secret; a substring search.
            body = response.raw_content or b""
            in_body = has_token_secret(body) or ("content-encoding" in response.headers and bool(body)
                                                and has_token_secret(response.get_content(strict=False) or b""))
            if not in_body and not any(b"oauth_token_secret" in v for _, v in response.headers.fields):
                return
        fields, raw = response.headers.fields, response.raw_content
        changed = _redact_headers(response.headers, self.redactor(), signature=signature)
        changed = _redact_body(response, self.redactor(), signature=signature) or changed
        if changed:
            redacted = response.headers.fields
            by_position = tuple((n, new, old) for (n, old), (_, new) in zip(fields, redacted, strict=False)
                                if old != new) if len(fields) == len(redacted) else ()
            self._originals[flow.id] = _Original(response, fields, redacted, by_position, raw, response.raw_content)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Redact the request that has left (its response is arriving)."""
        self._redact_request(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        """Redact the request, then the response, before Save, the Dumper and the View see them."""
        self._redact_request(flow)
        self._redact_response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        """Redact the request of a failed flow; forget it."""
        self._redact_request(flow)
        self._plaintext.pop(flow.id, None)

    def done(self) -> None:
        """Redact every request still held; drop the originals."""
        for flow in list(self._requests.values()):
            self._redact_request(flow)
        self._originals.clear()


class CaptureRestorer:
    """Last in the chain: the client (and the upstream) get the messages as they were, the flow keeps them redacted.

    For a request signed with PLAINTEXT (hold_back) and a response the guard
    redacted, the real message is kept on the side and mitmproxy's HTTP
    layer writes that one (install_wire_substitution). The flow object,
    which every front end, intercept and later addon reads, holds no secret
    from the end of the hook chain on. Only what the guard redacted is put
    back in the copy: a later addon's own change (--modify-headers, a
    script) goes to the client too. A message changed after this (a user's
    edit of an intercepted flow) goes as edited, redacted.
    """

    name = "oauth1-capture-restore"

    def __init__(self, guard: CaptureGuard) -> None:
        self.guard = guard

    def request(self, flow: http.HTTPFlow) -> None:
        """Last in the request chain: hold back a request signed with PLAINTEXT (CaptureGuard.hold_back)."""
        if flow.id in self.guard._requests:  # signed with PLAINTEXT by the signer, earlier in this hook
            self.guard.hold_back(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        """Last in the response chain: give the HTTP layer the response as received, the flow keeps it redacted."""
        original = self.guard._originals.pop(flow.id, None)
        self.guard._plaintext.pop(flow.id, None)
        response = flow.response
        if original is None or response is None:
            return
        if response is not original.response:  # replaced since (a retry's answer): not ours to restore
            return
        real = _copy_message(response)
        original.restore_onto(real)
        response._oauth1_wire = (real, response.get_state())  # type: ignore[attr-defined]

    def error(self, flow: http.HTTPFlow) -> None:
        """Forget a failed flow."""
        self.guard._originals.pop(flow.id, None)
        self.guard._plaintext.pop(flow.id, None)
