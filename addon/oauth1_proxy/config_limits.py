"""The profile keys of SPEC §11's accounts and limits: default_account, rate_limit, max_concurrency,
queue_timeout, limit_scope. Validation only; the values are accounts.py's and limits.py's.

``check_accounts_and_limits`` reports each problem on the Checker (file, line, key and the fix) and
returns the Profile fields it read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .accounts import bad_account_message, is_account_name
from .limits import DEFAULT_QUEUE_TIMEOUT, MAX_QUEUE_TIMEOUT, LimitScope, ProfileLimits, RateLimit, parse_rate_limit

if TYPE_CHECKING:
    from .config_check import Checker
    from .config_yaml import Path_

ACCOUNT_AND_LIMIT_KEYS = ("default_account", "rate_limit", "max_concurrency", "queue_timeout", "limit_scope")
MAX_CONCURRENCY = 10_000


def check_accounts_and_limits(c: Checker, data: Mapping[str, Any], path: Path_) -> dict[str, Any]:
    """The Profile fields ``default_account`` and ``limits`` from a profile's mapping; problems go to ``c``."""
    default_account = c.string(data, "default_account", path, allow_empty=False)
    if default_account is not None and not is_account_name(default_account):
        c.problem((*path, "default_account"), bad_account_message(default_account, "default_account")
                  .removeprefix("default_account: "))
        default_account = None

    rate: RateLimit | None = None
    raw_rate = data.get("rate_limit")
    if raw_rate is not None:
        try:
            if not isinstance(raw_rate, str):
                raise ValueError(f"{raw_rate!r} is not a rate limit; write it as a quoted \"N/second\", "
                                 "\"N/minute\" or \"N/hour\" (e.g. rate_limit: \"60/minute\").")
            rate = parse_rate_limit(raw_rate)
        except ValueError as e:
            c.problem((*path, "rate_limit"), str(e))

    concurrency = data.get("max_concurrency")
    if concurrency is not None and (isinstance(concurrency, bool) or not isinstance(concurrency, int)
                                    or not 1 <= concurrency <= MAX_CONCURRENCY):
        c.problem((*path, "max_concurrency"), f"{concurrency!r} is not a number of requests (1 to "
                                              f"{MAX_CONCURRENCY}); write e.g. max_concurrency: 5.")
        concurrency = None

    timeout = data.get("queue_timeout", DEFAULT_QUEUE_TIMEOUT)
    if timeout is None:
        timeout = DEFAULT_QUEUE_TIMEOUT
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= MAX_QUEUE_TIMEOUT:
        c.problem((*path, "queue_timeout"), f"{timeout!r} is not a number of seconds (0 to {MAX_QUEUE_TIMEOUT:.0f}); "
                                            "write e.g. queue_timeout: 30 (0: refuse at once when over the limit).")
        timeout = DEFAULT_QUEUE_TIMEOUT

    scope = data.get("limit_scope", LimitScope.ACCOUNT.value)
    if scope is None:
        scope = LimitScope.ACCOUNT.value
    if scope not in tuple(s.value for s in LimitScope):
        c.problem((*path, "limit_scope"), f"{scope!r} is not account or profile; write limit_scope: account (each "
                                          "account has its own limits) or limit_scope: profile (all accounts of the "
                                          "profile share them).")
        scope = LimitScope.ACCOUNT.value

    limits = ProfileLimits(rate=rate, max_concurrency=concurrency, queue_timeout=float(timeout),
                           scope=LimitScope(scope))
    return {"default_account": default_account, "limits": limits if limits.limited else ProfileLimits()}
