"""An embedded OAuth 1.0a provider: the demo's server and the test suite's independent oracle.

Rule 1: every signature this module accepts is verified twice, by two
implementations we did not write: oauthlib's server endpoints
(``RequestTokenEndpoint``, ``AuthorizationEndpoint``, ``AccessTokenEndpoint``,
``ResourceEndpoint``, ``SignatureOnlyEndpoint``) and Authlib's server side
(``authlib.oauth1.rfc5849``: ``OAuth1Request`` and ``signature.verify_*``).
Before either, the request must pass the strict RFC 5849 wire grammar
(``oauth1_proxy.wire_grammar``: each protocol parameter once, encoded per
§3.6, in one place; SPEC §9); a request that fails it gets 400 and the
fault named in ``oauth_problem_advice``. Nothing here imports
``oauth1_proxy.signing``, so a bug there cannot hide itself.

Rule 2: no secret (consumer secret, token secret, a PLAINTEXT signature)
appears in a record, a log line or a page. The token endpoints return the
token secrets they issue; that is their job.

Rule 3: the provider verifies what came off the wire: the scheme, the Host
header and the raw request target, never Flask's re-encoded ``request.url``.

Routes::

    GET  /                          HTML index
    GET  /public/hello              unprotected text
    POST /oauth/request_token       RFC 5849 §2.1 (GET is accepted too)
    GET  /oauth/authorize           RFC 5849 §2.2: the "Authorize <app>?" page
    POST /oauth/authorize           approve: 302 to the callback, or the PIN page for "oob"
    POST /oauth/access_token        RFC 5849 §2.3 (GET is accepted too)
    GET  /api/me                    {"user_id", "screen_name"}; needs token credentials
    ANY  /api/echo[/<path>]         JSON echo of the request; token or consumer-only

A refused request gets 401 (400 for a malformed one, RFC 5849 §3.2) with a
form-encoded body ``oauth_problem=...`` in the words of the OAuth Problem
Reporting extension, and a ``WWW-Authenticate: OAuth realm="..."`` header.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import html
import ipaddress
import logging
import re
import secrets
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Final, Self
from urllib.parse import quote, unquote_plus, urlencode, urlsplit

from authlib.oauth1.rfc5849 import signature as authlib_signature
from authlib.oauth1.rfc5849.wrapper import OAuth1Request as AuthlibRequest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Flask, Response, jsonify, request
from oauthlib.common import urldecode
from oauthlib.common import urlencoded as oauthlib_form_characters
from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    AuthorizationEndpoint,
    InvalidSignatureMethodError,
    OAuth1Error,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
    SignatureOnlyEndpoint,
)
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils
from oauthlib.oauth1.rfc5849.endpoints.base import BaseEndpoint
from oauthlib.oauth1.rfc5849.errors import InvalidRequestError
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape
from werkzeug.http import http_date
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .wire_grammar import WireError, WireParams, parse_wire

# oauthlib logs signature base strings, tokens and request reprs at DEBUG.
logging.getLogger("oauthlib").setLevel(logging.WARNING)

log = logging.getLogger(__name__)

SIGNATURE_METHODS: Final = (
    "HMAC-SHA1",
    "HMAC-SHA256",
    "HMAC-SHA512",
    "RSA-SHA1",
    "RSA-SHA256",
    "RSA-SHA512",
    "PLAINTEXT",
)

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"

# Interpretation: the body hash extension (draft-eaton-oauth-bodyhash-00 §3.1)
# fixes SHA-1 for HMAC-SHA1 and RSA-SHA1 and leaves other methods to "the
# specification of the signature method"; the SHA-2 methods use their own hash.
BODY_HASH_ALGORITHMS: Final[Mapping[str, str]] = MappingProxyType({
    "HMAC-SHA1": "sha1",
    "RSA-SHA1": "sha1",
    "PLAINTEXT": "sha1",
    "HMAC-SHA256": "sha256",
    "RSA-SHA256": "sha256",
    "HMAC-SHA512": "sha512",
    "RSA-SHA512": "sha512",
})

TIMESTAMP_LIFETIME: Final = 600

# Every request the provider accepts passed all three (SPEC §9).
VERIFIERS: Final = ("wire-grammar", "oauthlib", "authlib")

# RFC 5849 §3.2: "400 (Bad Request)" for unsupported or missing parameters and
# unsupported signature methods; every other refusal is "401 (Unauthorized)".
BAD_REQUEST_PROBLEMS: Final = frozenset({
    "parameter_absent", "parameter_rejected", "signature_method_rejected", "version_rejected",
})

_PRINTABLE_ASCII: Final = frozenset(chr(c) for c in range(0x21, 0x7F))
_FORM_SAFE_BYTES: Final = frozenset(ord(c) for c in oauthlib_form_characters)
# Authlib's form decoder (authlib.common.urls.url_decode) accepts fewer octets
# than oauthlib's: not "'" nor "$" (a deviation from RFC 5849, whose query and
# form grammar allows both).
_AUTHLIB_SAFE_BYTES: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-=&;:%+~,*@!()/?"
)
_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")
_SIGNATURE_VALUE: Final = re.compile(r"((?:^|&)oauth_signature=)[^&]*")
_NO_TOKENS: Final[Mapping[str, str]] = MappingProxyType({})
_REQUIRED_PARAMETERS: Final = (
    "oauth_consumer_key", "oauth_signature_method", "oauth_signature", "oauth_timestamp", "oauth_nonce",
)


@dataclass(frozen=True, slots=True)
class ProviderClient:
    """A registered client (consumer): its key, its shared secret and, for RSA-SHA*, its public key."""

    key: str
    secret: str = field(default="", repr=False)
    rsa_public_key_pem: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.key or not set(self.key) <= _PRINTABLE_ASCII or len(self.key) > 256:
            raise ValueError(f"ProviderClient key {self.key!r} must be 1-256 printable ASCII characters")
        if self.rsa_public_key_pem is not None:
            try:
                serialization.load_pem_public_key(self.rsa_public_key_pem.encode())
            except ValueError as e:
                raise ValueError(
                    f"ProviderClient {self.key!r}: rsa_public_key_pem is not a PEM public key"
                ) from e


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedRequest:
    """One request that reached a token endpoint or /api/*, and what the provider decided about it."""

    endpoint: str  # "request_token" | "access_token" | "resource"
    method: str
    uri: str  # scheme://<Host header><raw path and query>, as verified
    valid: bool
    signature_method: str | None
    consumer_key: str | None
    token: str | None
    nonce: str | None
    body_hash_ok: bool | None  # None when no oauth_body_hash was sent
    realm: str | None
    content_type: str | None
    body: bytes
    reason: str | None  # why refused: the oauth_problem, or "body hash mismatch"; never a secret
    problem: str | None = None  # the oauth_problem sent back (None when valid)
    # What accepted it (SPEC §9): the strict wire grammar, then oauthlib, then Authlib; () when refused.
    verified_by: tuple[str, ...] = ()


def _oauthlib_base_string(incoming: _Incoming) -> str:
    """The signature base string oauthlib computes for what this provider received."""
    params = oauth_signature.collect_parameters(
        uri_query=urlsplit(incoming.oauth_uri).query,
        body=incoming.oauth_body or None,
        headers=incoming.headers,
        exclude_oauth_signature=True,
    )
    return str(oauth_signature.signature_base_string(
        incoming.method, oauth_signature.base_string_uri(incoming.oauth_uri),
        oauth_signature.normalize_parameters(params),
    ))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Incoming:
    """What came off the wire, and the form of it oauthlib is given."""

    method: str
    uri: str  # for records: raw target decoded for display
    oauth_uri: str  # for oauthlib: the query with bytes it refuses percent-encoded
    headers: dict[str, str]  # Authorization and a normalized Content-Type only
    body: bytes
    oauth_body: str  # the (escaped) form body, or "" for any other body
    content_type: str | None
    is_form: bool
    path: str
    query: str
    params: dict[str, str]  # first oauth_* of each name (header, query, body) and the header's realm
    authorization_malformed: bool  # an "OAuth ..." Authorization header that does not parse
    scheme: str = "http"
    host: str = ""
    raw_path: bytes = b"/"
    raw_query: bytes | None = None  # None: no "?" in the request target
    authorization: str | None = None  # the OAuth Authorization header as received
    wire: WireParams | None = None  # the strict grammar's reading (SPEC §9)
    wire_error: WireError | None = None  # why the strict grammar refuses it


@dataclass(slots=True, kw_only=True)
class _RequestToken:
    client_key: str
    secret: str = field(repr=False)
    callback: str
    realms: tuple[str, ...]
    verifier: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class _AccessToken:
    client_key: str | None  # None: pre-seeded, good for any client
    secret: str = field(repr=False)
    realms: tuple[str, ...]


@dataclass(slots=True)
class _Diagnosis:
    """Why the request being verified on this thread was refused, in the order it was found."""

    problems: list[tuple[str, str, str | None]] = field(default_factory=list)  # (problem, advice, absent)

    def note(self, problem: str, advice: str = "", absent: str | None = None) -> None:
        self.problems.append((problem, advice, absent))


def _make_token() -> str:
    """Make a token, token secret or verifier: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


@functools.cache
def _dummy_rsa_public_key_pem() -> str:
    """Make the public key oauthlib checks an unknown client's RSA signature against."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _problem_for_error(error: Any) -> tuple[str, str, str | None]:
    """Name the oauth_problem for an error oauthlib raised, with advice and the absent parameter."""
    if isinstance(error, InvalidSignatureMethodError):
        return ("signature_method_rejected", f"use one of {', '.join(SIGNATURE_METHODS)}", None)
    description = error.description if isinstance(error.description, str) else ""
    table: tuple[tuple[str, str, str | None], ...] = (
        ("Missing mandatory OAuth parameters", "parameter_absent", None),
        ("Missing callback URI", "parameter_absent", "oauth_callback"),
        ("Missing resource owner", "parameter_absent", "oauth_token"),
        ("Missing verifier", "parameter_absent", "oauth_verifier"),
        ("Timestamp given is invalid", "timestamp_refused", None),
        ("Invalid timestamp size", "timestamp_refused", None),  # e.g. milliseconds
        ("Timestamp must be an integer", "timestamp_refused", None),
        ("Invalid OAuth version", "version_rejected", None),
        ("Invalid client key format", "consumer_key_rejected", None),
        ("Invalid nonce format", "parameter_rejected", None),
        ("Invalid resource owner key format", "token_rejected", None),
        ("Invalid verifier format", "verifier_invalid", None),
        ("Invalid realm", "permission_denied", None),
        ("Duplicate OAuth1 entries", "parameter_rejected", None),
    )
    for prefix, problem, absent in table:
        if description.startswith(prefix):
            if problem == "timestamp_refused":
                description = (
                    f"oauth_timestamp must be whole seconds since 1970 (10 digits), "
                    f"within {TIMESTAMP_LIFETIME} s of the provider's clock"
                )
            return (problem, description, absent)
    if not isinstance(error.description, str):
        # oauthlib passes a tuple here when oauth_* parameters come from more than one place.
        advice = "oauth_* parameters must come from one place: header, query or body"
        return ("parameter_rejected", advice, None)
    return ("parameter_rejected", description, None)


class _ProviderValidator(RequestValidator):  # type: ignore[misc]
    """oauthlib's storage and policy hooks, configured for what a real proxy sends (RFC 5849 §3.2)."""

    def __init__(
        self,
        *,
        clients: Mapping[str, ProviderClient],
        access_tokens: Mapping[str, str],
        realms: Sequence[str],
    ) -> None:
        super().__init__()
        self._clients = dict(clients)
        self._configured_realms = tuple(realms)
        self._lock = threading.Lock()
        self._request_tokens: dict[str, _RequestToken] = {}
        self._access_tokens: dict[str, _AccessToken] = {
            token: _AccessToken(client_key=None, secret=secret, realms=())
            for token, secret in access_tokens.items()
        }
        self._nonces: dict[tuple[str, str, str, str | None], int] = {}
        self._local = threading.local()
        self.clock_offset = 0
        self.legacy_key = False
        self._dummy_client = "dummy-client-" + secrets.token_hex(8)
        self._dummy_request_token = "dummy-request-token-" + secrets.token_hex(8)
        self._dummy_access_token = "dummy-access-token-" + secrets.token_hex(8)

    # -- diagnosis: why the request on this thread failed --------------------------------------

    @contextmanager
    def diagnosing(self) -> Iterator[_Diagnosis]:
        """Collect, for the duration of one verification on this thread, why it failed."""
        diagnosis = _Diagnosis()
        self._local.diagnosis = diagnosis
        try:
            yield diagnosis
        finally:
            self._local.diagnosis = None

    def note(self, problem: str, advice: str = "", absent: str | None = None) -> None:
        """Record a reason for refusal on the current thread's diagnosis, if one is running."""
        diagnosis: _Diagnosis | None = getattr(self._local, "diagnosis", None)
        if diagnosis is not None:
            diagnosis.note(problem, advice, absent)

    # -- what a real proxy sends: formats, lifetimes, methods ----------------------------------

    @property
    def allowed_signature_methods(self) -> tuple[str, ...]:
        return SIGNATURE_METHODS

    @property
    def safe_characters(self) -> set[str]:
        # Interpretation: RFC 5849 restricts none of these values; any printable
        # ASCII is accepted (the defaults allow only 20-30 alphanumerics).
        return set(_PRINTABLE_ASCII)

    @property
    def client_key_length(self) -> tuple[int, int]:
        return (1, 256)

    @property
    def request_token_length(self) -> tuple[int, int]:
        return (1, 256)

    @property
    def access_token_length(self) -> tuple[int, int]:
        return (1, 256)

    @property
    def nonce_length(self) -> tuple[int, int]:
        return (1, 256)

    @property
    def verifier_length(self) -> tuple[int, int]:
        return (1, 256)

    @property
    def timestamp_lifetime(self) -> int:
        return TIMESTAMP_LIFETIME

    @property
    def enforce_ssl(self) -> bool:
        return False

    @property
    def realms(self) -> list[str]:
        return list(self._configured_realms)

    @property
    def dummy_client(self) -> str:
        return self._dummy_client

    @property
    def dummy_request_token(self) -> str:
        return self._dummy_request_token

    @property
    def dummy_access_token(self) -> str:
        return self._dummy_access_token

    def is_realm_allowed(self, realm: str | None) -> bool:
        """Tell whether a resource request's realm is acceptable: any, unless realms are configured.

        With realms configured, a resource request must name one (NetSuite refuses a missing realm).
        """
        return not self._configured_realms or realm in self._configured_realms

    def check_realms(self, realms: Sequence[str]) -> bool:
        return not self._configured_realms or all(r in self._configured_realms for r in realms)

    def check_access_token(self, request_token: str) -> bool:
        ok: bool = super().check_access_token(request_token)
        if not ok:
            self.note("token_rejected", "the oauth_token is not a token this provider issues")
        return ok

    # -- secrets and keys ----------------------------------------------------------------------

    def client_for(self, client_key: str) -> ProviderClient | None:
        """Return the registered client with this key, or None."""
        return self._clients.get(client_key)

    def get_client_secret(self, client_key: str, request: Any) -> str:
        client = self._clients.get(client_key)
        return client.secret if client is not None else "dummy"

    def get_rsa_key(self, client_key: str, request: Any) -> str:
        client = self._clients.get(client_key)
        if client is not None and client.rsa_public_key_pem:
            return client.rsa_public_key_pem
        return _dummy_rsa_public_key_pem()

    def get_request_token_secret(self, client_key: str, token: str, request: Any) -> str:
        with self._lock:
            found = self._request_tokens.get(token)
        return found.secret if found is not None and found.client_key == client_key else "dummy"

    def get_access_token_secret(self, client_key: str, token: str, request: Any) -> str:
        with self._lock:
            found = self._access_tokens.get(token)
        if found is not None and found.client_key in (None, client_key):
            return found.secret
        return "dummy"

    # -- realms and callbacks ------------------------------------------------------------------

    def get_default_realms(self, client_key: str, request: Any) -> list[str]:
        return list(self._configured_realms)

    def get_realms(self, token: str, request: Any) -> list[str]:
        with self._lock:
            found = self._request_tokens.get(token)
        return list(found.realms) if found is not None else []

    def get_redirect_uri(self, token: str, request: Any) -> str:
        with self._lock:
            found = self._request_tokens.get(token)
        return found.callback if found is not None else "oob"

    def validate_redirect_uri(self, client_key: str, redirect_uri: str, request: Any) -> bool:
        parts = urlsplit(redirect_uri)
        ok = redirect_uri == "oob" or (parts.scheme in ("http", "https") and bool(parts.netloc))
        if not ok:
            self.note("parameter_rejected", "oauth_callback must be 'oob' or an absolute http(s) URL")
        return ok

    def validate_requested_realms(self, client_key: str, realms: Sequence[str], request: Any) -> bool:
        ok = self.check_realms(realms)
        if not ok:
            self.note("permission_denied", f"realms allowed: {' '.join(self._configured_realms)}")
        return ok

    def validate_realms(
        self, client_key: str, token: str, request: Any, uri: str | None = None, realms: Any = None
    ) -> bool:
        # The Provider checks every resource request's realm itself (is_realm_allowed),
        # consumer-only requests included, which never reach this hook.
        return True

    def verify_realms(self, token: str, realms: Sequence[str], request: Any) -> bool:
        return set(realms) <= set(self.get_realms(token, request))

    # -- clients, tokens, verifiers, nonces ----------------------------------------------------

    def validate_client_key(self, client_key: str, request: Any) -> bool:
        client = self._clients.get(client_key)
        if client is None:
            self.note("consumer_key_unknown", "this provider knows no client with that oauth_consumer_key")
            return False
        method = str(request.signature_method or "")
        if method.startswith("RSA-") and not client.rsa_public_key_pem:
            self.note("signature_method_rejected", "this client has no RSA public key registered")
            return False
        if not method.startswith("RSA-") and client.rsa_public_key_pem and not client.secret:
            self.note("signature_method_rejected", "this client is registered for RSA signatures only")
            return False
        return True

    def validate_request_token(self, client_key: str, token: str, request: Any) -> bool:
        with self._lock:
            found = self._request_tokens.get(token)
        ok = found is not None and found.client_key == client_key
        if not ok:
            self.note("token_rejected", "the request token is unknown, another client's, or already used")
        return ok

    def validate_access_token(self, client_key: str, token: str, request: Any) -> bool:
        with self._lock:
            found = self._access_tokens.get(token)
        ok = found is not None and found.client_key in (None, client_key)
        if not ok:
            self.note("token_rejected", "the access token is unknown or another client's")
        return ok

    def validate_verifier(self, client_key: str, token: str, verifier: str, request: Any) -> bool:
        with self._lock:
            found = self._request_tokens.get(token)
        if found is not None and found.verifier is None:
            self.note("permission_unknown", "the request token has not been approved yet")
            return False
        ok = (
            found is not None
            and found.verifier is not None
            and found.client_key == client_key
            and hmac.compare_digest(found.verifier.encode(), verifier.encode())
        )
        if not ok:
            self.note("verifier_invalid", "the oauth_verifier does not match the approved request token")
        return ok

    def validate_timestamp_and_nonce(
        self,
        client_key: str,
        timestamp: str,
        nonce: str,
        request: Any,
        request_token: str | None = None,
        access_token: str | None = None,
    ) -> bool:
        # RFC 5849 §3.3: "The nonce value MUST be unique across all requests with the
        # same timestamp, client credentials, and token combinations."
        key = (client_key, timestamp, nonce, request_token or access_token)
        now = int(time.time())
        with self._lock:
            if len(self._nonces) > 10_000:
                horizon = now - 2 * TIMESTAMP_LIFETIME
                self._nonces = {k: seen for k, seen in self._nonces.items() if seen >= horizon}
            if key in self._nonces:
                self.note("nonce_used", "this oauth_nonce was already used with this timestamp and token")
                return False
            self._nonces[key] = now
        return True

    def verify_request_token(self, token: str, request: Any) -> bool:
        with self._lock:
            found = self._request_tokens.get(token)
        return found is not None and found.verifier is None

    def invalidate_request_token(self, client_key: str, request_token: str, request: Any) -> None:
        with self._lock:
            self._request_tokens.pop(request_token, None)

    def save_request_token(self, token: Mapping[str, str], request: Any) -> None:
        record = _RequestToken(
            client_key=request.client_key,
            secret=token["oauth_token_secret"],
            callback=request.redirect_uri,
            realms=tuple(request.realms or ()),
        )
        with self._lock:
            self._request_tokens[token["oauth_token"]] = record

    def save_verifier(self, token: str, verifier: Mapping[str, str], request: Any) -> None:
        with self._lock:
            found = self._request_tokens.get(token)
            if found is not None:
                found.verifier = verifier["oauth_verifier"]

    def save_access_token(self, token: Mapping[str, str], request: Any) -> None:
        record = _AccessToken(
            client_key=request.client_key,
            secret=token["oauth_token_secret"],
            realms=tuple(request.realms or ()),
        )
        with self._lock:
            self._access_tokens[token["oauth_token"]] = record

    # -- for the Provider's pages --------------------------------------------------------------

    def pending_request_token(self, token: str) -> tuple[str, str] | None:
        """Return (client key, callback) of a request token awaiting approval, or None."""
        with self._lock:
            found = self._request_tokens.get(token)
            if found is None or found.verifier is not None:
                return None
            return (found.client_key, found.callback)

    def verifier_for(self, token: str) -> str | None:
        """Return the verifier issued for an approved request token, or None."""
        with self._lock:
            found = self._request_tokens.get(token)
            return found.verifier if found is not None else None


LEGACY_KEY_HASHES = {"HMAC-SHA1": "sha1", "HMAC-SHA256": "sha256", "HMAC-SHA512": "sha512"}


class _DiagnosingEndpoint(BaseEndpoint):  # type: ignore[misc]
    """Note, before re-raising, the errors oauthlib's endpoints raise and then swallow."""

    request_validator: _ProviderValidator

    # Interpretation: ResourceEndpoint and SignatureOnlyEndpoint answer only
    # "False" for a malformed request; these two hooks of BaseEndpoint are where
    # the reason is known. Overriding them changes no verification result.
    def _create_request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._create_request(*args, **kwargs)
        except OAuth1Error as e:
            self.request_validator.note(*_problem_for_error(e))
            raise

    def _check_signature(self, oauth_request: Any, is_token_request: bool = False) -> bool:
        method = oauth_request.signature_method
        legacy = self.request_validator.legacy_key and not oauth_request.resource_owner_key
        if not (legacy and method in LEGACY_KEY_HASHES):
            return bool(super()._check_signature(oauth_request, is_token_request))
        # WooCommerce's legacy variant: the key is the encoded consumer secret
        # with no "&" (RFC 5849 §3.4.2 always has it). oauthlib builds the base
        # string; only the key differs.
        base_string = oauth_signature.signature_base_string(
            oauth_request.http_method, oauth_signature.base_string_uri(oauth_request.uri),
            oauth_signature.normalize_parameters(oauth_signature.collect_parameters(
                uri_query=urlsplit(oauth_request.uri).query, body=oauth_request.body,
                headers=oauth_request.headers, exclude_oauth_signature=True)),
        )
        secret = self.request_validator.get_client_secret(oauth_request.client_key, oauth_request)
        key = oauth_utils.escape(secret or "").encode()
        expected = base64.b64encode(hmac.digest(key, base_string.encode(), LEGACY_KEY_HASHES[method])).decode()
        return hmac.compare_digest(expected, oauth_request.signature)

    def _check_mandatory_parameters(self, oauth_request: Any) -> None:
        offset = self.request_validator.clock_offset
        if offset and oauth_request.timestamp and str(oauth_request.timestamp).isdigit():
            # oauthlib compares with time.time(); a provider with a skewed clock
            # compares with its own clock, then lets oauthlib check the rest.
            provider_now = time.time() + offset
            if abs(provider_now - int(oauth_request.timestamp)) >= self.request_validator.timestamp_lifetime:
                error = InvalidRequestError(description="Timestamp given is invalid, differ from allowed by over "
                                            f"{self.request_validator.timestamp_lifetime} seconds.")
                self.request_validator.note(*_problem_for_error(error))
                raise error
            oauth_request.timestamp = str(int(time.time()))
        try:
            super()._check_mandatory_parameters(oauth_request)
        except OAuth1Error as e:
            self.request_validator.note(*_problem_for_error(e))
            raise


class _RequestTokenEndpoint(_DiagnosingEndpoint, RequestTokenEndpoint):  # type: ignore[misc]
    def validate_request_token_request(self, oauth_request: Any) -> Any:
        try:
            return super().validate_request_token_request(oauth_request)
        except OAuth1Error as e:
            self.request_validator.note(*_problem_for_error(e))
            raise


class _AccessTokenEndpoint(_DiagnosingEndpoint, AccessTokenEndpoint):  # type: ignore[misc]
    def validate_access_token_request(self, oauth_request: Any) -> Any:
        try:
            return super().validate_access_token_request(oauth_request)
        except OAuth1Error as e:
            self.request_validator.note(*_problem_for_error(e))
            raise


class _ResourceEndpoint(_DiagnosingEndpoint, ResourceEndpoint):  # type: ignore[misc]
    pass


class _SignatureOnlyEndpoint(_DiagnosingEndpoint, SignatureOnlyEndpoint):  # type: ignore[misc]
    pass


class _QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log: request lines can carry a PLAINTEXT signature."""

    def log(self, type: str, message: str, *args: Any) -> None:
        return None


def _escape_for_oauthlib(raw: bytes) -> str:
    """Percent-encode the bytes oauthlib's form decoder refuses; the decoded parameters stay the same.

    Interpretation: RFC 5849 §3.4.1.3.1 decodes the query and a form body as
    application/x-www-form-urlencoded. oauthlib's decoder raises on characters
    such as "|", "[" or a raw space or UTF-8 byte that clients do send; a
    decoder yields the same parameter from "|" as from "%7C", so the base
    string is unchanged.
    """
    return _escape_for(raw, _FORM_SAFE_BYTES)


def _escape_for(raw: bytes, safe: frozenset[int]) -> str:
    """Percent-encode the octets outside ``safe``, and a "%" that starts no %XX escape (a literal "%")."""
    out = []
    for i, b in enumerate(raw):
        if b == 0x25 and not (i + 2 < len(raw) and raw[i + 1] in _HEX_DIGITS and raw[i + 2] in _HEX_DIGITS):
            out.append("%25")
        else:
            out.append(chr(b) if b in safe else f"%{b:02X}")
    return "".join(out)


def _raw_request_target(environ: Mapping[str, Any]) -> bytes:
    """Recover the request target's bytes as they were on the wire (werkzeug's RAW_URI)."""
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if isinstance(raw_uri, str):
        try:
            # werkzeug stores the latin-1 request line re-encoded: str.encode().decode("latin1").
            target = raw_uri.encode("latin-1").decode("utf-8").encode("latin-1")
        except UnicodeError:
            target = raw_uri.encode("utf-8", errors="replace")
    else:
        path = str(environ.get("PATH_INFO", "/")).encode("latin-1", errors="replace")
        query = str(environ.get("QUERY_STRING", "")).encode("latin-1", errors="replace")
        target = path + (b"?" + query if query else b"")
    lowered = target[:8].lower()
    if lowered.startswith((b"http://", b"https://")):
        # Absolute form (RFC 9112 §3.2.2): keep the origin-form part.
        after_scheme = target.index(b"://") + 3
        slash = target.find(b"/", after_scheme)
        question = target.find(b"?", after_scheme)
        cuts = [i for i in (slash, question) if i != -1]
        target = target[min(cuts):] if cuts else b"/"
        if target.startswith(b"?"):
            target = b"/" + target
    return target or b"/"


def _protocol_params(authorization: str | None, query: str | None, form_body: str | None) -> dict[str, str]:
    """Collect the first value of each oauth_* parameter (header, query, body) and the header's realm."""
    found: dict[str, str] = {}
    if authorization:
        try:
            pairs: list[tuple[str, str]] = parse_authorization_header(authorization)
        except ValueError:
            pairs = []
        for name, value in pairs:
            if name == "realm":
                found.setdefault("realm", value)
            elif name.startswith("oauth_"):
                found.setdefault(name, unescape(value))
    for source in (query, form_body):
        if not source:
            continue
        try:
            decoded: list[tuple[str, str]] = urldecode(source)
        except ValueError:
            continue
        for name, value in decoded:
            if name.startswith("oauth_"):
                found.setdefault(name, value)
    return found


def is_form_content_type(content_type: str | None) -> bool:
    """Tell whether a Content-Type names a form body: any case, any parameters (RFC 5849 §3.4.1.3.1)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == FORM_MEDIA_TYPE


def _drop_params(raw: str, names: frozenset[str]) -> str:
    """Leave out the named parameters, as a provider that does not sign them does (Flickr's "photo")."""
    if not names:
        return raw
    kept = [seg for seg in raw.split("&") if unquote_plus(seg.partition("=")[0]) not in names]
    return "&".join(kept)


def _read_incoming(scheme: str, default_host: str, excluded: frozenset[str] = frozenset()) -> _Incoming:
    """Describe the current Flask request as it came off the wire."""
    environ = request.environ
    target = _raw_request_target(environ)
    raw_path, has_query, raw_query = target.partition(b"?")
    host = str(environ.get("HTTP_HOST") or default_host)
    path = raw_path.decode("utf-8", errors="replace")
    query = raw_query.decode("utf-8", errors="replace")
    uri = f"{scheme}://{host}{path}" + (f"?{query}" if has_query else "")
    oauth_query = _drop_params(_escape_for_oauthlib(raw_query), excluded)
    oauth_uri = f"{scheme}://{host}{path}" + (f"?{oauth_query}" if has_query else "")

    body = request.get_data(cache=True)
    content_type = request.headers.get("Content-Type")
    is_form = is_form_content_type(content_type)
    oauth_body = _drop_params(_escape_for_oauthlib(body), excluded) if is_form else ""
    headers: dict[str, str] = {}
    authorization = request.headers.get("Authorization")
    malformed = False
    if authorization is not None and authorization[:6].lower() == "oauth ":
        headers["Authorization"] = authorization
        try:
            parse_authorization_header(authorization)
        except ValueError:
            malformed = True
    else:
        # Another scheme (Basic, Bearer) carries no OAuth parameters (RFC 5849 §3.5.1).
        authorization = None
    if content_type is not None:
        # oauthlib looks for the form media type with a case-sensitive substring test.
        headers["Content-Type"] = FORM_MEDIA_TYPE if is_form else content_type
    params = _protocol_params(authorization, oauth_query if has_query else None, oauth_body or None)
    wire: WireParams | None = None
    wire_error: WireError | None = None
    wire_headers = [("Authorization", v) for v in request.headers.getlist("Authorization")]
    if content_type is not None:
        wire_headers.append(("Content-Type", content_type))
    try:
        wire = parse_wire(request.method, target.decode("utf-8", "surrogateescape"), wire_headers, body)
    except WireError as e:
        wire_error = e
    if wire is not None and wire.placement != "header" and any("%" in v for v in wire.params.values()):
        # Deviation (oauthlib): collect_parameters unescapes oauth_* values from
        # the query and a form body a second time, after form-decoding them
        # (RFC 5849 §3.4.1.3.1 decodes once), so a PLAINTEXT signature or a
        # token holding "%" is misread. oauthlib is given the same parameters
        # with those values encoded twice, which its two decodings undo.
        twice = "&".join(f"{_quote(k)}={_quote(_quote(v)) if '%' in v else _quote(v)}"
                         for k, v in wire.params.items())
        if wire.placement == "query":
            kept = _drop_oauth(oauth_query)
            oauth_query = f"{kept}&{twice}" if kept else twice
            oauth_uri = f"{scheme}://{host}{path}?{oauth_query}"
        else:
            kept = _drop_oauth(oauth_body)
            oauth_body = f"{kept}&{twice}" if kept else twice
    return _Incoming(
        method=request.method,
        uri=uri,
        oauth_uri=oauth_uri,
        headers=headers,
        body=body,
        oauth_body=oauth_body,
        content_type=content_type,
        is_form=is_form,
        path=path,
        query=query,
        params=params,
        authorization_malformed=malformed,
        scheme=scheme,
        host=host,
        raw_path=raw_path,
        raw_query=raw_query if has_query else None,
        authorization=authorization,
        wire=wire,
        wire_error=wire_error,
    )


class _AuthlibClient:
    """What Authlib's verifiers ask of a client: its secret and RSA public key."""

    def __init__(self, secret: str, rsa_pem: str | None) -> None:
        self._secret, self._rsa_pem = secret, rsa_pem

    def get_client_secret(self) -> str:
        return self._secret

    def get_rsa_public_key(self) -> str | None:
        return self._rsa_pem


class _AuthlibCredential:
    """What Authlib's verifiers ask of token credentials: the token secret."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def get_oauth_token_secret(self) -> str:
        return self._secret


def _quote(value: str) -> str:
    return quote(value.encode("utf-8", "surrogateescape"), safe="~")


def _authlib_verifies(
    incoming: _Incoming,
    client_secret: str,
    token_secret: str,
    rsa_pem: str | None,
    excluded: frozenset[str],
    *,
    legacy_key: bool,
) -> bool:
    """Recompute the signature of what came off the wire with Authlib's server side (RFC 5849 §3.4)."""
    wire = incoming.wire
    if wire is None:
        return False
    query = _drop_params(_escape_for(incoming.raw_query, _AUTHLIB_SAFE_BYTES), excluded) \
        if incoming.raw_query is not None else None
    body = _drop_params(_escape_for(incoming.body, _AUTHLIB_SAFE_BYTES), excluded) if incoming.is_form else ""
    headers = {"Content-Type": incoming.headers["Content-Type"]} if "Content-Type" in incoming.headers else {}
    if incoming.authorization is not None:
        headers["Authorization"] = incoming.authorization
    twice = {k for k, v in wire.params.items() if "%" in v and k != "oauth_signature"}
    if twice:
        # Deviation (Authlib): construct_base_string unescapes every oauth_*
        # value once more after parsing it, so a value holding "%" is misread.
        # The equivalent request Authlib reads right: the protocol parameters
        # in the header (where RFC 5849 §3.4.1.3.1 collects them all the
        # same), those values encoded twice.
        headers["Authorization"] = "OAuth " + ", ".join(
            f'{_quote(k)}="{_quote(_quote(v)) if k in twice else _quote(v)}"' for k, v in wire.params.items()
        )
        if wire.placement == "query" and query is not None:
            query = _drop_oauth(query)
        elif wire.placement == "body":
            body = _drop_oauth(body)
    path = incoming.raw_path.decode("utf-8", "surrogateescape")
    uri = f"{incoming.scheme}://{incoming.host}{path}" + (f"?{query}" if query is not None else "")
    # Authlib refuses http:// URIs outside loopback (InsecureTransportError);
    # the base string comes from .uri, set back to the URI received.
    oauth_request = AuthlibRequest(incoming.method, "https" + uri[uri.index(":"):], body or None, headers)
    oauth_request.uri = uri
    oauth_request.client = _AuthlibClient(client_secret, rsa_pem)
    oauth_request.credential = _AuthlibCredential(token_secret)
    method = wire.params["oauth_signature_method"]
    signature = oauth_request.signature or ""
    legacy = legacy_key and "oauth_token" not in wire.params and method.startswith("HMAC-")
    if (not legacy and client_secret and method in ("HMAC-SHA1", "PLAINTEXT")) or method == "RSA-SHA1":
        verify = {"HMAC-SHA1": authlib_signature.verify_hmac_sha1, "PLAINTEXT": authlib_signature.verify_plaintext,
                  "RSA-SHA1": authlib_signature.verify_rsa_sha1}[method]
        return bool(verify(oauth_request))
    # Authlib implements HMAC-SHA1, RSA-SHA1 and PLAINTEXT, and refuses an
    # empty client secret (RFC 5849 §3.4.2 allows one): the SHA-2 methods,
    # the empty secret and WooCommerce's key are checked on Authlib's base
    # string with the standard library and cryptography.
    key = f"{_quote(client_secret)}&{_quote(token_secret)}"
    if legacy:
        # Interpretation (a quirk outside RFC 5849 §3.4.2): WooCommerce's key has no "&".
        key = _quote(client_secret)
    if method == "PLAINTEXT":
        return hmac.compare_digest(key.encode(), signature.encode("utf-8", "surrogateescape"))
    base_string = authlib_signature.generate_signature_base_string(oauth_request)
    hash_name = BODY_HASH_ALGORITHMS[method]
    if method.startswith("HMAC-"):
        expected = base64.b64encode(hmac.digest(key.encode(), base_string.encode(), hash_name)).decode()
        return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape"))
    if rsa_pem is None:
        return False
    public = serialization.load_pem_public_key(rsa_pem.encode())
    if not isinstance(public, rsa.RSAPublicKey):
        return False
    digest = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha512": hashes.SHA512()}[hash_name]
    try:
        public.verify(base64.b64decode(signature), base_string.encode(), padding.PKCS1v15(), digest)
    except (InvalidSignature, ValueError):
        return False
    return True


def _drop_oauth(raw: str) -> str:
    return "&".join(seg for seg in raw.split("&") if not unquote_plus(seg.partition("=")[0]).startswith("oauth_"))


def _check_body_hash(incoming: _Incoming) -> bool | None:
    """Check oauth_body_hash against the raw body (draft-eaton-oauth-bodyhash-00 §3.2); None if not sent."""
    sent = incoming.params.get("oauth_body_hash")
    if sent is None:
        return None
    algorithm = BODY_HASH_ALGORITHMS.get(incoming.params.get("oauth_signature_method", ""), "sha1")
    expected = base64.b64encode(hashlib.new(algorithm, incoming.body).digest()).decode("ascii")
    return hmac.compare_digest(expected.encode(), sent.encode())


def _write_tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a server certificate for localhost and 127.0.0.1; return (ca, cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oauth1-proxy demo provider CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
            ]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = directory / "provider-ca.pem"
    cert_file = directory / "provider-cert.pem"
    key_file = directory / "provider-key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)
    key_file.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_file, cert_file, key_file


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
    ) -> None:
        by_key: dict[str, ProviderClient] = {}
        for client in clients:
            if client.key in by_key:
                raise ValueError(f"Provider: client key {client.key!r} is registered twice")
            by_key[client.key] = client
        for token in access_tokens:
            if not token or not set(token) <= _PRINTABLE_ASCII or len(token) > 256:
                raise ValueError(f"Provider: access token {token!r} must be 1-256 printable ASCII characters")
        self._validator = _ProviderValidator(clients=by_key, access_tokens=access_tokens, realms=realms)
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
        self._request_token_endpoint = _RequestTokenEndpoint(self._validator, token_generator=_make_token)
        self._authorization_endpoint = AuthorizationEndpoint(self._validator, token_generator=_make_token)
        self._access_token_endpoint = _AccessTokenEndpoint(self._validator, token_generator=_make_token)
        self._resource_endpoint = _ResourceEndpoint(self._validator)
        self._signature_only_endpoint = _SignatureOnlyEndpoint(self._validator)
        self._tls = tls
        self._auto_approve = auto_approve
        self._realms = tuple(realms)
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._user_id = user_id
        self._screen_name = screen_name
        self.host: str = "localhost" if tls else "127.0.0.1"
        self.ca_file: str | None = None
        self.records: list[VerifiedRequest] = []
        self._records_lock = threading.Lock()
        self._port: int | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._app = self._make_app()

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
            ca_file, cert_file, key_file = _write_tls_files(directory)
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

    # -- the resource owner's side -------------------------------------------------------------

    def approve(self, request_token: str) -> str:
        """Approve a request token as its resource owner would (RFC 5849 §2.2); return the verifier."""
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

    def _handle(self, endpoint: str, incoming: _Incoming, verify: Callable[[], Response | None]) -> Response:
        """Verify one request with oauthlib (and its body hash), record it, answer."""
        params = incoming.params
        body_hash_ok = _check_body_hash(incoming)
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
            extra.append(("oauth_signature_base_string", _oauthlib_base_string(incoming)))
        return self._refusal(problem, advice, absent, extra)

    def _secrets_for(self, endpoint: str, incoming: _Incoming) -> tuple[str, str, str | None]:
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

    def _authlib_refusal(self, incoming: _Incoming, client_secret: str, token_secret: str,
                         rsa_pem: str | None) -> str | None:
        """Verify the signature again with Authlib's server side; None if it agrees, else why it does not."""
        try:
            ok = _authlib_verifies(incoming, client_secret, token_secret, rsa_pem, self._excluded_params,
                                   legacy_key=self._validator.legacy_key)
        except Exception as e:  # a verifier that cannot read the request refuses it
            return f"Authlib's verifier cannot read the request ({type(e).__name__}); oauthlib accepted it"
        if ok:
            return None
        return "Authlib's verifier (authlib.oauth1.rfc5849) refuses the signature that oauthlib accepts"

    def _verify_resource(self, incoming: _Incoming, *, require_token: bool) -> bool:
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
        return bool(valid)

    # -- the web application -------------------------------------------------------------------

    def _incoming(self) -> _Incoming:
        scheme = "https" if self._tls else "http"
        if self._trust_forwarded_proto and request.headers.get("X-Forwarded-Proto") in ("http", "https"):
            scheme = request.headers["X-Forwarded-Proto"]
        return _read_incoming(scheme, f"{self.host}:{self.port}", self._excluded_params)

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

            def verify() -> Response | None:
                _, body, status = self._access_token_endpoint.create_access_token_response(
                    incoming.oauth_uri, incoming.method, incoming.oauth_body, incoming.headers,
                    credentials={"user_id": self._user_id, "screen_name": self._screen_name},
                )
                return Response(body, 200, content_type=FORM_MEDIA_TYPE) if status == 200 else None

            return self._handle("access_token", incoming, verify)

        @app.get(self._dance_paths[1])
        def authorize_page() -> Response:
            token = request.args.get("oauth_token", "")
            pending = self._validator.pending_request_token(token)
            if pending is None:
                return self._unknown_request_token_page()
            if self._auto_approve:
                return self._approve_response(token)
            client_key, callback = pending
            app_name = html.escape(client_key)
            return _page(
                f"Authorize {client_key}?",
                f"<h1>Authorize {app_name}?</h1>"
                f"<p>The application <strong>{app_name}</strong> asks to act as "
                f"<strong>{html.escape(self._screen_name)}</strong>.</p>"
                f"<p>Afterwards you go to: <code>{html.escape(callback)}</code></p>"
                f'<form method="post" action="{self._dance_paths[1]}">'
                f'<input type="hidden" name="oauth_token" value="{html.escape(token, quote=True)}">'
                '<button type="submit" name="approve" value="1" id="approve">Approve</button></form>',
            )

        @app.post(self._dance_paths[1])
        def authorize_approve() -> Response:
            return self._approve_response(request.form.get("oauth_token", ""))

        @app.get("/api/me")
        def me() -> Response:
            incoming = self._incoming()

            def verify() -> Response | None:
                if not self._verify_resource(incoming, require_token=True):
                    return None
                return jsonify({"user_id": self._user_id, "screen_name": self._screen_name})

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

        return app
