"""Reading the raw incoming request, the strict grammar, and the second verifier (Authlib).

Rule 3: the provider verifies what came off the wire: the scheme, the Host
header and the raw request target, never Flask's re-encoded ``request.url``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, unquote_plus, urlsplit

from authlib.oauth1.rfc5849 import signature as authlib_signature
from authlib.oauth1.rfc5849.wrapper import OAuth1Request as AuthlibRequest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import request
from oauthlib.common import urldecode
from oauthlib.common import urlencoded as oauthlib_form_characters
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849.utils import parse_authorization_header, unescape

from oauth1_proxy.devtools.provider.model import BODY_HASH_ALGORITHMS, FORM_MEDIA_TYPE
from oauth1_proxy.wire_grammar import WireError, WireParams, parse_wire

_FORM_SAFE_BYTES: Final = frozenset(ord(c) for c in oauthlib_form_characters)

# Authlib's form decoder (authlib.common.urls.url_decode) accepts fewer octets
# than oauthlib's: not "'" nor "$" (a deviation from RFC 5849, whose query and
# form grammar allows both).
_AUTHLIB_SAFE_BYTES: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-=&;:%+~,*@!()/?"
)

_HEX_DIGITS: Final = frozenset(b"0123456789abcdefABCDEF")


def oauthlib_base_string(incoming: Incoming) -> str:
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
class Incoming:
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


def read_incoming(scheme: str, default_host: str, excluded: frozenset[str] = frozenset()) -> Incoming:
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
    return Incoming(
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


def authlib_verifies(
    incoming: Incoming,
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


def check_body_hash(incoming: Incoming) -> bool | None:
    """Check oauth_body_hash against the raw body (draft-eaton-oauth-bodyhash-00 §3.2); None if not sent."""
    sent = incoming.params.get("oauth_body_hash")
    if sent is None:
        return None
    algorithm = BODY_HASH_ALGORITHMS.get(incoming.params.get("oauth_signature_method", ""), "sha1")
    expected = base64.b64encode(hashlib.new(algorithm, incoming.body).digest()).decode("ascii")
    return hmac.compare_digest(expected.encode(), sent.encode())
