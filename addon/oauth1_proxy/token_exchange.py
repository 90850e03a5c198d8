"""The token dance of RFC 5849 §2: request builders and response parsers (pure).

Rule: no I/O, no clock, no randomness here; the callers (web.py, cli.py,
demo.py) pass nonces and timestamps and send the requests with ``fetch``'s
caller-chosen transport.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import __version__
from .config import Profile
from .dance_variants import fill_authorize_url, has_token_placeholder
from .diagnostics import known_refusal
from .errors import ExchangeError as ExchangeError  # defined with every other error (issue 13)
from .signing import Placement, RequestToSign, SignatureMethod, TokenCredentials, sign_request
from .tokens import StoredToken

FORM = "application/x-www-form-urlencoded"
# The dance's own calls name themselves (Discogs asks every client for a User-Agent).
USER_AGENT = f"oauth1-proxy/{__version__}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundRequest:
    """An HTTP request to the provider, ready to send."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class TemporaryCredentials:
    """The request token and its secret (RFC 5849 §2.1), kept on the server side only."""

    token: str
    secret: str = field(repr=False)

    @property
    def credentials(self) -> TokenCredentials:
        return TokenCredentials(token=self.token, secret=self.secret)


def refuse_plaintext_in_clear(profile: Profile, step: str, url: str) -> None:
    """Refuse a PLAINTEXT dance step over plain http before anything is built or sent (SPEC §10).

    RFC 5849 §3.4.4: PLAINTEXT "does not employ a signature algorithm"; the
    signature is the consumer secret and the (temporary) token secret, so it
    must only travel over TLS. As for API calls, ``allow_insecure: true`` is
    the profile's explicit opt-out.
    """
    if (profile.signature_method is SignatureMethod.PLAINTEXT and urlsplit(url).scheme.lower() != "https"
            and not profile.allow_insecure):
        raise ExchangeError(step, f'profile "{profile.name}" uses PLAINTEXT, which would send the consumer secret '
                                  f"in clear to {url.split('?')[0]} (RFC 5849 §3.4.4); nothing was sent. Use an "
                                  "https URL, or set allow_insecure: true on the profile.")


def _signed_call(profile: Profile, url: str, token: TokenCredentials | None, extra: Sequence[tuple[str, str]],
                 nonce: str, timestamp: str, step: str) -> OutboundRequest:
    refuse_plaintext_in_clear(profile, step, url)
    # Interpretation: the dance always puts the protocol parameters in the
    # Authorization header (RFC 5849 §3.5.1, "the preferred method"), whatever
    # placement the profile uses for API calls. RFC 5849 §2.1 and §2.3 say
    # "HTTP POST"; token_method: GET is for providers that document GET
    # (E*TRADE answers POST with 405): no body and no Content-Type then.
    method = profile.token_method
    signed = sign_request(
        RequestToSign(method=method, url=url, content_type=FORM if method == "POST" else None, body=b""),
        client=profile.client,
        token=token,
        nonce=nonce,
        timestamp=timestamp,
        extra_oauth_params=extra,
        **{**profile.signing_options(urlsplit(url).hostname or ""), "placement": Placement.HEADER},
    )
    assert signed.authorization is not None
    headers = {"Authorization": signed.authorization, "User-Agent": USER_AGENT}
    if method == "POST":
        headers["Content-Type"] = FORM
    return OutboundRequest(method=method, url=signed.url, headers=headers, body=signed.body)


def make_request_token_request(profile: Profile, callback: str, *, nonce: str, timestamp: str) -> OutboundRequest:
    """Build the temporary credentials request (RFC 5849 §2.1)."""
    if profile.request_token_url is None:
        raise ExchangeError("request token", f'profile "{profile.name}" has no request_token_url')
    # "oauth_callback: An absolute URI back to which the server will redirect
    # the resource owner when the Resource Owner Authorization step is
    # completed. If the client is unable to receive callbacks ... the
    # parameter value MUST be set to "oob"".
    return _signed_call(profile, profile.request_token_url, None, [("oauth_callback", callback)], nonce, timestamp,
                        "request token")


def make_authorize_url(profile: Profile, request_token: str) -> str:
    """Build the resource owner authorization URL (RFC 5849 §2.2) with authorize_params.

    Placeholders (dance_variants.py) are filled in first, percent-encoded;
    the URL's own query is then kept as written and authorize_params, and
    ``oauth_token`` unless the URL placed it, are appended.
    """
    if profile.authorize_url is None:
        raise ExchangeError("authorize", f'profile "{profile.name}" has no authorize_url')
    template = profile.authorize_url
    if "{" not in template:
        parts = urlsplit(template)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query += list(profile.authorize_params)
        query.append(("oauth_token", request_token))
        return urlunsplit(parts._replace(query=urlencode(query)))
    parts = urlsplit(fill_authorize_url(template, {"oauth_token": request_token,
                                                    "consumer_key": profile.consumer_key}))
    added = list(profile.authorize_params)
    if not has_token_placeholder(template):
        added.append(("oauth_token", request_token))
    if not added:
        return urlunsplit(parts)
    joined = "&".join(x for x in (parts.query, urlencode(added)) if x)
    return urlunsplit(parts._replace(query=joined))


def make_access_token_request(
    profile: Profile, temporary: TemporaryCredentials, verifier: str, *, nonce: str, timestamp: str
) -> OutboundRequest:
    """Build the token request (RFC 5849 §2.3), signed with the temporary credentials."""
    if profile.access_token_url is None:
        raise ExchangeError("access token", f'profile "{profile.name}" has no access_token_url')
    return _signed_call(profile, profile.access_token_url, temporary.credentials,
                        [("oauth_verifier", verifier)], nonce, timestamp, "access token")


def _problem_of(body: bytes) -> str | None:
    try:
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    except ValueError:
        return None
    return params.get("oauth_problem")


def _shown(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    # Never repeat a secret the provider might have sent back.
    if "secret" in text.lower():
        return "(a response mentioning secrets, not shown)"
    return text[:200] + ("…" if len(text) > 200 else "")


def check_status(step: str, status: int, body: bytes, *, host: str = "", method: str = "POST") -> None:
    """Raise ExchangeError when the provider refused a step (4xx/5xx), with its oauth_problem.

    A refusal diagnostics.known_refusal knows (an expired E*TRADE key, ...)
    adds its line; a 405 to the dance's own method names token_method.
    """
    if 200 <= status < 300:
        return
    text = body[:65536].decode("utf-8", "replace")
    problem = _problem_of(body)
    if problem is None:
        m = re.search(r"oauth_problem=([A-Za-z_]+)", text)  # in an HTML error page (E*TRADE's)
        problem = m.group(1) if m else None
    said = f"oauth_problem={problem}" if problem else _shown(body) or "(empty body)"
    message = f"the provider answered {status}: {said}"
    if status == 405:
        other = "GET" if method == "POST" else "POST"
        message += (f". The provider does not take {method} here: set token_method: {other} on the profile "
                    "(E*TRADE's token endpoints take GET).")
    known = known_refusal(status, text, host=host, problem=problem)
    if known:
        message += f". {known}"
    raise ExchangeError(step, message, problem=problem)


def parse_credentials_response(step: str, body: bytes) -> dict[str, str]:
    """Parse a form-encoded credentials response (RFC 5849 §2.1, §2.3)."""
    try:
        params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError) as e:
        raise ExchangeError(step, "the provider's answer is not form-encoded credentials") from e
    for key in ("oauth_token", "oauth_token_secret"):
        if key not in params:
            raise ExchangeError(step, f"the provider's answer has no {key}")
    return params


def parse_request_token_response(body: bytes, *, require_callback_confirmed: bool = True) -> TemporaryCredentials:
    """Read the temporary credentials; "oauth_callback_confirmed" MUST be "true" (RFC 5849 §2.1).

    ``require_callback_confirmed=False`` (the profile's setting) accepts a
    provider that answers ``false``, as E*TRADE does to ``oob`` without a
    registered callback. The 1.0a protections stay: the verifier is still
    required on the access-token step.
    """
    params = parse_credentials_response("request token", body)
    confirmed = params.get("oauth_callback_confirmed")
    if confirmed != "true" and require_callback_confirmed:
        raise ExchangeError("request token", "the provider did not send oauth_callback_confirmed=true "
                                             "(an OAuth 1.0 provider, not 1.0a?); if the provider documents "
                                             "that answer (E*TRADE without a registered callback), set "
                                             "require_callback_confirmed: false on the profile.")
    return TemporaryCredentials(token=params["oauth_token"], secret=params["oauth_token_secret"])


def parse_access_token_response(body: bytes, *, obtained_at: str, extra: Mapping[str, str] = {}) -> StoredToken:
    """Read the token credentials and what the provider returned besides (user_id, screen_name, ...)."""
    params = parse_credentials_response("access token", body)
    rest = {k: v for k, v in params.items() if k not in ("oauth_token", "oauth_token_secret")}
    rest.update(extra)
    return StoredToken(
        token=params["oauth_token"],
        token_secret=params["oauth_token_secret"],
        obtained_at=obtained_at,
        extra=tuple(sorted(rest.items())),
    )


def parse_callback_query(query: str) -> tuple[str, str, dict[str, str]]:
    """Read oauth_token, oauth_verifier and any extra parameters from a callback (or a pasted URL)."""
    text = query.strip()
    if "?" in text:
        text = text.split("?", 1)[1]
    text = text.split("#", 1)[0]  # Facebook-style "#_=_" and other fragments
    params = dict(parse_qsl(text, keep_blank_values=True))
    token = params.pop("oauth_token", "")
    verifier = params.pop("oauth_verifier", "")
    if not token or not verifier:
        raise ExchangeError("callback", "the callback has no oauth_token and oauth_verifier")
    return token, verifier, params
