"""Every error the proxy and its commands report to a user: one hierarchy, in one module (issue 13).

Two attributes, two meanings, everywhere:

- ``status_hint``: the HTTP status to answer when the error ends a request
  (the proxy's own answer, the helper's page). Always an HTTP status.
- ``exit_code``: the exit status of the ``oauth1-proxy`` command it ends
  (``cli.main``). 1 unless a class says otherwise; 2 is a usage error, as
  argparse's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .limits import ProfileLimits


class ProxyError(Exception):
    """Base of every error the proxy reports to a user; the message names the value, where, and the fix."""

    status_hint: int = 500
    exit_code: int = 1


class ConfigError(ProxyError):
    """The config file is wrong; ``problems`` holds one message per problem, each naming file, line and key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class TokenStoreError(ProxyError):
    """The token store cannot be read or written (corrupt, unreadable, read-only)."""

    status_hint = 500


class TokenMissingError(ProxyError):
    """A profile with the token dance configured has no token credentials yet (SPEC §5)."""

    status_hint = 401

    def __init__(self, message: str, *, profile: str, login_url: str) -> None:
        super().__init__(message)
        self.profile = profile
        self.login_url = login_url


class TokenExpiredError(TokenMissingError):
    """The stored token has expired (SPEC §11): it counts as missing; ``refreshable`` when its session
    handle can buy a new one (the shell refreshes, then signs again)."""

    def __init__(self, message: str, *, profile: str, login_url: str, refreshable: bool = False,
                 key: str | None = None) -> None:
        super().__init__(message, profile=profile, login_url=login_url)
        self.refreshable = refreshable
        self.key = key or profile  # the token store key of the expired token (an account's, SPEC §11)


class SigningError(ProxyError):
    """A request to a configured host cannot be signed as configured (SPEC §5: it is refused)."""

    status_hint = 502


class RequestRefused(ProxyError):
    """The client's request itself is at fault (spoofed Host, unknown X-OAuth1-Profile, ...)."""

    status_hint = 400


class MisdirectedRequest(ProxyError):
    """A request for the helper whose Host names none of its addresses (DNS rebinding, SPEC §10)."""

    status_hint = 421


class ExchangeError(ProxyError):
    """A step of the dance failed at the provider; the message says which step and what it said."""

    status_hint = 502

    def __init__(self, step: str, message: str, *, problem: str | None = None) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.problem = problem


class UsageError(ProxyError):
    """A command line ``oauth1-proxy`` cannot act on (a relative URL, a malformed -H, no matching profile)."""

    status_hint = 400  # the caller's input is at fault
    exit_code = 2


class LoginError(ProxyError):
    """``oauth1-proxy login`` could not finish the dance (no PIN, no callback, an unknown profile, ...).

    Only ever ends the command; the inherited ``status_hint`` stands if it is ever answered over HTTP.
    """


class RateLimited(ProxyError):
    """A request over its profile's rate_limit or max_concurrency that waited queue_timeout (SPEC §11): 429.

    ``retry_after``: whole seconds for the ``Retry-After`` header (RFC 9110 §10.2.3).
    """

    status_hint = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MustQueue(ProxyError):
    """A signed request must wait for its budget (SPEC §11; shell/limits.py's ``Limiter.enter`` raises it).

    The signer awaits ``Limiter.wait`` then. A ProxyError so that a path that cannot wait (a streamed body, no event
    loop) refuses it with this message: 429, nothing sent.
    """

    status_hint = 429

    def __init__(self, message: str, *, profile: str, account: str | None, key: str, limits: ProfileLimits) -> None:
        super().__init__(message)
        self.profile, self.account, self.key, self.limits = profile, account, key, limits
        self.retry_after = 1  # seconds: when a slot frees is unknown
