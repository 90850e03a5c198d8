"""Read why a provider refused a signed request, and what to check (pure).

Providers say it in different ways:
- the OAuth Problem Reporting extension: ``oauth_problem=signature_invalid``
  in a form body or in ``WWW-Authenticate: OAuth ... oauth_problem="..."``,
  with ``oauth_acceptable_timestamps=a-b`` for ``timestamp_refused``;
- the provider's own signature base string: Jira's
  ``oauth_signature_base_string=``, Flickr's ``debug_sbs=``, or a message
  that quotes "base string: GET&http...";
- Twitter's JSON error codes (32 "Could not authenticate you", 89, 135).

Some refusals are not about the signature at all, and re-signing cannot fix
them; ``known_refusal`` names them in one line, what it is and what to do
(issue 14; the sources are in the README's presets section):
- NetSuite's concurrency governance: RESTlets answer 400 with the SuiteScript
  error ``SSS_REQUEST_LIMIT_EXCEEDED``, SOAP web services fault with
  ``ExceededConcurrentRequestLimitFault``/``WS_CONCUR_SESSION_DISALLOWED``,
  and an excess of token-based logins can come back as the generic
  ``INVALID_LOGIN_ATTEMPT`` ("Invalid login attempt.");
- X's 403 ``"reason": "client-not-enrolled"`` ("Client Forbidden"): the app's
  keys are not from a developer App attached to a Project with the access
  level the endpoint needs;
- E*TRADE's ``oauth_problem=consumer_key_rejected`` from api.etrade.com or
  apisb.etrade.com: E*TRADE consumer keys expire (two years after issue),
  and a sandbox key does not work on the production host nor the reverse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, unquote

ADVICE = {
    "signature_invalid": "check consumer_secret and token_secret, and that the provider sees the URL (scheme, "
                         "host, port, path) and the parameters the proxy signed; with --set oauth1_debug=true "
                         "the proxy logs its signature base string to compare",
    "timestamp_refused": "this machine's clock and the provider's differ; the proxy corrects it (clock_skew)",
    "nonce_used": "the provider saw this nonce before: a request was replayed unsigned or a clock is wrong",
    "consumer_key_unknown": "check consumer_key",
    "consumer_key_rejected": "the provider refuses this consumer_key (disabled or revoked)",
    "consumer_key_refused": "the provider refuses this consumer_key (disabled or revoked)",
    "token_rejected": "the token is unknown or was revoked: log in again",
    "token_revoked": "the token was revoked: log in again",
    "token_expired": "the token expired: log in again",
    "token_used": "the token was already used: log in again",
    "permission_denied": "the token has no permission for this call (scope, realm or app permissions)",
    "permission_unknown": "the provider does not know the permission asked for",
    "signature_method_rejected": "the provider does not accept this signature_method; change it in the profile",
    "parameter_absent": "a required OAuth parameter is missing",
    "parameter_rejected": "the provider refuses an OAuth parameter",
    "version_rejected": "the provider refuses oauth_version 1.0",
    "verifier_invalid": "the verifier is wrong or expired: log in again",
    "body_hash_invalid": "the body hash does not match the body: check body_hash and that nothing rewrites the body",
}

# Twitter/X v1.1 error codes that mean an OAuth problem.
TWITTER_CODES = {32: "signature_invalid", 89: "token_rejected", 135: "timestamp_refused", 215: "parameter_absent"}

_PROBLEM_IN_HEADER = re.compile(r'oauth_problem="?([A-Za-z_]+)"?')
_QUOTED_BASE_STRING = re.compile(
    r"base[ _-]?string[^A-Za-z&]{0,20}((?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)&[A-Za-z0-9%._~&=-]+)",
    re.IGNORECASE,
)
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnosis:
    """What the provider said about a refused request."""

    status: int
    problem: str | None = None
    advice: str = ""
    provider_base_string: str | None = None
    acceptable_timestamps: tuple[int, int] | None = None
    provider_time: float | None = None  # from the Date header, seconds since the epoch
    known: str | None = None  # a refusal that is not about the signature (known_refusal)

    def summary(self) -> str:
        said = f"oauth_problem={self.problem}" if self.problem else "no oauth_problem given"
        if self.known:
            return f"{self.status} ({said}): {self.known}"
        return f"{self.status} ({said})" + (f": {self.advice}" if self.advice else "")


NETSUITE_CONCURRENCY = (
    "NetSuite refused the request because the account has more concurrent web services and RESTlet "
    "requests than its concurrency limit allows (concurrency governance); it is not a signature problem. "
    "Set max_concurrency on the profile to the account's limit (Setup > Integration > Integration "
    "Management > Integration Governance shows it), or send fewer requests at once."
)
NETSUITE_INVALID_LOGIN = (
    "NetSuite's \"Invalid login attempt\" covers a wrong signature or realm (the account id), a revoked or "
    "inactive token, and requests over the account's concurrency limit. NetSuite's Login Audit Trail names "
    "the cause; if it happens only under load, set max_concurrency on the profile to the account's limit."
)
X_CLIENT_NOT_ENROLLED = (
    "X refused the app, not the signature (client-not-enrolled): its consumer key is not from a developer "
    "App attached to a Project with the access level this endpoint needs. In the X developer portal, attach "
    "the App to a Project (or upgrade the access level), then use that App's keys and tokens."
)
ETRADE_KEY_REJECTED = (
    "E*TRADE rejects the consumer key: E*TRADE consumer keys expire two years after they are issued, and "
    "a sandbox key works only on apisb.etrade.com, a production key only on api.etrade.com. Check the "
    "key's host, or request a new key on developer.etrade.com (it can take a few business days) and "
    "log in again."
)
_NETSUITE_CONCURRENCY_CODES = (
    "SSS_REQUEST_LIMIT_EXCEEDED", "ExceededConcurrentRequestLimitFault", "WS_CONCUR_SESSION_DISALLOWED",
    "CONCURRENCY_LIMIT_EXCEEDED",
)


def _is_under(host: str, domain: str) -> bool:
    host = host.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def known_refusal(status: int, text: str, *, host: str = "", problem: str | None = None) -> str | None:
    """One line for a provider refusal that re-signing cannot fix: what it is and what to do, or None."""
    if any(code in text for code in _NETSUITE_CONCURRENCY_CODES):
        return NETSUITE_CONCURRENCY
    if _is_under(host, "netsuite.com") and status == 401 and (
            "INVALID_LOGIN_ATTEMPT" in text or "Invalid login attempt" in text):
        return NETSUITE_INVALID_LOGIN
    if status == 403 and "client-not-enrolled" in text and text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("reason") == "client-not-enrolled":
            return X_CLIENT_NOT_ENROLLED
    if problem in ("consumer_key_rejected", "consumer_key_refused") and _is_under(host, "etrade.com"):
        return ETRADE_KEY_REJECTED
    return None


def _form(body: str) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.strip(), keep_blank_values=True))
    except ValueError:
        return {}


def parse_refusal(status: int, headers: Mapping[str, str], body: bytes, *, host: str = "") -> Diagnosis:
    """Read what a provider says in a 4xx answer to a signed request (``host``: whom it was sent to)."""
    text = body[:65536].decode("utf-8", "replace")
    form = _form(text) if "=" in text and "<" not in text[:1] else {}
    problem = form.get("oauth_problem")
    if problem is None:
        m = _PROBLEM_IN_HEADER.search(headers.get("www-authenticate", ""))
        problem = m.group(1) if m else None
    if problem is None and text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for error in data.get("errors") or []:
                if isinstance(error, dict) and error.get("code") in TWITTER_CODES:
                    problem = TWITTER_CODES[error["code"]]
                    break
            if problem is None and isinstance(data.get("oauth_problem"), str):
                problem = data["oauth_problem"]
    if problem is None:
        m = re.search(r"oauth_problem=([A-Za-z_]+)", text)
        problem = m.group(1) if m else None

    base_string = None
    at = text.find("debug_sbs=")
    if at >= 0:
        # Flickr appends its base string unencoded (its own "&"s included): the rest of the line.
        base_string = re.split(r"[\s\"'<]", text[at + len("debug_sbs="):], maxsplit=1)[0] or None
    if base_string is None:
        base_string = form.get("oauth_signature_base_string")
    if base_string is None and "oauth_signature_base_string=" in text:
        at = text.find("oauth_signature_base_string=")
        raw = re.split(r"[&\s\"'<]", text[at + len("oauth_signature_base_string="):], maxsplit=1)[0]
        base_string = unquote(raw) or None
    if base_string is None:
        m = _QUOTED_BASE_STRING.search(text)
        base_string = m.group(1) if m else None

    acceptable = None
    if "oauth_acceptable_timestamps" in form:
        low, _, high = form["oauth_acceptable_timestamps"].partition("-")
        if low.isdigit() and high.isdigit():
            acceptable = (int(low), int(high))
    provider_time = None
    if headers.get("date"):
        try:
            provider_time = parsedate_to_datetime(headers["date"]).timestamp()
        except (TypeError, ValueError):
            provider_time = None
    return Diagnosis(
        status=status,
        problem=problem,
        advice=ADVICE.get(problem or "", ""),
        provider_base_string=base_string,
        acceptable_timestamps=acceptable,
        provider_time=provider_time,
        known=known_refusal(status, text, host=host, problem=problem),
    )


def clock_correction(diagnosis: Diagnosis, now: float) -> int | None:
    """Seconds to add to our clock so that the provider accepts our timestamps, when it tells us."""
    if diagnosis.acceptable_timestamps is not None:
        low, high = diagnosis.acceptable_timestamps
        return round((low + high) / 2 - now)
    if diagnosis.provider_time is not None:
        return round(diagnosis.provider_time - now)
    return None


def _split_base_string(base_string: str) -> tuple[str, str, list[tuple[str, str]]]:
    parts = base_string.split("&")
    if len(parts) != 3:
        return base_string, "", []
    method, uri, params = parts
    pairs = []
    for item in unquote(params).split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return method, unquote(uri), pairs


def diff_base_strings(ours: str, theirs: str) -> list[str]:
    """Say, line by line, where two signature base strings differ (the method, the URI, each parameter)."""
    if ours == theirs:
        return ["the base strings are identical: check the secrets (consumer_secret, token_secret)"]
    m1, u1, p1 = _split_base_string(ours)
    m2, u2, p2 = _split_base_string(theirs)
    lines = []
    if m1 != m2:
        lines.append(f"method: ours {m1!r}, provider's {m2!r}")
    if u1 != u2:
        lines.append(f"base string URI: ours {u1!r}, provider's {u2!r}")
    ours_params: dict[str, list[str]] = {}
    theirs_params: dict[str, list[str]] = {}
    for name, value in p1:
        ours_params.setdefault(name, []).append(value)
    for name, value in p2:
        theirs_params.setdefault(name, []).append(value)
    for name in sorted(set(ours_params) | set(theirs_params)):
        a, b = ours_params.get(name), theirs_params.get(name)
        if a == b:
            continue
        if b is None:
            lines.append(f"parameter {name!r}: only in ours ({', '.join(map(repr, a or []))})")
        elif a is None:
            lines.append(f"parameter {name!r}: only in the provider's ({', '.join(map(repr, b))})")
        else:
            lines.append(f"parameter {name!r}: ours {', '.join(map(repr, a))}; provider's {', '.join(map(repr, b))}")
    return lines or ["the base strings differ only in encoding: compare them character by character"]
