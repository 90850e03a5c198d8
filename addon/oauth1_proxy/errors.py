"""The exceptions a caller handles differently, each with the HTTP status it suggests."""

from __future__ import annotations


class ProxyError(Exception):
    """Base of every error the proxy reports to a user; ``status_hint`` is the HTTP status to answer."""

    status_hint: int = 500


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


class SigningError(ProxyError):
    """A request to a configured host cannot be signed as configured (SPEC §5: it is refused)."""

    status_hint = 502


class RequestRefused(ProxyError):
    """The client's request itself is at fault (spoofed Host, unknown X-OAuth1-Profile, ...)."""

    status_hint = 400
