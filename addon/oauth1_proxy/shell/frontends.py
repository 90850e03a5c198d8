"""The outputs where a flow is written or shown (SPEC §8, issue 12): the wire substitution (the signed request
goes upstream while the flow holds a redacted one) and the redacted copies that mitmweb and the flow-reading
commands (save, HAR, cut, export) get. CaptureGuard (capture.py) installs them."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from mitmproxy import http

if TYPE_CHECKING:
    from oauth1_proxy.shell.capture import CaptureGuard


def _shown(guard: CaptureGuard, flow: Any) -> Any:
    """What a front end may show of a flow: a redacted copy with the same id (the flow itself is untouched)."""
    if not isinstance(flow, http.HTTPFlow):
        return flow
    copy = http.HTTPFlow.from_state(flow.get_state())
    assert isinstance(copy, http.HTTPFlow)
    guard.redact_flow(copy, signature=guard.needs_signature_redaction(flow))
    return copy


_WIRE_PATCHED: list[bool] = []


def install_wire_substitution() -> None:
    """Give mitmproxy's HTTP layer the real message where the flow holds it redacted (CaptureRestorer).

    Once per process. The HTTP layer hands each Request/ResponseHeaders and
    Request/ResponseData event to the connection that writes it (HTTP/1,
    HTTP/2, HTTP/3 alike, upstream proxy included): there, and only there, a
    message held back is swapped for the real one (the signed request, the
    response as the provider sent it), unless the flow's message changed
    since. Nothing changes for any other flow.
    """
    if _WIRE_PATCHED:
        return
    _WIRE_PATCHED.append(True)
    import dataclasses

    from mitmproxy.proxy.layers import http as http_layers
    from mitmproxy.proxy.layers.http import _events

    layer_class: Any = http_layers.HttpLayer
    original = layer_class.event_to_child
    # The real body of a message swapped at its headers, by the connection that writes it and the stream
    # (a response's as -1 - stream id): weak, so nothing outlives the connection.
    bodies: weakref.WeakKeyDictionary[Any, dict[int, bytes]] = weakref.WeakKeyDictionary()

    def event_to_child(self: Any, child: Any, event: Any) -> Any:
        kind = type(event)
        if kind is _events.RequestHeaders and not isinstance(child, http_layers.HttpStream):
            wire = getattr(event.request, "_oauth1_wire", None)
            if wire is not None:
                signed, redacted_state = wire
                del event.request._oauth1_wire  # once: a retry or replay is signed afresh
                if event.request.get_state() == redacted_state:
                    if signed.raw_content:
                        bodies.setdefault(child, {})[event.stream_id] = signed.raw_content
                    event = dataclasses.replace(event, request=signed)
        elif kind is _events.ResponseHeaders and not isinstance(child, http_layers.HttpStream):
            wire = getattr(event.response, "_oauth1_wire", None)
            if wire is not None:
                real, redacted_state = wire
                del event.response._oauth1_wire
                if event.response.get_state() == redacted_state:
                    if real.raw_content:
                        bodies.setdefault(child, {})[-1 - event.stream_id] = real.raw_content
                    event = dataclasses.replace(event, response=real)
        elif bodies and (kind is _events.RequestData or kind is _events.ResponseData):
            pending = bodies.get(child)
            body = pending.pop(event.stream_id if kind is _events.RequestData else -1 - event.stream_id, None) \
                if pending else None
            if body is not None:
                event = kind(event.stream_id, body)
        return original(self, child, event)

    layer_class.event_to_child = event_to_child


# Commands that read flows and write or show them (a file, the clipboard, the UI): each gets redacted copies.
READING_COMMANDS = ("save.file", "save.har", "cut", "cut.save", "cut.clip")


def install_command_redaction(guard: CaptureGuard, commands: Any) -> None:
    """Give every flow-reading command (READING_COMMANDS) redacted copies of its flows, once per master.

    A front end runs them on flows that may be in flight or intercepted
    (mitmweb's /commands, the console's command line); the flows themselves
    are untouched.
    """
    for name in READING_COMMANDS:
        command = commands.commands.get(name)
        if command is None or getattr(command.func, "_oauth1_redacted", False):
            continue
        real = command.func

        def redacted(flows: Any, *args: Any, _real: Any = real, **kwargs: Any) -> Any:
            return _real([_shown(guard, f) for f in flows], *args, **kwargs)

        redacted._oauth1_redacted = True  # type: ignore[attr-defined]
        command.func = redacted


_WEB_GUARD: list[CaptureGuard] = []


def install_web_redaction(guard: CaptureGuard) -> None:
    """Make every flow mitmweb serves a redacted copy (issue 12), once per process.

    mitmweb keeps the flow objects and serves them at any moment, in flight
    and intercepted included: the JSON of GET /flows and of the /updates
    websocket (flow_to_json), a message's content (content.data) and its
    content views, the /flows/dump download, and the export command (curl,
    httpie, raw, HAR) behind the UI's Export menu. Each reads a redacted copy;
    the flow itself (what goes upstream and to the client) is untouched, and
    the handlers that change a flow still get the real one.
    """
    if _WEB_GUARD:
        _WEB_GUARD[0] = guard
        return
    _WEB_GUARD.append(guard)
    from mitmproxy.addons import export
    from mitmproxy.tools.web import app as web_app

    app: Any = web_app

    def shown(flow: Any) -> Any:
        return _shown(_WEB_GUARD[0], flow)

    original_flow_to_json = app.flow_to_json

    def flow_to_json(flow: Any) -> dict[str, Any]:
        data: dict[str, Any] = original_flow_to_json(shown(flow))
        data["modified"] = flow.modified()
        data["intercepted"] = flow.intercepted
        return data

    app.flow_to_json = flow_to_json
    from mitmproxy.tools.web import static_viewer as web_static_viewer

    static_viewer: Any = web_static_viewer  # web_static_viewer: what it writes comes from a file (-r), redacted too
    static_viewer.flow_to_json = flow_to_json
    original_save_content = static_viewer.save_flows_content
    static_viewer.save_flows_content = lambda path, flows: original_save_content(path, [shown(f) for f in flows])

    real_flow = app.RequestHandler.flow
    real_view = app.RequestHandler.view

    def reading_flow(handler: Any) -> Any:
        flow = real_flow.fget(handler)
        return shown(flow) if handler.request.method in ("GET", "HEAD") else flow

    def reading_view(handler: Any) -> Any:
        view = real_view.fget(handler)
        return [shown(f) for f in view] if handler.request.method in ("GET", "HEAD") else view

    for handler in (app.FlowContent, app.FlowContentView):
        handler.flow = property(reading_flow)
    app.DumpFlows.view = property(reading_view)

    for name, render in list(export.formats.items()):
        def redacted_render(flow: Any, _render: Any = render) -> Any:
            return _render(shown(flow))

        export.formats[name] = redacted_render
