"""The mitmproxy glue: sign every request to a configured host, fail closed.

Loads two ways: appended last to mitmdump's chain by ``oauth1-proxy run``
(so --map-remote and --modify-* have already run when we sign), or as a
script: ``mitmdump -s addon/oauth1_proxy/mitmproxy_addon.py --set
oauth1_config=FILE``.

Rules:
1. No parsing, crypto or YAML here: build the policy's OutgoingRequest, apply its decision.
2. A hook never lets an exception escape (mitmproxy would forward the
   request unsigned): every failure becomes a response made by the proxy.
3. Match on the real destination (flow.request.host/port), never on the
   Host header; refuse to sign when the Host header disagrees.
4. No secret in a log line, a response or flow.metadata.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import logging
import os
import secrets
import sys
import threading
import time
import urllib.parse
import weakref
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NamedTuple

from mitmproxy import ctx, exceptions, http, tcp
from mitmproxy import log as mitmproxy_log
from mitmproxy.addonmanager import Loader
from mitmproxy.net.http import url
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.mode_specs import ReverseMode, UpstreamMode
from mitmproxy.tools.dump import DumpMaster
from werkzeug.serving import BaseWSGIServer, make_server

from oauth1_proxy.config import DEFAULT_PORTS, Profile, ProxyConfig, load_config, normalize_host
from oauth1_proxy.diagnostics import clock_correction, diff_base_strings, parse_refusal
from oauth1_proxy.errors import (
    ConfigError,
    MisdirectedRequest,
    ProxyError,
    SigningError,
    TokenMissingError,
    TokenStoreError,
)
from oauth1_proxy.permissions import check_permissions, secret_files
from oauth1_proxy.policy import (
    PROFILE_HEADER,
    LoginHelp,
    OutgoingRequest,
    Pass,
    Refuse,
    RequestHeaders,
    TokenLookup,
    authority_matches,
    decide,
    login_state,
    wire_host,
)
from oauth1_proxy.redaction import (
    Redactor,
    has_token_secret,
    has_unredacted_signature,
    is_plaintext_signed,
    make_redactor,
    plaintext_signature_value,
    secrets_of_plaintext_signature,
    summarise_bytes_literals,
)

# Re-exported: `oauth1-proxy run` and the tests have imported them from here (issue 5).
from oauth1_proxy.shell.dispatch import SparseDispatch as SparseDispatch
from oauth1_proxy.shell.dispatch import plan_for as plan_for
from oauth1_proxy.shell.dispatch import use_sparse_dispatch as use_sparse_dispatch
from oauth1_proxy.signing import SignatureMethod
from oauth1_proxy.tokens import FileTokenStore, StoredToken, TokenStore
from oauth1_proxy.web import (
    DIRECT_ENV,
    HELPER_HOST,
    LOOPBACK_NAMES,
    ORIGIN_ENV,
    REVERSE_PREFIX,
    is_loopback,
    make_web_app,
    normalize_authority,
    split_helper_path,
)

REFUSED_HOST = "refused.oauth1.proxy"  # where refused streamed requests are sent: nowhere (server_connect)
REVERSE_PREFIX_BYTES = REVERSE_PREFIX.encode()
SIGNED_LINE = "oauth1-proxy: signed profile=%s %s %s %s %s"  # SPEC §8: profile, method, host, path, method
SERVER_NAME = "oauth1-proxy"

logger = logging.getLogger("oauth1_proxy")
# mitmdump sets the root logger to DEBUG; records nobody reads still cost
# ~150 µs each through its log hook. Ours start at INFO, oauthlib's at WARNING
# (it logs base strings and tokens at DEBUG).
logger.setLevel(logging.INFO)
logging.getLogger("oauthlib").setLevel(logging.WARNING)


THIS_SCRIPT = os.path.realpath(__file__)


def _is_this_script(path: str) -> bool:
    """Tell whether a -s script is this module (script mode), not another addon that may record flows."""
    return os.path.realpath(os.path.expanduser(path)) == THIS_SCRIPT


def make_nonce() -> str:
    """A fresh nonce for one request: 128 bits from the CSPRNG, as hex (RFC 5849 §3.3)."""
    return secrets.token_hex(16)


def make_error_response(
    error: ProxyError, *, profile: str | None = None, login_url: str | None = None
) -> http.Response:
    """Build the proxy's own answer to a request it will not forward (SPEC §5)."""
    message = str(error)
    body: dict[str, Any] = {"message": message, "error": type(error).__name__, "proxy": SERVER_NAME}
    if profile is not None:
        body["profile"] = profile
    if login_url is not None:
        body["login_url"] = login_url
    content = (json.dumps(body, indent=1) + "\n").encode()
    headers = {"Content-Type": "application/json", "Server": SERVER_NAME, "Cache-Control": "no-store"}
    return http.Response.make(error.status_hint, content, headers)


def _may_stream_later(request: http.Request) -> bool:
    """Tell whether mitmproxy may start streaming this body after requestheaders: its size is not known yet.

    With stream_large_bodies set, a body without Content-Length (chunked, or
    HTTP/2 and HTTP/3 without one) is streamed as soon as what was received
    passes the limit; no hook runs between that moment and the headers leaving.
    Only asked when stream_large_bodies is set (OAuth1Signer._streams_large_bodies).
    """
    if "content-length" in request.headers:
        return False
    return "transfer-encoding" in request.headers or request.is_http2 or request.is_http3


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


class SignedFlow(NamedTuple):
    """What the signer remembers of a flow until its response: never a secret.

    A NamedTuple, not a dataclass: loaded as a mitmdump script (-s), this
    module is not in sys.modules, where dataclasses look up its annotations.
    """

    profile: str
    base_string: str
    may_retry: bool


class OAuth1Signer:
    """Sign requests to configured hosts with OAuth 1.0a (RFC 5849)."""

    def __init__(self) -> None:
        self.config: ProxyConfig | None = None
        self.store: TokenStore | None = None
        self.helper_url: str | None = None  # the direct URL, once running
        # One entry in mitmproxy's chain (issue 5): mitmproxy calls every
        # entry for each of a flow's events, hook or not, so the helper is
        # served from our request hook and the capture guard joins the chain
        # only while something records or shows flows (_guard_needed).
        self.helper = OAuth1Helper(self)
        self.guard = CaptureGuard(lambda: self.config)
        # Per flow in flight, dropped at its response or error: no state kept per request served.
        self._signed: dict[str, SignedFlow] = {}
        self._skew: dict[str, int] = {}  # learned clock corrections, per profile
        self._retries: dict[str, asyncio.Future[None]] = {}  # our timestamp retries, by flow id
        self._signed_early: set[str] = set()  # flows signed in requestheaders (streamed bodies), by id
        self._refusals: dict[str, str] = {}  # refused streamed requests: pseudo-host key -> reason
        # Options read for every request, copied here in configure (an option lookup costs µs).
        self.helper_host = HELPER_HOST
        self._streams_large_bodies = False
        # Reverse mode (SPEC §10): mitmproxy would rewrite the Host before any
        # hook, so keep_host_header is held on while a reverse mode runs and
        # _check_reverse_host rewrites it after checking; these remember the
        # user's own keep_host_header and the allowed names.
        self._reverse_hosts: tuple[str, ...] = ()
        self._holds_keep_host = False
        self._user_keeps_host = False
        self._setting_keep_host = False

    # --- options ----------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        loader.add_option(
            "oauth1_sparse_dispatch",
            bool,
            True,
            "oauth1-proxy run: dispatch events only to the addons that have a hook for them (SparseDispatch); "
            "false keeps mitmproxy's own dispatch. Read once, at start; script mode (-s) always keeps "
            "mitmproxy's.",
        )
        loader.add_option(
            "oauth1_config",
            str | None,  # type: ignore[arg-type]
            None,
            "oauth1-proxy: the YAML config file naming the profiles to sign for.",
        )
        loader.add_option(
            "oauth1_helper_host",
            str,
            HELPER_HOST,
            "oauth1-proxy: the pseudo-host of the helper endpoint, reached through the proxy.",
        )
        loader.add_option(
            "oauth1_replay",
            str,
            "resign",
            "oauth1-proxy: what replayed requests get: resign (a fresh nonce, timestamp and signature) or keep "
            "(sent exactly as captured, for forensic replays).",
        )
        loader.add_option(
            "oauth1_debug",
            bool,
            False,
            "oauth1-proxy: when a provider refuses a signed request, also log our signature base string and, "
            "when the provider sent its own, where the two differ. Never a secret.",
        )
        loader.add_option(
            "oauth1_helper_port",
            int,
            0,
            "oauth1-proxy: the loopback port of the helper's direct URL, for browsers that do not use the "
            "proxy (0: a free port, printed at start; -1: none).",
        )
        loader.add_option(
            "oauth1_reverse_hosts",
            Sequence[str],
            [],
            "oauth1-proxy: reverse mode answers and signs only requests whose Host names the listen address "
            "(127.0.0.1:PORT, localhost:PORT, [::1]:PORT on loopback); these names (NAME for any port, or "
            "NAME:PORT) are accepted too. Anything else gets 421 and nothing is sent (DNS rebinding).",
        )

    def configure(self, updated: set[str]) -> None:
        if "oauth1_replay" in updated and ctx.options.oauth1_replay not in ("resign", "keep"):
            raise exceptions.OptionsError(
                f"oauth1_replay: {ctx.options.oauth1_replay!r} is not resign or keep; use --set oauth1_replay=keep "
                "to send captured requests untouched, or leave it unset to re-sign them."
            )
        if "oauth1_config" in updated:
            self._load_config()
        if "oauth1_helper_host" in updated:
            self.helper_host = ctx.options.oauth1_helper_host.lower()
        if "oauth1_reverse_hosts" in updated:
            self._reverse_hosts = self._parse_reverse_hosts(ctx.options.oauth1_reverse_hosts)
        if "mode" in updated or "keep_host_header" in updated:
            self._hold_keep_host(updated)
        if "stream_large_bodies" in updated:
            self._streams_large_bodies = bool(ctx.options.stream_large_bodies)
        if "ssl_insecure" in updated and "ssl_insecure" in ctx.options and ctx.options.ssl_insecure:
            logger.warning(
                "oauth1-proxy: ssl_insecure is set: upstream TLS certificates are NOT verified, so signed requests "
                "(and a PLAINTEXT signature's secrets) may go to an impostor. This is your explicit choice; "
                "remove --set ssl_insecure=true (-k) to verify again."
            )
        if self._guard_needed():
            self.guard.install()

    def _guard_needed(self) -> bool:
        """Tell whether anything may record or show a flow: then the capture guard must be in the chain (SPEC §8).

        Not needed only under mitmdump (``oauth1-proxy run`` or ``-s``) that
        saves nothing (no ``save_stream_file``, no ``hardump``), runs no other
        script, has no ``proxy_debug`` and prints at most each flow's URL
        (``flow_detail`` 1, or 0) with no PLAINTEXT profile. mitmweb and the console keep and show
        every flow: always needed there. Once installed it stays.
        """
        options = ctx.options
        if not isinstance(ctx.master, DumpMaster):
            return True
        if options.save_stream_file or ("hardump" in options and options.hardump):
            return True
        if "proxy_debug" in options and options.proxy_debug:  # raw traffic in the log: the filter needs the secrets
            return True
        if any(not _is_this_script(script) for script in options.scripts):
            return True
        if options.flow_detail >= 2:
            return True
        plaintext = self.config is not None and any(
            p.signature_method is SignatureMethod.PLAINTEXT for p in self.config.profiles
        )
        return plaintext and options.flow_detail >= 1

    def running(self) -> None:
        if self.config is None and ctx.options.oauth1_config:
            self._load_config()
        self._reverse_hosts = self._parse_reverse_hosts(ctx.options.oauth1_reverse_hosts)
        self._hold_keep_host(set())
        if self._guard_needed():
            self.guard.install()
        install_log_filter()
        self.helper.running()
        if self.config is None:
            logger.warning("oauth1-proxy: no oauth1_config set; nothing will be signed.")
            return
        for line in self.describe():
            logger.info(line)
        host = ctx.options.listen_host
        if host not in ("127.0.0.1", "::1", "localhost") and not ctx.options.proxyauth:
            logger.warning(
                "oauth1-proxy: listening on %s without proxyauth: anyone who can reach this port can make "
                "requests signed with your credentials. Listen on 127.0.0.1, or set --proxyauth.",
                host or "all interfaces",
            )

    def _load_config(self) -> None:
        path = ctx.options.oauth1_config
        if not path:
            self.config, self.store = None, None
            return
        try:
            config = load_config(path)
        except ConfigError as e:
            message = f"Cannot load oauth1_config {path}:\n{e}"
            scripts = ctx.options.scripts if "scripts" in ctx.options else ()
            if self.config is None and any(_is_this_script(script) for script in scripts):
                # Loaded with -s: mitmproxy prints a script's exception with a
                # traceback. An error logged at start-up makes mitmdump exit
                # just the same (its ErrorCheck), with only our message.
                logger.error("oauth1-proxy: %s", message)
                return
            raise exceptions.OptionsError(message) from None
        self.config = config
        if isinstance(self.store, FileTokenStore):
            self.store.unwatch()
        store = FileTokenStore(config.token_store)
        # The signer reads a snapshot on the event loop; a daemon thread keeps
        # it fresh (tokens.WATCH_INTERVAL), so no request stats the store.
        store.watch()
        self.store = store
        for warning in check_permissions(secret_files(config)):
            logger.warning("oauth1-proxy: %s", warning)

    def describe(self) -> list[str]:
        """The start-up lines: helper, CA file, each profile (never a secret)."""
        assert self.config is not None
        modes = ", ".join(ctx.options.mode)
        ca_file = os.path.join(os.path.expanduser(ctx.options.confdir), "mitmproxy-ca-cert.pem")
        lines = [
            f"oauth1-proxy: mode {modes}; config {self.config.source}; token store {self.config.token_store}",
            f"oauth1-proxy: HTTPS clients must trust the CA file {ca_file} (curl --cacert {ca_file})",
        ]
        for p in self.config.profiles:
            hosts = ", ".join(str(h) for h in p.hosts)
            prefix = "" if p.path_prefix == "/" else f" path {p.path_prefix}"
            lines.append(
                f"oauth1-proxy: profile {p.name}: {hosts}{prefix}, {p.signature_method}, "
                f"placement {p.placement}, {self._login_state(p)}"
            )
        return lines

    def _login_state(self, p: Profile) -> str:
        """The profile's login state, in policy.login_state's words (as check and the helper say it)."""
        stored = None
        if self.store is not None and p.has_dance and not p.has_static_token:
            try:
                stored = self.store.get(p.name)
            except TokenStoreError:
                return "token store unreadable"
        return str(login_state(p, stored))

    # --- hooks ------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        """Sign a request whose body is (or may become) streamed before its headers leave, or refuse it.

        With stream_large_bodies, mitmproxy sends the headers upstream right
        after this hook; the request hook runs once the body is gone. A
        non-form body without oauth_body_hash is not part of the signature, so
        such a request is signed here. A form body or a body hash needs the
        whole body: the request is refused with a log line saying why, by
        closing the connection (mitmproxy cannot answer a streamed request).
        """
        if self._holds_keep_host and not self._check_reverse_host(flow):
            return
        if not (flow.request.stream or self._streams_large_bodies):
            return  # the usual case: the whole body is read, and the request hook signs it
        try:
            if self.config is None or flow.response is not None or flow.error is not None or not flow.live:
                return
            if not (flow.request.stream or (self._streams_large_bodies and _may_stream_later(flow.request))):
                return
            if not self._profiles_for(flow.request) or self._keeps_capture(flow):
                return
            try:
                self.sign_flow(flow, streamed=True)
            except ProxyError as e:
                self._refuse_streamed(flow, str(e))
                return
            self._signed_early.add(flow.id)
        except Exception as e:  # fail closed: never forward unsigned
            logger.error("oauth1-proxy: internal error while signing a streamed request (%s); it was not forwarded.",
                         type(e).__name__)
            flow.kill()

    def _refuse_streamed(self, flow: http.HTTPFlow, reason: str) -> None:
        """Refuse a request whose body streams: mitmproxy cannot answer it from a hook, so send it nowhere.

        Its destination becomes a pseudo-host of ours; ``server_connect``
        refuses that connection, and mitmproxy answers the client 502 with the
        reason. Nothing is sent. In upstream mode the connection would go to
        the next proxy, so the flow is killed instead (the client sees it closed).
        """
        logger.warning("oauth1-proxy: refused %s %s%s: %s", flow.request.method, flow.request.host,
                       flow.request.path.partition("?")[0], reason)
        if isinstance(flow.client_conn.proxy_mode, UpstreamMode):
            flow.kill()
            return
        key = secrets.token_hex(8)
        self._refusals[key] = f"oauth1-proxy refused this request and sent nothing: {reason}"
        flow.request.host = f"{key}.{REFUSED_HOST}"

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Refuse the connection of a streamed request we refused (see _refuse_streamed)."""
        host = data.server.address[0] if data.server.address else ""
        if self._holds_keep_host:
            self._reverse_sni(data)
        if host.endswith(f".{REFUSED_HOST}"):
            data.server.error = self._refusals.pop(host.partition(".")[0], "oauth1-proxy refused this request.")

    # --- reverse mode: the client's Host (SPEC §10) ----------------------------------

    @staticmethod
    def _parse_reverse_hosts(values: Sequence[str]) -> tuple[str, ...]:
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

    def _hold_keep_host(self, updated: set[str]) -> None:
        """Hold keep_host_header on while a reverse mode runs, so that _check_reverse_host sees the client's Host."""
        options = ctx.options
        if self._setting_keep_host or "keep_host_header" not in options or "mode" not in options:
            return
        if "keep_host_header" in updated or not self._holds_keep_host:
            self._user_keeps_host = bool(options.keep_host_header)
        reverse = any(str(m).startswith("reverse:") for m in options.mode)
        wanted = True if reverse else self._user_keeps_host
        self._holds_keep_host = reverse
        if bool(options.keep_host_header) != wanted:
            self._setting_keep_host = True
            try:
                options.update(keep_host_header=wanted)
            finally:
                self._setting_keep_host = False

    def _reverse_host_allowed(self, flow: http.HTTPFlow, host_header: str | None) -> bool:
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
        return got in self._reverse_hosts or got.rpartition(":")[0] in self._reverse_hosts

    def _check_reverse_host(self, flow: http.HTTPFlow) -> bool:
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
        if not self._reverse_host_allowed(flow, original):
            logger.warning("oauth1-proxy: refused %s %s in reverse mode: its Host %r does not name this listener; "
                           "nothing was sent. Use the listen address, or add the name to oauth1_reverse_hosts.",
                           request.method, request.path.partition("?")[0][:200], (original or "")[:100])
            if request.stream or (self._streams_large_bodies and _may_stream_later(request)):
                flow.kill()  # a streamed request cannot be answered (its body would start streaming)
            else:
                flow.response = make_error_response(MisdirectedRequest(
                    f"oauth1-proxy (reverse mode) does not answer for the Host {(original or '')[:100]!r} "
                    "(DNS rebinding?); nothing was sent. Use the listen address, or add this name to "
                    "--set oauth1_reverse_hosts=NAME."))
            return False
        if not self._user_keeps_host and not split_helper_path(request.path):
            request.host_header = url.hostport(request.scheme, request.host, request.port)
        return True

    def _reverse_sni(self, data: server_hooks.ServerConnectionHookData) -> None:
        # What mitmproxy's ReverseProxy layer does when keep_host_header is off:
        # the target's name as SNI (we hold the option on; see _hold_keep_host).
        mode = data.client.proxy_mode
        if isinstance(mode, ReverseMode) and not self._user_keeps_host and data.server.sni is None \
                and mode.scheme in ("https", "tls", "http3", "quic", "dtls") and data.server.address == mode.address:
            data.server.sni = mode.address[0]

    def _keeps_capture(self, flow: http.HTTPFlow) -> bool:
        """Tell whether a replayed flow goes out as captured (oauth1_replay=keep)."""
        return flow.is_replay == "request" and ctx.options.oauth1_replay == "keep" and flow.id not in self._retries

    def request(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """Serve the helper's pages (never signed), or sign; a coroutine only for the helper (issue 5)."""
        if self.config is None or flow.response is not None or flow.error is not None:
            self._signed_early.discard(flow.id)
            return None
        serving = self.helper.serve(flow)
        if serving is not None:
            return serving
        return self._sign_request_hook(flow)

    def _sign_request_hook(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        if flow.id in self._signed_early:  # signed in requestheaders: its body may be gone already
            self._signed_early.discard(flow.id)
            return None
        # -r (read a file) re-runs request on flows that are not live: a
        # capture being read or re-saved is never re-signed.
        if not flow.live:
            return None
        if self._keeps_capture(flow):
            logger.info("oauth1-proxy: replaying %s %s%s as captured (oauth1_replay=keep)", flow.request.method,
                        flow.request.host, flow.request.path.partition("?")[0])
            return None
        try:
            self.sign_flow(flow)
        except TokenMissingError as e:
            # The snapshot has no token: a login another process just stored
            # may not be in it yet. Re-read the store off the event loop, then
            # sign or refuse (only this flow waits).
            store = self.store
            if not isinstance(store, FileTokenStore):
                self._refuse(flow, e)
                return None
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # called outside an event loop (unit tests): nothing to block
                store.refresh()
                self._sign_or_refuse(flow, e.profile)
                return None
            return self._sign_after_refresh(flow, store, e.profile)
        except ProxyError as e:
            self._refuse(flow, e)
        except Exception as e:  # fail closed: never forward unsigned
            self._refuse_internal(flow, e)
        return None

    async def _sign_after_refresh(self, flow: http.HTTPFlow, store: FileTokenStore, profile: str) -> None:
        try:
            await asyncio.to_thread(store.refresh)
        except Exception as e:  # fail closed: never forward unsigned
            self._refuse_internal(flow, e)
            return
        self._sign_or_refuse(flow, profile)

    def _sign_or_refuse(self, flow: http.HTTPFlow, profile: str | None) -> None:
        """Sign (as ``profile``, once chosen) or answer with the proxy's refusal; never raise."""
        try:
            self.sign_flow(flow, chosen=profile)
        except ProxyError as e:
            self._refuse(flow, e)
        except Exception as e:  # fail closed: never forward unsigned
            self._refuse_internal(flow, e)

    def _refuse(self, flow: http.HTTPFlow, e: ProxyError) -> None:
        if isinstance(e, TokenMissingError):
            flow.response = make_error_response(e, profile=e.profile, login_url=e.login_url)
        else:
            flow.response = make_error_response(e)
        logger.warning("oauth1-proxy: refused %s %s%s: %s", flow.request.method, flow.request.host,
                       flow.request.path.partition("?")[0], e)

    def _refuse_internal(self, flow: http.HTTPFlow, e: Exception) -> None:
        logger.error("oauth1-proxy: internal error while signing (%s); the request was not forwarded.",
                     type(e).__name__)
        flow.response = make_error_response(
            SigningError(f"oauth1-proxy could not sign this request ({type(e).__name__}); it was not sent.")
        )

    def response(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        # A plain function: mitmproxy awaits what a hook returns, so only a
        # refused signed flow pays for a coroutine (issue 5).
        waiter = self._retries.get(flow.id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        signed = self._signed.pop(flow.id, None)
        if signed is None or flow.response is None or flow.response.status_code not in (400, 401):
            return None
        return self._diagnose_safely(flow, signed)

    async def _diagnose_safely(self, flow: http.HTTPFlow, signed: SignedFlow) -> None:
        try:
            await self._diagnose(flow, signed)
        except Exception as e:  # a diagnosis never breaks the flow
            logger.error("oauth1-proxy: could not read the provider's refusal (%s)", type(e).__name__)

    def done(self) -> None:
        self.helper.done()

    def error(self, flow: http.HTTPFlow) -> None:
        self._signed.pop(flow.id, None)
        self._signed_early.discard(flow.id)
        waiter = self._retries.get(flow.id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _diagnose(self, flow: http.HTTPFlow, signed: SignedFlow) -> None:
        assert flow.response is not None
        response = flow.response
        headers = {k: response.headers.get(k, "") for k in ("www-authenticate", "date")}
        diagnosis = parse_refusal(response.status_code, headers, response.get_content(strict=False) or b"")
        logger.warning("oauth1-proxy: profile %s: %s %s%s was refused: %s", signed.profile, flow.request.method,
                       flow.request.host, flow.request.path.partition("?")[0], diagnosis.summary())
        if ctx.options.oauth1_debug:
            logger.info("oauth1-proxy: our signature base string: %s", signed.base_string)
            if diagnosis.provider_base_string:
                logger.info("oauth1-proxy: the provider's base string: %s", diagnosis.provider_base_string)
                for line in diff_base_strings(signed.base_string, diagnosis.provider_base_string):
                    logger.info("oauth1-proxy: differs: %s", line)
        if diagnosis.problem != "timestamp_refused" or self.config is None:
            return
        profile = self.config.profile_named(signed.profile)
        correction = clock_correction(diagnosis, time.time())
        if profile is None or correction is None:
            return
        learned = correction - profile.clock_skew
        if self._skew.get(profile.name) != learned:
            self._skew[profile.name] = learned
            logger.warning("oauth1-proxy: profile %s: the provider's clock is %+d s from ours; its timestamps are "
                           "corrected from now on (set clock_skew: %d in the profile to start with it).",
                           profile.name, correction, correction)
        if signed.may_retry:
            await self._retry(flow)

    async def _retry(self, flow: http.HTTPFlow) -> None:
        """Send a refused request once more, re-signed with the corrected timestamp, and answer with that."""
        retry = flow.copy()
        retry.response = None
        retry.error = None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._retries[retry.id] = future
        try:
            ctx.master.commands.call("replay.client", [retry])
            await asyncio.wait_for(future, timeout=30)
        except (TimeoutError, exceptions.CommandError) as e:
            logger.warning("oauth1-proxy: the retry of %s %s did not complete (%s)", flow.request.method,
                           flow.request.host, type(e).__name__)
            return
        finally:
            self._retries.pop(retry.id, None)
        if retry.response is not None:
            logger.info("oauth1-proxy: retried %s %s%s with the corrected timestamp: %s", flow.request.method,
                        flow.request.host, flow.request.path.partition("?")[0], retry.response.status_code)
            flow.response = retry.response.copy()

    # --- signing ----------------------------------------------------------------------

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        """Relay no raw TCP byte from the client to a signed destination (fail closed, SPEC §5).

        A CONNECT tunnel whose bytes mitmproxy cannot read as TLS or HTTP
        (``"\\r\\nGET / HTTP/1.1"``: a leading empty line) becomes raw TCP, which
        no hook signs, yet a server may read an HTTP request from it.
        """
        if self.config is None:
            return
        message = flow.messages[-1]
        if not message.from_client or not message.content:
            return
        address = flow.server_conn.address
        if address is None:
            return
        host, port = wire_host(str(address[0])), int(address[1])
        signs = self.config.signs_destination
        if not (signs("https", host, port) or signs("http", host, port)):
            return
        message.content = b""
        if flow.metadata.get("oauth1-proxy-tcp-refused") is None:
            flow.metadata["oauth1-proxy-tcp-refused"] = True
            logger.warning("oauth1-proxy: refused raw TCP data to %s:%d, a signed destination: it is not an HTTP "
                           "request the proxy could sign; nothing was relayed. Send HTTP (or TLS) in the tunnel.",
                           host, port)

    def _profiles_for(self, request: http.Request) -> tuple[Profile, ...]:
        """The profiles that sign this request; for a target that is not a path (``*``) to a signed
        destination, that destination's profiles: the policy refuses it."""
        assert self.config is not None
        scheme, host, port, path = request.scheme, wire_host(request.host), request.port, request.path
        found = self.config.profiles_for(scheme, host, port, path)
        if not found and not path.startswith("/"):
            return self.config.index.get((scheme.lower(), normalize_host(host), port), ())
        return found

    def _login_help(self, flow: http.HTTPFlow) -> LoginHelp:
        """Where to log a profile in, for the message of a missing token (built only then: ~7 µs)."""

        def login(profile: Profile) -> tuple[str, str]:
            source = self.config.source if self.config else "FILE"
            if isinstance(flow.client_conn.proxy_mode, ReverseMode):
                host, port = flow.client_conn.sockname[:2]
                login_url = f"http://{host}:{port}{REVERSE_PREFIX}/login/{profile.name}"
            else:
                login_url = f"http://{ctx.options.oauth1_helper_host}/login/{profile.name}"
            direct = f" (or {self.helper_url}login/{profile.name} in a browser)" if self.helper_url else ""
            return login_url, f"{direct}, or run: oauth1-proxy login {profile.name} --config {source}"

        return login

    def _token_lookup(self) -> TokenLookup:
        """The store's snapshot (never the disk: this runs on the event loop)."""
        store = self.store
        if store is None:
            return _no_token
        if isinstance(store, FileTokenStore):
            return store.cached
        return store.get

    def sign_flow(self, flow: http.HTTPFlow, *, streamed: bool = False, chosen: str | None = None) -> None:
        """Sign one flow in place, or raise a ProxyError saying why it must not leave.

        The decision is policy.decide's (SPEC §5); this turns the flow into
        its input and applies it. ``streamed``: sign from the headers alone
        (the body streams afterwards and is not part of the signature), or
        refuse when the body would be. ``chosen``: the profile picked on a
        first try. Each request property and header is read once (issue 5).
        """
        assert self.config is not None
        request = flow.request
        scheme, port, raw_path, shown_host = request.scheme, request.port, request.data.path, request.host
        host = wire_host(shown_host)
        path = raw_path.decode("utf-8", "surrogateescape")
        config = self.config
        candidates = config.profiles_for(scheme, host, port, path)
        if not candidates and (path.startswith("/") or not config.signs_destination(scheme, host, port)):
            return  # the usual unsigned request: no header is read
        headers = RequestHeaders.from_fields(
            request.headers.fields, authority=request.authority if request.is_http2 or request.is_http3 else None)
        decision = decide(
            OutgoingRequest(
                method=request.method, scheme=scheme, host=host, shown_host=shown_host, port=port, target=path,
                headers=headers,
                host_header_matches=authority_matches(headers.host, scheme, shown_host, port, _parse_authority),
                body=None if streamed else request.raw_content, streamed=streamed,
            ),
            config,
            tokens=self._token_lookup(), login=self._login_help(flow),
            now=int(time.time()), nonce=make_nonce, learned_skew=self._skew, chosen=chosen, candidates=candidates,
        )
        if isinstance(decision, Pass):
            if decision.strip_profile_header:
                del request.headers[PROFILE_HEADER]
            return
        if isinstance(decision, Refuse):
            raise decision.error
        if decision.plaintext:
            self.guard.watch_request(flow)
        self._signed[flow.id] = SignedFlow(
            profile=decision.profile.name,
            base_string=decision.base_string,
            may_retry=decision.may_retry and flow.id not in self._retries,
        )
        if decision.strip_profile_header:
            del request.headers[PROFILE_HEADER]
        # One new tuple of fields.
        if decision.strip_authorization or decision.authorization is not None:
            fields = tuple(f for f in request.headers.fields if f[0].lower() != b"authorization") \
                if decision.strip_authorization else request.headers.fields
            if decision.authorization is not None:
                fields = (*fields, (b"Authorization", decision.authorization.encode("utf-8", "surrogateescape")))
            request.headers.fields = fields
        new_path = decision.target.encode("utf-8", "surrogateescape")
        if new_path != raw_path:
            request.data.path = new_path
        if decision.body_changed:
            request.raw_content = decision.body
            if decision.set_content_length:
                request.headers["content-length"] = str(len(decision.body))
        if logger.isEnabledFor(logging.INFO):  # SPEC §8: one line per signed request
            logger.handle(_signed_line_record(decision.log_fields))


def _no_token(profile: str) -> StoredToken | None:
    return None


def _parse_authority(authority: str) -> tuple[str, int | None]:
    return url.parse_authority(authority, check=True)


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

    What Message.copy() makes, in 5 µs instead of 120 (no get_state/from_state round trip).
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
        self._redact_request(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._redact_request(flow)
        self._redact_response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._redact_request(flow)
        self._plaintext.pop(flow.id, None)

    def done(self) -> None:
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
        if flow.id in self.guard._requests:  # signed with PLAINTEXT by the signer, earlier in this hook
            self.guard.hold_back(flow)

    def response(self, flow: http.HTTPFlow) -> None:
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
        self.guard._originals.pop(flow.id, None)
        self.guard._plaintext.pop(flow.id, None)


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


HELPER_THREADS = 8  # helper pages served at once through the proxy; a login waiting on the provider holds one


def run_wsgi(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run one WSGI request to completion (PEP 3333), on the calling thread."""
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [(status, headers)]
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started[0]
    return int(status.split(" ", 1)[0]), [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers], \
        b"".join(chunks)


class OAuth1Helper:
    """Serve the helper app (web.py) through the proxy and on a direct loopback URL (SPEC §6, §10).

    Not an addon of its own: the signer calls ``serve`` first in its request
    hook (so the helper's pages are never signed), and ``running``/``done``.
    Through the proxy each page runs on a thread of its own pool, never on
    the event loop and not one at a time (mitmproxy's WSGIApp runs every
    request on one thread: a login waiting on a slow provider would stall
    status.json). A request reaches the app only when its Host names the
    helper; the origin it checked goes to the app in the WSGI environ.
    """

    def __init__(self, signer: OAuth1Signer) -> None:
        self.signer = signer
        self.web_app = make_web_app(lambda: signer.config, lambda: signer.store, cafile=self._cafile,
                                    upstream_proxy=self._upstream_proxy)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _direct_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self._server is not None
        environ[DIRECT_ENV] = self._server.server_port  # web.py: the Host must be 127.0.0.1/localhost/[::1]:PORT
        environ.pop(ORIGIN_ENV, None)
        return self.web_app(environ, start_response)

    @staticmethod
    def _upstream_proxy() -> str | None:
        # In upstream mode the helper's own calls leave through the same proxy.
        for mode in ctx.options.mode:
            if mode.startswith("upstream:"):
                return str(mode).removeprefix("upstream:")
        return None

    @staticmethod
    def _cafile() -> str | None:
        # The helper trusts what the proxy trusts upstream.
        value = ctx.options.ssl_verify_upstream_trusted_ca
        return str(value) if value else None

    def serve(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """A coroutine answering a helper request (its page, or 421 for a Host that is not the helper's); None else."""
        if not flow.live or flow.error or flow.response or self.signer.config is None:
            return None
        request = flow.request
        default = 443 if request.scheme == "https" else 80
        if request.host.lower() == self.signer.helper_host:
            got = normalize_authority(request.host_header, default)
            if got != f"{self.signer.helper_host}:{request.port}":
                return self._refuse(flow, request.host_header)
            return self._answer(flow, self._origin(request.scheme, self.signer.helper_host, request.port))
        # The substring test first: it is all most requests need (issue 5).
        if REVERSE_PREFIX_BYTES in request.data.path and isinstance(flow.client_conn.proxy_mode, ReverseMode) \
                and split_helper_path(request.path):
            # The signer's _check_reverse_host let only the listener's own names through, unrewritten.
            scheme = "https" if flow.client_conn.tls_established else "http"
            got = normalize_authority(request.host_header, 443 if scheme == "https" else 80)
            if got is None or not self.signer._holds_keep_host:
                return self._refuse(flow, request.host_header)
            name, _, port = got.rpartition(":")
            return self._answer(flow, self._origin(scheme, name, int(port)))
        return None

    @staticmethod
    def _origin(scheme: str, name: str, port: int) -> str:
        return f"{scheme}://{name}" if DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{name}:{port}"

    async def _refuse(self, flow: http.HTTPFlow, host: str | None) -> None:
        logger.warning("oauth1-proxy helper: refused a request for Host %r (not the helper's own address)",
                       (host or "")[:100])
        flow.response = make_error_response(MisdirectedRequest(
            f"the oauth1-proxy helper does not answer for the Host {(host or '')[:100]!r}; open it at "
            f"http://{self.signer.helper_host}/ through the proxy."))

    def _environ(self, flow: http.HTTPFlow, origin: str) -> dict[str, Any]:
        request = flow.request
        path, _, query = request.data.path.partition(b"?")
        body = request.raw_content or b""
        peer = flow.client_conn.peername
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "SERVER_NAME": request.host,
            "SERVER_PORT": str(request.port),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": str(peer[0]) if peer else "",
            "REMOTE_PORT": str(peer[1]) if peer else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            ORIGIN_ENV: origin,
        }
        for name, value in request.headers.fields:
            key = name.decode("latin-1").upper().replace("-", "_")
            key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"
            if key == "CONTENT_LENGTH":
                continue
            text = value.decode("latin-1")
            joiner = "; " if key == "HTTP_COOKIE" else ","
            environ[key] = f"{environ[key]}{joiner}{text}" if key in environ else text
        environ.setdefault("HTTP_HOST", request.host_header or request.host)
        return environ

    async def _answer(self, flow: http.HTTPFlow, origin: str) -> None:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(HELPER_THREADS, thread_name_prefix="oauth1-helper-page")
        environ = self._environ(flow, origin)
        try:
            status, headers, body = await asyncio.get_running_loop().run_in_executor(
                self._pool, run_wsgi, self.web_app, environ)
        except Exception as e:  # never a traceback (it could quote a request) in the page or the log
            logger.error("oauth1-proxy helper: internal error serving %s (%s)", flow.request.path.partition("?")[0],
                         type(e).__name__)
            flow.response = make_error_response(ProxyError(f"the oauth1-proxy helper failed ({type(e).__name__})."))
            return
        flow.response = http.Response.make(status, body, headers)

    def running(self) -> None:
        if self.signer.config is None and ctx.options.oauth1_config:
            self.signer._load_config()
        if self.signer.config is None or self._server is not None or ctx.options.oauth1_helper_port < 0:
            return
        try:
            self._server = make_server("127.0.0.1", ctx.options.oauth1_helper_port, self._direct_app, threaded=True)
        except OSError as e:
            logger.error("oauth1-proxy: the helper's direct URL could not listen on 127.0.0.1:%s (%s)",
                         ctx.options.oauth1_helper_port, e.strerror)
            return
        self.signer.helper_url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, name="oauth1-helper", daemon=True)
        self._thread.start()
        helper_host = ctx.options.oauth1_helper_host
        logger.info("oauth1-proxy: helper at http://%s/ through the proxy, %s direct%s", helper_host,
                    self.signer.helper_url, self._reverse_hint())

    @staticmethod
    def _reverse_hint() -> str:
        if any(m.startswith("reverse:") for m in ctx.options.mode):
            return f", and {REVERSE_PREFIX}/ on the reverse proxy's address"
        return ""

    def done(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def make_addons() -> list[Any]:
    """The addons to load: one signer, which serves the helper too (see OAuth1Signer.__init__)."""
    return [OAuth1Signer()]

addons = make_addons()
