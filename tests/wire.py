"""The strict proof of the wire (SPEC §9): a strict parser, independent verifiers and the plain RFC recipe.

A test-support module (no tests here). Three things, none of which imports
``oauth1_proxy.signing``:

1. ``parse_wire`` (from ``oauth1_proxy.wire_grammar``, which the test
   provider uses too; it shares no code with ``signing.py``): a strict parser of the RFC 5849 wire grammar. §3.5.1: the
   header is ``OAuth ``, then ``realm="..."`` first when set, then each
   protocol parameter exactly once as ``name="value"``, separated by ``, ``,
   every name and value percent-encoded per §3.6 (only unreserved characters
   and upper-case ``%XX`` of other octets). §3.5.2/§3.5.3: in a form body or
   the query, each ``oauth_*`` once, form-encoded once, in canonical §3.6
   form. §3.5: one place only. §3.2: no parameter twice, the required ones
   present. It returns the decoded protocol parameters or raises
   ``WireError`` naming what is wrong.

2. ``verify_signed_request``: given what the upstream received, it runs the
   strict parser, the plain recipe, and two verifiers we did not write:
   oauthlib (``oauthlib.oauth1.rfc5849.signature.verify_*``) and Authlib's
   server side (``authlib.oauth1.rfc5849`` ``OAuth1Request`` and
   ``signature.verify_*``). Where a library deviates from RFC 5849 it is fed
   an equivalent request it reads correctly, or (when no equivalent exists)
   the deviation is named in the result and the plain recipe carries the
   case. It never drops a case: the recipe and the strict parser always run.

3. ``rfc_sign``: the plain recipe, written from the RFC's text step by step,
   octet by octet, with no shortcut; the differential oracle for
   ``signing.sign_request``. It renders the wire form the way our signer
   promises to (the same parameter order), so outputs compare byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth1.rfc5849 import signature as authlib_signature
from authlib.oauth1.rfc5849.wrapper import OAuth1Request
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from oauthlib.oauth1.rfc5849 import signature as oauthlib_signature

from oauth1_proxy.wire_grammar import WireError, WireParams, parse_wire


class SignatureRefused(AssertionError):
    """A verifier (the recipe, oauthlib or Authlib) refused the signature of a well-formed request."""

__all__ = [
    "WireError",
    "SignatureRefused",
    "WireParams",
    "Verification",
    "parse_wire",
    "verify_signed_request",
    "rfc_sign",
    "rfc_percent_encode",
    "rfc_form_decode",
    "rfc_base_string_uri",
    "rfc_base_string",
    "RfcSigned",
    "LIBRARY_VERIFIERS",
]

LIBRARY_VERIFIERS = ("oauthlib", "authlib")
HASHES = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
FORM = "application/x-www-form-urlencoded"

# RFC 5849 §3.6: "Characters in the unreserved character set as defined by
# [RFC3986], Section 2.3 (ALPHA, DIGIT, "-", ".", "_", "~") MUST NOT be
# encoded. All other characters MUST be encoded." "The two hexadecimal
# characters used to represent encoded characters MUST be uppercase."
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset(b"0123456789abcdefABCDEF")


# --- the plain recipe ---------------------------------------------------------------------------


def rfc_percent_encode(value: str | bytes) -> str:
    """Percent-encode per RFC 5849 §3.6, one octet at a time."""
    # "Text values MUST be encoded as UTF-8 octets [RFC3629] prior to
    # percent-encoding them."
    data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    out = []
    for octet in data:
        if octet in UNRESERVED:
            out.append(chr(octet))
        else:
            out.append("%" + "0123456789ABCDEF"[octet >> 4] + "0123456789ABCDEF"[octet & 15])
    return "".join(out)


def _percent_decode(data: bytes) -> bytes:
    """Decode %XX escapes (either hex case); an escape that is not one stays as written."""
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


def rfc_form_decode(data: bytes) -> list[tuple[bytes, bytes]]:
    """Decode application/x-www-form-urlencoded (W3C HTML 4.0 §17.13.4, as RFC 5849 §3.4.1.3.1 asks)."""
    pairs = []
    for segment in data.split(b"&"):
        if segment == b"":
            continue
        name, _, value = segment.partition(b"=")
        pairs.append((_percent_decode(name.replace(b"+", b" ")), _percent_decode(value.replace(b"+", b" "))))
    return pairs


def _split_url(url: str) -> tuple[str, str, bytes, bytes | None]:
    """Split an absolute URL into scheme, authority, path bytes and query bytes (None: no "?")."""
    data = url.encode("utf-8", "surrogateescape").partition(b"#")[0]
    scheme, sep, rest = data.partition(b"://")
    if not sep:
        raise WireError(f"URL {url!r} is not absolute (scheme://host/path)")
    cut = len(rest)
    for stop in (b"/", b"?"):
        at = rest.find(stop)
        if at != -1:
            cut = min(cut, at)
    authority, target = rest[:cut], rest[cut:]
    path, has_query, query = target.partition(b"?")
    return scheme.decode("ascii"), authority.decode("ascii"), path, (query if has_query else None)


def rfc_base_string_uri(url: str) -> bytes:
    """Build the base string URI from the text of RFC 5849 §3.4.1.2."""
    scheme, authority, path, _ = _split_url(url)
    authority = authority.rpartition("@")[2]
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]")
        host, port = f"[{host}]", port[1:] if port.startswith(":") else ""
    else:
        host, _, port = authority.partition(":")
    # 1. "The scheme and host MUST be in lowercase."
    scheme, host = scheme.lower(), host.lower()
    # 3. "The port MUST be included if it is not the default port for the
    # scheme, and MUST be excluded if it is the default. Specifically, the
    # port MUST be excluded when making an HTTP request [RFC2616] to port 80
    # or when making an HTTPS request [RFC2818] to port 443."
    if port and int(port) != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{int(port)}"
    # The path as sent; an empty one is "/" (RFC 7230 §5.3.1). Interpretation
    # shared with signing.py: a raw space (never valid on the wire) is %20.
    return scheme.encode() + b"://" + host.encode() + (path or b"/").replace(b" ", b"%20")


def rfc_normalize(params: Iterable[tuple[bytes, bytes]]) -> str:
    """Normalize the parameters per RFC 5849 §3.4.1.3.2."""
    # 1. "First, the name and value of each parameter are encoded (Section 3.6)."
    encoded = [(rfc_percent_encode(name), rfc_percent_encode(value)) for name, value in params]
    # 2. "The parameters are sorted by name, using ascending byte value
    # ordering. If two or more parameters share the same name, they are
    # sorted by their value."
    encoded.sort()
    # 3. "The name of each parameter is concatenated to its corresponding
    # value using an "=" character (ASCII code 61) as a separator, even if
    # the value is empty." 4. "The sorted name/value pairs are concatenated
    # together into a single string by using an "&" character"
    return "&".join(f"{name}={value}" for name, value in encoded)


def rfc_base_string(method: str, base_string_uri: bytes, normalized: str) -> str:
    """Join the three parts of the signature base string (RFC 5849 §3.4.1.1)."""
    # 1. "The HTTP request method in uppercase." 2. "An "&" character".
    # 3. "The base string URI from Section 3.4.1.2, after being encoded
    # (Section 3.6)." 4. "&". 5. "The request parameters as normalized in
    # Section 3.4.1.3.2, after being encoded (Section 3.6)."
    return "&".join([rfc_percent_encode(method.upper()), rfc_percent_encode(base_string_uri),
                     rfc_percent_encode(normalized)])


def _key(consumer_secret: str, token_secret: str) -> str:
    # RFC 5849 §3.4.2: "1. The client shared-secret, after being encoded
    # (Section 3.6). 2. An "&" character (ASCII code 38), which MUST be
    # included even when either secret is empty. 3. The token shared-secret,
    # after being encoded (Section 3.6)." §3.4.4 PLAINTEXT uses the same.
    return rfc_percent_encode(consumer_secret) + "&" + rfc_percent_encode(token_secret)


def _is_form(content_type: str | None) -> bool:
    return content_type is not None and content_type.split(";")[0].strip().lower() == FORM


def rfc_strip_oauth(data: bytes) -> bytes:
    """Drop the segments whose decoded name starts with "oauth_" (SPEC §5: a client's are replaced)."""
    kept = []
    for segment in data.split(b"&"):
        name = segment.partition(b"=")[0]
        if not _percent_decode(name.replace(b"+", b" ")).startswith(b"oauth_"):
            kept.append(segment)
    return b"&".join(kept)


@dataclass(frozen=True)
class RfcSigned:
    """What the recipe sends: the URL, the Authorization value (or None), the body, and its base string."""

    url: str
    authorization: str | None
    body: bytes
    base_string: str
    oauth_params: tuple[tuple[str, str], ...]


def rfc_sign(
    *,
    method: str,
    url: str,
    content_type: str | None,
    body: bytes,
    consumer_key: str,
    consumer_secret: str,
    token: str | None,
    token_secret: str,
    signature_method: str,
    nonce: str,
    timestamp: str,
    placement: str = "header",
    realm: str | None = None,
    include_body_hash: bool = False,
    extra_oauth_params: Sequence[tuple[str, str]] = (),
    rsa_private_key: rsa.RSAPrivateKey | None = None,
    body_hash_on_forms: bool = False,
    exclude_params: Sequence[str] = (),
    key_ampersand: bool = True,
) -> RfcSigned:
    """Sign a request the way RFC 5849 §3.1–§3.5 tells it, step by step."""
    scheme, authority, path, query = _split_url(url)
    form = _is_form(content_type)
    # SPEC §5: the client's own oauth_* parameters are replaced; every other
    # byte of the query and a form body stays. An empty query loses its "?".
    query = rfc_strip_oauth(query) if query else b""
    if form and body:
        body = rfc_strip_oauth(body)
    sent_url = f"{scheme}://{authority}".encode() + path + (b"?" + query if query else b"")
    if placement == "body" and not form:
        placement = "header"  # §3.5.2 applies to single-part form bodies only
    # RFC 5849 §3.1: the protocol parameters.
    protocol = [("oauth_consumer_key", consumer_key)]
    if token is not None:
        protocol.append(("oauth_token", token))
    protocol += [("oauth_signature_method", signature_method), ("oauth_timestamp", timestamp),
                 ("oauth_nonce", nonce), ("oauth_version", "1.0"), *extra_oauth_params]
    hash_name = HASHES.get(signature_method.partition("-")[2], "sha1")
    if include_body_hash and (not form or body_hash_on_forms):
        # OAuth Request Body Hash §3.2: the base64 hash of the body octets.
        protocol.append(("oauth_body_hash", base64.b64encode(hashlib.new(hash_name, body).digest()).decode()))
    # §3.4.1.3.1: the query, the protocol parameters (no oauth_signature,
    # no realm) and a form body; then, a provider's quirk, leave out names.
    params = rfc_form_decode(query)
    params += [(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape")) for k, v in protocol]
    if form:
        params += rfc_form_decode(body)
    params = [(k, v) for k, v in params if k != b"oauth_signature"]
    left_out = {name.encode("utf-8", "surrogateescape") for name in exclude_params}
    params = [(k, v) for k, v in params if k not in left_out]
    base_string = rfc_base_string(method, rfc_base_string_uri(url), rfc_normalize(params))
    key = _key(consumer_secret, token_secret if token is not None else "")
    if not key_ampersand and token is None:
        key = key[:-1]  # WooCommerce's legacy key: outside RFC 5849 §3.4.2
    if signature_method == "PLAINTEXT":
        signature = key  # §3.4.4
    elif signature_method.startswith("HMAC-"):
        digest = hmac.new(key.encode("ascii"), base_string.encode("ascii"), hash_name).digest()
        signature = base64.b64encode(digest).decode("ascii")  # §3.4.2
    else:
        assert rsa_private_key is not None, f"{signature_method} needs rsa_private_key"
        raw = rsa_private_key.sign(base_string.encode("ascii"), padding.PKCS1v15(), _crypto_hash(hash_name))
        signature = base64.b64encode(raw).decode("ascii")  # §3.4.3
    protocol.append(("oauth_signature", signature))
    authorization = None
    if placement == "header":
        # §3.5.1: "1. Parameter names and values are encoded per Parameter
        # Encoding (Section 3.6). 2. Each parameter's name is immediately
        # followed by an "=" character (ASCII code 61), a """ character
        # (ASCII code 34), the parameter value (MAY be empty), and another
        # """ character (ASCII code 34). 3. Parameters are separated by a ","
        # character (ASCII code 44) and OPTIONAL linear whitespace per
        # [RFC2617]. 4. The OPTIONAL "realm" parameter MAY be added and
        # interpreted per [RFC2617] section 1.2."
        items = [f'{rfc_percent_encode(k)}="{rfc_percent_encode(v)}"' for k, v in protocol]
        if realm is not None:
            items.insert(0, 'realm="' + realm.replace("\\", "\\\\").replace('"', '\\"') + '"')
        authorization = "OAuth " + ", ".join(items)
    else:
        # §3.5.2 / §3.5.3: "added to the ... as a query component / entity-body
        # using the "application/x-www-form-urlencoded" content type".
        extra = "&".join(f"{rfc_percent_encode(k)}={rfc_percent_encode(v)}" for k, v in protocol).encode()
        if placement == "query":
            query = query + (b"&" if query and not query.endswith(b"&") else b"") + extra
            sent_url = f"{scheme}://{authority}".encode() + path + b"?" + query
        else:
            body = body + (b"&" if body and not body.endswith(b"&") else b"") + extra
    return RfcSigned(sent_url.decode("utf-8", "surrogateescape"), authorization, body, base_string, tuple(protocol))


def _crypto_hash(name: str) -> hashes.HashAlgorithm:
    return {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha512": hashes.SHA512()}[name]


# --- verification -------------------------------------------------------------------------------


@dataclass
class Verification:
    """What checked a request: the strict parser, the recipe, and which libraries (with their deviations)."""

    wire: WireParams
    base_string: str
    verifiers: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)  # "library: what it does, and how the case was verified"

    @property
    def params(self) -> Mapping[str, str]:
        return self.wire.params

    @property
    def libraries(self) -> list[str]:
        return [v for v in self.verifiers if v in LIBRARY_VERIFIERS]


def _header_list(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(headers.items()) if isinstance(headers, Mapping) else list(headers)


def _content_type(headers: list[tuple[str, str]]) -> str | None:
    return next((v for k, v in headers if k.lower() == "content-type"), None)


def _received_params(url: str, content_type: str | None, body: bytes,
                     wire: WireParams) -> list[tuple[bytes, bytes]]:
    """§3.4.1.3.1 on what was received: query, header (no realm), form body; no oauth_signature."""
    _, _, _, query = _split_url(url)
    params = rfc_form_decode(query or b"")
    if wire.placement == "header":
        params += [(k.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape"))
                   for k, v in wire.params.items()]
    if _is_form(content_type):
        params += rfc_form_decode(body)
    return [(k, v) for k, v in params if k != b"oauth_signature"]


def _recipe_verify(method: str, signature_method: str, base_string: str, signature: str, key: str,
                   rsa_public_key_pem: str | None) -> bool:
    if signature_method == "PLAINTEXT":
        return hmac.compare_digest(signature.encode("utf-8", "surrogateescape"), key.encode())
    hash_name = HASHES[signature_method.partition("-")[2]]
    if signature_method.startswith("HMAC-"):
        expected = base64.b64encode(hmac.new(key.encode(), base_string.encode(), hash_name).digest()).decode()
        return hmac.compare_digest(expected, signature)
    assert rsa_public_key_pem is not None, f"{signature_method}: verify_signed_request needs rsa_public_key_pem"
    public = serialization.load_pem_public_key(rsa_public_key_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    try:
        public.verify(base64.b64decode(signature, validate=True), base_string.encode(), padding.PKCS1v15(),
                      _crypto_hash(hash_name))
    except (InvalidSignature, ValueError):
        return False
    return True


# Bytes each library's form decoder accepts (oauthlib.common.urlencoded, authlib.common.urls.urlencoded).
_LIBRARY_SAFE = {
    "oauthlib": frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-=&;:%+~,*@!()/?'$"),
    "authlib": frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-=&;:%+~,*@!()/?"),
}


def _for_library(data: bytes, library: str) -> str:
    """Percent-encode the octets a library's decoder refuses, and "%" that starts no escape: same parameters."""
    safe = _LIBRARY_SAFE[library]
    out = []
    for i, octet in enumerate(data):
        if octet == 0x25 and not (i + 2 < len(data) and data[i + 1] in _HEX and data[i + 2] in _HEX):
            out.append("%25")
        elif octet in safe:
            out.append(chr(octet))
        else:
            out.append(f"%{octet:02X}")
    return "".join(out)


def _not_utf8(pairs: Iterable[tuple[bytes, bytes]]) -> bool:
    for name, value in pairs:
        try:
            name.decode("utf-8")
            value.decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


def _replace_oauth(data: bytes, params: Sequence[tuple[str, str]]) -> bytes:
    kept = rfc_strip_oauth(data)
    extra = "&".join(f"{rfc_percent_encode(k)}={v}" for k, v in params).encode()
    return kept + (b"&" if kept else b"") + extra


@dataclass
class _LibraryRequest:
    url: str
    headers: dict[str, str]
    body: str


def _library_request(library: str, url: str, content_type: str | None, body: bytes, header: str,
                     wire: WireParams, notes: list[str]) -> _LibraryRequest:
    """The received request in a form the library reads as RFC 5849 reads the original."""
    scheme, authority, path, query = _split_url(url)
    protocol = list(wire.params.items())
    # Deviation (oauthlib, query/body only; Authlib, every placement): the
    # library unescapes oauth_* values once more after decoding them
    # (oauthlib collect_parameters; Authlib construct_base_string), so a
    # value holding "%" is misread. Equivalent form: such a value is sent
    # encoded twice, which the library's two decodings bring back.
    # oauthlib takes oauth_signature from the decoded parameters too;
    # Authlib takes it decoded once.
    twice = {k for k, v in protocol if "%" in v
             and (library == "oauthlib" and wire.placement != "header"
                  or library == "authlib" and k != "oauth_signature")}
    if twice:
        notes.append(f"{library}: unescapes oauth_* values twice ({', '.join(sorted(twice))} hold '%'); "
                     "fed encoded twice")
    encoded = [(k, rfc_percent_encode(rfc_percent_encode(v)) if k in twice else rfc_percent_encode(v))
               for k, v in protocol]
    headers: dict[str, str] = {}
    if content_type is not None:
        # oauthlib finds a form body by a case-sensitive substring test.
        headers["Content-Type"] = FORM if _is_form(content_type) else content_type
    query_bytes = query or b""
    body_bytes = body if _is_form(content_type) else b""
    if wire.placement == "header":
        if twice:
            items = [f'{rfc_percent_encode(k)}="{v}"' for k, v in encoded]
            headers["Authorization"] = "OAuth " + ", ".join(items)
        else:
            headers["Authorization"] = header
    elif twice and wire.placement == "query":
        query_bytes = _replace_oauth(query_bytes, encoded)
    elif twice:
        body_bytes = _replace_oauth(body_bytes, encoded)
    library_query = _for_library(query_bytes, library)
    library_body = _for_library(body_bytes, library) if body_bytes else ""
    if library_query != query_bytes.decode("latin-1") or library_body != body_bytes.decode("latin-1"):
        refused = "raw non-ASCII, space, '|', '[', '\"', a lone '%'" + (", \"'\", '$'" if library == "authlib" else "")
        notes.append(f"{library}: its form decoder refuses octets RFC 5849 accepts ({refused}); "
                     "fed them percent-encoded")
    new_url = f"{scheme}://{authority}{path.decode('utf-8', 'surrogateescape')}"
    if query is not None or library_query:
        new_url += f"?{library_query}"
    return _LibraryRequest(url=new_url, headers=headers, body=library_body)


def _known_deviation(library: str, url: str, received: list[tuple[bytes, bytes]]) -> str | None:
    """Name the library's known deviation from RFC 5849 that explains a refusal for this request, or None."""
    _, authority, path, _ = _split_url(url)
    last = path.rpartition(b"/")[2]
    if last.endswith(b";") and last.count(b";") == 1:
        # RFC 3986 §3.3: "/a;" is the path; urlparse takes ";" as the start of empty "params".
        return (f"{library}: urlparse/urlunparse drop the ';' that ends the path; RFC 5849 §3.4.1.2 keeps the "
                "path as sent: verified by the recipe")
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        address, _, port = host[1:].partition("]")
        if library == "oauthlib" and str(ipaddress.ip_address(address)) != address.lower():
            return ("oauthlib: rewrites an IPv6 host in canonical form; RFC 5849 §3.4.1.2 takes the host as "
                    "sent: verified by the recipe")
        if library == "authlib" and port in (":80", ":443"):
            return ("authlib: splits an IPv6 host at its first ':' and keeps a default port; RFC 5849 §3.4.1.2 "
                    "drops it: verified by the recipe")
    if _not_utf8(received):
        return (f"{library}: decodes non-UTF-8 octets of the query/body as U+FFFD (lossy); RFC 5849 signs the "
                "octets: verified by the recipe")
    return None


def _oauthlib_verify(method: str, request: _LibraryRequest, signature_method: str, consumer_secret: str,
                     token_secret: str, rsa_public_key_pem: str | None) -> tuple[bool, str]:
    query = urlsplit(request.url).query
    collected = oauthlib_signature.collect_parameters(
        uri_query=query, body=request.body or None, headers=request.headers, exclude_oauth_signature=False)
    signature = dict(collected).get("oauth_signature", "")
    params = [(k, v) for k, v in collected if k != "oauth_signature"]
    fake = SimpleNamespace(uri=request.url, http_method=method, params=params, signature=signature)
    base_string = oauthlib_signature.signature_base_string(
        method, oauthlib_signature.base_string_uri(request.url), oauthlib_signature.normalize_parameters(params))
    suffix = signature_method.partition("-")[2].lower()
    if signature_method == "PLAINTEXT":
        ok = oauthlib_signature.verify_plaintext(fake, consumer_secret, token_secret)
    elif signature_method.startswith("HMAC-"):
        ok = getattr(oauthlib_signature, f"verify_hmac_{suffix}")(fake, consumer_secret, token_secret)
    else:
        ok = getattr(oauthlib_signature, f"verify_rsa_{suffix}")(fake, rsa_public_key_pem)
    return bool(ok), str(base_string)


@contextmanager
def _authlib_insecure_transport() -> Any:
    # Authlib's OAuth1Request refuses http:// URIs (InsecureTransportError)
    # unless this variable is set; the signature does not depend on it.
    old = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["AUTHLIB_INSECURE_TRANSPORT"]
        else:
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = old


class _AuthlibClient:
    def __init__(self, secret: str, rsa_public_key_pem: str | None) -> None:
        self._secret, self._rsa = secret, rsa_public_key_pem

    def get_client_secret(self) -> str:
        return self._secret

    def get_rsa_public_key(self) -> str | None:
        return self._rsa


class _AuthlibCredential:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def get_oauth_token_secret(self) -> str:
        return self._secret


def _authlib_verify(method: str, request: _LibraryRequest, signature_method: str, consumer_secret: str,
                    token_secret: str, rsa_public_key_pem: str | None, notes: list[str]) -> tuple[bool, str]:
    with _authlib_insecure_transport():
        oauth_request = OAuth1Request(method, request.url, request.body or None, request.headers)
    oauth_request.client = _AuthlibClient(consumer_secret, rsa_public_key_pem)
    oauth_request.credential = _AuthlibCredential(token_secret)
    base_string = authlib_signature.generate_signature_base_string(oauth_request)
    signature = oauth_request.signature or ""
    hash_name = HASHES.get(signature_method.partition("-")[2], "sha1")
    native = signature_method in ("HMAC-SHA1", "RSA-SHA1", "PLAINTEXT")
    if native and not (consumer_secret == "" and signature_method != "RSA-SHA1"):
        verify = {"HMAC-SHA1": authlib_signature.verify_hmac_sha1, "RSA-SHA1": authlib_signature.verify_rsa_sha1,
                  "PLAINTEXT": authlib_signature.verify_plaintext}[signature_method]
        return bool(verify(oauth_request)), base_string
    if native:
        # Deviation: Authlib's verify_hmac_sha1/verify_plaintext refuse an empty
        # client secret, which RFC 5849 §3.4.2 allows ("MUST be included even
        # when either secret is empty").
        notes.append("authlib: refuses an empty client secret; its base string checked with hmac")
    else:
        notes.append(f"authlib: has no {signature_method}; its base string checked with hashlib/cryptography")
    key = _key(consumer_secret, token_secret)
    if signature_method == "PLAINTEXT":
        return hmac.compare_digest(authlib_signature.plaintext_signature(consumer_secret, token_secret),
                                   signature), base_string
    if signature_method.startswith("HMAC-"):
        expected = base64.b64encode(hmac.new(key.encode(), base_string.encode(), hash_name).digest()).decode()
        return hmac.compare_digest(expected, signature), base_string
    return _recipe_verify(method, signature_method, base_string, signature, key, rsa_public_key_pem), base_string


def verify_signed_request(
    method: str,
    url: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    consumer_secret: str = "",
    token_secret: str = "",
    rsa_public_key_pem: str | None = None,
) -> Verification:
    """Verify what the upstream received: the strict grammar, the recipe, oauthlib and Authlib.

    ``url`` is absolute, with the path and query as received. Raises
    WireError when the grammar is broken or any verifier refuses; returns
    which verifiers checked it and the deviations worked around.
    """
    wire = parse_wire(method, url, headers, body)
    pairs = _header_list(headers)
    content_type = _content_type(pairs)
    signature_method = wire.params["oauth_signature_method"]
    signature = wire.params["oauth_signature"]
    if "oauth_token" not in wire.params:
        token_secret = ""
    received = _received_params(url, content_type, body, wire)
    base_string = rfc_base_string(method, rfc_base_string_uri(url), rfc_normalize(received))
    key = _key(consumer_secret, token_secret)
    result = Verification(wire=wire, base_string=base_string, verifiers=["strict-grammar"])
    if not _recipe_verify(method, signature_method, base_string, signature, key, rsa_public_key_pem):
        raise SignatureRefused(f"the RFC 5849 recipe refuses the {signature_method} signature; its base string: "
                        f"{base_string}")
    result.verifiers.append("rfc-recipe")
    header_value = next((v for k, v in pairs if k.lower() == "authorization" and v[:6].lower() == "oauth "), "")
    for library in LIBRARY_VERIFIERS:
        notes: list[str] = []
        request = _library_request(library, url, content_type, body, header_value, wire, notes)
        try:
            if library == "oauthlib":
                ok, library_base = _oauthlib_verify(method, request, signature_method, consumer_secret,
                                                    token_secret, rsa_public_key_pem)
            else:
                ok, library_base = _authlib_verify(method, request, signature_method, consumer_secret,
                                                   token_secret, rsa_public_key_pem, notes)
        except Exception as e:  # a library that crashes on a request refuses it
            ok, library_base = False, f"(raised {type(e).__name__}: {e})"
        if not ok:
            known = _known_deviation(library, url, received)
            if known is not None:
                result.deviations.append(known)
                continue
            raise SignatureRefused(f"{library} refuses the {signature_method} signature, and no known deviation "
                                   f"explains it.\n  {library}'s base string: {library_base}\n  the recipe's: "
                                   f"{base_string}\n  notes: {notes}")
        result.deviations.extend(notes)
        result.verifiers.append(library)
    return result
