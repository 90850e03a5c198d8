"""Token secrets encrypted at rest (SPEC §12: ``token_store_key``), with Fernet from ``cryptography``.

A sealed value is ``fernet:`` + a Fernet token (AES-128-CBC and HMAC-SHA256,
with its time stamp). Sealed: each token secret, an OAuth Session handle
(RFC-less, Yahoo's ``oauth_session_handle``), and a pending login's request
token secret. Token values, names and dates stay readable (the status page
and ``check`` show them without the key).

Rules:
1. With a key, every secret written is sealed; a plain secret read (a store
   from before the key was set) is used as it is and sealed at its next write.
2. Without a key, a sealed secret is an error naming the fix (set the key),
   never a garbage secret signed with.
3. A secret that does not open with the key is "written with another
   token_store_key": the message names the entry, never a secret or the key.
"""

from __future__ import annotations

import binascii

from cryptography.fernet import Fernet, InvalidToken

from oauth1_proxy.errors import TokenStoreError

PREFIX = "fernet:"
MAKE_KEY = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


class BadStoreKey(ValueError):
    """token_store_key is not a Fernet key; the message says how to make one and never quotes the value."""


def parse_store_key(text: str) -> Fernet:
    """The Fernet of a ``token_store_key`` value (32 bytes, url-safe base64); raise BadStoreKey."""
    try:
        return Fernet(text.strip().encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise BadStoreKey(
            "token_store_key is not a Fernet key (32 random bytes in url-safe base64, 44 characters ending in "
            f"'='); make one with: {MAKE_KEY}, and keep it as a secret (${{VAR}} or ${{file:PATH}})"
        ) from None


class Sealer:
    """Seals and opens secrets for one store (``where`` names it in messages)."""

    def __init__(self, fernet: Fernet | None, where: str) -> None:
        self.fernet, self.where = fernet, where

    @property
    def enabled(self) -> bool:
        return self.fernet is not None

    def seal(self, value: str) -> str:
        if self.fernet is None or value.startswith(PREFIX):
            return value
        return PREFIX + self.fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, value: str, entry: str) -> str:
        """The secret of a stored value (rules 1 to 3); ``entry`` names it in an error."""
        if not value.startswith(PREFIX):
            return value
        if self.fernet is None:
            raise TokenStoreError(
                f"{self.where}: the entry {entry!r} of the token store is encrypted (it was written with a "
                "token_store_key) and the config sets none; set token_store_key to the key it was written with, "
                "or log that profile in again."
            )
        try:
            return self.fernet.decrypt(value[len(PREFIX):].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise TokenStoreError(
                f"{self.where}: the token store was written with another token_store_key (entry {entry!r} does "
                "not open with this one); set token_store_key to the key it was written with, or log that "
                "profile out and in again."
            ) from None
