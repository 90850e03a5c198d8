"""Take secrets out of what is kept: captures, logs, pages (SPEC §8). Pure.

Two secrets can travel inside HTTP traffic that passes through the proxy:
a PLAINTEXT ``oauth_signature`` (it is ``consumer_secret&token_secret``,
RFC 5849 §3.4.4) and the ``oauth_token_secret`` of a credentials response
(RFC 5849 §2.1, §2.3). HMAC and RSA signatures are not secrets.
"""

from __future__ import annotations

import re

REDACTED = "REDACTED"

_SIGNATURE_TEXT = re.compile(r'(oauth_signature=)("[^"]*"|[^&\s",]*)')
_SIGNATURE_BYTES = re.compile(rb"(oauth_signature=)([^&\s]*)")
_TOKEN_SECRET_FORM = re.compile(rb"(oauth_token_secret=)([^&\s]*)")
_TOKEN_SECRET_JSON = re.compile(rb'("oauth_token_secret"\s*:\s*")((?:[^"\\]|\\.)*)(")')


def redact_signature_text(text: str) -> str:
    """Replace every oauth_signature value in a header or URL (quoted or not)."""
    def sub(m: re.Match[str]) -> str:
        return m.group(1) + (f'"{REDACTED}"' if m.group(2).startswith('"') else REDACTED)

    return _SIGNATURE_TEXT.sub(sub, text)


def redact_signature_bytes(data: bytes) -> bytes:
    """Replace every oauth_signature value in a form body."""
    return _SIGNATURE_BYTES.sub(rb"\1" + REDACTED.encode(), data)


def has_token_secret(data: bytes) -> bool:
    return b"oauth_token_secret" in data


def redact_token_secret(data: bytes) -> bytes:
    """Replace the oauth_token_secret value of a form-encoded or JSON credentials response."""
    data = _TOKEN_SECRET_FORM.sub(rb"\1" + REDACTED.encode(), data)
    return _TOKEN_SECRET_JSON.sub(rb"\1" + REDACTED.encode() + rb"\3", data)
