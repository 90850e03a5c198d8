"""Take secrets out of what is kept or shown: captures, logs, pages, mitmweb (SPEC §8). Pure.

No I/O, no clock, no randomness in this module.

Secrets that can travel inside HTTP traffic passing through the proxy:
- a PLAINTEXT ``oauth_signature``: ``percent(consumer_secret)&percent(token_secret)``
  (RFC 5849 §3.4.4), percent-encoded once more in a header, a query or a
  form body (§3.5), and echoed back by providers that report the signature
  they received (net.oauth: in ``WWW-Authenticate`` and the body);
- the ``oauth_token_secret`` of a credentials response (RFC 5849 §2.1, §2.3).
HMAC and RSA signatures are not secrets and are kept (they help debugging).

Two kinds of rules:
1. Patterns: the value after ``oauth_signature=`` (quoted or not, form or
   JSON) and after ``oauth_token_secret=``, whoever produced them.
2. Known values: every encoding (``secret_forms``) of a secret we know
   (the config's, or those read back from a PLAINTEXT signature we made),
   wherever it appears, so a provider that echoes it in another shape is
   caught too. Values shorter than MIN_KNOWN_LENGTH are left to the patterns
   (Interpretation: replacing a 3-character "secret" everywhere would wreck
   every capture and still not make a weak secret safe).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote

REDACTED = "REDACTED"
MIN_KNOWN_LENGTH = 6

_SIGNATURE_TEXT = re.compile(r'(oauth_signature=)("[^"]*"|[^&\s",]*)')
_SIGNATURE_BYTES = re.compile(rb"(oauth_signature=)([^&\s]*)")
_SIGNATURE_JSON = re.compile(r'("oauth_signature"\s*:\s*")((?:[^"\\]|\\.)*)(")')
# The OAuth Session extension's oauth_session_handle buys new tokens: redacted like the token secret (SPEC §11).
_TOKEN_SECRET_FORM = re.compile(rb"((?:oauth_token_secret|oauth_session_handle)=)([^&\s]*)")
_TOKEN_SECRET_TEXT = re.compile(r'((?:oauth_token_secret|oauth_session_handle)=)("[^"]*"|[^&\s",]*)')
_TOKEN_SECRET_JSON = re.compile(rb'("(?:oauth_token_secret|oauth_session_handle)"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_TOKEN_SECRET_JSON_TEXT = re.compile(r'("(?:oauth_token_secret|oauth_session_handle)"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_PLAINTEXT_MARK = re.compile(r"oauth_signature_method\s*=\s*(?:\"|%22)?PLAINTEXT")
# Python's repr of bytes, as mitmproxy's proxy_debug prints them (maybe cut short with "…").
_BYTES_LITERAL = re.compile(r"""(?<![\w'"])b'(?:[^'\\]|\\.)*(?:'|\Z)|(?<![\w'"])b"(?:[^"\\]|\\.)*(?:"|\Z)""", re.S)


def redact_signature_text(text: str) -> str:
    """Replace every oauth_signature value in a header, URL or JSON text (quoted or not)."""
    if "oauth_signature" not in text:
        return text

    def sub(m: re.Match[str]) -> str:
        return m.group(1) + (f'"{REDACTED}"' if m.group(2).startswith('"') else REDACTED)

    text = _SIGNATURE_TEXT.sub(sub, text)
    return _SIGNATURE_JSON.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)


def redact_signature_bytes(data: bytes) -> bytes:
    """Replace every oauth_signature value in a form or JSON body."""
    if b"oauth_signature" not in data:
        return data
    data = _SIGNATURE_BYTES.sub(rb"\1" + REDACTED.encode(), data)
    text = data.decode("utf-8", "surrogateescape")
    return _SIGNATURE_JSON.sub(lambda m: m.group(1) + REDACTED + m.group(3), text).encode("utf-8", "surrogateescape")


def has_token_secret(data: bytes) -> bool:
    return b"oauth_token_secret" in data or b"oauth_session_handle" in data


def redact_token_secret(data: bytes) -> bytes:
    """Replace the oauth_token_secret value of a form-encoded or JSON credentials response."""
    data = _TOKEN_SECRET_FORM.sub(rb"\1" + REDACTED.encode(), data)
    return _TOKEN_SECRET_JSON.sub(rb"\1" + REDACTED.encode() + rb"\3", data)


def redact_token_secret_text(text: str) -> str:
    """Replace every oauth_token_secret value in a header, a log line or JSON text (quoted or not)."""
    if "oauth_token_secret" not in text and "oauth_session_handle" not in text:
        return text
    text = _TOKEN_SECRET_JSON_TEXT.sub(lambda m: m.group(1) + REDACTED + m.group(3), text)
    return _TOKEN_SECRET_TEXT.sub(lambda m: m.group(1) + (f'"{REDACTED}"' if m.group(2).startswith('"')
                                                          else REDACTED), text)


def is_plaintext_signed(*texts: str) -> bool:
    """Tell whether a request's Authorization header, query or form body says oauth_signature_method=PLAINTEXT."""
    return any("PLAINTEXT" in t and _PLAINTEXT_MARK.search(t) is not None for t in texts)


def secret_forms(secret: str) -> frozenset[str]:
    """A secret as it can appear in traffic, a log or a page (RFC 5849 §3.6, §3.5, §3.4.4).

    Raw; percent-encoded once, twice and three times (a PLAINTEXT signature
    holds it encoded once, the header encodes that again, an echo may quote
    the header), in upper- and lower-case hex; form-, JSON- and HTML-escaped.
    """
    once = quote(secret, safe="")
    twice = quote(once, safe="")
    thrice = quote(twice, safe="")  # the secret inside a PLAINTEXT signature that is quoted once more
    forms = {
        secret,
        once,
        twice,
        thrice,
        once.lower(),
        twice.lower(),
        thrice.lower(),
        quote_plus(secret),
        quote_plus(once),
        quote(secret, safe="/"),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(once),
    }
    return frozenset(f for f in forms if f)


def secrets_of_plaintext_signature(value: str) -> tuple[str, str] | None:
    """The consumer and token secrets in a PLAINTEXT oauth_signature as it is on the wire (RFC 5849 §3.4.4).

    ``value`` is the parameter's value as sent: percent-encoded once more
    (RFC 5849 §3.5), quotes removed. None when it is not ``key&key``.
    """
    signature = unquote(value.strip('"'))
    consumer, amp, token = signature.partition("&")
    if not amp:
        return None
    return unquote(consumer), unquote(token)


def has_unredacted_signature(text: str) -> bool:
    """Tell whether a header, query or form body still holds an oauth_signature value other than REDACTED."""
    return "oauth_signature=" in text and any(
        m.group(2) not in (REDACTED, f'"{REDACTED}"') for m in _SIGNATURE_TEXT.finditer(text))


def plaintext_signature_value(text: str) -> str | None:
    """The oauth_signature value in a header, query or form body (the first one), as written."""
    m = _SIGNATURE_TEXT.search(text)
    return m.group(2) if m else None


@dataclass(frozen=True, slots=True)
class Redactor:
    """Replace every encoding of some known secrets, and the oauth_signature/oauth_token_secret patterns.

    Build it with ``make_redactor``; an empty one still applies the patterns.
    """

    forms: tuple[str, ...] = field(default=(), repr=False)
    _text: re.Pattern[str] | None = field(default=None, repr=False)
    _bytes: re.Pattern[bytes] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Redactor({len(self.forms)} forms)"

    def known_text(self, text: str) -> str:
        return self._text.sub(REDACTED, text) if self._text is not None else text

    def known_bytes(self, data: bytes) -> bytes:
        return self._bytes.sub(REDACTED.encode(), data) if self._bytes is not None else data

    def text(self, text: str, *, signature: bool) -> str:
        """Redact a header value, URL or log line; ``signature``: the oauth_signature too (PLAINTEXT)."""
        text = self.known_text(text)
        text = redact_token_secret_text(text)
        return redact_signature_text(text) if signature else text

    def bytes(self, data: bytes, *, signature: bool) -> bytes:
        """Redact a body; ``signature``: the oauth_signature too (PLAINTEXT)."""
        data = self.known_bytes(data)
        if has_token_secret(data):
            data = redact_token_secret(data)
        return redact_signature_bytes(data) if signature else data

    def merged(self, other: Redactor) -> Redactor:
        return make_redactor(set(self.forms) | set(other.forms), encode=False)


def make_redactor(secrets: Iterable[str], *, encode: bool = True) -> Redactor:
    """A Redactor for these secrets (every form, longest first); secrets shorter than MIN_KNOWN_LENGTH are skipped."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_KNOWN_LENGTH:
            continue
        forms |= secret_forms(secret) if encode else {secret}
    ordered = tuple(sorted((f for f in forms if len(f) >= MIN_KNOWN_LENGTH), key=lambda f: (-len(f), f)))
    if not ordered:
        return Redactor()
    text = re.compile("|".join(re.escape(f) for f in ordered))
    raw: set[bytes] = set()
    for f in ordered:
        raw.add(f.encode("utf-8"))
        raw.add(f.encode("latin-1", "replace"))
    data = re.compile(b"|".join(re.escape(b) for b in sorted(raw, key=lambda b: (-len(b), b))))
    return Redactor(ordered, text, data)


def summarise_bytes_literals(message: str) -> str:
    """Replace every bytes literal in a debug line (proxy_debug's raw frames) with its length.

    HTTP/2 headers are HPACK-coded and bodies may be compressed: no text rule
    can find a secret inside them, so the bytes themselves go.
    """
    if "b'" not in message and 'b"' not in message:
        return message
    return _BYTES_LITERAL.sub(lambda m: f"<{_literal_length(m.group(0))} bytes>", message)


def _literal_length(literal: str) -> str:
    body = literal[2:-1] if len(literal) > 2 and literal[-1] == literal[1] else literal[2:]
    try:
        return str(len(body.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1")))
    except (UnicodeError, ValueError):
        return "some"
