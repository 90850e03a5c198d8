"""The signing decision (SPEC §5): one outgoing request in, Sign | Refuse | Pass out.

The proxy (the addon's ``sign_flow``), ``oauth1-proxy sign``, ``check``, the
helper's status page, ``login`` and the dance all decide here, so that they
cannot drift apart (issue 13).

Rules:
1. No I/O, no clock, no randomness in this module: callers pass the time
   (``now``), the nonce source, a token lookup and the learned clock offsets.
2. No mitmproxy: the shell turns a flow into an ``OutgoingRequest`` and
   applies the decision.
3. Every refusal carries the message a user reads: what failed, the value,
   where, and the fix; never a secret.

Over 400 lines: every refusal's message lives here, next to its check
(the account choice's too, SPEC §11), so that the proxy and ``sign``
cannot word them differently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from oauth1_proxy.accounts import ACCOUNT_HEADER, AccountRefusal, choose_account, login_hint_for
from oauth1_proxy.config import DEFAULT_PORTS, Profile, ProxyConfig, normalize_host
from oauth1_proxy.errors import ProxyError, RequestRefused, SigningError, TokenExpiredError, TokenMissingError
from oauth1_proxy.lifetimes import expiry_of, format_instant
from oauth1_proxy.signing import (
    RequestToSign,
    SignatureMethod,
    TokenCredentials,
    is_form_content_type,
    plan_of,
    sign_request,
)
from oauth1_proxy.signing_fast import is_unreserved
from oauth1_proxy.signing_plan import Plan
from oauth1_proxy.tokens import StoredToken

PROFILE_HEADER = "X-OAuth1-Profile"
NO_LEARNED_SKEW: Mapping[str, int] = MappingProxyType({})

TokenLookup = Callable[[str], StoredToken | None]
"""A profile's stored token by profile name, or None (may raise TokenStoreError)."""
LoginHelp = Callable[[Profile], tuple[str, str]]
"""Where to log a profile in: (login URL, the rest of the hint); asked only when a token is missing."""
StoredAccounts = Callable[[str], tuple[str, ...]]
"""The named accounts stored for a profile, by profile name (accounts.accounts_in over the store's keys)."""


def _no_accounts(profile: str) -> tuple[str, ...]:
    return ()


# --- input --------------------------------------------------------------------------------


def _folded(values: list[bytes]) -> str:
    """A header that is there, as one value: its values joined with ", " (RFC 9110 §5.3)."""
    if len(values) == 1:
        return values[0].decode("utf-8", "surrogateescape")
    return ", ".join(v.decode("utf-8", "surrogateescape") for v in values)


class RequestHeaders(NamedTuple):
    """The request headers the decision reads: decoded UTF-8 (surrogateescape), repeated ones folded with ", ".

    The two inputs and Sign are NamedTuples, immutable like frozen
    dataclasses: the proxy makes them for every signed request, and a frozen
    dataclass's ``__init__`` (``object.__setattr__`` per field) costs
    measurably more per request (the reason signing.SignedRequest is one too).
    """

    profile: str | None = None  # X-OAuth1-Profile
    host: str | None = None  # Host (HTTP/2 and HTTP/3: :authority)
    content_types: tuple[str, ...] = ()
    content_encoding: str = "identity"  # lower case
    oauth_authorization: bool = False  # an Authorization header that starts with "OAuth "
    authorization_count: int = 0
    transfer_encoding: bool = False
    fields: tuple[tuple[bytes, bytes], ...] = ()  # every field as received, for a profile's require_headers
    account: str | None = None  # X-OAuth1-Account (SPEC §11)

    @classmethod
    def from_fields(cls, fields: Iterable[tuple[bytes, bytes]], *, authority: str | None = None) -> RequestHeaders:
        """Read the raw header fields once (issue 5); ``authority``: HTTP/2's :authority, which wins over Host."""
        if not isinstance(fields, tuple):
            fields = tuple(fields)  # kept for has(): a profile's require_headers
        profile: list[bytes] = []
        hosts: list[bytes] = []
        content_types: list[bytes] = []
        encodings: list[bytes] = []
        authorizations: list[bytes] = []
        transfer_encoding = False
        account: list[bytes] = []
        for name, value in fields:
            key = name.lower()
            if key == b"host":
                hosts.append(value)
            elif key == b"content-type":
                content_types.append(value)
            elif key == b"authorization":
                authorizations.append(value)
            elif key == b"x-oauth1-profile":
                profile.append(value)
            elif key == b"content-encoding":
                encodings.append(value)
            elif key == b"transfer-encoding":
                transfer_encoding = True
            elif key == b"x-oauth1-account":
                account.append(value)
        host = authority or (_folded(hosts) if hosts else None)
        return RequestHeaders(
            profile=_folded(profile) if profile else None,
            host=host,
            content_types=tuple([v.decode("utf-8", "surrogateescape") for v in content_types]) if content_types else (),
            content_encoding=_folded(encodings).lower() if encodings else "identity",
            oauth_authorization=bool(authorizations) and _folded(authorizations)[:6].lower() == "oauth ",
            authorization_count=len(authorizations),
            transfer_encoding=transfer_encoding,
            fields=fields,
            account=_folded(account) if account else None,
        )

    def has(self, name: str) -> bool:
        """Tell whether a header (any case) is there with a non-empty value."""
        wanted = name.lower().encode("ascii")
        return any(key.lower() == wanted and value.strip() for key, value in self.fields)


class OutgoingRequest(NamedTuple):
    """One request as it would leave: the real destination, the target as sent, the headers, the body."""

    method: str
    scheme: str
    host: str  # the destination as it goes on the wire (IDNA), what matching uses
    shown_host: str  # the destination as shown (realm_from_host, the log line)
    port: int
    target: str  # the request target as sent (path and query), decoded UTF-8 with surrogateescape
    headers: RequestHeaders
    host_header_matches: bool = True  # the Host header names the destination (see authority_matches)
    body: bytes | None = b""  # None: already streamed, unread
    streamed: bool = False  # the body streams after the headers: it cannot be part of the signature


def shown_path(target: str) -> str:
    """A request target as SPEC §8's line prints it: no query, a non-UTF-8 octet (a lone surrogate) as U+FFFD."""
    path = target.partition("?")[0] if target.find("?") >= 0 else target
    return path if path.isascii() else path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def wire_host(host: str) -> str:
    """The host as it goes on the wire (and to the resolver): mitmproxy decodes xn-- labels, IDNA encodes them back."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # not a name the resolver could look up: matches no profile
        return host


def authority_matches(header: str | None, scheme: str, host: str, port: int,
                      parse_authority: Callable[[str], tuple[str, int | None]],
                      ) -> bool:
    """Tell whether a Host header names the destination (any case, one trailing dot, default port or not).

    ``parse_authority`` raises ValueError on a malformed authority (the
    shell passes mitmproxy's strict parser). No Host header matches.
    """
    if not header:
        return True
    if ":" not in host and header == f"{host}:{port}":  # the usual case: no parsing
        return True
    try:
        name, given = parse_authority(header)
    except ValueError:
        return False
    if given is None:
        given = DEFAULT_PORTS.get(scheme)
    return (normalize_host(wire_host(name)), given) == (normalize_host(wire_host(host)), port)


# --- decisions ----------------------------------------------------------------------------


class Sign(NamedTuple):
    """Sign and send: everything the caller applies to the request, and what it may log (never a secret).

    A NamedTuple like the inputs (made for every signed request); Refuse and
    Pass are frozen dataclasses.
    """

    profile: Profile
    url: str  # the signed absolute URL
    target: str  # the signed request target (path and query)
    authorization: str | None  # the Authorization value to add, or None (query or body placement)
    body: bytes  # the body to send
    body_changed: bool
    strip_authorization: bool  # remove every Authorization header first (ours replaces any; SPEC §5)
    strip_profile_header: bool  # remove X-OAuth1-Profile
    set_content_length: bool  # the body changed and no Transfer-Encoding: send its new length
    base_string: str
    normalized_parameters: str
    may_retry: bool  # safe to send again with a corrected timestamp (idempotent, or no body, not streamed)
    method: str
    shown_host: str
    account: str | None = None  # the account signing (SPEC §11); None: the profile's unnamed one
    account_key: str = ""  # its token store key (accounts.token_key); "" when the store is not used
    strip_account_header: bool = False  # remove X-OAuth1-Account

    @property
    def plaintext(self) -> bool:
        """Tell whether the signature is the secrets themselves (RFC 5849 §3.4.4)."""
        return self.profile.signature_method is SignatureMethod.PLAINTEXT

    @property
    def log_fields(self) -> tuple[str, str, str, str, SignatureMethod]:
        """SPEC §8's line: profile, method, host, path (no query), signature method."""
        return (self.profile.name, self.method, self.shown_host, shown_path(self.target),
                self.profile.signature_method)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refuse:
    """Do not send: answer with ``status`` and ``message`` (SPEC §5)."""

    error: ProxyError

    @property
    def status(self) -> int:
        return self.error.status_hint

    @property
    def message(self) -> str:
        return str(self.error)

    @property
    def profile(self) -> str | None:
        """The profile that is not logged in yet, else None."""
        return self.error.profile if isinstance(self.error, TokenMissingError) else None

    @property
    def login_url(self) -> str | None:
        """Where to log that profile in, else None."""
        return self.error.login_url if isinstance(self.error, TokenMissingError) else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Pass:
    """Send unsigned: no profile signs it, or it is a profile's authorize page (RFC 5849 §2.2)."""

    reason: str
    strip_profile_header: bool = False  # an X-OAuth1-Profile header chose the profile: it never leaves


PASS_UNSIGNED = Pass(reason="no profile signs this destination")
PASS_AUTHORIZE_PAGE = Pass(reason="the provider's authorize page (RFC 5849 §2.2), opened by the user's browser")

Decision = Sign | Refuse | Pass


# --- time, tokens, login state -----------------------------------------------------------


def timestamp_for(profile: Profile, now: int, learned_skew: int = 0) -> str:
    """The oauth_timestamp for a request signed now (RFC 5849 §3.3): our clock, the profile's clock_skew,
    and what the proxy learned from the provider's refusals."""
    return str(now + profile.clock_skew + learned_skew)


def token_credentials(profile: Profile, tokens: TokenLookup, login: LoginHelp,
                      now: float | None = None, *, key: str | None = None,
                      account: str | None = None) -> TokenCredentials | None:
    """The token credentials a profile signs with: static ones win, then the store; None for consumer-only.

    ``key``/``account``: the store key and name of the account chosen
    (accounts.choose_account); by default the profile's unnamed account.
    Raise TokenMissingError when the profile has the dance configured but no token yet (SPEC §5), and
    TokenExpiredError when the stored one has expired at ``now`` (SPEC §11: it counts as missing).
    """
    if profile.token is not None:
        return profile.static_token
    if profile.request_token_url is None:  # not profile.has_dance, without the property's call (issue 17)
        # Consumer-only (two-legged): no login can store a token for it, and a
        # leftover one (from when it had dance URLs) is not used. The store is
        # not read for every request either (issue 5).
        return None
    stored = tokens(key or profile.name)
    if stored is not None:
        if now is None or not (stored.expires_at or profile.expires_daily):  # the usual token: no expiry known
            return stored.credentials
        expiry = expiry_of(stored, profile.expires_daily)
        if expiry is None or now < expiry:
            return stored.credentials
        login_url, hint = login_hint_for(*login(profile), profile.name, account)
        # The Session extension's handle buys a new token: the shell refreshes, then signs again.
        refreshable = bool(stored.session_handle) and profile.access_token_url is not None
        of = f'account "{account}" of profile "{profile.name}"' if account else f'profile "{profile.name}"'
        raise TokenExpiredError(
            f"The token of {of} expired at {format_instant(expiry)}; nothing was sent. "
            f"Log in again: open {login_url}{hint}.",
            profile=profile.name, login_url=login_url, refreshable=refreshable, key=key,
        )
    login_url, hint = login_hint_for(*login(profile), profile.name, account)
    who = f'Account "{account}" of profile "{profile.name}"' if account else f'Profile "{profile.name}"'
    raise TokenMissingError(
        f"{who} is not logged in yet. Open {login_url} to connect it{hint}.",
        profile=profile.name,
        login_url=login_url,
    )


class LoginState(StrEnum):
    """Whether a profile can sign now, and with which token (the same words in check, the log and the helper)."""

    STATIC_TOKEN = "static token"
    LOGGED_IN = "logged in"
    NOT_LOGGED_IN = "not logged in"
    CONSUMER_ONLY = "consumer-only (two-legged)"
    EXPIRED = "expired"  # a stored token past its expiry (SPEC §11): refused like a missing one

    @property
    def signs(self) -> bool:
        """Tell whether requests are signed now (not refused for a missing or expired token)."""
        return self not in (LoginState.NOT_LOGGED_IN, LoginState.EXPIRED)


def login_state(profile: Profile, stored: StoredToken | None, now: float | None = None) -> LoginState:
    """The login state of one profile given its stored token, exactly as ``token_credentials`` signs.

    ``now``: the time to judge expiry at (SPEC §11); without it expiry is not judged.
    """
    if profile.has_static_token:
        return LoginState.STATIC_TOKEN
    if not profile.has_dance:
        return LoginState.CONSUMER_ONLY  # a leftover stored token is not used (token_credentials)
    if stored is None:
        return LoginState.NOT_LOGGED_IN
    if now is not None:
        expiry = expiry_of(stored, profile.expires_daily)
        if expiry is not None and now >= expiry:
            return LoginState.EXPIRED
    return LoginState.LOGGED_IN


# --- the decision -------------------------------------------------------------------------


def _authority(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if DEFAULT_PORTS.get(scheme) == port else f"{shown}:{port}"


_EXAMPLE_VALUES = {"user-agent": "my-app/1.0 +https://example.com/contact"}


def _refused(message: str) -> Refuse:
    return Refuse(error=RequestRefused(message))


def decide(
    request: OutgoingRequest,
    config: ProxyConfig,
    *,
    tokens: TokenLookup,
    login: LoginHelp,
    now: int,
    nonce: Callable[[], str],
    learned_skew: Mapping[str, int] = NO_LEARNED_SKEW,
    timestamp: str | None = None,
    chosen: str | None = None,
    candidates: tuple[Profile, ...] | None = None,
    accounts: StoredAccounts = _no_accounts,
) -> Decision:
    """Decide what happens to one outgoing request (SPEC §5): Sign it, Refuse it, or Pass it unsigned.

    ``now``: our clock (seconds); ``nonce``: called once, only to sign;
    ``learned_skew``: the proxy's learned clock corrections by profile;
    ``timestamp``: an explicit oauth_timestamp (``sign --timestamp``), used as
    given; ``chosen``: the profile picked on a first try (its
    X-OAuth1-Profile header may be gone); ``candidates``: what
    ``config.profiles_for`` gave for this request, when the caller has it
    already; ``accounts``: the named accounts stored for a profile (asked
    only when no header, default_account or unnamed token decides, SPEC §11).
    Raises only what ``tokens`` raises (TokenStoreError).

    Two steps: ``prepare`` (everything the request, the config and the
    choice of account decide) then ``finish`` (the token at ``now``, and the
    signature). ShapeMemo keeps the first step's answer per request shape.
    """
    prepared = prepare(request, config, tokens=tokens, chosen=chosen, candidates=candidates, accounts=accounts)
    if not isinstance(prepared, Prepared):
        return prepared
    return finish(prepared, tokens=tokens, login=login, now=now, nonce=nonce, learned_skew=learned_skew,
                  timestamp=timestamp)


class Prepared(NamedTuple):
    """What ``prepare`` settled for one request: the same for every request of its shape (ShapeMemo).

    Never a secret beyond what the request itself holds (its headers and body).
    """

    profile: Profile
    to_sign: RequestToSign  # the request as the upstream will receive it
    origin_length: int  # of "scheme://authority", the part of to_sign.url before the target
    headers: RequestHeaders
    wanted: str | None  # the X-OAuth1-Profile header
    streamed: bool
    shown_host: str
    account: str | None
    account_key: str
    encoded_form: bool  # a form body with a Content-Encoding: refused once the token is known (that order)
    # The account was chosen because the store had the profile's unnamed token: a memo asks the store again.
    unnamed_by_store: bool
    # The choice of account read the store's named accounts (choose_account): not kept by a memo.
    by_accounts: bool


def prepare(
    request: OutgoingRequest,
    config: ProxyConfig,
    *,
    tokens: TokenLookup,
    chosen: str | None = None,
    candidates: tuple[Profile, ...] | None = None,
    accounts: StoredAccounts = _no_accounts,
) -> Prepared | Refuse | Pass:
    """decide's first step: the profile, every check of the request, the account (SPEC §5, §11)."""
    scheme, host, port, path = request.scheme, request.host, request.port, request.target
    if candidates is None:
        candidates = config.profiles_for(scheme, host, port, path)
    if not candidates:
        if not path.startswith("/") and config.signs_destination(scheme, host, port):
            # Interpretation: a target that is not a path (asterisk form
            # "OPTIONS *", RFC 9112 §3.2.4) has no base string URI an OAuth
            # verifier agrees on (RFC 5849 §3.4.1.2 builds it from a path),
            # and no API needs one: refused, never forwarded unsigned.
            return _refused(
                f"the request target {path[:80]!r} is not a path; {scheme}://{_authority(scheme, host, port)} "
                "is a signed destination, and oauth1-proxy forwards nothing to it unsigned. Send the request "
                "to a path (origin form, starting with '/'); OPTIONS * is not supported there."
            )
        return PASS_UNSIGNED
    headers = request.headers
    wanted = headers.profile
    if chosen is not None and wanted is None:
        found = next((p for p in candidates if p.name == chosen), None)
        if found is None:
            return Refuse(error=SigningError(f'profile "{chosen}" no longer signs this request (the config '
                                             "changed); it was not sent. Send it again."))
        profile = found
    elif wanted is None:
        profile = candidates[0]  # the longest path_prefix
    else:
        found = next((p for p in candidates if p.name == wanted), None)
        if found is None:
            names = ", ".join(p.name for p in candidates)
            return _refused(
                f"{PROFILE_HEADER}: {wanted!r} does not sign {request.scheme}://{request.shown_host}:{port}; "
                f"the profiles that do are {names}. Fix the header or the profile's hosts."
            )
        profile = found
    if profile.is_authorize_page(scheme, host, port, path):
        # The user's browser on the provider's authorize page: never signed.
        return PASS_AUTHORIZE_PAGE if wanted is None else Pass(reason=PASS_AUTHORIZE_PAGE.reason,
                                                                 strip_profile_header=True)
    if not request.host_header_matches:
        return _refused(
            f"the Host header {headers.host!r} does not match the destination "
            f"{_authority(scheme, host, port)}; oauth1-proxy signs only for the "
            "real destination. Remove the Host header override."
        )
    signature_method = profile.signature_method
    if signature_method is SignatureMethod.PLAINTEXT and scheme != "https" and not profile.allow_insecure:
        return Refuse(error=SigningError(
            f'Profile "{profile.name}" uses PLAINTEXT, which would send the secrets in clear over http '
            "(RFC 5849 §3.4.4). Use https, or set allow_insecure: true on the profile."
        ))
    missing = [name for name in profile.require_headers if not headers.has(name)]
    if missing:
        # A policy rule of the profile (the discogs preset: Discogs refuses requests without a
        # User-Agent); refused before signing, so nothing the provider would refuse is sent.
        return _refused(
            f'profile "{profile.name}" requires the header {", ".join(missing)} (require_headers), and the '
            f"request has none; it was not sent. Send it from the client, e.g. "
            f"{missing[0]}: {_EXAMPLE_VALUES.get(missing[0].lower(), 'a value')}."
        )
    content_types = headers.content_types
    if len(content_types) > 1:
        return _refused(
            f"the request has {len(content_types)} Content-Type headers; whether its body is a form (and so "
            "part of the signature) would depend on which one the upstream reads. Send one Content-Type."
        )
    content_type = content_types[0] if content_types else None
    streamed = request.streamed
    if streamed:
        if is_form_content_type(content_type):
            return _refused(
                "its form body is streamed (stream_large_bodies) before it can be read, and a form body's "
                "parameters are part of the signature; raise stream_large_bodies above your largest signed "
                "form body (and send a Content-Length)."
            )
        if profile.body_hash:
            return _refused(
                f'its body is streamed (stream_large_bodies) before it can be read, and profile "{profile.name}" '
                "signs an oauth_body_hash of the whole body; raise stream_large_bodies above your largest "
                "signed body."
            )
        body = b""  # a non-form body without a body hash is not part of the signature (RFC 5849 §3.4.1.3.1)
    elif request.body is None:
        return Refuse(error=SigningError("the request body was streamed before it could be signed; it was not sent."))
    else:
        body = request.body
    account: str | None = None
    account_key = ""
    unnamed_by_store = by_accounts = False
    if profile.has_dance and not profile.has_static_token:
        if headers.account is None and profile.default_account is None and tokens(profile.name) is not None:
            account_key = profile.name  # the usual case, the unnamed account: what choose_account picks, ~1 µs less
            unnamed_by_store = True
        else:
            by_accounts = True
            choice = choose_account(profile.name, headers.account, profile.default_account,
                                    has_key=lambda key: tokens(key) is not None, stored_accounts=accounts)
            if isinstance(choice, AccountRefusal):
                return _refused(choice.message)
            account, account_key = choice
    elif headers.account is not None:
        kind = "a static token in the config" if profile.has_static_token else "no token (consumer-only)"
        return _refused(
            f'{ACCOUNT_HEADER}: {headers.account[:80]!r} names an account, but profile "{profile.name}" signs with '
            f"{kind} and has no accounts; remove the header, or give the profile dance URLs and log the "
            "account in."
        )
    origin = f"{scheme}://{_authority(scheme, host, port)}"
    return Prepared(
        profile=profile,
        to_sign=RequestToSign(method=request.method, url=origin + path, content_type=content_type, body=body),
        origin_length=len(origin), headers=headers, wanted=wanted, streamed=streamed, shown_host=request.shown_host,
        account=account, account_key=account_key,
        encoded_form=headers.content_encoding not in ("identity", "") and is_form_content_type(content_type),
        unnamed_by_store=unnamed_by_store, by_accounts=by_accounts,
    )


class KeptShape:
    """What ShapeMemo keeps of one request shape: ``prepare``'s answer, and once a plan signs it, the plan.

    ``plan`` signs the shape with the token credentials ``token`` (signing.plan_of); ``made`` is a Sign
    ``finish`` made for it by the recipe, whose other fields every later Sign of the shape shares.
    """

    __slots__ = ("prepared", "token", "plan", "made", "applied")

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.token: TokenCredentials | None = None
        self.plan: Plan | None = None
        self.made: Sign | None = None
        # The caller's own record of how a Sign of this shape was applied (the shell's KeptApply); never read here.
        self.applied: object = None


def finish(
    prepared: Prepared,
    *,
    tokens: TokenLookup,
    login: LoginHelp,
    now: int,
    nonce: Callable[[], str],
    learned_skew: Mapping[str, int] = NO_LEARNED_SKEW,
    timestamp: str | None = None,
    kept: KeptShape | None = None,
) -> Sign | Refuse:
    """decide's second step: the token credentials at ``now`` (SPEC §5, §11), then the signature (RFC 5849).

    ``kept`` (ShapeMemo's record of the shape): once sign_request has a plan for it, a later request of the
    shape with the same token credentials is the plan's fill (signing_plan.py), the rest of the Sign the same
    as the one made before; the answer is the recipe's either way (tests/test_policy_memo.py).
    """
    profile, account, account_key = prepared.profile, prepared.account, prepared.account_key
    try:
        token = token_credentials(profile, tokens, login, now, key=account_key or None, account=account)
    except TokenMissingError as e:
        return Refuse(error=e)
    if prepared.encoded_form:
        return _refused(
            "a form body with a Content-Encoding cannot be signed (its parameters are signed as sent); "
            "send it uncompressed."
        )
    # RFC 5849 §3.3: a nonce unique for every request and the current timestamp.
    once = nonce()
    if timestamp is None:
        timestamp = timestamp_for(profile, now, learned_skew.get(profile.name, 0))
    if kept is not None:
        plan, made = kept.plan, kept.made
        both = once + timestamp
        # Non-empty unreserved text (signing_plan.py); ASCII letters and digits (a hex nonce, a decimal
        # timestamp) are, without a call.
        if plan is not None and made is not None and (kept.token is token or kept.token == token) and once \
                and timestamp and ((both.isascii() and both.isalnum()) or is_unreserved(both)):
            return _from_plan(plan, made, prepared.origin_length, once, timestamp)
    request = prepared.to_sign
    options = profile.signing_options(prepared.shown_host)
    signed = sign_request(request, client=profile.client, token=token, nonce=once, timestamp=timestamp, **options)
    body = request.body
    body_changed = signed.body != body
    headers = prepared.headers
    method = request.method
    sign = Sign(
        profile=profile,
        url=signed.url,
        target=signed.url[prepared.origin_length:],
        authorization=signed.authorization,
        body=signed.body,
        body_changed=body_changed,
        # Ours replaces any Authorization header; a client-supplied OAuth one
        # goes in every placement (SPEC §5), as sign_request drops oauth_*
        # parameters from the query and form body.
        strip_authorization=bool(headers.authorization_count)
        and (signed.authorization is not None or headers.oauth_authorization),
        strip_profile_header=prepared.wanted is not None,
        set_content_length=body_changed and not headers.transfer_encoding,
        base_string=signed.base_string,
        normalized_parameters=signed.normalized_parameters,
        may_retry=(method in ("GET", "HEAD", "OPTIONS") or not body) and not prepared.streamed,
        method=method,
        shown_host=prepared.shown_host,
        account=account,
        account_key=account_key,
        strip_account_header=headers.account is not None,
    )
    if kept is not None:  # the shape's first requests, or new token credentials: the plan sign_request has now
        plan = plan_of(request, client=profile.client, token=token, **options)
        if plan is not None:
            kept.token, kept.plan, kept.made = token, plan, sign
    return sign


def _from_plan(plan: Plan, made: Sign, origin_length: int, nonce: str, timestamp: str) -> Sign:
    """The Sign of a kept shape from its plan: the placed text, base string and normalized parameters for
    these values; every other field the one ``made`` has (the same shape, token and options)."""
    placed, _, base_string, normalized = plan.fill(nonce, timestamp)
    (profile, url, target, authorization, body, body_changed, strip_authorization, strip_profile_header,
     set_content_length, _, _, may_retry, method, shown_host, account, account_key, strip_account_header) = made
    where = plan.where
    if where == "authorization":
        authorization = placed
    elif where == "url":
        url, target = placed, placed[origin_length:]
    else:
        body = placed.encode("latin-1")
    return Sign(profile, url, target, authorization, body, body_changed, strip_authorization, strip_profile_header,
                set_content_length, base_string, normalized, may_retry, method, shown_host, account, account_key,
                strip_account_header)


def _login_unasked(profile: Profile) -> tuple[str, str]:
    """ShapeMemo.again's LoginHelp: a missing token is decide's to word, so nothing here is shown."""
    return "", ""


class ShapeMemo:
    """decide, keeping ``prepare``'s answer per request shape (issue 17); only ``finish`` runs again.

    A shape is a hashable key the caller builds from every input of
    ``prepare`` but the store: the request as received (method, target,
    destination, header fields, body), ``chosen`` and ``streamed``; the
    config is the memo's own (a new config empties it). What ``prepare``
    read of the store is asked again: an account chosen because the store
    had the profile's unnamed token is kept only while it still has it, and
    a choice among named accounts (choose_account) is never kept. ``finish``
    (the token at this time, its expiry, the signature) runs for every
    request. So the answer is ``decide``'s (tests/test_policy_memo.py).
    At most ``size`` shapes (first in, first out); no I/O, no clock.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._config: ProxyConfig | None = None
        self._prepared: dict[object, KeptShape] = {}

    def decide(
        self,
        shape: object | None,
        request: Callable[[], OutgoingRequest],
        config: ProxyConfig,
        *,
        tokens: TokenLookup,
        login: LoginHelp,
        now: int,
        nonce: Callable[[], str],
        learned_skew: Mapping[str, int] = NO_LEARNED_SKEW,
        chosen: str | None = None,
        candidates: tuple[Profile, ...] | None = None,
        accounts: StoredAccounts = _no_accounts,
    ) -> Decision:
        """``decide(request(), config, ...)``; ``request()`` is made only for a shape not kept (or ``shape`` None)."""
        if config is not self._config:
            self._config = config
            self._prepared = {}
        kept = self._prepared.get(shape) if shape is not None else None
        if kept is None or (kept.prepared.unnamed_by_store and tokens(kept.prepared.profile.name) is None):
            prepared = prepare(request(), config, tokens=tokens, chosen=chosen, candidates=candidates,
                               accounts=accounts)
            if not isinstance(prepared, Prepared):
                return prepared
            if shape is None or prepared.by_accounts:
                return finish(prepared, tokens=tokens, login=login, now=now, nonce=nonce, learned_skew=learned_skew)
            kept = self._keep(shape, prepared)
        return finish(kept.prepared, tokens=tokens, login=login, now=now, nonce=nonce, learned_skew=learned_skew,
                      kept=kept)

    def again(
        self,
        shape: object,
        config: ProxyConfig,
        tokens: TokenLookup,
        now: int,
        nonce: Callable[[], str],
        learned_skew: Mapping[str, int],
        /,
    ) -> tuple[KeptShape, str, str] | None:
        """A kept shape's request signed by its plan, in one call: (its record, the placed text, the base string).

        ``decide``'s Sign for it is ``record.made`` with these two texts in place of the placed one (the
        Authorization value, the URL or the body: ``plan.where``) and of the base string (``_from_plan``). None
        wherever ``decide`` would do more than fill the plan: a shape not kept, no plan yet, other token
        credentials, a token missing or expired (``decide`` then says why), a nonce or timestamp that is not
        non-empty unreserved text, and a shape whose record has no ``applied`` yet: the caller applies the
        texts with it. tests/test_policy_memo.py compares the two; tests/test_signer_again.py, what the proxy
        sends either way. Positional arguments (``decide``'s keywords, in order): a call with keywords takes
        CPython's slower path, once per signed request (issue 17).
        """
        if config is not self._config:
            return None
        kept = self._prepared.get(shape)
        if kept is None or kept.applied is None:
            return None
        plan, made, prepared = kept.plan, kept.made, kept.prepared
        if plan is None or made is None:
            return None
        profile = prepared.profile
        # A static token or none (consumer-only) is the one the plan was made with: the config is the same.
        if profile.token is None and profile.request_token_url is not None:  # the store's (token_credentials)
            if prepared.unnamed_by_store and tokens(profile.name) is None:
                return None
            try:
                token = token_credentials(profile, tokens, _login_unasked, now, key=prepared.account_key or None,
                                          account=prepared.account)
            except TokenMissingError:
                return None
            if not (kept.token is token or kept.token == token):
                return None
        once = nonce()
        # timestamp_for's, written out (issue 17): str of an int, so non-empty unreserved text ("-" and digits).
        timestamp = str(now + profile.clock_skew + learned_skew.get(profile.name, 0))
        # Non-empty unreserved text (signing_plan.py); ASCII letters and digits (a hex nonce) are, by bytes.isalnum
        # (a table lookup per octet; str.isalnum asks the Unicode database).
        if not (once and ((once.isascii() and once.encode().isalnum()) or is_unreserved(once))):
            return None
        placed, _, base_string = plan.place(once, timestamp)
        return kept, placed, base_string

    def kept(self, shape: object) -> KeptShape | None:
        """The record kept for a shape, if any (to set its ``applied``)."""
        return self._prepared.get(shape)

    def _keep(self, shape: object, prepared: Prepared) -> KeptShape:
        kept = self._prepared
        record = kept[shape] = KeptShape(prepared)
        while len(kept) > self.size:
            try:
                del kept[next(iter(kept))]
            except (KeyError, StopIteration, RuntimeError):
                break
        return record

    def __len__(self) -> int:
        return len(self._prepared)
