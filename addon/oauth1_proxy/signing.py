"""Sign an HTTP request as RFC 5849 (OAuth 1.0a) requires.

The one canonical reference is https://www.rfc-editor.org/rfc/rfc5849

Rule: no I/O, no clock, no randomness in this module. Callers pass the nonce
and the timestamp (RFC 5849 §3.3) and already-loaded keys.

The recipe, the way the RFC lays it out:

1. Collect the parameters: the query, a form body, and the protocol
   parameters (``oauth_*``) — never ``oauth_signature`` nor ``realm``
   (§3.4.1.3.1).
2. Normalize them: percent-encode names and values, sort, join (§3.4.1.3.2).
3. Build the base string URI: lower-case scheme and host, no default port,
   the path as sent, no query (§3.4.1.2).
4. Join method, base string URI and normalized parameters into the
   signature base string (§3.4.1.1).
5. Sign it: HMAC-SHA* with the key ``consumer_secret&token_secret``
   (§3.4.2), RSA-SHA* with the client's private key (§3.4.3), or send the
   key itself (PLAINTEXT, §3.4.4).
6. Place the protocol parameters in the ``Authorization`` header (§3.5.1),
   the form body (§3.5.2) or the query (§3.5.3).

Byte strings travel through here: a query or form value that is not UTF-8
is signed as the bytes it is, so the client's bytes are never re-encoded.

Speed (issue 5): ``sign_request`` runs once per proxied request, so the
functions here avoid per-character Python loops: percent-encoding finds the
octets to escape with ``bytes.translate`` and replaces each distinct one with
``str.replace``; a query or form body already in canonical form (only
unreserved characters and upper-case escapes of reserved octets) is taken as
its own encoding instead of being decoded and encoded again; a plain
``http(s)://host[:port]/path`` URL is split by one regular expression. Each
shortcut gives exactly what the general path gives (tests/test_bench.py
checks it against the recipe).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple, Protocol
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

__all__ = [
    "SignatureMethod",
    "Placement",
    "RequestToSign",
    "ClientCredentials",
    "TokenCredentials",
    "RSASigner",
    "SignedRequest",
    "percent_encode",
    "base_string_uri",
    "parse_form",
    "collect_parameters",
    "normalize_parameters",
    "signature_base_string",
    "signing_key",
    "hmac_signature",
    "body_hash",
    "authorization_header",
    "is_form_content_type",
    "strip_oauth_parameters",
    "sign_request",
]

Param = tuple[bytes, bytes]


class SignatureMethod(StrEnum):
    """The signature methods of RFC 5849 §3.4, plus the SHA-2 HMAC/RSA variants."""

    HMAC_SHA1 = "HMAC-SHA1"
    HMAC_SHA256 = "HMAC-SHA256"
    HMAC_SHA512 = "HMAC-SHA512"
    RSA_SHA1 = "RSA-SHA1"
    RSA_SHA256 = "RSA-SHA256"
    RSA_SHA512 = "RSA-SHA512"
    PLAINTEXT = "PLAINTEXT"

    @property
    def is_hmac(self) -> bool:
        return self.value.startswith("HMAC-")

    @property
    def is_rsa(self) -> bool:
        return self.value.startswith("RSA-")

    @property
    def hash_name(self) -> str:
        """The hashlib name of this method's hash family (PLAINTEXT: sha1)."""
        return _HASH_NAMES[self]


_HASH_NAMES = {
    SignatureMethod.HMAC_SHA1: "sha1",
    SignatureMethod.HMAC_SHA256: "sha256",
    SignatureMethod.HMAC_SHA512: "sha512",
    SignatureMethod.RSA_SHA1: "sha1",
    SignatureMethod.RSA_SHA256: "sha256",
    SignatureMethod.RSA_SHA512: "sha512",
    # Interpretation: PLAINTEXT has no hash of its own; the body hash
    # extension's default, SHA-1, is used for oauth_body_hash.
    SignatureMethod.PLAINTEXT: "sha1",
}


_HMAC_METHODS = frozenset(m for m in SignatureMethod if m.is_hmac)
_METHOD_NAMES = {m: m.value for m in SignatureMethod}  # plain str values, without the enum's property
_BASE64_SIGNATURES = frozenset(m for m in SignatureMethod if m is not SignatureMethod.PLAINTEXT)


class Placement(StrEnum):
    """Where the protocol parameters travel (RFC 5849 §3.5)."""

    HEADER = "header"
    BODY = "body"
    QUERY = "query"


class RSASigner(Protocol):
    """What signing needs of a private key: sign bytes with a hash name."""

    def __call__(self, message: bytes, hash_name: str) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestToSign:
    """A request as the upstream will receive it.

    ``url`` is absolute (``scheme://host[:port]/path?query``), with the path
    and query exactly as they go on the wire.
    """

    method: str
    url: str
    content_type: str | None = None
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientCredentials:
    """Client credentials (RFC 5849 §1.1); client key = consumer key."""

    key: str
    secret: str = field(default="", repr=False)
    rsa_signer: RSASigner | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenCredentials:
    """Token credentials, or temporary credentials during the dance (RFC 5849 §1.1)."""

    token: str
    secret: str = field(default="", repr=False)


class SignedRequest(NamedTuple):
    """What to send: the URL, the Authorization value (if any) and the body.

    A NamedTuple, immutable like the dataclasses here: sign_request makes one
    per proxied request, and a frozen dataclass's ``__init__``
    (``object.__setattr__`` per field) cost more than the HMAC itself.
    """

    url: str
    authorization: str | None
    body: bytes
    oauth_params: tuple[tuple[str, str], ...]
    base_string: str
    normalized_parameters: str


# RFC 5849 §3.6: "Characters in the unreserved character set as defined by
# [RFC3986], Section 2.3 (ALPHA, DIGIT, "-", ".", "_", "~") MUST NOT be
# encoded. All other characters MUST be encoded." ... "The two hexadecimal
# characters used to represent encoded characters MUST be uppercase."
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
_ESCAPES = tuple(f"%{octet:02X}" for octet in range(256))
# Past this many distinct octets to escape, one pass over all octets
# (Python's quote: safe="" leaves exactly the unreserved set alone, with
# upper-case hex) beats one str.replace per distinct octet.
_MAX_REPLACES = 12


def percent_encode(value: str | bytes) -> str:
    """Percent-encode a value as RFC 5849 §3.6 requires (UTF-8 first)."""
    # "Text values MUST be encoded as UTF-8 octets [RFC3629] prior to
    # percent-encoding them."
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    special = data.translate(None, _UNRESERVED)  # the octets that MUST be encoded
    if not special:
        return value if isinstance(value, str) else data.decode("ascii")
    return _escape_octets(data, special)


def _escape_octets(data: bytes, special: bytes) -> str:
    """Replace every octet of ``special`` in ``data`` by ``%XX``; keep the others as characters."""
    if not special.translate(None, b"%=&"):  # normalized parameters: nothing else to escape
        text = data.decode("ascii")
        if b"%" in special:  # "%" first: the escapes written after it contain "%"
            text = text.replace("%", "%25")
        if b"=" in special:
            text = text.replace("=", "%3D")
        if b"&" in special:
            text = text.replace("&", "%26")
        return text
    octets = set(special)
    if len(octets) > _MAX_REPLACES:
        return quote_from_bytes(data, safe="")
    text = data.decode("latin-1")  # one character per octet
    if 0x25 in octets:  # "%" first: the escapes written after it contain "%"
        text = text.replace("%", "%25")
        octets.discard(0x25)
    for octet in octets:
        text = text.replace(chr(octet), _ESCAPES[octet])
    return text


_URI_ALPHABET = _UNRESERVED + b":/"


def _encode_uri(uri: str) -> str:
    """percent_encode(uri), quicker for a URI of unreserved characters, ":" and "/"."""
    data = uri.encode("utf-8", "surrogateescape")
    if data.translate(None, _URI_ALPHABET):
        return _escape_octets(data, data.translate(None, _UNRESERVED))
    return uri.replace(":", "%3A").replace("/", "%2F")


def _is_unreserved(text: str) -> bool:
    """Tell whether text needs no percent-encoding at all (RFC 5849 §3.6)."""
    return not text.encode("utf-8", "surrogateescape").translate(None, _UNRESERVED)


_DEFAULT_PORTS = {"http": 80, "https": 443}


# http(s)://host[:port] and a path, ASCII only, no userinfo, no IPv6, no
# space, and none of the characters urlsplit removes or strips: everything
# else takes urlsplit's way below.
_PLAIN_URL = re.compile(
    r"(https?)://([a-z0-9.-]+)(?::([0-9]{1,5}))?(/[^?# \t\r\n]*)?(?:[?#]|\Z)", re.IGNORECASE | re.ASCII
)


def base_string_uri(url: str) -> str:
    """Build the base string URI (RFC 5849 §3.4.1.2)."""
    plain = _PLAIN_URL.match(url)
    if plain is not None:
        # The same steps as below, on the parts the expression found.
        scheme, host, port_text, path = plain.groups()
        if scheme != "https" and scheme != "http":
            scheme = scheme.lower()
        host = host.lower()
        if port_text is None:
            return f"{scheme}://{host}{path or '/'}"
        number = int(port_text)
        if number <= 65535:
            netloc = host if number == _DEFAULT_PORTS[scheme] else f"{host}:{number}"
            return f"{scheme}://{netloc}{path or '/'}"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"URL {url!r} is not http or https")
    host = parts.hostname
    if not host:
        raise ValueError(f"URL {url!r} has no host")
    # 1. "The scheme and host MUST be in lowercase."
    host = host.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    # 3. "The port MUST be included if it is not the default port for the
    #    scheme, and MUST be excluded if it is the default."
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    # Interpretation: the path is taken as sent (already percent-encoded
    # by the client), an empty path is "/" (RFC 7230 §5.3.1), and only a
    # space would be encoded, the way oauthlib's verifier does.
    path = (parts.path or "/").replace(" ", "%20")
    return f"{scheme}://{netloc}{path}"


def parse_form(data: bytes) -> list[Param]:
    """Decode an application/x-www-form-urlencoded string into name/value bytes.

    W3C HTML 4.0 §17.13.4 as RFC 5849 §3.4.1.3.1 asks: "+" is a space, %XX an
    octet; an empty segment is dropped, a bare name has the empty value.
    """
    params: list[Param] = []
    for segment in data.split(b"&"):
        if not segment:
            continue
        name, _, value = segment.partition(b"=")
        params.append(
            (
                unquote_to_bytes(name.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )
        )
    return params


def is_form_content_type(content_type: str | None) -> bool:
    """Tell whether a Content-Type names a form body, in any case, with any parameters."""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/x-www-form-urlencoded"


def _query_of(url: str) -> str:
    before_fragment = url.partition("#")[0]
    return before_fragment.partition("?")[2]


def collect_parameters(
    request: RequestToSign, oauth_params: Iterable[tuple[str, str]]
) -> list[Param]:
    """Collect the request parameters (RFC 5849 §3.4.1.3.1)."""
    # "The query component of the HTTP request URI ... is parsed into a
    # list of name/value pairs by treating it as an
    # "application/x-www-form-urlencoded" string"
    params = parse_form(_query_of(request.url).encode("utf-8", "surrogateescape"))
    # "The OAuth HTTP "Authorization" header field (Section 3.5.1) if
    # present ... excluding the "realm" parameter if present."
    params.extend((k.encode(), v.encode()) for k, v in oauth_params)
    # "The HTTP request entity-body, but only if ... the "Content-Type"
    # header field set to "application/x-www-form-urlencoded"."
    if request.body and is_form_content_type(request.content_type):
        params.extend(parse_form(request.body))
    # "The "oauth_signature" parameter MUST be excluded from the signature
    # base string if present."
    return [p for p in params if p[0] != b"oauth_signature"]


# Interpretation (speed, not meaning): inside this module a parameter whose
# name and value are encoded travels as one "name\x00value" string, an item.
# Encoded text has no character below "%", so sorting items as strings sorts
# by name, then by value, exactly as §3.4.1.3.2 step 2 sorts the pairs.
_SEP = "\x00"
# Segments of "name=value", one "=" each, none empty, only unreserved
# characters and "%" in names and values: perhaps canonical already.
_FORM_LAYOUT = re.compile(rb"(?:[A-Za-z0-9._~%-]*=[A-Za-z0-9._~%-]*&)*[A-Za-z0-9._~%-]*=[A-Za-z0-9._~%-]*")
# A "%" that is not an upper-case escape of an octet outside the unreserved
# set: "%7E", "%41", "%2b" or "%zz" decode and encode to something else.
_NONCANONICAL_ESCAPE = re.compile(
    rb"%(?!(?:[01][0-9A-F]|2[0-9A-CF]|3[A-F]|40|5[B-E]|60|7[B-DF]|[89A-F][0-9A-F]))"
)


def _form_items(data: bytes) -> list[str]:
    """Decode a query or form body and encode each name and value, as items (RFC 5849 §3.4.1.3.1, §3.4.1.3.2 step 1).

    The same as ``[f"{percent_encode(k)}\x00{percent_encode(v)}" for k, v in parse_form(data)]``.
    """
    if _FORM_LAYOUT.fullmatch(data) and (b"%" not in data or not _NONCANONICAL_ESCAPE.search(data)):
        # Canonical already: decoding then encoding gives every name and
        # value back as written.
        return data.decode("ascii").replace("=", _SEP).split("&")
    return [f"{percent_encode(k)}{_SEP}{percent_encode(v)}" for k, v in parse_form(data)]


def _strip_to_items(data: bytes) -> tuple[bytes, list[str]]:
    """strip_oauth_parameters(data) and the _form_items of what is left, in one pass when data is canonical."""
    if _FORM_LAYOUT.fullmatch(data) and (b"%" not in data or not _NONCANONICAL_ESCAPE.search(data)):
        # Canonical: a name decodes to "oauth_..." exactly when it is written
        # "oauth_..." (no unreserved character is ever escaped).
        if data.startswith(b"oauth_") or b"&oauth_" in data:
            data = b"&".join([segment for segment in data.split(b"&") if not segment.startswith(b"oauth_")])
            if not data:
                return data, []
        return data, data.decode("ascii").replace("=", _SEP).split("&")
    data = strip_oauth_parameters(data)
    return data, _form_items(data) if data else []


def normalize_parameters(params: Iterable[Param]) -> str:
    """Normalize the collected parameters into one string (RFC 5849 §3.4.1.3.2)."""
    # 1. "First, the name and value of each parameter are encoded (Section 3.6)."
    items = [f"{percent_encode(k)}{_SEP}{percent_encode(v)}" for k, v in params]
    return _join_items(items).replace(_SEP, "=")


def _join_items(items: list[str]) -> str:
    """Sort and join items; the separators stay for the caller to replace (RFC 5849 §3.4.1.3.2, 2-4)."""
    # 2. "The parameters are sorted by name, using ascending byte value
    #    ordering. If two or more parameters share the same name, they are
    #    sorted by their value."
    items.sort()
    # 3./4. "The name of each parameter is concatenated to its corresponding
    # value using an "=" character ... The sorted name/value pairs are
    # concatenated together into a single string by using an "&" character"
    return "&".join(items)


def signature_base_string(method: str, uri: str, normalized_parameters: str) -> str:
    """Join method, base string URI and parameters (RFC 5849 §3.4.1.1)."""
    # 1. "The HTTP request method in uppercase." 2. "An "&" character."
    # 3. "The base string URI from Section 3.4.1.2, after being encoded."
    # 4. "An "&" character." 5. "The request parameters as normalized in
    # Section 3.4.1.3.2, after being encoded (Section 3.6)."
    return "&".join(
        (percent_encode(method.upper()), percent_encode(uri), percent_encode(normalized_parameters))
    )


def signing_key(client: ClientCredentials, token: TokenCredentials | None) -> str:
    """Build the HMAC/PLAINTEXT key from the two secrets (RFC 5849 §3.4.2, §3.4.4)."""
    # "The key is set to the concatenated values of: 1. The client shared-
    # secret, after being encoded (Section 3.6). 2. An "&" character (ASCII
    # code 38), which MUST be included even when either secret is empty.
    # 3. The token shared-secret, after being encoded (Section 3.6)."
    token_secret = token.secret if token is not None else ""
    if _is_unreserved(client.secret + token_secret):  # one check for both
        return f"{client.secret}&{token_secret}"
    return f"{percent_encode(client.secret)}&{percent_encode(token_secret)}"


def hmac_signature(base_string: str, key: str, hash_name: str = "sha1") -> str:
    """Compute an HMAC-SHA* signature, base64-encoded (RFC 5849 §3.4.2)."""
    # "digest = HMAC-SHA1 (key, text)" ... "The "oauth_signature" protocol
    # parameter is set to the result of the "digest" value, after the result
    # octet string is base64-encoded per [RFC2045], Section 6.8."
    digest = hmac.digest(key.encode("ascii"), base_string.encode("ascii"), hash_name)
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def body_hash(body: bytes, hash_name: str) -> str:
    """Compute oauth_body_hash: the base64 hash of the raw body (OAuth Request Body Hash §3.2)."""
    return base64.b64encode(hashlib.new(hash_name, body).digest()).decode("ascii")


def authorization_header(oauth_params: Sequence[tuple[str, str]], realm: str | None) -> str:
    """Render the OAuth Authorization header value (RFC 5849 §3.5.1)."""
    # "Parameter names and values are encoded per Parameter Encoding
    # (Section 3.6)." "The OPTIONAL "realm" parameter MAY be added".
    return _render_authorization([(percent_encode(k), percent_encode(v)) for k, v in oauth_params], realm)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _render_authorization(encoded: Sequence[tuple[str, str]], realm: str | None) -> str:
    """Render the header from encoded names and values (RFC 5849 §3.5.1)."""
    items = [f'{k}="{v}"' for k, v in encoded]
    if realm is not None:
        # Interpretation: realm goes first and is a quoted-string (RFC 2617
        # §1.2), so only '"' and '\' need escaping, not percent-encoding.
        # A quoted-string carries no control character but HTAB (RFC 7230
        # §3.2.6): a CR or LF would end the header and start another.
        if _CONTROL.search(realm):
            raise ValueError(
                f"realm {realm!r} holds a control character, which an Authorization header cannot carry "
                "(RFC 7230 §3.2.6); remove it from the profile's realm"
            )
        escaped = realm.replace("\\", "\\\\").replace('"', '\\"')
        items.insert(0, f'realm="{escaped}"')
    return "OAuth " + ", ".join(items)


def _is_oauth_segment(segment: bytes) -> bool:
    name = segment.partition(b"=")[0]
    return unquote_to_bytes(name.replace(b"+", b" ")).startswith(b"oauth_")


# A name (what comes before the first "=" of a segment) with a "%" in it,
# after the first segment.
_ESCAPED_LATER_NAME = re.compile(rb"&[^=&%]*%")


def strip_oauth_parameters(data: bytes) -> bytes:
    """Drop every ``oauth_*`` parameter from a query or form body, byte for byte otherwise."""
    # Fast path only when no name can decode to "oauth_": any escape could
    # spell it ("%6Fauth_nonce"), so a name with a "%" takes the slow path.
    if b"oauth_" not in data and (
        b"%" not in data
        or (b"%" not in data.split(b"&", 1)[0].partition(b"=")[0] and not _ESCAPED_LATER_NAME.search(data))
    ):
        return data
    return b"&".join(s for s in data.split(b"&") if not _is_oauth_segment(s))


def _append_params(data: bytes, params: Sequence[tuple[str, str]]) -> bytes:
    extra = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params).encode()
    if not data:
        return extra
    return data + (b"" if data.endswith(b"&") else b"&") + extra


def sign_request(
    request: RequestToSign,
    *,
    client: ClientCredentials,
    token: TokenCredentials | None,
    signature_method: SignatureMethod,
    nonce: str,
    timestamp: str,
    placement: Placement = Placement.HEADER,
    realm: str | None = None,
    include_body_hash: bool = False,
    extra_oauth_params: Sequence[tuple[str, str]] = (),
    body_hash_on_forms: bool = False,
    exclude_params: Collection[str] = (),
    key_ampersand: bool = True,
) -> SignedRequest:
    """Sign a request and place its protocol parameters (RFC 5849 §3.1–§3.5).

    Returns the URL, body and Authorization value to send: any ``oauth_*``
    parameter the client put in the query or a form body is replaced.

    ``extra_oauth_params`` carries ``oauth_callback`` or ``oauth_verifier``
    during the token dance (RFC 5849 §2.1, §2.3). Providers' quirks (issue 7):
    ``body_hash_on_forms`` hashes form bodies too (Mastercard);
    ``exclude_params`` leaves named query/form parameters out of the base
    string (Flickr's "photo"); ``key_ampersand=False`` drops the key's
    trailing "&" on consumer-only requests (WooCommerce's legacy variant).
    """
    is_form = request.content_type is not None and is_form_content_type(request.content_type)
    # SPEC §5: "A client-supplied OAuth Authorization header and oauth_*
    # parameters are replaced": drop them from the query and a form body,
    # leaving every other byte as the client sent it.
    url = request.url
    path, _, query = (url.partition("#")[0] if "#" in url else url).partition("?")
    query_bytes = b""
    query_items: list[str] = []  # the query's parameters, encoded, as items (see _SEP)
    if query:
        query_bytes = query.encode("utf-8", "surrogateescape")
        stripped, query_items = _strip_to_items(query_bytes)
        if stripped is not query_bytes:
            query_bytes, query = stripped, stripped.decode("utf-8", "surrogateescape")
    url = f"{path}?{query}" if query else path
    body = request.body
    body_items: list[str] = []
    if is_form and body:
        body, body_items = _strip_to_items(body)
    if url != request.url or body is not request.body:
        request = RequestToSign(method=request.method, url=url, content_type=request.content_type, body=body)
    if placement is Placement.BODY and not is_form:
        # SPEC §4: body placement applies to form requests only; others fall
        # back to the header (RFC 5849 §3.5.2 lists the same conditions).
        placement = Placement.HEADER
    # RFC 5849 §3.1: the protocol parameters.
    oauth_params: list[tuple[str, str]] = [("oauth_consumer_key", client.key)]
    token_text = ""
    if token is not None:
        # "oauth_token ... MAY be omitted when making requests not associated
        # with a resource owner": consumer-only requests carry none at all.
        token_text = token.token
        oauth_params.append(("oauth_token", token_text))
    oauth_params += [
        ("oauth_signature_method", _METHOD_NAMES[signature_method]),
        ("oauth_timestamp", timestamp),
        ("oauth_nonce", nonce),
        ("oauth_version", "1.0"),
    ]
    protocol_count = len(oauth_params)
    oauth_params.extend(extra_oauth_params)
    if include_body_hash and (not is_form or body_hash_on_forms):
        # OAuth Request Body Hash §4.1.1: "Not include an oauth_body_hash
        # parameter" on form-encoded requests; others hash the raw body,
        # the empty body included. Interpretation: body_hash_on_forms
        # (Mastercard's signer) hashes form bodies as well.
        oauth_params.append(("oauth_body_hash", body_hash(request.body, signature_method.hash_name)))

    uri = base_string_uri(request.url)
    # collect_parameters then normalize_parameters, as items, without
    # decoding and encoding again what is canonical already (_form_items):
    # the protocol parameters (their names are unreserved text; the values
    # usually are), "The query component of the HTTP request URI", and "The
    # HTTP request entity-body" of a form request.
    values = f"{client.key}{token_text}{timestamp}{nonce}"  # the others are unreserved constants
    if len(oauth_params) == protocol_count and not values.encode("utf-8", "surrogateescape").translate(
        None, _UNRESERVED
    ):
        # A copy, never the list itself: the signature is appended to
        # oauth_params below, and the header adds its encoded form once
        # (RFC 5849 §3.5.1: each parameter once; §3.2: servers SHOULD
        # refuse a duplicated protocol parameter).
        encoded_oauth = tuple(oauth_params)
    else:
        encoded_oauth = tuple((percent_encode(k), percent_encode(v)) for k, v in oauth_params)
    # "The "oauth_signature" parameter MUST be excluded from the signature
    # base string if present." The query and a form body have none left
    # (stripped above); only extra_oauth_params could bring one. (An encoded
    # name is "oauth_signature" exactly when the decoded one is.)
    if extra_oauth_params:
        items = [f"{k}{_SEP}{v}" for k, v in encoded_oauth if k != "oauth_signature"]
    else:
        items = [f"{k}{_SEP}{v}" for k, v in encoded_oauth]
    items += query_items
    items += body_items
    if exclude_params:
        # Interpretation (a provider's quirk, never the RFC): these names are
        # sent but not signed. Items hold canonical encodings, so encoded
        # names compare exactly.
        left_out = {percent_encode(name) for name in exclude_params}
        items = [item for item in items if item.partition(_SEP)[0] not in left_out]
    joined = _join_items(items)
    normalized = joined.replace(_SEP, "=")
    # signature_base_string(request.method, uri, normalized), with step 5's
    # encoding done on the joined items, whose names and values are encoded
    # already: "%", "=" (the separator) and "&" are all there is to encode.
    method = request.method.upper()
    base_string = "&".join((
        method if method.isalpha() and method.isascii() else percent_encode(method),
        _encode_uri(uri),
        joined.replace("%", "%25").replace(_SEP, "%3D").replace("&", "%26"),
    ))

    key = signing_key(client, token)
    if not key_ampersand and token is None:
        # Interpretation: WooCommerce's legacy signers left out the "&" that
        # RFC 5849 §3.4.2 says "MUST be included even when either secret is
        # empty"; only consumer-only requests can differ this way.
        key = key[:-1]
    if signature_method is SignatureMethod.PLAINTEXT:
        # RFC 5849 §3.4.4: "The "oauth_signature" protocol parameter is set
        # to the concatenated value of" the two encoded secrets.
        signature = key
    elif signature_method in _HMAC_METHODS:
        # hmac_signature(base_string, key, ...), inlined: this runs for every request.
        digest = hmac.digest(key.encode("ascii"), base_string.encode("ascii"), _HASH_NAMES[signature_method])
        signature = binascii.b2a_base64(digest, newline=False).decode("ascii")
    else:
        if client.rsa_signer is None:
            raise ValueError(f"{signature_method} needs a private key")
        # RFC 5849 §3.4.3: "S = RSASSA-PKCS1-V1_5-SIGN (K, M)" with M the
        # signature base string, base64-encoded.
        raw = client.rsa_signer(base_string.encode("ascii"), _HASH_NAMES[signature_method])
        signature = base64.b64encode(raw).decode("ascii")
    oauth_params.append(("oauth_signature", signature))

    authorization = None
    if placement is Placement.HEADER:
        if signature_method in _BASE64_SIGNATURES:
            # Base64 (RFC 2045 §6.8) leaves only "+", "/" and "=" to encode.
            encoded_signature = signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        else:
            encoded_signature = percent_encode(signature)
        if realm is None:
            # _render_authorization(encoded_oauth + [the signature], None), without the copies.
            authorization = "OAuth " + ", ".join([f'{k}="{v}"' for k, v in encoded_oauth]) \
                + f', oauth_signature="{encoded_signature}"'
        else:
            authorization = _render_authorization([*encoded_oauth, ("oauth_signature", encoded_signature)], realm)
    elif placement is Placement.QUERY:
        # RFC 5849 §3.5.3: "added to the HTTP request URI as a query component".
        new_query = _append_params(query_bytes, oauth_params)
        url = f"{path}?{new_query.decode('utf-8', 'surrogateescape')}"
    else:
        # RFC 5849 §3.5.2: "added to the HTTP request entity-body".
        body = _append_params(request.body, oauth_params)
    return SignedRequest(url, authorization, body, tuple(oauth_params), base_string, normalized)
