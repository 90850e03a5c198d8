"""The token dance of RFC 5849 §2: request builders and response parsers (pure).

Rule: no I/O, no clock, no randomness here; the callers (web.py, cli.py,
demo.py) pass nonces and timestamps and send the requests with ``fetch``'s
caller-chosen transport.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .config import Profile
from .errors import ExchangeError as ExchangeError  # defined with every other error (issue 13)
from .signing import Placement, RequestToSign, SignatureMethod, TokenCredentials, sign_request
from .tokens import StoredToken

FORM = "application/x-www-form-urlencoded"


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


def _signed_post(profile: Profile, url: str, token: TokenCredentials | None, extra: Sequence[tuple[str, str]],
                 nonce: str, timestamp: str, step: str) -> OutboundRequest:
    refuse_plaintext_in_clear(profile, step, url)
    # Interpretation: the dance always puts the protocol parameters in the
    # Authorization header (RFC 5849 §3.5.1, "the preferred method"), with an
    # empty form body, whatever placement the profile uses for API calls.
    signed = sign_request(
        RequestToSign(method="POST", url=url, content_type=FORM, body=b""),
        client=profile.client,
        token=token,
        nonce=nonce,
        timestamp=timestamp,
        extra_oauth_params=extra,
        **{**profile.signing_options(urlsplit(url).hostname or ""), "placement": Placement.HEADER},
    )
    assert signed.authorization is not None
    return OutboundRequest(
        method="POST",
        url=signed.url,
        headers={"Authorization": signed.authorization, "Content-Type": FORM},
        body=signed.body,
    )


def make_request_token_request(profile: Profile, callback: str, *, nonce: str, timestamp: str) -> OutboundRequest:
    """Build the temporary credentials request (RFC 5849 §2.1)."""
    if profile.request_token_url is None:
        raise ExchangeError("request token", f'profile "{profile.name}" has no request_token_url')
    # "oauth_callback: An absolute URI back to which the server will redirect
    # the resource owner when the Resource Owner Authorization step is
    # completed. If the client is unable to receive callbacks ... the
    # parameter value MUST be set to "oob"".
    return _signed_post(profile, profile.request_token_url, None, [("oauth_callback", callback)], nonce, timestamp,
                        "request token")


def make_authorize_url(profile: Profile, request_token: str) -> str:
    """Build the resource owner authorization URL (RFC 5849 §2.2) with authorize_params."""
    if profile.authorize_url is None:
        raise ExchangeError("authorize", f'profile "{profile.name}" has no authorize_url')
    parts = urlsplit(profile.authorize_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += list(profile.authorize_params)
    query.append(("oauth_token", request_token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_access_token_request(
    profile: Profile, temporary: TemporaryCredentials, verifier: str, *, nonce: str, timestamp: str
) -> OutboundRequest:
    """Build the token request (RFC 5849 §2.3), signed with the temporary credentials."""
    if profile.access_token_url is None:
        raise ExchangeError("access token", f'profile "{profile.name}" has no access_token_url')
    return _signed_post(profile, profile.access_token_url, temporary.credentials,
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


def check_status(step: str, status: int, body: bytes) -> None:
    """Raise ExchangeError when the provider refused a step (4xx/5xx), with its oauth_problem."""
    if 200 <= status < 300:
        return
    problem = _problem_of(body)
    said = f"oauth_problem={problem}" if problem else _shown(body) or "(empty body)"
    raise ExchangeError(step, f"the provider answered {status}: {said}", problem=problem)


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


def parse_request_token_response(body: bytes) -> TemporaryCredentials:
    """Read the temporary credentials; "oauth_callback_confirmed" MUST be "true" (RFC 5849 §2.1)."""
    params = parse_credentials_response("request token", body)
    if params.get("oauth_callback_confirmed") != "true":
        raise ExchangeError("request token", "the provider did not send oauth_callback_confirmed=true "
                                             "(an OAuth 1.0 provider, not 1.0a?)")
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
