"""What the provider registers and records: clients, verified requests, and the constants its parts share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from cryptography.hazmat.primitives import serialization

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

PRINTABLE_ASCII: Final = frozenset(chr(c) for c in range(0x21, 0x7F))


@dataclass(frozen=True, slots=True)
class ProviderClient:
    """A registered client (consumer): its key, its shared secret and, for RSA-SHA*, its public key."""

    key: str
    secret: str = field(default="", repr=False)
    rsa_public_key_pem: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.key or not set(self.key) <= PRINTABLE_ASCII or len(self.key) > 256:
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
