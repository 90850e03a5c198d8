"""Where the token store is: a file path or a Redis URL (SPEC §7, §12); pure, no I/O.

``token_store: redis://[:PASSWORD@]HOST:PORT/DB`` (or ``rediss://`` for TLS)
names a Redis database; anything else is a file path. The password never
leaves this module unredacted except to the Redis client: ``RedisLocation``
shows itself (``str``, ``repr``, every message) as ``redis://:***@HOST:PORT/DB``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

REDIS_SCHEMES = ("redis", "rediss")
DEFAULT_PORT = 6379
REDACTED = "***"


class BadRedisURL(ValueError):
    """The token_store value looks like a Redis URL but is not one we accept (the message never holds the password)."""


@dataclass(frozen=True, slots=True)
class RedisLocation:
    """A Redis database holding the shared token store."""

    host: str
    port: int = DEFAULT_PORT
    db: int = 0
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return self.redacted

    @property
    def redacted(self) -> str:
        """The URL with the password replaced: the only form that appears in logs, pages and messages."""
        scheme = "rediss" if self.tls else "redis"
        auth = ""
        if self.password is not None:
            auth = f"{self.username or ''}:{REDACTED}@"
        elif self.username:
            auth = f"{self.username}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}/{self.db}"

    def scrub(self, text: str) -> str:
        """``text`` with the password (raw and percent-encoded forms) replaced, for messages quoting a client error."""
        if self.password:
            for form in {self.password, quote(self.password, safe="")}:
                text = text.replace(form, REDACTED)
        return text


def is_redis_url(text: str) -> bool:
    return text.partition("://")[0].lower() in REDIS_SCHEMES and "://" in text


def parse_redis_url(text: str) -> RedisLocation:
    """Parse ``redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]``; raise BadRedisURL naming the part that is wrong."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise BadRedisURL("the port of the Redis URL is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in REDIS_SCHEMES:
        raise BadRedisURL(f"the Redis URL must start with redis:// or rediss://, not {scheme}://")
    host = parts.hostname
    if not host:
        raise BadRedisURL("the Redis URL names no host; write redis://[:PASSWORD@]HOST:PORT/DB")
    if parts.query or parts.fragment:
        raise BadRedisURL("the Redis URL takes no ?query or #fragment; write redis://[:PASSWORD@]HOST:PORT/DB")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise BadRedisURL(f"the database of the Redis URL must be a number (redis://HOST:PORT/0), not {path!r}")
    password = unquote(parts.password) if parts.password is not None else None
    username = unquote(parts.username) if parts.username else None
    return RedisLocation(host=host, port=port or DEFAULT_PORT, db=int(path or 0), tls=scheme == "rediss",
                         username=username, password=password or None)
