"""Dance variants of real providers (SPEC §11): the authorize URL's placeholders and the token method (pure).

RFC 5849 §2.2 sends the resource owner to the authorize URL with the
temporary credentials' identifier in ``oauth_token``. Some providers name it
otherwise: E*TRADE's page takes
``https://us.etrade.com/e/t/etws/authorize?key={consumer_key}&token={oauth_token}``,
MediaWiki's also wants the consumer key
(``Special:OAuth/authorize?oauth_consumer_key={consumer_key}``). A profile's
``authorize_url`` may therefore hold these placeholders; each value is
percent-encoded (RFC 3986 §2.1, every character outside "unreserved") when it
is put in. Without ``{oauth_token}``, ``oauth_token=`` is appended as
RFC 5849 §2.2 has it.

Config (config.py) and the dance (token_exchange.py) both read this module,
so that what the config accepts is exactly what the dance fills in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

PLACEHOLDERS = ("oauth_token", "consumer_key")
TOKEN_METHODS = ("POST", "GET")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def placeholders_in(url: str) -> list[str]:
    """The placeholder names in a URL, in order ("{oauth_token}" -> "oauth_token")."""
    return _PLACEHOLDER.findall(url)


def authorize_url_problem(url: str) -> str | None:
    """What is wrong with an authorize_url's placeholders (the message names the fix), or None."""
    names = placeholders_in(url)
    unknown = [name for name in names if name not in PLACEHOLDERS]
    if unknown:
        return (f"{{{unknown[0]}}} is not a placeholder oauth1-proxy fills in; use {{oauth_token}} (the request "
                "token) or {consumer_key}, e.g. https://us.etrade.com/e/t/etws/authorize?key={consumer_key}"
                "&token={oauth_token}.")
    if "{" in urlsplit(url).netloc:
        return "placeholders go in the path or the query, not in the host; write the host itself."
    for name in PLACEHOLDERS:
        if names.count(name) > 1:
            return f"{{{name}}} appears {names.count(name)} times; write it once."
    return None


def fill_authorize_url(template: str, values: Mapping[str, str]) -> str:
    """Put the percent-encoded values in for the placeholders (only the known ones are ever there)."""
    return _PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), template)


def has_token_placeholder(url: str) -> bool:
    return "oauth_token" in placeholders_in(url)
