"""Validation of a profile's token-life keys (SPEC §11): renew_url, renew_method, idle_timeout, expires_daily.

Each problem names the key, the value and the fix, as config_check.py's do;
the values land on Profile (config_model.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .config_yaml import Path_
from .lifetimes import DailyExpiry, parse_daily_expiry

if TYPE_CHECKING:
    from .config_check import Checker

LIFETIME_KEYS = ("renew_url", "renew_method", "idle_timeout", "expires_daily")
RENEW_METHODS = ("GET", "POST")
MAX_IDLE_TIMEOUT = 30 * 86400  # seconds: a month; longer is a typo more likely than a provider


def check_lifetime_keys(c: Checker, data: Mapping[str, Any], path: Path_) -> dict[str, Any]:
    """The Profile fields of the token-life keys; problems go to ``c``."""
    renew_url = c.url(data, "renew_url", path)
    raw_method = data.get("renew_method")
    renew_method = "GET"  # E*TRADE's renew_access_token is a GET
    if raw_method is not None:
        if not isinstance(raw_method, str) or raw_method.upper() not in RENEW_METHODS:
            c.problem((*path, "renew_method"), f"{raw_method!r} is not GET or POST; write renew_method: GET "
                                               "(the default) or POST.")
        else:
            renew_method = raw_method.upper()
    idle_timeout = data.get("idle_timeout")
    if idle_timeout is not None and (isinstance(idle_timeout, bool) or not isinstance(idle_timeout, int)
                                     or not 1 <= idle_timeout <= MAX_IDLE_TIMEOUT):
        c.problem((*path, "idle_timeout"), f"{idle_timeout!r} is not a number of seconds (1 to {MAX_IDLE_TIMEOUT}); "
                                           "write e.g. idle_timeout: 7200 for a provider that inactivates a token "
                                           "unused for two hours.")
        idle_timeout = None
    if idle_timeout is not None and renew_url is None and "renew_url" not in data:
        c.problem((*path, "idle_timeout"), "needs renew_url: the proxy renews the token there before the idle "
                                           "limit; add renew_url (e.g. https://api.etrade.com/oauth/"
                                           "renew_access_token) or remove idle_timeout.")
    expires_daily: DailyExpiry | None = None
    raw_daily = data.get("expires_daily")
    if raw_daily is not None:
        try:
            expires_daily = parse_daily_expiry(raw_daily)
        except ValueError as e:
            c.problem((*path, "expires_daily"), f"{e}.")
    return {"renew_url": renew_url, "renew_method": renew_method, "idle_timeout": idle_timeout,
            "expires_daily": expires_daily}
