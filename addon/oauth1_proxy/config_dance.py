"""Validation of a profile's dance variants and request rules (SPEC §11, issue 14).

- ``token_method: GET | POST`` for the request-token and access-token calls
  (RFC 5849 §2.1 and §2.3 say POST; E*TRADE documents GET);
- ``require_callback_confirmed: false`` accepts a request-token answer with
  ``oauth_callback_confirmed=false`` (E*TRADE to ``oob``);
- ``request_token_lifetime``: seconds the provider keeps a request token
  (E*TRADE: 300); a login that takes longer is ended before the expired
  token is sent;
- ``require_headers: [User-Agent]``: request headers the client must send;
  a request without one is refused before signing (Discogs);
- the placeholders of ``authorize_url`` (dance_variants.py).

Every problem names the key and the fix, like the rest of config_check.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .dance_variants import TOKEN_METHODS, authorize_url_problem

if TYPE_CHECKING:  # config_check.py calls this module
    from .config_check import Checker
    from .config_yaml import Path_

DANCE_KEYS = ("token_method", "require_callback_confirmed", "request_token_lifetime", "require_headers")
# RFC 9110 §5.1: a field name is a token.
_FIELD_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
# Headers the proxy itself writes or removes: requiring them would refuse every request or none.
_PROXY_HEADERS = frozenset({"authorization", "host", "content-length", "x-oauth1-profile"})


def check_dance_variants(c: Checker, data: Mapping[str, Any], path: Path_,
                         authorize_url: str | None) -> dict[str, Any]:
    """The profile's dance variants and require_headers, as Profile keyword arguments (problems reported on c)."""
    values: dict[str, Any] = {}
    raw_method = c.string(data, "token_method", path)
    if raw_method is not None:
        method = raw_method.upper()
        if method not in TOKEN_METHODS:
            c.problem((*path, "token_method"), f"{raw_method!r} is not a method for the token calls; use POST "
                                               "(RFC 5849, the default) or GET (E*TRADE).")
        else:
            values["token_method"] = method
    values["require_callback_confirmed"] = c.boolean(data, "require_callback_confirmed", path, True)

    lifetime = data.get("request_token_lifetime")
    if lifetime is not None:
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 10 <= lifetime <= 86400:
            c.problem((*path, "request_token_lifetime"),
                      f"{lifetime!r} is not a number of seconds (10 to 86400); write e.g. request_token_lifetime: "
                      "300 for a provider whose request tokens live 5 minutes.")
        else:
            values["request_token_lifetime"] = lifetime

    raw_headers = data.get("require_headers")
    if raw_headers is not None:
        if not isinstance(raw_headers, list) or not all(isinstance(h, str) for h in raw_headers):
            c.problem((*path, "require_headers"), "must be a list of header names, e.g. require_headers: "
                                                  "[User-Agent].")
        else:
            names: list[str] = []
            for i, name in enumerate(raw_headers):
                if not _FIELD_NAME.match(name):
                    c.problem((*path, "require_headers", i), f"{name!r} is not a header name; write it as "
                                                             "User-Agent, without ':' or a value.")
                elif name.lower() in _PROXY_HEADERS:
                    c.problem((*path, "require_headers", i), f"{name} is written or removed by the proxy "
                                                             "itself; remove it from require_headers.")
                elif name.lower() not in (n.lower() for n in names):
                    names.append(name)
            values["require_headers"] = tuple(names)

    if authorize_url is not None:
        problem = authorize_url_problem(authorize_url)
        if problem is not None:
            c.problem((*path, "authorize_url"), problem)
    return values
