"""Reverse mode's Host check (SPEC §10): only a Host naming this listener is answered, signed or sent.

mitmproxy would rewrite the Host before any hook, so keep_host_header is held
on while a reverse mode runs and ``check`` rewrites it after checking;
ReverseHosts remembers the user's own keep_host_header and the allowed names.
The signer (shell/signer.py) calls it from its requestheaders, configure and
server_connect hooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from mitmproxy import ctx, exceptions, http
from mitmproxy.net.http import url
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.mode_specs import ReverseMode

from oauth1_proxy.errors import MisdirectedRequest
from oauth1_proxy.shell.logs import logger
from oauth1_proxy.shell.refusals import may_stream_later
from oauth1_proxy.shell.responses import make_error_response
from oauth1_proxy.web import LOOPBACK_NAMES, is_loopback, normalize_authority, split_helper_path


class ReverseHosts:
    """The allowed Host names of reverse mode and the hold on keep_host_header."""

    def __init__(self) -> None:
        self.names: tuple[str, ...] = ()  # oauth1_reverse_hosts: NAME (any port) or NAME:PORT
        self.holds_keep_host = False  # a reverse mode runs: keep_host_header is held on
        self.user_keeps_host = False  # the user's own keep_host_header
        self._setting_keep_host = False

    @staticmethod
    def parse(values: Sequence[str]) -> tuple[str, ...]:
        """The oauth1_reverse_hosts option as authorities (or bare names); OptionsError naming a bad value."""
        names = []
        for value in values:
            text = value.strip()
            bare = ":" not in (text.rpartition("]")[2] if text.startswith("[") else text)  # no port: any port
            normal = normalize_authority(value)
            if normal is None:
                raise exceptions.OptionsError(
                    f"oauth1_reverse_hosts: {value!r} is not a host name or HOST:PORT; use e.g. "
                    "--set oauth1_reverse_hosts=api.local or --set oauth1_reverse_hosts=api.local:8080."
                )
            names.append(normal.rpartition(":")[0] if bare else normal)
        return tuple(names)

    def hold_keep_host(self, updated: set[str]) -> None:
        """Hold keep_host_header on while a reverse mode runs, so that ``check`` sees the client's Host."""
        options = ctx.options
        if self._setting_keep_host or "keep_host_header" not in options or "mode" not in options:
            return
        if "keep_host_header" in updated or not self.holds_keep_host:
            self.user_keeps_host = bool(options.keep_host_header)
        reverse = any(str(m).startswith("reverse:") for m in options.mode)
        wanted = True if reverse else self.user_keeps_host
        self.holds_keep_host = reverse
        if bool(options.keep_host_header) != wanted:
            self._setting_keep_host = True
            try:
                options.update(keep_host_header=wanted)
            finally:
                self._setting_keep_host = False

    def allowed(self, flow: http.HTTPFlow, host_header: str | None) -> bool:
        """Tell whether a Host names this listener: its address, loopback's names, or oauth1_reverse_hosts."""
        default = 443 if flow.client_conn.tls_established else 80
        got = normalize_authority(host_header, default)
        if got is None:
            return False
        address, port = flow.client_conn.sockname[:2]
        names = {f"[{address}]" if ":" in address else address}
        if is_loopback(address):
            names.update(LOOPBACK_NAMES)
        if got in {f"{n}:{port}" for n in names}:
            return True
        return got in self.names or got.rpartition(":")[0] in self.names

    def check(self, flow: http.HTTPFlow, streams_large_bodies: bool) -> bool:
        """Reverse mode: go on only for a Host naming this listener, then rewrite it as mitmproxy would have.

        A DNS-rebinding page reaches the loopback listener under its own name:
        its requests get 421 and nothing is sent (no signing, no helper). An
        allowed request gets the upstream's Host exactly as before (the
        target's, or the client's with the user's own keep_host_header); the
        helper's pages (/_oauth1/) keep the Host the browser sent.
        """
        if not isinstance(flow.client_conn.proxy_mode, ReverseMode) or flow.is_replay or not flow.live \
                or flow.response is not None:
            return True
        request = flow.request
        original = request.host_header
        if not self.allowed(flow, original):
            logger.warning("oauth1-proxy: refused %s %s in reverse mode: its Host %r does not name this listener; "
                           "nothing was sent. Use the listen address, or add the name to oauth1_reverse_hosts.",
                           request.method, request.path.partition("?")[0][:200], (original or "")[:100])
            if request.stream or (streams_large_bodies and may_stream_later(request)):
                flow.kill()  # a streamed request cannot be answered (its body would start streaming)
            else:
                flow.response = make_error_response(MisdirectedRequest(
                    f"oauth1-proxy (reverse mode) does not answer for the Host {(original or '')[:100]!r} "
                    "(DNS rebinding?); nothing was sent. Use the listen address, or add this name to "
                    "--set oauth1_reverse_hosts=NAME."))
            return False
        if not self.user_keeps_host and not split_helper_path(request.path):
            request.host_header = url.hostport(request.scheme, request.host, request.port)
        return True

    def sni(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Set the upstream SNI as mitmproxy's ReverseProxy layer does when keep_host_header is off.

        The target's name as SNI: we hold the option on (see ``hold_keep_host``).
        """
        mode = data.client.proxy_mode
        if isinstance(mode, ReverseMode) and not self.user_keeps_host and data.server.sni is None \
                and mode.scheme in ("https", "tls", "http3", "quic", "dtls") and data.server.address == mode.address:
            data.server.sni = mode.address[0]
