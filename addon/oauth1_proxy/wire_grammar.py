"""A strict reader of the RFC 5849 wire grammar, for the test provider and the test suite (SPEC §9).

Rule: pure, standard library only, and independent of ``signing.py`` (it
checks what signing produced, so it shares none of its code).

What it enforces:

- §3.5.1: ``Authorization: OAuth `` then ``realm="..."`` first when set
  (a quoted-string, RFC 2617 §1.2), then each protocol parameter once as
  ``name="value"``, separated by ``, ``; every name and value
  percent-encoded per §3.6: only unreserved characters and upper-case
  ``%XX`` of the other octets (``%41`` for "A" is not canonical).
- §3.5.2 / §3.5.3: in a form body or the query, each ``oauth_*`` once,
  form-encoded once, in the same canonical §3.6 form (so no "+", no
  lower-case hex, no double encoding that the signature could hide).
- §3.5: the protocol parameters are in one and only one place.
- §3.2: no parameter twice (servers SHOULD answer 400); the required ones
  present: consumer key, signature method, timestamp, nonce, signature;
  ``oauth_version`` is "1.0" when sent.

Interpretation: RFC 5849 lets PLAINTEXT omit the timestamp and nonce
(§3.1); this reader requires them, as every request our signer makes
carries them. Messages never repeat an ``oauth_signature`` value: a
PLAINTEXT signature is the secrets themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["WireError", "WireParams", "parse_wire", "REQUIRED_PARAMETERS", "SIGNATURE_METHODS"]

REQUIRED_PARAMETERS = (
    "oauth_consumer_key", "oauth_signature_method", "oauth_timestamp", "oauth_nonce", "oauth_signature",
)
SIGNATURE_METHODS = ("HMAC-SHA1", "HMAC-SHA256", "HMAC-SHA512", "RSA-SHA1", "RSA-SHA256", "RSA-SHA512", "PLAINTEXT")
_FORM = "application/x-www-form-urlencoded"
# RFC 5849 §3.6: "Characters in the unreserved character set ... (ALPHA,
# DIGIT, "-", ".", "_", "~") MUST NOT be encoded. All other characters MUST
# be encoded." "The two hexadecimal characters used to represent encoded
# characters MUST be uppercase."
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_CANONICAL = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_HEADER_ITEM = re.compile(r'([^=",\s]*)="((?:[^"\\]|\\.)*)"', re.DOTALL)
_QDTEXT_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class WireError(ValueError):
    """A request breaks the RFC 5849 wire grammar; ``problem`` is the OAuth Problem Reporting name."""

    def __init__(self, message: str, problem: str = "parameter_rejected") -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True, slots=True)
class WireParams:
    """The protocol parameters as sent, decoded once."""

    placement: str  # "header" | "query" | "body"
    params: Mapping[str, str]
    names: tuple[str, ...]  # in the order they were sent
    realm: str | None = None


def _percent_decode(data: bytes) -> bytes:
    """Decode %XX escapes (either case); a "%" that starts no escape stays as written."""
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == 0x25 and i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX:
            out.append(int(data[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def _decoded(text: str) -> str:
    return _percent_decode(text.encode("ascii")).decode("utf-8", "surrogateescape")


def _shown(name: str, text: str) -> str:
    # A PLAINTEXT signature is "consumer_secret&token_secret": never repeat it.
    return "(the value is not shown: it may be a PLAINTEXT signature)" if name == "oauth_signature" else repr(text)


def _check_encoded(text: str, what: str, name: str) -> None:
    """Refuse anything but the §3.6 encoding: unreserved characters and upper-case %XX of other octets."""
    if not _CANONICAL.fullmatch(text):
        bare = re.sub(r"%[0-9A-F]{2}", "", text)
        bad = sorted({c for c in bare if not (c.isascii() and ord(c) in _UNRESERVED) and c != "%"})
        if bad and name != "oauth_signature":
            detail = f"the characters {''.join(bad)!r} are not encoded"
        elif bad:
            detail = "some characters are not encoded"
        else:
            detail = "an escape is not upper-case %XX"
        raise WireError(f"{what} {_shown(name, text)} is not percent-encoded per RFC 5849 §3.6 ({detail}); "
                        "encode every octet but ALPHA, DIGIT, '-', '.', '_', '~' as upper-case %XX")
    for escape in _ESCAPE.findall(text):
        if int(escape, 16) in _UNRESERVED:
            raise WireError(f"{what} {_shown(name, text)} escapes the unreserved character "
                            f"{chr(int(escape, 16))!r} as %{escape}; RFC 5849 §3.6: unreserved characters "
                            "MUST NOT be encoded")


def _parse_header(value: str) -> tuple[list[tuple[str, str]], str | None]:
    if not value.startswith("OAuth "):
        raise WireError(f"the Authorization header starts {value[:6]!r}, not 'OAuth ' (RFC 5849 §3.5.1)")
    position, realm = len("OAuth "), None
    pairs: list[tuple[str, str]] = []
    while True:
        match = _HEADER_ITEM.match(value, position)
        if match is None:
            raise WireError(f"the Authorization header is not name=\"value\", ... at offset {position} "
                            "(RFC 5849 §3.5.1); write each parameter as name=\"value\", separated by ', '")
        name, raw = match.groups()
        if name == "realm":
            if pairs or realm is not None:
                raise WireError("the Authorization header has realm after other parameters or twice; "
                                "RFC 5849 §3.5.1 (RFC 2617 §1.2): realm first, once")
            if _QDTEXT_BAD.search(raw):
                raise WireError("the Authorization header's realm holds a control character, which a "
                                "quoted-string cannot carry (RFC 7230 §3.2.6)")
            realm = re.sub(r"\\(.)", r"\1", raw, flags=re.DOTALL)
        else:
            _check_encoded(name, "the Authorization parameter name", name)
            decoded_name = _decoded(name)
            _check_encoded(raw, f"the Authorization header's {decoded_name}", decoded_name)
            pairs.append((decoded_name, _decoded(raw)))
        position = match.end()
        if position == len(value):
            return pairs, realm
        if not value.startswith(", ", position):
            raise WireError(f"the Authorization header's parameters are not separated by ', ' at offset "
                            f"{position} (RFC 5849 §3.5.1 step 3, in the form this suite expects)")
        position += 2


def _form_oauth(data: bytes, where: str) -> list[tuple[str, str]]:
    """The oauth_* parameters of a query or form body, each checked to be encoded once, canonically."""
    found = []
    for segment in data.split(b"&"):
        raw_name, has_value, raw_value = segment.partition(b"=")
        if not _percent_decode(raw_name.replace(b"+", b" ")).startswith(b"oauth_"):
            continue
        try:
            name, value = raw_name.decode("ascii"), raw_value.decode("ascii")
        except UnicodeDecodeError:
            raise WireError(f"a protocol parameter in the {where} holds raw non-ASCII octets; "
                            "RFC 5849 §3.6 encodes them as %XX") from None
        _check_encoded(name, f"the {where}'s parameter name", name)
        decoded_name = _decoded(name)
        if not has_value:
            raise WireError(f"the {where}'s {decoded_name} has no '=value' (RFC 5849 §3.5.2, §3.5.3)")
        _check_encoded(value, f"the {where}'s {decoded_name}", decoded_name)
        found.append((decoded_name, _decoded(value)))
    return found


def is_form(content_type: str | None) -> bool:
    """Tell whether a Content-Type names a form body (any case, any parameters)."""
    return content_type is not None and content_type.split(";")[0].strip().lower() == _FORM


def _query_of(target: str) -> bytes | None:
    data = target.encode("utf-8", "surrogateescape").partition(b"#")[0]
    path, has_query, query = data.partition(b"?")
    return query if has_query else None


def parse_wire(
    method: str,
    target: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
) -> WireParams:
    """Read the protocol parameters under the strict RFC 5849 §3.5 grammar, or raise WireError.

    ``target`` is the URL (absolute, or origin-form) with the query as received.
    """
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    oauth_headers = [v for k, v in pairs if k.lower() == "authorization" and v[:6].lower() == "oauth "]
    if len(oauth_headers) > 1:
        raise WireError(f"{len(oauth_headers)} OAuth Authorization headers; RFC 5849 §3.5.1 sends one")
    places: dict[str, list[tuple[str, str]]] = {}
    realm = None
    if oauth_headers:
        places["header"], realm = _parse_header(oauth_headers[0])
    query = _query_of(target)
    if query and (found := _form_oauth(query, "query")):
        places["query"] = found
    content_type = next((v for k, v in pairs if k.lower() == "content-type"), None)
    if is_form(content_type) and body and (found := _form_oauth(body, "form body")):
        places["body"] = found
    if not places:
        raise WireError(f"{method} request with no protocol parameters in the Authorization header, the "
                        "query or a form body (RFC 5849 §3.5)", "parameter_absent")
    if len(places) > 1:
        raise WireError(f"protocol parameters in the {' and the '.join(places)}; RFC 5849 §3.5: one and only "
                        "one place")
    ((placement, found),) = places.items()
    params: dict[str, str] = {}
    for name, value in found:
        if name in params:
            raise WireError(f"duplicated parameter: {name} appears twice in the {placement} (RFC 5849 §3.2: "
                            "servers SHOULD answer 400); send each protocol parameter once")
        if not name.startswith("oauth_"):
            raise WireError(f"the Authorization header carries {name!r}, which is not a protocol parameter; "
                            "RFC 5849 §3.5.1 puts only oauth_* parameters and realm there")
        params[name] = value
    absent = [name for name in REQUIRED_PARAMETERS if name not in params]
    if absent:
        raise WireError(f"missing {', '.join(absent)} in the {placement} (RFC 5849 §3.1)", "parameter_absent")
    if params.get("oauth_version", "1.0") != "1.0":
        raise WireError(f"oauth_version {params['oauth_version']!r}: RFC 5849 §3.1 says it MUST be \"1.0\"",
                        "version_rejected")
    if params["oauth_signature_method"] not in SIGNATURE_METHODS:
        raise WireError(f"oauth_signature_method {params['oauth_signature_method']!r} is none of "
                        f"{', '.join(SIGNATURE_METHODS)}", "signature_method_rejected")
    return WireParams(placement=placement, params=params, names=tuple(n for n, _ in found), realm=realm)
