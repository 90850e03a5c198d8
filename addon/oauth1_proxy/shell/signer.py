"""The signer addon: mitmproxy's hooks (flow -> policy input, apply the decision, streaming, retry) (SPEC §5, §8).

Rules:
1. No parsing, crypto or YAML here: build the policy's OutgoingRequest, apply its decision.
2. A hook never lets an exception escape (mitmproxy would forward the
   request unsigned): every failure becomes a response made by the proxy.
3. Match on the real destination (flow.request.host/port), never on the
   Host header; refuse to sign when the Host header disagrees.
4. No secret in a log line, a response or flow.metadata.

Its helpers, one job each: startup.py (options, config, start-up lines),
reverse.py (reverse mode's Host check), refusals.py (how a request is
refused), flow_input.py (nonce, token lookup, login help for the policy),
diagnosis.py (reading a provider's refusal), limits.py (SPEC §11's
slots and queue).

A little over 400 lines: the hooks share one flow's state (signed, retried,
admitted), and each hook reads top to bottom; the work is in the modules above.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from functools import partial
from typing import Any, NamedTuple

from mitmproxy import ctx, exceptions, http, tcp
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy import server_hooks

from oauth1_proxy import metrics
from oauth1_proxy.accounts import ACCOUNT_HEADER
from oauth1_proxy.config import Profile, ProxyConfig
from oauth1_proxy.errors import ProxyError, TokenExpiredError, TokenMissingError
from oauth1_proxy.policy import (
    PROFILE_HEADER,
    OutgoingRequest,
    Pass,
    Refuse,
    RequestHeaders,
    ShapeMemo,
    StoredAccounts,
    TokenLookup,
    authority_matches,
    wire_host,
)
from oauth1_proxy.run_stats import RunStats
from oauth1_proxy.shell import kept_apply, startup
from oauth1_proxy.shell.capture import CaptureGuard
from oauth1_proxy.shell.diagnosis import DIAGNOSED_STATUSES, learn_from_refusal
from oauth1_proxy.shell.flow_input import (
    _no_accounts,
    _parse_authority,
    login_for,
    make_nonce,
    profiles_for,
    stored_accounts,
    token_lookup,
)
from oauth1_proxy.shell.flow_input import _no_token as _no_token
from oauth1_proxy.shell.flow_input import profile_name as profile_name
from oauth1_proxy.shell.helper import OAuth1Helper
from oauth1_proxy.shell.kept_apply import KeptApply
from oauth1_proxy.shell.limits import Limiter, MustQueue
from oauth1_proxy.shell.logs import SIGNED_LINES, _line_args, _signed_line_record, install_log_filter, logger
from oauth1_proxy.shell.ops import OpsListener
from oauth1_proxy.shell.refusals import REFUSED_HOST as REFUSED_HOST
from oauth1_proxy.shell.refusals import StreamedRefusals, refuse, refuse_internal, refuse_raw_tcp
from oauth1_proxy.shell.refusals import may_stream_later as _may_stream_later
from oauth1_proxy.shell.renewer import Renewer
from oauth1_proxy.shell.reverse import ReverseHosts
from oauth1_proxy.shell.startup import THIS_SCRIPT as THIS_SCRIPT
from oauth1_proxy.shell.startup import is_this_script as _is_this_script
from oauth1_proxy.stores.managed import ManagedTokenStore
from oauth1_proxy.tokens import FileTokenStore, TokenStore
from oauth1_proxy.web import HELPER_HOST

__all__ = ["REFUSED_HOST", "THIS_SCRIPT", "OAuth1Signer", "SignedFlow", "_is_this_script", "_may_stream_later",
           "_no_token", "_parse_authority", "make_nonce"]


_new_tuple = tuple.__new__
_MAX_SHAPE_BYTES = 4096  # a longer target or body is decided afresh each time (the memo's memory stays small)


def _outgoing(request: http.Request, body: bytes | None, streamed: bool) -> OutgoingRequest:
    """The policy's input for a flow's request (SPEC §5); each property and header read once (issue 5)."""
    data = request.data
    scheme, port, shown_host = request.scheme, request.port, request.host
    headers = RequestHeaders.from_fields(
        data.headers.fields, authority=request.authority if request.is_http2 or request.is_http3 else None)
    return OutgoingRequest(
        method=request.method, scheme=scheme, host=wire_host(shown_host), shown_host=shown_host, port=port,
        target=data.path.decode("utf-8", "surrogateescape"), headers=headers,
        host_header_matches=authority_matches(headers.host, scheme, shown_host, port, _parse_authority),
        body=body, streamed=streamed,
    )


class SignedFlow(NamedTuple):
    """What the signer remembers of a flow until its response: never a secret.

    A NamedTuple, not a dataclass: loaded as a mitmdump script (-s), this
    module is not in sys.modules, where dataclasses look up its annotations.
    """

    profile: str
    base_string: str
    may_retry: bool
    account_key: str = ""  # the token store key it was signed with (an account's, SPEC §11); "": none


class OAuth1Signer:
    """Sign requests to configured hosts with OAuth 1.0a (RFC 5849)."""

    def __init__(self) -> None:
        self.config: ProxyConfig | None = None
        self.store: TokenStore | None = None
        self.helper_url: str | None = None  # the direct URL, once running
        # One entry in mitmproxy's chain (issue 5): mitmproxy calls every
        # entry for each of a flow's events, hook or not, so the helper is
        # served from our request hook and the capture guard joins the chain
        # only while something records or shows flows (startup.guard_needed).
        self.helper = OAuth1Helper(self)
        self.guard = CaptureGuard(lambda: self.config)
        # Per flow in flight, dropped at its response or error: no state kept per request served.
        self._signed: dict[str, SignedFlow] = {}
        self._skew: dict[str, int] = {}  # learned clock corrections, per profile
        # The store's lookups for the policy (flow_input.token_lookup, stored_accounts), made once per store.
        self._lookups: tuple[TokenStore | None, TokenLookup, StoredAccounts] = (None, _no_token, _no_accounts)
        self._shapes = ShapeMemo()  # the policy's first step per request shape (issue 17)
        self.stats = RunStats()  # what this run did, per profile, for the helper page (run_stats.py)
        self._retries: dict[str, asyncio.Future[None]] = {}  # our timestamp retries, by flow id
        self._signed_early: set[str] = set()  # flows signed in requestheaders (streamed bodies), by id
        self.refusals = StreamedRefusals()  # refused streamed requests, sent nowhere
        # Options read for every request, copied here in configure (an option lookup is far slower than an attribute).
        self.helper_host = HELPER_HOST
        self._streams_large_bodies = False
        self.reverse = ReverseHosts()  # reverse mode (SPEC §10): the client's Host, checked
        self.limits = Limiter()  # SPEC §11: rate_limit and max_concurrency slots, held by flow id (shell/limits.py)
        # Token lives (SPEC §11): renewals and session refreshes, one call per token at a time.
        self.lives = Renewer(lambda: self.store, OAuth1Helper._cafile, OAuth1Helper._upstream_proxy)
        self.ops = OpsListener(lambda: self.config, lambda: self.store)  # /healthz, /readyz, /metrics (SPEC §12)

    @property
    def _holds_keep_host(self) -> bool:
        return self.reverse.holds_keep_host

    @property
    def _user_keeps_host(self) -> bool:
        return self.reverse.user_keeps_host

    # --- options ----------------------------------------------------------------------

    def load(self, loader: Loader) -> None:
        """Declare the oauth1_* options (SPEC §9)."""
        startup.declare_options(loader)
        self.ops.load(loader)

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
            self.reverse.names = self.reverse.parse(ctx.options.oauth1_reverse_hosts)
        if "mode" in updated or "keep_host_header" in updated:
            self.reverse.hold_keep_host(updated)
        if "stream_large_bodies" in updated:
            self._streams_large_bodies = bool(ctx.options.stream_large_bodies)
        if "ssl_insecure" in updated:
            startup.warn_if_insecure()
        if startup.guard_needed(self.config):
            self.guard.install()
        self.ops.configure(updated)
        self.helper.configure(updated)

    def running(self) -> None:
        """Start: load the config if not yet, hold reverse mode's Host, filter logs, start the helper and the ops
        listener, settle the heap (startup.settle_heap), log profiles."""
        if self.config is None and ctx.options.oauth1_config:
            self._load_config()
        self.reverse.names = self.reverse.parse(ctx.options.oauth1_reverse_hosts)
        self.reverse.hold_keep_host(set())
        if startup.guard_needed(self.config):
            self.guard.install()
        install_log_filter()
        self.helper.running()
        self.ops.running()
        startup.settle_heap()
        if self.config is None:
            logger.warning("oauth1-proxy: no oauth1_config set; nothing will be signed.")
            return
        for line in startup.describe(self.config, self.store):
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
        config = startup.read_config(path, first=self.config is None)
        if config is None:
            return
        self.config = config
        self.store = startup.open_store(config, self.store)
        startup.warn_of_permissions(config)

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
        reverse = self.reverse
        if reverse.holds_keep_host and not reverse.check(flow, self._streams_large_bodies):
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
                self._count_refusal(flow, e)
                self.refusals.refuse(flow, str(e), profile_name(self.config, flow.request))
                return
            self._signed_early.add(flow.id)
        except Exception as e:  # fail closed: never forward unsigned
            logger.error("oauth1-proxy: internal error while signing a streamed request (%s); it was not forwarded.",
                         type(e).__name__)
            flow.kill()

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        """Set reverse mode's upstream SNI; refuse the connection of a streamed request we refused."""
        if self.reverse.holds_keep_host:
            self.reverse.sni(data)
        self.refusals.server_connect(data)

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
            signed = self._signed.get(flow.id)
            lives = self.lives
            if signed is not None and self.config is not None and (
                    lives.watched_config is not self.config or signed.profile in lives.watched):
                # Renew first when the idle limit is near; sign_flow has just made the store's lookups (_tokens).
                return lives.before_send(self.config, signed.profile, self._lookups[1], key=signed.account_key)
        except TokenMissingError as e:
            if isinstance(e, TokenExpiredError) and e.refreshable:  # the session handle buys a new token first
                name = e.profile
                return self.lives.refresh_then(self.config, name, lambda: self._sign_now(flow, name), key=e.key)
            # The snapshot has no token: a login another process just stored
            # may not be in it yet. Re-read the store off the event loop, then
            # sign or refuse (only this flow waits).
            store = self.store
            if not isinstance(store, ManagedTokenStore | FileTokenStore):
                self._refuse(flow, e)
                return None
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # called outside an event loop (unit tests): nothing to block
                store.refresh()
                self._sign_or_refuse(flow, e.profile, can_wait=False)
                return None
            return self._sign_after_refresh(flow, store, e.profile)
        except MustQueue as e:  # over a limit: only this flow waits (shell/limits.py)
            return self._queued(flow, e)
        except ProxyError as e:
            self._refuse(flow, e)
        except Exception as e:  # fail closed: never forward unsigned
            refuse_internal(flow, e)
        return None

    async def _sign_after_refresh(self, flow: http.HTTPFlow, store: ManagedTokenStore | FileTokenStore,
                                  profile: str) -> None:
        try:
            await asyncio.to_thread(store.refresh)
        except Exception as e:  # fail closed: never forward unsigned
            refuse_internal(flow, e)
            return
        queued = self._sign_or_refuse(flow, profile)
        if queued is not None:
            await queued

    def explain(self, profile: str) -> dict[str, Any]:
        """What this run did for one profile, for the helper page (run_stats.py), the learned clock included."""
        return self.stats.snapshot(profile, clock_offset=self._skew.get(profile))

    def _refuse(self, flow: http.HTTPFlow, e: ProxyError) -> None:
        """refusals.refuse, counted for the helper page."""
        self._count_refusal(flow, e)
        refuse(flow, e, profile_name(self.config, flow.request))

    def _count_refusal(self, flow: http.HTTPFlow, e: ProxyError) -> None:
        """Count a refusal under the profile it concerns (the one that matched); never raises."""
        try:
            name = e.profile if isinstance(e, TokenMissingError) else None
            if name is None and self.config is not None:
                matching = self._profiles_for(flow.request)
                name = matching[0].name if len(matching) == 1 else None
            if name:
                self.stats.refused_by_proxy(name)
        except Exception:  # a count never stands in the way of the refusal
            pass

    def _sign_or_refuse(self, flow: http.HTTPFlow, profile: str | None, *,
                        can_wait: bool = True) -> Coroutine[Any, Any, None] | None:
        """Sign (as ``profile``, once chosen) or answer with the proxy's refusal; never raise.

        Over a limit: a coroutine waiting for a slot (``can_wait``), else the proxy's 429.
        """
        try:
            self.sign_flow(flow, chosen=profile)
        except MustQueue as e:
            if can_wait:
                return self._queued(flow, e)
            self._refuse(flow, e)
        except ProxyError as e:
            self._refuse(flow, e)
        except Exception as e:  # fail closed: never forward unsigned
            refuse_internal(flow, e)
        return None

    def _sign_now(self, flow: http.HTTPFlow, profile: str) -> None:
        """``_sign_or_refuse`` that never waits: over a limit, the proxy's 429 (after a session refresh)."""
        self._sign_or_refuse(flow, profile, can_wait=False)

    async def _queued(self, flow: http.HTTPFlow, queued: MustQueue) -> None:
        """Wait for a slot of the profile's limits (SPEC §11), then sign as admitted; else the proxy's 429."""
        if await self.limits.admitted(flow, queued, self._refuse, refuse_internal):
            again = self._sign_or_refuse(flow, queued.profile)  # admitted: it cannot queue again
            if again is not None:
                await again

    def response(self, flow: http.HTTPFlow) -> Coroutine[Any, Any, None] | None:
        """Wake a waiting retry; for a signed flow refused (DIAGNOSED_STATUSES), a coroutine diagnosing it."""
        # A plain function: mitmproxy awaits what a hook returns, so only a
        # refused signed flow pays for a coroutine (issue 5).
        self.limits.release(flow.id)  # its concurrency slot, if it holds one (SPEC §11)
        waiter = self._retries.get(flow.id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        signed = self._signed.pop(flow.id, None)
        if signed is None or flow.response is None:
            return None
        status = flow.response.data.status_code  # the property's value, without its call
        metrics.provider_answer(signed.profile, status)
        if status not in DIAGNOSED_STATUSES:
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
        self.ops.done()

    def error(self, flow: http.HTTPFlow) -> None:
        """Forget a failed flow (and give back its concurrency slot) and wake a retry waiting on it."""
        self.limits.release(flow.id)
        self._signed.pop(flow.id, None)
        self._signed_early.discard(flow.id)
        waiter = self._retries.get(flow.id)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _diagnose(self, flow: http.HTTPFlow, signed: SignedFlow) -> None:
        """Say why the provider refused (diagnosis.py); retry once a refused timestamp has its correction."""
        if learn_from_refusal(flow, signed.profile, signed.base_string, self.config, self._skew, stats=self.stats,
                              redact=lambda t: self.guard.redactor().text(t, signature=True)) and signed.may_retry:
            await self._retry(flow)
        elif await self.lives.after_refusal(flow, self.config, signed.profile, token_lookup(self.store),
                                            key=signed.account_key,
                                            is_retry=flow.id in self._retries) and signed.may_retry:
            await self._retry(flow)  # the token was renewed or refreshed: once more, re-signed (SPEC §11)

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
            logger.info("oauth1-proxy: retried %s %s%s once, re-signed: %s", flow.request.method,
                        flow.request.host, flow.request.path.partition("?")[0], retry.response.status_code)
            flow.response = retry.response.copy()

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        """Relay no raw TCP byte from the client to a signed destination (fail closed, SPEC §5; refusals.py)."""
        if self.config is not None:
            refuse_raw_tcp(self.config, flow)

    def _tokens(self) -> TokenLookup:
        """token_lookup(self.store), made once per store (and stored_accounts with it, in ``_lookups``)."""
        lookups = self._lookups
        if lookups[0] is not self.store:
            lookups = self._lookups = (self.store, token_lookup(self.store), stored_accounts(self.store))
        return lookups[1]

    def _profiles_for(self, request: http.Request) -> tuple[Profile, ...]:
        """The profiles that sign this request (flow_input.profiles_for)."""
        assert self.config is not None
        return profiles_for(self.config, request)

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
            metrics.passed()
            return  # the usual unsigned request: no header is read
        started = time.perf_counter()
        data = request.data
        body = None if streamed else data.content
        # The request as received, every input of the policy's first step but the store (policy.ShapeMemo).
        shape = (chosen, streamed, data.method, scheme, port, raw_path, shown_host, data.http_version,
                 data.authority, data.headers.fields, body) \
            if len(raw_path) <= _MAX_SHAPE_BYTES and (body is None or len(body) <= _MAX_SHAPE_BYTES) else None
        lookups = self._lookups
        tokens = lookups[1] if lookups[0] is self.store else self._tokens()
        if shape is not None:  # a shape signed before: its plan's texts, applied as the last one was (kept_apply.py)
            created = time.time()
            again = self._shapes.again(shape, config, tokens, int(created), make_nonce, self._skew)
            if again is not None:
                kept, authorization, base_string = again
                applied: KeptApply = kept.applied  # type: ignore[assignment]
                flow_id = flow.id
                applied.counts.signed += 1  # RunStats.signed, on its kept counts (the loop is their only writer)
                # SignedFlow(...) without its generated __new__'s Python frame (issue 17).
                self._signed[flow_id] = _new_tuple(SignedFlow, (
                    applied.name, base_string, applied.may_retry and flow_id not in self._retries,
                    applied.account_key))
                data.headers.fields = (*applied.fields,
                                       (b"Authorization", authorization.encode("utf-8", "surrogateescape")))
                if applied.path is not None:
                    data.path = applied.path
                metrics.signed_again(applied.meter, time.perf_counter() - started)
                if SIGNED_LINES.loop is not None:  # _signed_line's first case, without its call
                    SIGNED_LINES.take(created, applied.line)
                else:
                    self._signed_line(applied.line, created)
                return
        decision = self._shapes.decide(
            # The policy's input, made only for a shape the memo does not keep (a partial, as the login help).
            shape, partial(_outgoing, request, body, streamed), config,
            tokens=tokens, login=partial(login_for, flow, config, self.helper_url),
            now=int(time.time()), nonce=make_nonce, learned_skew=self._skew, chosen=chosen, candidates=candidates,
            accounts=self._lookups[2],
        )
        if isinstance(decision, Pass):
            metrics.passed(candidates[0].name if candidates else "")
            if decision.strip_profile_header:
                del request.headers[PROFILE_HEADER]
            return
        if isinstance(decision, Refuse):
            raise decision.error
        profile = decision.profile
        flow_id = flow.id
        if profile.limits.limited:  # SPEC §11: admitted now, or raise MustQueue (nothing changed yet)
            self.limits.enter(flow, flow_id, decision)
        if decision.plaintext:
            self.guard.watch_request(flow)
        self.stats.signed(profile.name)
        self._signed[flow_id] = SignedFlow(profile.name, decision.base_string,
                                           decision.may_retry and flow_id not in self._retries, decision.account_key)
        if decision.strip_profile_header:
            del request.headers[PROFILE_HEADER]
        if decision.strip_account_header:
            del request.headers[ACCOUNT_HEADER]
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
        metrics.signed(profile.name, "", time.perf_counter() - started)
        self._signed_line((profile.name, decision.method, decision.shown_host, decision.target,
                           profile.signature_method), time.time())
        if shape is not None:
            kept_apply.record(self._shapes, shape, decision, request, raw_path, self.stats)

    @staticmethod
    def _signed_line(line: tuple[Any, ...], created: float) -> None:
        """SPEC §8: one line per signed request: profile, method, host, target (its query cut where it is
        printed: logs._line_args), signature method; ``created``: when it was signed."""
        if SIGNED_LINES.loop is not None:  # buffered (logs.py): the level is looked at and the path cut at flush
            SIGNED_LINES.take(created, line)
        elif logger.isEnabledFor(logging.INFO):
            logger.handle(_signed_line_record(_line_args(line)))
