"""The Flask app and ``Provider``: routes, verification order, records and the server thread.

Why this file is over 400 lines: ``Provider`` is one class whose routes
close over its state (the validator, the quirk switches, the records), and a
request's whole path (read it, the refusals before any verifier, oauthlib,
then Authlib, the record, the answer) reads top to bottom in ``_handle`` and
the routes that call it. Its parts that need no Provider live apart:
``wire`` (reading the request, the second verifier), ``validator`` and
``endpoints`` (oauthlib), ``tls`` and ``model``.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType, SimpleNamespace, TracebackType
from typing import Any, Final, Self
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request
from oauthlib.common import urldecode
from oauthlib.oauth1 import (
    AuthorizationEndpoint,
    OAuth1Error,
)
from werkzeug.http import http_date
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from oauth1_proxy.devtools.provider.concurrency import Concurrency, install_concurrency
from oauth1_proxy.devtools.provider.endpoints import (
    DiagnosingAccessTokenEndpoint,
    DiagnosingRequestTokenEndpoint,
    DiagnosingResourceEndpoint,
    DiagnosingSignatureOnlyEndpoint,
)
from oauth1_proxy.devtools.provider.lives import TokenLives
from oauth1_proxy.devtools.provider.model import (
    FORM_MEDIA_TYPE,
    PRINTABLE_ASCII,
    TIMESTAMP_LIFETIME,
    ProviderClient,
    VerifiedRequest,
)
from oauth1_proxy.devtools.provider.quirks import DanceQuirks
from oauth1_proxy.devtools.provider.quirks import install as install_quirks
from oauth1_proxy.devtools.provider.tls import write_tls_files
from oauth1_proxy.devtools.provider.users import ProviderUser, Users
from oauth1_proxy.devtools.provider.validator import ProviderValidator, make_token
from oauth1_proxy.devtools.provider.wire import (
    Incoming,
    authlib_verifies,
    check_body_hash,
    oauthlib_base_string,
    read_incoming,
)

log = logging.getLogger(__name__)

# Every request the provider accepts passed all three (SPEC §9).
VERIFIERS: Final = ("wire-grammar", "oauthlib", "authlib")

# RFC 5849 §3.2: "400 (Bad Request)" for unsupported or missing parameters and
# unsupported signature methods; every other refusal is "401 (Unauthorized)".
BAD_REQUEST_PROBLEMS: Final = frozenset({
    "parameter_absent", "parameter_rejected", "signature_method_rejected", "version_rejected",
})

_SIGNATURE_VALUE: Final = re.compile(r"((?:^|&)oauth_signature=)[^&]*")

_NO_TOKENS: Final[Mapping[str, str]] = MappingProxyType({})

_REQUIRED_PARAMETERS: Final = (
    "oauth_consumer_key", "oauth_signature_method", "oauth_signature", "oauth_timestamp", "oauth_nonce",
)


class _QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log: request lines can carry a PLAINTEXT signature."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return None


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:3em auto;line-height:1.5}}
code{{background:#eee;padding:.1em .3em}} #pin{{font-size:2em}}</style></head>
<body>{body}</body></html>
"""


def _page(title: str, body_html: str, status: int = 200) -> Response:
    """Answer with a small HTML page; the caller has escaped body_html."""
    return Response(_PAGE.format(title=html.escape(title), body=body_html), status, mimetype="text/html")


class Provider:
    """An OAuth 1.0a provider on 127.0.0.1 and an ephemeral port, verifying with oauthlib (RFC 5849 §2, §3).

    Use it as a context manager, or call start() and stop()::

        with Provider(clients=[ProviderClient("key", "secret")], auto_approve=True) as provider:
            provider.base_url, provider.request_token_url, provider.records
    """

    def __init__(
        self,
        *,
        clients: Sequence[ProviderClient],
        access_tokens: Mapping[str, str] = _NO_TOKENS,
        tls: bool = False,
        auto_approve: bool = False,
        realms: Sequence[str] = (),
        cert_dir: str | Path | None = None,
        user_id: str = "1001",
        screen_name: str = "demo_user",
        clock_offset: int = 0,
        report_base_string: bool = False,
        legacy_key: bool = False,
        excluded_params: Sequence[str] = (),
        require_body_hash: bool = False,
        form_body_hash: bool = False,
        trust_forwarded_proto: bool = False,
        dance_paths: tuple[str, str, str] = ("/oauth/request_token", "/oauth/authorize", "/oauth/access_token"),
        users: Sequence[tuple[str, str]] = (),
        concurrency_limit: int | None = None,
        lives: TokenLives | None = None,
        quirks: DanceQuirks | None = None,
    ) -> None:
        by_key: dict[str, ProviderClient] = {}
        for client in clients:
            if client.key in by_key:
                raise ValueError(f"Provider: client key {client.key!r} is registered twice")
            by_key[client.key] = client
        for token in access_tokens:
            if not token or not set(token) <= PRINTABLE_ASCII or len(token) > 256:
                raise ValueError(f"Provider: access token {token!r} must be 1-256 printable ASCII characters")
        self._validator = ProviderValidator(clients=by_key, access_tokens=access_tokens, realms=realms)
        # A provider whose clock is off by this many seconds (issue 4: clock skew).
        self.clock_offset = self._validator.clock_offset = clock_offset
        # Jira-style: a signature_invalid answer carries the provider's own base string.
        self._report_base_string = report_base_string
        # Quirks of real providers (issue 7), each off by default:
        # - legacy_key: WooCommerce's old HMAC key without the trailing "&" (consumer-only requests);
        # - excluded_params: names left out of the base string (Flickr's "photo");
        # - require_body_hash: refuse requests without oauth_body_hash (LTI outcomes, Mastercard);
        # - form_body_hash: accept and check oauth_body_hash on form bodies too (Mastercard);
        # - trust_forwarded_proto: verify against X-Forwarded-Proto's scheme (behind a TLS terminator);
        # - dance_paths: where the three token endpoints live (Jira, Trello use their own).
        self._validator.legacy_key = legacy_key
        self._excluded_params = frozenset(excluded_params)
        self._require_body_hash = require_body_hash
        self._form_body_hash = form_body_hash
        self._trust_forwarded_proto = trust_forwarded_proto
        self._dance_paths = dance_paths
        # Token lives (issue 14; lives.py): idle inactivation and renewal, a daily expiry, session handles.
        self.lives = lives
        self._request_token_endpoint = DiagnosingRequestTokenEndpoint(self._validator, token_generator=make_token)
        self._authorization_endpoint = AuthorizationEndpoint(self._validator, token_generator=make_token)
        self._access_token_endpoint = DiagnosingAccessTokenEndpoint(self._validator, token_generator=make_token)
        self._resource_endpoint = DiagnosingResourceEndpoint(self._validator)
        self._signature_only_endpoint = DiagnosingSignatureOnlyEndpoint(self._validator)
        self._tls = tls
        self._auto_approve = auto_approve
        self._realms = tuple(realms)
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._user_id = user_id
        self._screen_name = screen_name
        # SPEC §11 switches (users.py, concurrency.py): several resource owners, each approving as
        # themselves ((user_id, screen_name) pairs); NetSuite's concurrency cap; /api/slow holds requests open.
        self.users = Users(users, ProviderUser(user_id, screen_name))
        self.concurrency = Concurrency(concurrency_limit)
        self.host: str = "localhost" if tls else "127.0.0.1"
        self.ca_file: str | None = None
        self.records: list[VerifiedRequest] = []
        self._records_lock = threading.Lock()
        self._port: int | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._app = self._make_app()
        # Dance quirks (issue 14: E*TRADE, Discogs): hooks around the routes above (quirks.py).
        self.refused_before_verification: list[str] = []
        if quirks is not None:
            install_quirks(self, self._app, quirks)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind 127.0.0.1 on an ephemeral port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("Provider is already running; call stop() first")
        ssl_context: ssl.SSLContext | None = None
        if self._tls:
            if self._cert_dir is not None:
                directory = self._cert_dir
            else:
                self._tempdir = tempfile.TemporaryDirectory(prefix="oauth1-provider-")
                directory = Path(self._tempdir.name)
            ca_file, cert_file, key_file = write_tls_files(directory)
            ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ssl_context.load_cert_chain(cert_file, key_file)
            self.ca_file = str(ca_file)
        server = make_server(
            "127.0.0.1", 0, self._app,
            threaded=True, request_handler=_QuietRequestHandler, ssl_context=ssl_context,
        )
        self._server = server
        self._port = server.server_port
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"oauth1-provider-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, join the thread and remove throwaway certificates; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self.ca_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("Provider is not started; call start() or use it as a context manager")
        return self._port

    @property
    def base_url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    @property
    def request_token_url(self) -> str:
        return f"{self.base_url}{self._dance_paths[0]}"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}{self._dance_paths[1]}"

    @property
    def access_token_url(self) -> str:
        return f"{self.base_url}{self._dance_paths[2]}"

    @property
    def dance_paths(self) -> tuple[str, str, str]:
        return self._dance_paths

    def pending_request_token(self, token: str) -> tuple[str, str] | None:
        """(client key, callback) of a request token awaiting approval, or None."""
        return self._validator.pending_request_token(token)

    # -- the resource owner's side -------------------------------------------------------------

    def approve(self, request_token: str, user_id: str | None = None) -> str:
        """Approve a request token as its resource owner would (RFC 5849 §2.2); return the verifier.

        ``user_id``: which of several users approves (``users``); the first by default.
        """
        if not self.users.approve_as(request_token, user_id):
            raise ValueError(f"user {user_id!r} is not one of this provider's users")
        try:
            self._authorization_endpoint.create_authorization_response(
                self._authorize_uri(),
                http_method="POST",
                body=urlencode({"oauth_token": request_token}),
                headers={"Content-Type": FORM_MEDIA_TYPE},
            )
        except OAuth1Error as e:
            raise ValueError(
                f"Request token {request_token!r} is unknown, already approved or already exchanged"
            ) from e
        verifier = self._validator.verifier_for(request_token)
        if verifier is None:
            raise ValueError(f"Request token {request_token!r} was exchanged while being approved")
        return verifier

    def _authorize_uri(self) -> str:
        return f"{self.authorize_url}" if self._port is not None else f"http://127.0.0.1{self._dance_paths[1]}"

    def _approve_response(self, request_token: str) -> Response:
        """Approve and answer: 302 to the callback, or the PIN page for "oob" (RFC 5849 §2.2)."""
        try:
            headers, body, status = self._authorization_endpoint.create_authorization_response(
                self._authorize_uri(),
                http_method="POST",
                body=urlencode({"oauth_token": request_token}),
                headers={"Content-Type": FORM_MEDIA_TYPE},
            )
        except OAuth1Error:
            return self._unknown_request_token_page()
        if status == 302:
            return Response(status=302, headers={"Location": headers["Location"]})
        verifier = dict(urldecode(body)).get("oauth_verifier", "")
        return _page(
            "Approved",
            "<h1>Approved</h1><p>Enter this PIN in the application:</p>"
            f'<p><code id="pin">{html.escape(verifier)}</code></p>',
        )

    def _unknown_request_token_page(self) -> Response:
        return _page(
            "Unknown request token",
            "<h1>Unknown request token</h1><p>The oauth_token is unknown, already approved or already used. "
            "Start the authorization again from the application.</p>",
            400,
        )

    # -- verification --------------------------------------------------------------------------

    def _record(self, record: VerifiedRequest) -> None:
        with self._records_lock:
            self.records.append(record)

    def _refusal(self, problem: str, advice: str, absent: Sequence[str],
                 extra: Sequence[tuple[str, str]] = ()) -> Response:
        """Answer a refused request the way providers do: form-encoded oauth_problem (RFC 5849 §3.2)."""
        fields = [("oauth_problem", problem)]
        if absent:
            fields.append(("oauth_parameters_absent", "&".join(absent)))
        if problem == "timestamp_refused":
            now = int(time.time()) + self.clock_offset
            acceptable = f"{now - TIMESTAMP_LIFETIME}-{now + TIMESTAMP_LIFETIME}"
            fields.append(("oauth_acceptable_timestamps", acceptable))
        if advice:
            fields.append(("oauth_problem_advice", advice))
        fields.extend(extra)
        status = 400 if problem in BAD_REQUEST_PROBLEMS else 401
        response = Response(urlencode(fields), status, content_type=FORM_MEDIA_TYPE)
        realm = self._realms[0] if self._realms else self.base_url
        response.headers["WWW-Authenticate"] = f'OAuth realm="{realm}"'
        return response

    def _handle(self, endpoint: str, incoming: Incoming, verify: Callable[[], Response | None]) -> Response:
        """Verify one request with oauthlib (and its body hash), record it, answer."""
        params = incoming.params
        body_hash_ok = check_body_hash(incoming)
        problem: str | None = None
        reason: str | None = None
        advice = ""
        absent: list[str] = []
        success: Response | None = None
        wire_error = incoming.wire_error
        if wire_error is not None and wire_error.problem != "parameter_absent":
            # SPEC §9, RFC 5849 §3.2: a duplicated, badly encoded or misplaced
            # protocol parameter is refused with 400 before any verifier runs.
            problem = reason = wire_error.problem
            advice = str(wire_error)
        elif incoming.authorization_malformed:
            problem = reason = "parameter_rejected"
            advice = 'the Authorization header is not a valid OAuth header: OAuth name="value", ...'
        elif body_hash_ok is None and self._require_body_hash:
            problem, reason, absent = "parameter_absent", "parameter_absent", ["oauth_body_hash"]
            advice = "this provider requires oauth_body_hash"
        elif body_hash_ok is not None and incoming.is_form and not self._form_body_hash:
            # draft-eaton-oauth-bodyhash-00 §4.1.1: clients "MUST NOT include an
            # oauth_body_hash parameter on requests with form-encoded request bodies."
            problem, reason = "parameter_rejected", "oauth_body_hash on a form-encoded body"
            advice = "oauth_body_hash must not be sent with a form-encoded body"
        elif body_hash_ok is False:
            problem, reason = "body_hash_invalid", "body hash mismatch"
            advice = "oauth_body_hash does not match the body received"
        else:
            # The secrets Authlib needs, read before oauthlib's endpoint runs
            # (an access-token exchange spends the request token).
            secrets_for_authlib = self._secrets_for(endpoint, incoming)
            with self._validator.diagnosing() as diagnosis:
                try:
                    success = verify()
                except Exception as e:  # an oracle answers; it never crashes on odd input
                    log.warning("provider could not verify a %s request: %s", endpoint, type(e).__name__)
                    diagnosis.note(
                        "parameter_rejected", f"the request could not be verified ({type(e).__name__})"
                    )
            if success is not None:
                refusal = self._authlib_refusal(incoming, *secrets_for_authlib)
                if refusal is not None:
                    success = None
                    diagnosis.note("signature_invalid", refusal)
            if success is None:
                problem, advice, first_absent = diagnosis.problems[0] if diagnosis.problems else (
                    "signature_invalid", "the signature does not match the request received", None
                )
                reason = problem
                if first_absent:
                    absent = [first_absent]
                elif problem == "parameter_absent":
                    absent = [name for name in _REQUIRED_PARAMETERS if not params.get(name)]
        token = params.get("oauth_token") or None
        self._record(VerifiedRequest(
            endpoint=endpoint,
            method=incoming.method,
            uri=incoming.uri,
            valid=success is not None,
            signature_method=params.get("oauth_signature_method"),
            consumer_key=params.get("oauth_consumer_key"),
            token=token,
            nonce=params.get("oauth_nonce"),
            body_hash_ok=body_hash_ok,
            realm=params.get("realm"),
            content_type=incoming.content_type,
            body=incoming.body,
            reason=reason,
            problem=problem,
            verified_by=VERIFIERS if success is not None else (),
        ))
        if success is not None:
            return success
        assert problem is not None
        extra: list[tuple[str, str]] = []
        if problem == "signature_invalid" and self._report_base_string:
            extra.append(("oauth_signature_base_string", oauthlib_base_string(incoming)))
        return self._refusal(problem, advice, absent, extra)

    def _secrets_for(self, endpoint: str, incoming: Incoming) -> tuple[str, str, str | None]:
        """(client secret, token secret, RSA public key) for the request's client and token, as stored now."""
        client_key = incoming.params.get("oauth_consumer_key", "")
        token = incoming.params.get("oauth_token") or ""
        client = self._validator.client_for(client_key)
        client_secret = client.secret if client is not None else ""
        rsa_pem = client.rsa_public_key_pem if client is not None else None
        if not token:
            token_secret = ""
        elif endpoint == "access_token":
            token_secret = self._validator.get_request_token_secret(client_key, token, None)
        else:
            token_secret = self._validator.get_access_token_secret(client_key, token, None)
        return client_secret, token_secret, rsa_pem

    def _authlib_refusal(self, incoming: Incoming, client_secret: str, token_secret: str,
                         rsa_pem: str | None) -> str | None:
        """Verify the signature again with Authlib's server side; None if it agrees, else why it does not."""
        try:
            ok = authlib_verifies(incoming, client_secret, token_secret, rsa_pem, self._excluded_params,
                                   legacy_key=self._validator.legacy_key)
        except Exception as e:  # a verifier that cannot read the request refuses it
            return f"Authlib's verifier cannot read the request ({type(e).__name__}); oauthlib accepted it"
        if ok:
            return None
        return "Authlib's verifier (authlib.oauth1.rfc5849) refuses the signature that oauthlib accepts"

    def _session_refresh(self, incoming: Incoming, lives: TokenLives) -> Response:
        """The OAuth Session extension: a new access token for the expired one and its session handle."""

        def verify() -> Response | None:
            token = incoming.params.get("oauth_token") or ""
            valid, _ = self._resource_endpoint.validate_protected_resource_request(
                incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers)
            if not valid or not token:
                return None
            refused = lives.refresh(token, incoming.params["oauth_session_handle"])
            if refused is not None:
                self._validator.note(*refused)
                return None
            new = {"oauth_token": make_token(), "oauth_token_secret": make_token()}
            owner = SimpleNamespace(client_key=incoming.params.get("oauth_consumer_key"), realms=())
            self._validator.save_access_token(new, owner)
            fields = [*new.items(), ("user_id", self._user_id), ("screen_name", self._screen_name),
                      *lives.issued(new["oauth_token"])]
            return Response(urlencode(fields), 200, content_type=FORM_MEDIA_TYPE)

        return self._handle("session_refresh", incoming, verify)

    def _verify_resource(self, incoming: Incoming, *, require_token: bool) -> bool:
        """Verify a protected-resource request: with token credentials, or consumer-only (RFC 5849 §3.2)."""
        token = incoming.params.get("oauth_token")
        if token:
            valid, _ = self._resource_endpoint.validate_protected_resource_request(
                incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers
            )
        elif require_token:
            self._validator.note("parameter_absent", "this resource needs token credentials", "oauth_token")
            return False
        else:
            # Consumer-only ("two-legged"): ResourceEndpoint insists on a token;
            # oauthlib's SignatureOnlyEndpoint verifies the client's signature alone.
            valid, _ = self._signature_only_endpoint.validate_request(
                incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers
            )
        if valid and not self._validator.is_realm_allowed(incoming.params.get("realm")):
            self._validator.note("permission_denied", f"realms allowed: {' '.join(self._realms)}")
            return False
        if valid and token and self.lives is not None:
            refused = self.lives.refusal(token)
            if refused is not None:
                self._validator.note(*refused)
                return False
        return bool(valid)

    # -- the web application -------------------------------------------------------------------

    def _incoming(self) -> Incoming:
        scheme = "https" if self._tls else "http"
        if self._trust_forwarded_proto and request.headers.get("X-Forwarded-Proto") in ("http", "https"):
            scheme = request.headers["X-Forwarded-Proto"]
        return read_incoming(scheme, f"{self.host}:{self.port}", self._excluded_params)

    def _make_app(self) -> Flask:
        app = Flask(__name__)

        @app.after_request
        def provider_date(response: Response) -> Response:
            # The Date header tells the provider's own (possibly skewed) clock.
            response.headers["Date"] = http_date(time.time() + self.clock_offset)
            return response
        echo_methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

        @app.get("/")
        def index() -> Response:
            return _page(
                "OAuth 1.0a demo provider",
                "<h1>OAuth 1.0a demo provider</h1><p>Every signature is verified by oauthlib and by Authlib, "
                "after a strict check of the RFC 5849 wire grammar.</p><ul>"
                "<li><code>POST /oauth/request_token</code></li>"
                "<li><code>GET /oauth/authorize?oauth_token=...</code></li>"
                "<li><code>POST /oauth/access_token</code></li>"
                "<li><code>GET /api/me</code> (token credentials)</li>"
                "<li><code>ANY /api/echo[/path]</code> (token or consumer-only)</li>"
                '<li><a href="/public/hello"><code>GET /public/hello</code></a> (no signature)</li></ul>',
            )

        @app.get("/public/hello")
        def public_hello() -> Response:
            return Response("Hello from the OAuth 1.0a demo provider.\n", mimetype="text/plain")

        @app.route(self._dance_paths[0], methods=["GET", "POST"])
        def request_token() -> Response:
            incoming = self._incoming()

            def verify() -> Response | None:
                _, body, status = self._request_token_endpoint.create_request_token_response(
                    incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers
                )
                return Response(body, 200, content_type=FORM_MEDIA_TYPE) if status == 200 else None

            return self._handle("request_token", incoming, verify)

        @app.route(self._dance_paths[2], methods=["GET", "POST"])
        def access_token() -> Response:
            incoming = self._incoming()
            if self.lives is not None and "oauth_session_handle" in incoming.params:
                return self._session_refresh(incoming, self.lives)

            def verify() -> Response | None:
                _, body, status = self._access_token_endpoint.create_access_token_response(
                    incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers,
                    credentials=self.users.credentials_for(incoming.params.get("oauth_token")),
                )
                if status != 200:
                    return None
                self.users.issued(incoming.params.get("oauth_token"), body)
                extra = self.lives.issued(dict(urldecode(body))["oauth_token"]) if self.lives is not None else []
                if extra:  # the Session extension's fields; none: the answer stays as oauthlib wrote it
                    body += "&" + urlencode(extra)
                return Response(body, 200, content_type=FORM_MEDIA_TYPE)

            return self._handle("access_token", incoming, verify)

        @app.get("/oauth/renew_access_token")
        def renew_access_token() -> Response:
            incoming = self._incoming()
            lives = self.lives

            def verify() -> Response | None:
                token = incoming.params.get("oauth_token") or ""
                if lives is None or not token:
                    self._validator.note("parameter_absent", "renewal needs token credentials", "oauth_token")
                    return None
                valid, _ = self._resource_endpoint.validate_protected_resource_request(
                    incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers)
                if not valid:
                    return None
                refused = lives.renew(token)
                if refused is not None:
                    self._validator.note(*refused)
                    return None
                return Response("Access Token has been renewed\n", 200, mimetype="text/plain")

            return self._handle("renew", incoming, verify)

        @app.get(self._dance_paths[1])
        def authorize_page() -> Response:
            token = request.args.get("oauth_token", "")
            pending = self._validator.pending_request_token(token)
            if pending is None:
                return self._unknown_request_token_page()
            if self._auto_approve:
                self.users.approve_as(token, None)
                return self._approve_response(token)
            client_key, callback = pending
            app_name = html.escape(client_key)
            return _page(
                f"Authorize {client_key}?",
                f"<h1>Authorize {app_name}?</h1>"
                f"<p>The application <strong>{app_name}</strong> asks to act as "
                f"<strong>{html.escape(self._screen_name if not self.users.several else 'you')}</strong>.</p>"
                f"<p>Afterwards you go to: <code>{html.escape(callback)}</code></p>"
                f'<form method="post" action="{self._dance_paths[1]}">'
                f'<input type="hidden" name="oauth_token" value="{html.escape(token, quote=True)}">'
                f"{self.users.buttons()}</form>",
            )

        @app.post(self._dance_paths[1])
        def authorize_approve() -> Response:
            token = request.form.get("oauth_token", "")
            if not self.users.approve_as(token, request.form.get("user")):
                return _page("Unknown user", "<h1>Unknown user</h1><p>Approve as one of the listed users.</p>", 400)
            return self._approve_response(token)

        @app.get("/api/me")
        def me() -> Response:
            incoming = self._incoming()

            def verify() -> Response | None:
                if not self._verify_resource(incoming, require_token=True):
                    return None
                user = self.users.user_of(incoming.params.get("oauth_token"))
                return jsonify({"user_id": user.user_id, "screen_name": user.screen_name})

            return self._handle("resource", incoming, verify)

        def echo(rest: str = "") -> Response:
            incoming = self._incoming()

            def verify() -> Response | None:
                if not self._verify_resource(incoming, require_token=False):
                    return None
                params = incoming.params
                return jsonify({
                    "ok": True,
                    "method": incoming.method,
                    "path": incoming.path,
                    # The query with oauth_signature's value masked: in query
                    # placement a PLAINTEXT signature is the secrets themselves.
                    "query": _SIGNATURE_VALUE.sub(r"\1***", incoming.query),
                    "content_type": incoming.content_type,
                    "body_length": len(incoming.body),
                    "body_sha256": hashlib.sha256(incoming.body).hexdigest(),
                    "signature_method": params.get("oauth_signature_method"),
                    "consumer_key": params.get("oauth_consumer_key"),
                    "token": params.get("oauth_token") or None,
                    "realm": params.get("realm"),
                    # Header names only: a value may carry a PLAINTEXT signature.
                    "header_names": sorted({name.lower() for name in request.headers.keys()}),
                })

            return self._handle("resource", incoming, verify)

        app.add_url_rule("/api/echo", "echo", echo, methods=echo_methods)
        app.add_url_rule("/api/echo/", "echo_slash", echo, methods=echo_methods)
        app.add_url_rule("/api/echo/<path:rest>", "echo_rest", echo, methods=echo_methods)

        @app.route("/api/<path:rest>", methods=echo_methods)
        def api_unknown(rest: str) -> Response:
            incoming = self._incoming()

            def verify() -> Response | None:
                if not self._verify_resource(incoming, require_token=False):
                    return None
                response = jsonify({"ok": False, "error": "not_found", "path": incoming.path})
                response.status_code = 404
                return response

            return self._handle("resource", incoming, verify)

        install_concurrency(app, self)
        return app
