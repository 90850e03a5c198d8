"""The signer addon: mitmproxy's hooks (flow -> policy input, apply the decision, streaming, retry) (SPEC §5, §8).

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
import logging
import os
import secrets
import time
from collections.abc import Coroutine, Sequence
from typing import Any, NamedTuple

from mitmproxy import ctx, exceptions, http, tcp
from mitmproxy.addonmanager import Loader
from mitmproxy.net.http import url
from mitmproxy.proxy import server_hooks
from mitmproxy.proxy.mode_specs import ReverseMode, UpstreamMode
from mitmproxy.tools.dump import DumpMaster

from oauth1_proxy.config import Profile, ProxyConfig, load_config, normalize_host
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
from oauth1_proxy.shell.capture import CaptureGuard
from oauth1_proxy.shell.helper import OAuth1Helper
from oauth1_proxy.shell.logs import _signed_line_record, install_log_filter, logger
from oauth1_proxy.shell.responses import make_error_response
from oauth1_proxy.signing import SignatureMethod
from oauth1_proxy.tokens import FileTokenStore, StoredToken, TokenStore
from oauth1_proxy.web import (
    HELPER_HOST,
    LOOPBACK_NAMES,
    REVERSE_PREFIX,
    is_loopback,
    normalize_authority,
    split_helper_path,
)

REFUSED_HOST = "refused.oauth1.proxy"  # where refused streamed requests are sent: nowhere (server_connect)

# The -s face (mitmproxy_addon.py), one level up: script mode is recognised by its path.
THIS_SCRIPT = os.path.realpath(os.path.join(os.path.dirname(__file__), os.pardir, "mitmproxy_addon.py"))


def _is_this_script(path: str) -> bool:
    """Tell whether a -s script is this module (script mode), not another addon that may record flows."""
    return os.path.realpath(os.path.expanduser(path)) == THIS_SCRIPT


def make_nonce() -> str:
    """A fresh nonce for one request: 128 bits from the CSPRNG, as hex (RFC 5849 §3.3)."""
    return secrets.token_hex(16)


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
        """Declare the oauth1_* options (SPEC §9)."""
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
        """Check and copy the changed options; load the config; put the capture guard in the chain when needed."""
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
        """Start: load the config if not yet, hold reverse mode's Host, filter logs, start the helper, log profiles."""
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
        """Wake a waiting retry; for a signed flow refused 400/401, a coroutine diagnosing (and maybe retrying) it."""
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
        """Shut the helper down."""
        self.helper.done()

    def error(self, flow: http.HTTPFlow) -> None:
        """Forget a failed flow and wake a retry waiting on it."""
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
