"""Sign an HTTP request as RFC 5849 (OAuth 1.0a) requires.

The one canonical reference is https://www.rfc-editor.org/rfc/rfc5849

Over 400 lines on purpose: the recipe reads top to bottom in one file, each
step under its § heading with the RFC's words above the line that does it
(issue 13). What is not the recipe lives elsewhere: the shortcuts in
signing_fast.py, the strict wire grammar in wire_grammar.py.

Rule: no I/O, no clock, no randomness in this module. Callers pass the nonce
and the timestamp (RFC 5849 §3.3) and already-loaded keys.

Rule: ``sign_request`` (at the bottom) composes the steps below, each a
function under a heading naming its section, in the RFC's order:

1. The protocol parameters (§3.1): ``protocol_parameters``, and
   ``body_hash`` (OAuth Request Body Hash).
2. Encode them (§3.6): ``percent_encode``, ``encode_protocol_parameters``.
3. Collect the request parameters: the query, a form body, and the protocol
   parameters, never ``oauth_signature`` nor ``realm`` (§3.4.1.3.1):
   ``collect_parameters``; encoded: ``encoded_request_parameters``.
4. Normalize them: encode names and values, sort, join (§3.4.1.3.2):
   ``encode_parameters``, ``join_parameters``, ``normalize_parameters``.
5. The base string URI: lower-case scheme and host, no default port, the
   path as sent, no query (§3.4.1.2): ``base_string_uri``.
6. Join method, base string URI and normalized parameters into the
   signature base string (§3.4.1.1): ``signature_base_string``.
7. Sign it (§3.4.2–§3.4.4): ``signing_key``, ``hmac_signature``,
   ``rsa_signature``, ``make_signature``.
8. Place the protocol parameters in the ``Authorization`` header (§3.5.1),
   the form body (§3.5.2) or the query (§3.5.3): ``render_authorization``,
   ``append_parameters``, ``place_parameters``.

Before step 1, SPEC §5: the client's own ``oauth_*`` parameters are
removed (``strip_oauth_parameters``, ``without_client_oauth_parameters``).
And before that, step 0: a request of a shape signed before (same method,
URL, form body, credentials and options) is the recipe's own output for
marker values with this nonce and timestamp written in, and a fresh HMAC
(``signing_plan.py`` says why that is octet for octet the recipe's answer,
and when it is not used).

Rule: speed lives apart. Where a step has a faster form, the step calls it by
name from ``signing_fast`` (``shortcuts.X``) and runs its own recipe, the code
under the RFC quote, whenever the shortcut does not apply. Every shortcut is
compared with the recipe it replaces in tests/test_signing_fast.py; the whole
signer with tests/wire.py's independent recipe in
tests/test_signing_differential.py.

Byte strings travel through here: a query or form value that is not UTF-8
is signed as the bytes it is, so the client's bytes are never re-encoded.
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
from urllib.parse import unquote_to_bytes, urlsplit

from . import signing_fast as shortcuts
from . import signing_plan as plans

__all__ = [
    "SignatureMethod", "Placement", "RequestToSign", "ClientCredentials", "TokenCredentials", "RSASigner",
    "SignedRequest", "percent_encode", "encode_octets", "protocol_parameters", "encode_protocol_parameters",
    "base_string_uri", "parse_form", "collect_parameters", "encoded_form_items", "encoded_request_parameters",
    "encode_parameters", "join_parameters", "normalize_parameters", "signature_base_string", "signing_key",
    "hmac_signature", "rsa_signature", "make_signature", "body_hash", "authorization_header",
    "render_authorization", "append_parameters", "place_parameters", "is_form_content_type",
    "strip_oauth_parameters", "without_client_oauth_parameters", "sign_request",
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


# --- RFC 5849 §3.6 Percent Encoding ------------------------------------------------------------

# "Characters in the unreserved character set as defined by [RFC3986],
# Section 2.3 (ALPHA, DIGIT, "-", ".", "_", "~") MUST NOT be encoded."
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# "All other characters MUST be encoded." ... "The two hexadecimal
# characters used to represent encoded characters MUST be uppercase."
_ENCODED_OCTET = tuple(chr(octet) if octet in _UNRESERVED else f"%{octet:02X}" for octet in range(256))


def percent_encode(value: str | bytes) -> str:
    """Percent-encode a value as RFC 5849 §3.6 requires (UTF-8 first)."""
    # "Text values MUST be encoded as UTF-8 octets [RFC3629] prior to
    # percent-encoding them."
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    encoded = shortcuts.percent_encode(data)
    return encoded if encoded is not None else encode_octets(data)


def encode_octets(data: bytes) -> str:
    """Encode octets one by one: unreserved ones as themselves, the others as ``%XX`` (RFC 5849 §3.6)."""
    return "".join([_ENCODED_OCTET[octet] for octet in data])


def encode_protocol_parameters(params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Encode each protocol parameter's name and value (RFC 5849 §3.5.1, §3.6)."""
    if shortcuts.protocol_parameters_unreserved(params):  # the usual case: a copy
        return list(params)
    # "Parameter names and values are encoded per Parameter Encoding (Section 3.6)."
    return [(percent_encode(name), percent_encode(value)) for name, value in params]


# --- SPEC §5: the client's own protocol parameters are replaced --------------------------------


def _is_oauth_segment(segment: bytes) -> bool:
    name = segment.partition(b"=")[0]
    return unquote_to_bytes(name.replace(b"+", b" ")).startswith(b"oauth_")


def strip_oauth_parameters(data: bytes) -> bytes:
    """Drop every ``oauth_*`` parameter from a query or form body, byte for byte otherwise."""
    if shortcuts.holds_no_oauth_name(data):
        return data
    return b"&".join(s for s in data.split(b"&") if not _is_oauth_segment(s))


def without_client_oauth_parameters(request: RequestToSign, is_form: bool) -> RequestToSign:
    """The request with no ``oauth_*`` in its query or form body, and no fragment (SPEC §5)."""
    # SPEC §5: "A client-supplied OAuth Authorization header and oauth_*
    # parameters are replaced": drop them, leaving every other byte as sent.
    url = request.url
    path, _, query = (url.partition("#")[0] if "#" in url else url).partition("?")
    changed = "#" in url or not query and "?" in url
    if query:
        query_bytes = query.encode("utf-8", "surrogateescape")
        if not shortcuts.holds_no_oauth_name(query_bytes):
            stripped = strip_oauth_parameters(query_bytes)
            query, changed = stripped.decode("utf-8", "surrogateescape"), True
    body = request.body
    if is_form and body and not shortcuts.holds_no_oauth_name(body):
        body = strip_oauth_parameters(body)
    if not changed and body is request.body:
        return request
    url = f"{path}?{query}" if query else path
    return RequestToSign(method=request.method, url=url, content_type=request.content_type, body=body)


# --- RFC 5849 §3.1 Making Requests: the protocol parameters ------------------------------------


def protocol_parameters(
    client: ClientCredentials,
    token: TokenCredentials | None,
    signature_method: SignatureMethod,
    timestamp: str,
    nonce: str,
    extra: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """List the protocol parameters in the order they are sent, the signature aside (RFC 5849 §3.1)."""
    params = [("oauth_consumer_key", client.key)]
    if token is not None:
        # "oauth_token ... MAY be omitted when making requests not associated
        # with a resource owner": consumer-only requests carry none at all.
        params.append(("oauth_token", token.token))
    params += [
        ("oauth_signature_method", _METHOD_NAMES[signature_method]),
        ("oauth_timestamp", timestamp),
        ("oauth_nonce", nonce),
        ("oauth_version", "1.0"),
    ]
    # extra: oauth_callback or oauth_verifier during the dance (§2.1, §2.3).
    params.extend(extra)
    return params


def body_hash(body: bytes, hash_name: str) -> str:
    """Compute oauth_body_hash: the base64 hash of the raw body (OAuth Request Body Hash §3.2)."""
    return base64.b64encode(hashlib.new(hash_name, body).digest()).decode("ascii")


# --- RFC 5849 §3.4.1.2 Base String URI -----------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def base_string_uri(url: str) -> str:
    """Build the base string URI (RFC 5849 §3.4.1.2)."""
    uri = shortcuts.base_string_uri(url)
    if uri is not None:
        return uri
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


# --- RFC 5849 §3.4.1.3.1 Parameter Sources -------------------------------------------------------


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
        params.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
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


def collect_parameters(request: RequestToSign, oauth_params: Iterable[tuple[str, str]]) -> list[Param]:
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


def encoded_form_items(data: bytes) -> list[str]:
    """Decode a query or form body, then encode each name and value, as items (RFC 5849 §3.4.1.3.1, §3.4.1.3.2 1)."""
    items = shortcuts.canonical_form_items(data)
    return items if items is not None else encode_parameters(parse_form(data))


def encoded_request_parameters(
    request: RequestToSign, encoded_oauth: Sequence[tuple[str, str]], is_form: bool
) -> list[str]:
    """encode_parameters(collect_parameters(request, oauth_params)), from the encoded protocol parameters.

    For a request with no ``oauth_*`` left in its query or body
    (without_client_oauth_parameters); ``is_form``: its Content-Type names a form.
    """
    # The protocol parameters, "excluding the "realm" parameter"; "The
    # "oauth_signature" parameter MUST be excluded" (only the dance's extra
    # parameters could bring one; an encoded name is "oauth_signature"
    # exactly when the decoded one is).
    items = [f"{name}{_SEP}{value}" for name, value in encoded_oauth if name != "oauth_signature"]
    # "The query component of the HTTP request URI".
    query = request.url.partition("#")[0].partition("?")[2]  # _query_of(request.url)
    if query:
        query_bytes = query.encode("utf-8", "surrogateescape")
        # encoded_form_items(query_bytes), its shortcut called here first.
        items += shortcuts.canonical_form_items(query_bytes) or encode_parameters(parse_form(query_bytes))
    # "The HTTP request entity-body" of a form request.
    if is_form and request.body:
        items += shortcuts.canonical_form_items(request.body) or encode_parameters(parse_form(request.body))
    return items


# --- RFC 5849 §3.4.1.3.2 Parameters Normalization ----------------------------------------------

_SEP = shortcuts.SEP  # an item is "name\x00value", encoded (signing_fast.py's Interpretation)


def encode_parameters(params: Iterable[Param]) -> list[str]:
    """Encode each name and value, as items (RFC 5849 §3.4.1.3.2 step 1)."""
    # 1. "First, the name and value of each parameter are encoded (Section 3.6)."
    return [f"{percent_encode(name)}{_SEP}{percent_encode(value)}" for name, value in params]


def join_parameters(items: list[str]) -> str:
    """Sort the encoded items and join them into the normalized parameters (RFC 5849 §3.4.1.3.2 steps 2-4)."""
    # 2. "The parameters are sorted by name, using ascending byte value
    #    ordering. If two or more parameters share the same name, they are
    #    sorted by their value."
    items.sort()
    # 3. "The name of each parameter is concatenated to its corresponding
    #    value using an "=" character (ASCII code 61) as a separator, even if
    #    the value is empty." 4. "The sorted name/value pairs are
    #    concatenated together into a single string by using an "&" character"
    return "&".join(items).replace(_SEP, "=")


def normalize_parameters(params: Iterable[Param]) -> str:
    """Normalize the collected parameters into one string (RFC 5849 §3.4.1.3.2)."""
    return join_parameters(encode_parameters(params))


# --- RFC 5849 §3.4.1.1 String Construction -----------------------------------------------------


def signature_base_string(method: str, uri: str, normalized_parameters: str) -> str:
    """Join method, base string URI and parameters (RFC 5849 §3.4.1.1)."""
    # 1. "The HTTP request method in uppercase." 2. "An "&" character."
    # 3. "The base string URI from Section 3.4.1.2, after being encoded."
    # 4. "An "&" character." 5. "The request parameters as normalized in
    # Section 3.4.1.3.2, after being encoded (Section 3.6)."
    base_string = shortcuts.signature_base_string(method, uri, normalized_parameters)
    if base_string is not None:
        return base_string
    return "&".join(
        (percent_encode(method.upper()), percent_encode(uri), percent_encode(normalized_parameters))
    )


# --- RFC 5849 §3.4.2 HMAC-SHA1, §3.4.3 RSA-SHA1, §3.4.4 PLAINTEXT --------------------------------


def signing_key(client: ClientCredentials, token: TokenCredentials | None) -> str:
    """Build the HMAC/PLAINTEXT key from the two secrets (RFC 5849 §3.4.2, §3.4.4)."""
    # "The key is set to the concatenated values of: 1. The client shared-
    # secret, after being encoded (Section 3.6). 2. An "&" character (ASCII
    # code 38), which MUST be included even when either secret is empty.
    # 3. The token shared-secret, after being encoded (Section 3.6)."
    token_secret = token.secret if token is not None else ""
    if shortcuts.is_unreserved(client.secret + token_secret):  # both encode to themselves
        return f"{client.secret}&{token_secret}"
    return f"{percent_encode(client.secret)}&{percent_encode(token_secret)}"


def hmac_signature(base_string: str, key: str, hash_name: str = "sha1") -> str:
    """Compute an HMAC-SHA* signature, base64-encoded (RFC 5849 §3.4.2)."""
    # "digest = HMAC-SHA1 (key, text)" ... "The "oauth_signature" protocol
    # parameter is set to the result of the "digest" value, after the result
    # octet string is base64-encoded per [RFC2045], Section 6.8."
    digest = hmac.digest(key.encode("ascii"), base_string.encode("ascii"), hash_name)
    return binascii.b2a_base64(digest, newline=False).decode("ascii")


def rsa_signature(base_string: str, client: ClientCredentials, signature_method: SignatureMethod) -> str:
    """Compute an RSA-SHA* signature with the client's private key, base64-encoded (RFC 5849 §3.4.3)."""
    if client.rsa_signer is None:
        raise ValueError(f"{signature_method} needs a private key")
    # "S = RSASSA-PKCS1-V1_5-SIGN (K, M)" with M the signature base string;
    # "oauth_signature ... set to S, after the result octet string is base64-encoded".
    raw = client.rsa_signer(base_string.encode("ascii"), _HASH_NAMES[signature_method])
    return base64.b64encode(raw).decode("ascii")


def _method_key(client: ClientCredentials, token: TokenCredentials | None, key_ampersand: bool) -> str:
    """The HMAC/PLAINTEXT key (signing_key), with a profile's key_ampersand quirk."""
    key = signing_key(client, token)
    if not key_ampersand and token is None:
        # Interpretation: WooCommerce's legacy signers left out the "&" that
        # RFC 5849 §3.4.2 says "MUST be included even when either secret is
        # empty"; only consumer-only requests can differ this way.
        key = key[:-1]
    return key


def make_signature(
    base_string: str,
    signature_method: SignatureMethod,
    client: ClientCredentials,
    token: TokenCredentials | None,
    key_ampersand: bool = True,
) -> str:
    """Sign the base string with the method's key (RFC 5849 §3.4.2–§3.4.4)."""
    key = _method_key(client, token, key_ampersand)
    if signature_method is SignatureMethod.PLAINTEXT:
        # §3.4.4: "The "oauth_signature" protocol parameter is set to the
        # concatenated value of" the two encoded secrets: the key.
        return key
    if signature_method in _HMAC_METHODS:
        return hmac_signature(base_string, key, _HASH_NAMES[signature_method])
    return rsa_signature(base_string, client, signature_method)


# --- RFC 5849 §3.5 Parameter Transmission ------------------------------------------------------


def authorization_header(oauth_params: Sequence[tuple[str, str]], realm: str | None) -> str:
    """Render the OAuth Authorization header value (RFC 5849 §3.5.1)."""
    return render_authorization(encode_protocol_parameters(oauth_params), realm)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def render_authorization(encoded: Sequence[tuple[str, str]], realm: str | None) -> str:
    """Render the header from encoded names and values (RFC 5849 §3.5.1)."""
    # "2. Each parameter's name is immediately followed by an "=" character
    # (ASCII code 61), a """ character (ASCII code 34), the parameter value
    # (MAY be empty), and another """ character" ... "4. Parameters are
    # separated by a "," character (ASCII code 44) and OPTIONAL linear whitespace"
    items = [f'{k}="{v}"' for k, v in encoded]
    if realm is not None:
        # "The OPTIONAL "realm" parameter MAY be added". Interpretation: realm
        # goes first and is a quoted-string (RFC 2617 §1.2), so only '"' and
        # '\' need escaping, not percent-encoding. A quoted-string carries no
        # control character but HTAB (RFC 7230 §3.2.6): a CR or LF would end
        # the header and start another.
        if _CONTROL.search(realm):
            raise ValueError(
                f"realm {realm!r} holds a control character, which an Authorization header cannot carry "
                "(RFC 7230 §3.2.6); remove it from the profile's realm"
            )
        escaped = realm.replace("\\", "\\\\").replace('"', '\\"')
        items.insert(0, f'realm="{escaped}"')
    return "OAuth " + ", ".join(items)


def append_parameters(data: bytes, encoded: Sequence[tuple[str, str]]) -> bytes:
    """Add encoded parameters to a query or form body (RFC 5849 §3.5.2, §3.5.3)."""
    extra = "&".join([f"{k}={v}" for k, v in encoded]).encode()
    if not data:
        return extra
    return data + (b"" if data.endswith(b"&") else b"&") + extra


def place_parameters(
    request: RequestToSign, encoded: Sequence[tuple[str, str]], placement: Placement, realm: str | None
) -> tuple[str, str | None, bytes]:
    """The URL, Authorization value and body that carry the encoded protocol parameters (RFC 5849 §3.5)."""
    if placement is Placement.HEADER:
        # §3.5.1: "the "Authorization" header field".
        return request.url, render_authorization(encoded, realm), request.body
    if placement is Placement.QUERY:
        # §3.5.3: "added to the HTTP request URI as a query component".
        path, _, query = request.url.partition("?")
        new_query = append_parameters(query.encode("utf-8", "surrogateescape"), encoded)
        return f"{path}?{new_query.decode('utf-8', 'surrogateescape')}", None, request.body
    # §3.5.2: "added to the HTTP request entity-body".
    return request.url, None, append_parameters(request.body, encoded)


# --- The whole request: RFC 5849 §3.1–§3.5 -----------------------------------------------------


def _plan_key(request: RequestToSign, client: ClientCredentials, token: TokenCredentials | None,
              signature_method: SignatureMethod, placement: Placement, realm: str | None, include_body_hash: bool,
              body_hash_on_forms: bool, exclude_params: Collection[str], key_ampersand: bool,
              is_form: bool) -> tuple[object, ...] | None:
    """The shape a plan of this request is kept under (signing_plan.py); None: it is never planned."""
    if signature_method not in _HMAC_METHODS:
        return None
    keeps_body = is_form or include_body_hash
    url, body = request.url, request.body
    if len(url) > plans.MAX_KEYED_BYTES or (keeps_body and len(body) > plans.MAX_KEYED_BYTES):
        return None
    return (signature_method, client.key, client.secret, None if token is None else token.token,
            None if token is None else token.secret, request.method, url, request.content_type,
            body if keeps_body else None, placement, realm, include_body_hash, body_hash_on_forms,
            tuple(exclude_params), key_ampersand)


def plan_of(
    request: RequestToSign,
    *,
    client: ClientCredentials,
    token: TokenCredentials | None,
    signature_method: SignatureMethod,
    placement: Placement = Placement.HEADER,
    realm: str | None = None,
    include_body_hash: bool = False,
    body_hash_on_forms: bool = False,
    exclude_params: Collection[str] = (),
    key_ampersand: bool = True,
) -> plans.Plan | None:
    """The plan sign_request signs this request's shape from (no dance parameters), once it has made one.

    ``Plan.fill`` with a nonce and a timestamp of non-empty unreserved text
    then gives what sign_request would place (signing_plan.py).
    """
    is_form = request.content_type is not None and is_form_content_type(request.content_type)
    shape = _plan_key(request, client, token, signature_method, placement, realm, include_body_hash,
                      body_hash_on_forms, exclude_params, key_ampersand, is_form)
    return None if shape is None else plans.PLANS.peek(shape)


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
    planned: bool = True,
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
    ``planned=False``: the recipe, never a plan (signing_plan.py).
    """
    is_form = request.content_type is not None and is_form_content_type(request.content_type)
    # 0. A shape signed before: the recipe's own output with this nonce and timestamp written in, and the
    # signature computed afresh (signing_plan.py says why that is the recipe's answer, and when).
    if planned and not extra_oauth_params and nonce and timestamp and shortcuts.is_unreserved(nonce + timestamp):
        shape = _plan_key(request, client, token, signature_method, placement, realm, include_body_hash,
                          body_hash_on_forms, exclude_params, key_ampersand, is_form)
        if shape is not None:
            plan = plans.PLANS.get(shape)
            if plan is True:  # the second time: make it from the recipe's output for the markers
                marked = sign_request(
                    request, client=client, token=token, signature_method=signature_method,
                    nonce=plans.NONCE_MARK, timestamp=plans.TIMESTAMP_MARK, placement=placement, realm=realm,
                    include_body_hash=include_body_hash, body_hash_on_forms=body_hash_on_forms,
                    exclude_params=exclude_params, key_ampersand=key_ampersand, planned=False)
                plan = plans.make_plan(marked, key=_method_key(client, token, key_ampersand),
                                       hash_name=_HASH_NAMES[signature_method],
                                       keeps_body=is_form or include_body_hash)
                plans.PLANS.put(shape, plan)
            if isinstance(plan, plans.Plan):
                return SignedRequest._make(plan.signed(nonce, timestamp, request.body))
    # SPEC §5: the client's own oauth_* parameters are replaced.
    request = without_client_oauth_parameters(request, is_form)
    if placement is Placement.BODY and not is_form:
        # SPEC §4: body placement applies to form requests only; others fall
        # back to the header (RFC 5849 §3.5.2 lists the same conditions).
        placement = Placement.HEADER

    # 1. §3.1: the protocol parameters.
    oauth_params = protocol_parameters(client, token, signature_method, timestamp, nonce, extra_oauth_params)
    if include_body_hash and (not is_form or body_hash_on_forms):
        # OAuth Request Body Hash §4.1.1: "Not include an oauth_body_hash
        # parameter" on form-encoded requests; others hash the raw body,
        # the empty body included. Interpretation: body_hash_on_forms
        # (Mastercard's signer) hashes form bodies as well.
        oauth_params.append(("oauth_body_hash", body_hash(request.body, _HASH_NAMES[signature_method])))
    # 2. §3.6, once: the base string and §3.5 use the same encoded parameters.
    encoded_oauth = encode_protocol_parameters(oauth_params)

    # 3.-4. §3.4.1.3: collect, encode, sort, join.
    items = encoded_request_parameters(request, encoded_oauth, is_form)
    if exclude_params:
        # Interpretation (a provider's quirk, never the RFC): these names are
        # sent but not signed. Items hold canonical encodings, so encoded
        # names compare exactly.
        left_out = {percent_encode(name) for name in exclude_params}
        items = [item for item in items if item.partition(_SEP)[0] not in left_out]
    normalized = join_parameters(items)
    # 5.-6. §3.4.1.2, §3.4.1.1.
    base_string = signature_base_string(request.method, base_string_uri(request.url), normalized)
    # 7. §3.4.2–§3.4.4.
    signature = make_signature(base_string, signature_method, client, token, key_ampersand)
    oauth_params.append(("oauth_signature", signature))
    # 8. §3.5: each parameter once (§3.2: servers SHOULD refuse a duplicated one).
    if signature_method is SignatureMethod.PLAINTEXT:
        encoded_signature = percent_encode(signature)
    else:
        encoded_signature = shortcuts.encode_base64(signature)  # percent_encode of base64 text
    url, authorization, body = place_parameters(
        request, [*encoded_oauth, ("oauth_signature", encoded_signature)], placement, realm
    )
    return SignedRequest(url, authorization, body, tuple(oauth_params), base_string, normalized)


# --- The names issue 12's differential tests call --------------------------------------------


def _escape_octets(data: bytes, special: bytes) -> str:
    """percent_encode(data), ``special`` being its octets that need escaping."""
    encoded = shortcuts.escape_octets(data, special)
    return encoded if encoded is not None else encode_octets(data)


def _encode_uri(uri: str) -> str:
    """percent_encode(uri), as signature_base_string encodes the base string URI."""
    return percent_encode(uri)


_form_items = encoded_form_items


def _strip_to_items(data: bytes) -> tuple[bytes, list[str]]:
    """strip_oauth_parameters(data) and the encoded_form_items of what is left."""
    data = strip_oauth_parameters(data)
    return data, encoded_form_items(data) if data else []
