"""How the signer refuses (SPEC §5: fail closed): the proxy's answer, a streamed request sent nowhere, raw TCP.

A request to a configured host never leaves unsigned: each refusal here
answers it (or closes it) and logs one line naming the request, never a secret.
"""

from __future__ import annotations

import secrets

from mitmproxy import http, tcp
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.mode_specs import UpstreamMode

from oauth1_proxy import metrics
from oauth1_proxy.config import ProxyConfig
from oauth1_proxy.errors import ProxyError, SigningError, TokenMissingError
from oauth1_proxy.policy import wire_host
from oauth1_proxy.shell.logs import logger
from oauth1_proxy.shell.responses import make_error_response

REFUSED_HOST = "refused.oauth1.proxy"  # where refused streamed requests are sent: nowhere (server_connect)


def may_stream_later(request: http.Request) -> bool:
    """Tell whether mitmproxy may start streaming this body after requestheaders: its size is not known yet.

    With stream_large_bodies set, a body without Content-Length (chunked, or
    HTTP/2 and HTTP/3 without one) is streamed as soon as what was received
    passes the limit; no hook runs between that moment and the headers leaving.
    Only asked when stream_large_bodies is set (OAuth1Signer._streams_large_bodies).
    """
    if "content-length" in request.headers:
        return False
    return "transfer-encoding" in request.headers or request.is_http2 or request.is_http3


def refuse(flow: http.HTTPFlow, e: ProxyError, profile: str = "") -> None:
    """Answer a refused request with the proxy's own response, and log why; count it for ``profile``."""
    if isinstance(e, TokenMissingError):
        flow.response = make_error_response(e, profile=e.profile, login_url=e.login_url)
    else:
        flow.response = make_error_response(e)
    metrics.refused(getattr(e, "profile", None) or profile, "", flow.response.status_code)
    logger.warning("oauth1-proxy: refused %s %s%s: %s", flow.request.method, flow.request.host,
                   flow.request.path.partition("?")[0], e)


def refuse_internal(flow: http.HTTPFlow, e: Exception) -> None:
    """Answer a request whose signing failed unexpectedly (a bug): 500, naming only the exception's type."""
    logger.error("oauth1-proxy: internal error while signing (%s); the request was not forwarded.",
                 type(e).__name__)
    flow.response = make_error_response(
        SigningError(f"oauth1-proxy could not sign this request ({type(e).__name__}); it was not sent.")
    )
    metrics.refused("", "", flow.response.status_code)


class StreamedRefusals:
    """Refused streamed requests, sent to a pseudo-host whose connection is then refused."""

    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}  # pseudo-host key -> reason

    def refuse(self, flow: http.HTTPFlow, reason: str, profile: str = "") -> None:
        """Refuse a request whose body streams: mitmproxy cannot answer it from a hook, so send it nowhere.

        Its destination becomes a pseudo-host of ours; ``server_connect``
        refuses that connection, and mitmproxy answers the client 502 with the
        reason. Nothing is sent. In upstream mode the connection would go to
        the next proxy, so the flow is killed instead (the client sees it closed).
        """
        logger.warning("oauth1-proxy: refused %s %s%s: %s", flow.request.method, flow.request.host,
                       flow.request.path.partition("?")[0], reason)
        metrics.refused(profile, "", 502)
        if isinstance(flow.client_conn.proxy_mode, UpstreamMode):
            flow.kill()
            return
        key = secrets.token_hex(8)
        self._reasons[key] = f"oauth1-proxy refused this request and sent nothing: {reason}"
        flow.request.host = f"{key}.{REFUSED_HOST}"

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Refuse the connection to a pseudo-host of ours, with the reason of its refusal."""
        host = data.server.address[0] if data.server.address else ""
        if host.endswith(f".{REFUSED_HOST}"):
            data.server.error = self._reasons.pop(host.partition(".")[0], "oauth1-proxy refused this request.")


def refuse_raw_tcp(config: ProxyConfig, flow: tcp.TCPFlow) -> None:
    """Relay no raw TCP byte from the client to a signed destination (fail closed, SPEC §5).

    A CONNECT tunnel whose bytes mitmproxy cannot read as TLS or HTTP
    (``"\\r\\nGET / HTTP/1.1"``: a leading empty line) becomes raw TCP, which
    no hook signs, yet a server may read an HTTP request from it.
    """
    message = flow.messages[-1]
    if not message.from_client or not message.content:
        return
    address = flow.server_conn.address
    if address is None:
        return
    host, port = wire_host(str(address[0])), int(address[1])
    signs = config.signs_destination
    if not (signs("https", host, port) or signs("http", host, port)):
        return
    message.content = b""
    if flow.metadata.get("oauth1-proxy-tcp-refused") is None:
        flow.metadata["oauth1-proxy-tcp-refused"] = True
        logger.warning("oauth1-proxy: refused raw TCP data to %s:%d, a signed destination: it is not an HTTP "
                       "request the proxy could sign; nothing was relayed. Send HTTP (or TLS) in the tunnel.",
                       host, port)
