"""Signing plans: a request of a shape signed before, signed again from the recipe's own output (issue 17).

Rule: pure and standard library only, like signing_fast.py; it imports nothing of ours (signing.py imports it).
No I/O, no clock, no randomness. The cache is a bounded dict in memory.

Why (issue 17): a client of the proxy sends the same request again and again (a poll, a report, a page of a
dashboard): the same method, URL, content type, form body and credentials; only the nonce and the timestamp
change (RFC 5849 §3.3). For the HMAC methods the recipe then writes the same bytes each time except where
those two values go and where the signature goes, so the second time a shape is seen, ``sign_request`` runs
its recipe once with marker values in place of the nonce and the timestamp, and keeps the output as a
template; every later request of that shape is the template with its own values written in, signed with
one HMAC.

Interpretation (why the template is the recipe's answer, octet for octet). A plan is made only for an HMAC
method, no dance parameters (``extra_oauth_params``), and used only with a nonce and a timestamp that are
non-empty unreserved text (RFC 5849 §3.6: letters, digits, "-", ".", "_", "~"). Then:

1. §3.6: such a value encodes to itself, in the parameters and once more in the base string; so does a marker
   (unreserved letters).
2. §3.4.1.3.2 step 2 sorts the encoded parameters by name, then value. No other parameter is named
   ``oauth_nonce`` or ``oauth_timestamp``: the protocol parameters are named once each, and SPEC §5 strips the
   client's ``oauth_*`` from the query and form body first. Items are compared as "name\\x00value", and
   "\\x00" sorts below every character of encoded text, so comparing two items of different names never
   reaches a value: where the nonce and the timestamp sort does not depend on their values.
3. So the normalized parameters, the base string and the placement (§3.5: header, query or body) are the same
   text for any two such values, but for the values themselves; the signature (§3.4.2) is computed again over
   the base string, and its encoding (base64 text, percent-encoded) written where the marker's went.

A plan is kept only when each marker appears exactly once, in the expected order, in each text it must be in
(the base string, the normalized parameters, the one text that carries the parameters) and nowhere else, and
the marker run's encoded signature exactly once, after them, in that text. Anything else (a marker in the URL,
an ``exclude_params`` that leaves the nonce out) is remembered as "no plan", and the recipe runs every time.

The HMAC is fed the base string up to the nonce once, per plan; each request copies that state and feeds the
rest (hashlib's ``copy()``, made "to efficiently compute the digests of data sharing a common initial
substring"): the digest is the HMAC of the whole base string. The HMAC is RFC 2104 §2's construction on
hashlib's hash objects, as Python's ``hmac`` module builds it where OpenSSL's HMAC is missing
(``hmac.HMAC._init_old``): copying ``hmac.HMAC`` costs three Python-level calls and an object per request,
about a third of the plan's whole fill (issue 17's measurements, README). tests/test_signing_plan.py compares
it with ``hmac.new`` (Hypothesis: keys shorter and longer than a block, every HMAC method's hash).

tests/test_signing_plan.py compares planned requests with the recipe with every shortcut off and with
tests/wire.py's independent recipe (Hypothesis), and checks that the usual requests are planned; the golden
Authorization bytes of tests/test_signing_differential.py are signed through a plan too.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Hashable, Sequence
from typing import NamedTuple, Protocol, Self

__all__ = ["NONCE_MARK", "TIMESTAMP_MARK", "MAX_PLANS", "MAX_KEYED_BYTES", "HashState", "Plan", "PlanCache", "PLANS",
           "hmac_states", "make_plan"]

# Unreserved letters that no real nonce (hex) or timestamp (digits) is: the recipe's output for these shows
# where the values go.
NONCE_MARK = "oauthNONCEmarkQzXq"
TIMESTAMP_MARK = "oauthTIMESTAMPmarkQzXq"
MAX_PLANS = 512  # shapes kept (first in, first out past this)
MAX_KEYED_BYTES = 4096  # a URL or body longer than this is never planned (the cache's memory stays small)


def _split(text: str, marks: Sequence[str]) -> tuple[str, ...] | None:
    """``text`` cut at each mark, the marks in this order and each exactly once: the pieces around them; else None."""
    pieces: list[str] = []
    rest = text
    for mark in marks:
        if text.count(mark) != 1:
            return None
        before, found, rest = rest.partition(mark)
        if not found:  # there, but before the previous mark: another order
            return None
        pieces.append(before)
    pieces.append(rest)
    return tuple(pieces)


class Plan(NamedTuple):
    """The recipe's output for one shape, cut where the nonce, the timestamp and the signature go.

    The base string and the normalized parameters hold the nonce, then the timestamp (§3.4.1.3.2 sorts
    ``oauth_nonce`` first); the placement (§3.5) holds the timestamp, the nonce, then the signature (the
    order signing.protocol_parameters lists them, the signature appended last).
    """

    base_string: tuple[str, str, str]
    normalized: tuple[str, str, str]
    placed: tuple[str, str, str, str]  # the text that carries the parameters, cut at timestamp, nonce, signature
    # (its last piece starts with the signature's padding, percent-encoded: "%3D" per "=")
    where: str  # which text that is: "url", "authorization" or "body"
    url: str  # the URL as sent, when the query does not carry the parameters
    body: bytes | None  # the body as sent when it is part of the shape and carries no parameter; None: as given
    params: tuple[tuple[str, str], ...]  # the protocol parameters as sent, the signature last
    timestamp_at: int  # where oauth_timestamp is in params (oauth_nonce follows it)
    unpadded: int  # the signature's length without its "=" padding: fixed by the digest's size (RFC 2045 §6.8)
    inner: HashState  # RFC 2104's inner hash, fed the key and the base string up to the nonce: copied per request
    outer: HashState  # its outer hash, fed the key

    def fill(self, nonce: str, timestamp: str) -> tuple[str, str, str, str]:
        """The placed text (the one ``where`` names), the signature, the base string and the normalized
        parameters for these values, the signature computed afresh (§3.4.2)."""
        placed, signature, base_string = self.place(nonce, timestamp)
        n0, n1, n2 = self.normalized
        return placed, signature, base_string, f"{n0}{nonce}{n1}{timestamp}{n2}"

    def place(self, nonce: str, timestamp: str) -> tuple[str, str, str]:
        """``fill`` but the normalized parameters (policy.ShapeMemo.again sends none): the placed text, the
        signature and the base string."""
        b0, b1, b2 = self.base_string
        rest = f"{nonce}{b1}{timestamp}{b2}"
        # "digest = HMAC-SHA1 (key, text)": the key and the text's first part are in ``inner`` already;
        # RFC 2104 §2: H(K XOR opad, H(K XOR ipad, text)).
        inner = self.inner.copy()
        inner.update(rest.encode("ascii"))
        outer = self.outer.copy()
        outer.update(inner.digest())
        # base64 (RFC 2045 §6.8) as signing.hmac_signature writes it, then §3.6 of base64 text.
        signature = binascii.b2a_base64(outer.digest(), newline=False).decode("ascii")
        # §3.6 of the letters before the padding (the padding's "%3D" is in the last piece of ``placed``); a
        # "+" or "/" is in about one signature in three: looked for first, replaced only then (issue 17).
        head = signature[:self.unpadded]
        if "+" in head:
            head = head.replace("+", "%2B")
        if "/" in head:
            head = head.replace("/", "%2F")
        p0, p1, p2, p3 = self.placed
        return f"{p0}{timestamp}{p1}{nonce}{p2}{head}{p3}", signature, b0 + rest

    def signed(self, nonce: str, timestamp: str, body: bytes) -> tuple[str, str | None, bytes,
                                                                      tuple[tuple[str, str], ...], str, str]:
        """The fields of signing.SignedRequest for these values (``fill``'s, and the protocol parameters)."""
        placed, signature, base_string, normalized = self.fill(nonce, timestamp)
        where = self.where
        at = self.timestamp_at
        params = self.params
        return (
            placed if where == "url" else self.url,
            placed if where == "authorization" else None,
            placed.encode("latin-1") if where == "body" else (self.body if self.body is not None else body),
            (*params[:at], ("oauth_timestamp", timestamp), ("oauth_nonce", nonce), *params[at + 2:-1],
             ("oauth_signature", signature)),
            base_string,
            normalized,
        )


def make_plan(
    marked: tuple[str, str | None, bytes, tuple[tuple[str, str], ...], str, str],
    *, key: str, hash_name: str, keeps_body: bool,
) -> Plan | None:
    """A plan from the recipe's output for NONCE_MARK and TIMESTAMP_MARK (a SignedRequest), or None.

    ``keeps_body``: the body is part of the shape (a form, or hashed): the plan sends the recipe's body;
    else the body given with each request passes through (the recipe sends it as given).
    """
    url, authorization, body, params, base_string, normalized = marked
    names = [name for name, _ in params]
    if names.count("oauth_timestamp") != 1 or names.count("oauth_nonce") != 1 or names[-1:] != ["oauth_signature"]:
        return None
    at = names.index("oauth_timestamp")
    if names[at + 1] != "oauth_nonce" or params[at][1] != TIMESTAMP_MARK or params[at + 1][1] != NONCE_MARK:
        return None
    marked_signature = params[-1][1]
    encoded = marked_signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    unpadded = len(marked_signature.rstrip("="))
    base_pieces = _split(base_string, (NONCE_MARK, TIMESTAMP_MARK))
    normalized_pieces = _split(normalized, (NONCE_MARK, TIMESTAMP_MARK))
    if base_pieces is None or normalized_pieces is None or not base_pieces[0].isascii():
        return None
    body_text = body.decode("latin-1")
    texts = {"url": url, "authorization": authorization or "", "body": body_text}
    carrying = [name for name, text in texts.items() if NONCE_MARK in text]
    if len(carrying) != 1:  # the parameters are in exactly one place (§3.5)
        return None
    where = carrying[0]
    others = "\n".join(text for name, text in texts.items() if name != where)
    placed = _split(texts[where], (TIMESTAMP_MARK, NONCE_MARK, encoded))
    if placed is None or any(mark in others for mark in (NONCE_MARK, TIMESTAMP_MARK, encoded)):
        return None
    if where == "authorization" and authorization is None:
        return None
    inner, outer = hmac_states(key.encode("ascii"), base_pieces[0].encode("ascii"), hash_name)
    return Plan(
        base_string=base_pieces,  # type: ignore[arg-type]
        normalized=normalized_pieces,  # type: ignore[arg-type]
        placed=(*placed[:3], "%3D" * (len(marked_signature) - unpadded) + placed[3]),  # type: ignore[arg-type]
        where=where, url=url,
        body=body if keeps_body and where != "body" else None,
        params=params, timestamp_at=at, unpadded=unpadded,
        inner=inner, outer=outer,
    )


class HashState(Protocol):
    """A hashlib hash object, as a plan uses it."""

    def copy(self) -> Self: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_IPAD = bytes(octet ^ 0x36 for octet in range(256))  # RFC 2104 §2: "ipad = the byte 0x36 repeated B times"
_OPAD = bytes(octet ^ 0x5C for octet in range(256))  # "opad = the byte 0x5C repeated B times"


def hmac_states(key: bytes, text: bytes, hash_name: str) -> tuple[HashState, HashState]:
    """RFC 2104 §2's inner hash fed K XOR ipad and ``text`` (the message's first part), and its outer hash fed
    K XOR opad: copies of the two, the inner fed the message's rest, give HMAC(key, message).

    §2: "(1) append zeros to the end of K to create a B byte string"; §3: "Applications that use keys longer
    than B bytes will first hash the key using H".
    """
    inner: HashState = hashlib.new(hash_name)
    block = hashlib.new(hash_name).block_size
    if len(key) > block:
        key = hashlib.new(hash_name, key).digest()
    key = key.ljust(block, b"\0")
    inner.update(key.translate(_IPAD))
    inner.update(text)
    outer: HashState = hashlib.new(hash_name, key.translate(_OPAD))
    return inner, outer


_SEEN_ONCE = object()  # a shape seen once: planned the second time, so that a one-off request costs no plan
_NO_PLAN = object()  # a shape the recipe always signs


class PlanCache:
    """The plans of the shapes seen lately, at most MAX_PLANS (first in, first out)."""

    def __init__(self, size: int = MAX_PLANS) -> None:
        self.size = size
        self._plans: dict[Hashable, object] = {}

    def get(self, key: Hashable) -> Plan | None | bool:
        """The plan for a shape; True when it is the second sighting (make one now); None otherwise."""
        found = self._plans.get(key)
        if found is None:
            self._put(key, _SEEN_ONCE)
            return None
        if found is _SEEN_ONCE:
            return True
        return None if found is _NO_PLAN else found  # type: ignore[return-value]

    def peek(self, key: Hashable) -> Plan | None:
        """The plan made for a shape, if any; no sighting is counted."""
        found = self._plans.get(key)
        return found if isinstance(found, Plan) else None

    def put(self, key: Hashable, plan: Plan | None) -> None:
        self._put(key, _NO_PLAN if plan is None else plan)

    def _put(self, key: Hashable, value: object) -> None:
        plans = self._plans
        if self.size <= 0:
            return
        plans[key] = value
        while len(plans) > self.size:
            try:
                del plans[next(iter(plans))]
            except (KeyError, StopIteration, RuntimeError):  # another thread took it first
                break

    def clear(self) -> None:
        self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)


PLANS = PlanCache()
