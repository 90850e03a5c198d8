"""Shortcuts: faster forms of some of signing.py's RFC 5849 steps, each proven equal to the step it replaces.

Rule: pure and standard library only; it imports nothing of ours (signing.py imports it). No I/O, no clock,
no randomness.

Rule: a shortcut is partial. It returns ``None`` (or ``False``) where it does not apply, and the step in
signing.py that calls it then runs its own recipe, the code that quotes the RFC. Where a shortcut answers, its
answer is the recipe's answer, octet for octet:

- tests/test_signing_fast.py compares each shortcut here with the recipe of the step it replaces (Hypothesis,
  on inputs chosen to take the shortcut and to miss it);
- tests/test_signing_differential.py compares the whole signer with tests/wire.py's independent recipe.

Why they exist (issue 5): ``sign_request`` runs once per proxied request, and a per-character Python loop, or
decoding then encoding again a query that is canonical already, cost more than the HMAC itself.

Measured (callgrind, issue 13): ``needle in some_bytes`` first tries the needle as an int, and the TypeError it
raises and clears costs about 2,600 instructions, more than a whole regular-expression match; so these
functions write ``some_bytes.find(needle) >= 0`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain

__all__ = [
    "UNRESERVED",
    "SEP",
    "percent_encode",
    "escape_octets",
    "encode_base64",
    "base_string_uri",
    "signature_base_string",
    "canonical_form_items",
    "protocol_parameters_unreserved",
    "is_unreserved",
    "holds_no_oauth_name",
]

# The unreserved set of RFC 5849 §3.6 (signing.py quotes the rule; tests/test_signing_fast.py checks that the
# two copies are equal).
UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# Interpretation (speed, not meaning): an encoded parameter travels as one "name\x00value" string, an item.
# Encoded text has no character below "%", so sorting items as strings sorts by name, then by value, exactly as
# RFC 5849 §3.4.1.3.2 step 2 sorts the pairs.
SEP = "\x00"

_ESCAPES = tuple(f"%{octet:02X}" for octet in range(256))
# Past this many distinct octets to escape, one str.replace per octet stops paying: the recipe runs.
_MAX_REPLACES = 12


# --- percent_encode (RFC 5849 §3.6) ----------------------------------------------------------------


def percent_encode(data: bytes) -> str | None:
    """signing.percent_encode of UTF-8 octets: ``bytes.translate`` finds what to escape, ``str.replace`` escapes it."""
    special = data.translate(None, UNRESERVED)  # the octets that MUST be encoded
    if not special:
        return data.decode("ascii")
    return escape_octets(data, special)


def escape_octets(data: bytes, special: bytes) -> str | None:
    """Replace every octet of ``special`` (the non-unreserved octets of ``data``) by ``%XX``; None past 12 distinct."""
    if not special.translate(None, b"%=&"):  # normalized parameters: nothing else to escape
        # "%" first: the escapes written after it contain "%".
        return data.decode("ascii").replace("%", "%25").replace("=", "%3D").replace("&", "%26")
    if not special.translate(None, b":/"):  # a base string URI
        return data.decode("ascii").replace(":", "%3A").replace("/", "%2F")
    if not special.translate(None, b"+/="):  # a base64 signature (RFC 2045 §6.8)
        return data.decode("ascii").replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    octets = set(special)
    if len(octets) > _MAX_REPLACES:
        return None
    text = data.decode("latin-1")  # one character per octet
    if 0x25 in octets:  # "%" first: the escapes written after it contain "%"
        text = text.replace("%", "%25")
        octets.discard(0x25)
    for octet in octets:
        text = text.replace(chr(octet), _ESCAPES[octet])
    return text


def encode_base64(text: str) -> str:
    """signing.percent_encode of base64 text (RFC 2045 §6.8: letters, digits, "+", "/" and "="), by ``str.replace``."""
    return text.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


# --- base_string_uri (RFC 5849 §3.4.1.2) -----------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
# http(s)://host[:port] and a path, ASCII only, no userinfo, no IPv6, no space, and none of the characters
# urlsplit removes or strips: everything else takes the recipe (urlsplit).
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9.-]+)(?::([0-9]{1,5}))?(/[^?# \t\r\n]*)?(?:[?#]|\Z)", re.IGNORECASE | re.ASCII
)


def base_string_uri(url: str) -> str | None:
    """signing.base_string_uri of a plain ``http(s)://host[:port]/path`` URL, split by one regular expression."""
    plain = _PLAIN_URL.match(url)
    if plain is None:
        return None
    scheme, host, port_text, path = plain.groups()
    if scheme != "https" and scheme != "http":
        scheme = scheme.lower()
    host = host.lower()
    if port_text is None:
        return f"{scheme}://{host}{path or '/'}"
    number = int(port_text)
    if number > 65535:
        return None  # the recipe names the bad port
    netloc = host if number == _DEFAULT_PORTS[scheme] else f"{host}:{number}"
    return f"{scheme}://{netloc}{path or '/'}"


# --- signature_base_string (RFC 5849 §3.4.1.1) ------------------------------------------------------

_URI_ALPHABET = UNRESERVED + b":/"
_NORMALIZED_ALPHABET = UNRESERVED + b"%=&"


def signature_base_string(method: str, uri: str, normalized_parameters: str) -> str | None:
    """signing.signature_base_string of the usual parts, each escaped by ``str.replace`` alone.

    Applies when the method is ASCII letters, the base string URI holds only unreserved characters, ":" and
    "/", and the normalized parameters only unreserved characters, "%", "=" and "&" (as normalize_parameters
    writes them).
    """
    if not (method.isascii() and method.isalpha()):
        return None
    if uri.encode("utf-8", "surrogateescape").translate(None, _URI_ALPHABET):
        return None
    if normalized_parameters.encode("utf-8", "surrogateescape").translate(None, _NORMALIZED_ALPHABET):
        return None
    return "&".join((
        method.upper(),
        uri.replace(":", "%3A").replace("/", "%2F"),
        # "%" first: the escapes written after it contain "%".
        normalized_parameters.replace("%", "%25").replace("=", "%3D").replace("&", "%26"),
    ))


# --- the encoded parameters of a query or form body (RFC 5849 §3.4.1.3.1, §3.4.1.3.2 step 1) -----

# Segments of "name=value", one "=" each, none empty, only unreserved characters and "%" in names and values:
# perhaps canonical already.
_FORM_LAYOUT = re.compile(rb"(?:[A-Za-z0-9._~%-]*=[A-Za-z0-9._~%-]*&)*[A-Za-z0-9._~%-]*=[A-Za-z0-9._~%-]*")
# A "%" that is not an upper-case escape of an octet outside the unreserved set: "%7E", "%41", "%2b" or "%zz"
# decode and encode to something else.
_NONCANONICAL_ESCAPE = re.compile(
    rb"%(?!(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F]))"
)


def canonical_form_items(data: bytes) -> list[str] | None:
    """signing.encoded_form_items of a query or form body in canonical form: its own encoding, as items.

    Canonical: only unreserved characters and upper-case escapes of other octets, every segment "name=value".
    Decoding such a string and encoding each name and value again gives it back as written.
    """
    if _FORM_LAYOUT.fullmatch(data) and (data.find(b"%") < 0 or not _NONCANONICAL_ESCAPE.search(data)):
        return data.decode("ascii").replace("=", SEP).split("&")
    return None


# --- the protocol parameters (RFC 5849 §3.5.1, §3.6) -------------------------------------------------


def protocol_parameters_unreserved(params: Sequence[tuple[str, str]]) -> bool:
    """Tell whether every name and value is unreserved text, so that signing.encode_protocol_parameters is a copy."""
    text = "".join(chain.from_iterable(params))
    return not text.encode("utf-8", "surrogateescape").translate(None, UNRESERVED)


def is_unreserved(text: str) -> bool:
    """Tell whether text needs no percent-encoding at all, so that signing.percent_encode gives it back."""
    return not text.encode("utf-8", "surrogateescape").translate(None, UNRESERVED)


# --- strip_oauth_parameters (SPEC §5) --------------------------------------------------------------

# A name (what comes before the first "=" of a segment) with a "%" in it, after the first segment.
_ESCAPED_LATER_NAME = re.compile(rb"&[^=&%]*%")


def holds_no_oauth_name(data: bytes) -> bool:
    """Tell whether no name of a query or form body can decode to ``oauth_*``, so that stripping keeps every byte.

    Any escape could spell it ("%6Fauth_nonce"), so a name with a "%" in it answers False (the recipe decides).
    """
    # A decoded name starts with "o" only if the name as written starts with "o" or "%" ("+" is a space): when
    # no segment does, no name can decode to "oauth_...". Four searches, where the regular expression below
    # costs more than the rest of the check on a 200-byte form body (callgrind).
    if not data.startswith((b"o", b"%")) and data.find(b"&o") < 0 and data.find(b"&%") < 0:
        return True
    if data.find(b"oauth_") >= 0:
        return False
    if data.find(b"%") < 0:
        return True
    return data.split(b"&", 1)[0].partition(b"=")[0].find(b"%") < 0 and not _ESCAPED_LATER_NAME.search(data)
