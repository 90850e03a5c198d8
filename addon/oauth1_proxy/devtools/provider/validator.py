"""oauthlib's RequestValidator for the provider: storage (clients, tokens, nonces) and policy hooks.

About 400 lines, on purpose: ProviderValidator is one oauthlib interface
(RequestValidator, some forty methods oauthlib calls by name), and every one
of them reads or changes the same state (clients, request and access tokens,
the nonces seen, this thread's diagnosis) under one lock. Split across
modules, the class would still be one object with one lock; the pieces would
only hide which method touches which state. The helpers that need none of it
(problem_for_error, make_token) are plain functions here; the provider's
model, wire checks and TLS are modules of their own.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oauthlib.oauth1 import (
    InvalidSignatureMethodError,
    RequestValidator,
)

from oauth1_proxy.devtools.provider.model import PRINTABLE_ASCII, SIGNATURE_METHODS, TIMESTAMP_LIFETIME, ProviderClient

# oauthlib logs signature base strings, tokens and request reprs at DEBUG.
logging.getLogger("oauthlib").setLevel(logging.WARNING)


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


def make_token() -> str:
    """Make a token, token secret or verifier: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


@functools.cache
def _dummy_rsa_public_key_pem() -> str:
    """Make the public key oauthlib checks an unknown client's RSA signature against."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def problem_for_error(error: Any) -> tuple[str, str, str | None]:
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


class ProviderValidator(RequestValidator):  # type: ignore[misc]
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
        return set(PRINTABLE_ASCII)

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
