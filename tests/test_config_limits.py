"""config_limits.py: default_account, rate_limit, max_concurrency, queue_timeout, limit_scope (SPEC §11)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from oauth1_proxy.config import load_config
from oauth1_proxy.limits import LimitScope
from tests.test_config import GOOD_PROFILE, at, problems_of, write


def test_config_limits_read_into_the_profile(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + '    rate_limit: "60/minute"\n    max_concurrency: 5\n'
                                          "    queue_timeout: 2.5\n    limit_scope: profile\n"
                                          "    default_account: alice\n")
    profile = load_config(path, env={}).profiles[0]
    assert profile.default_account == "alice"
    limits = profile.limits
    assert limits.rate is not None and (limits.rate.count, limits.rate.period) == (60, 60.0)
    assert (limits.max_concurrency, limits.queue_timeout, limits.scope) == (5, 2.5, LimitScope.PROFILE)


def test_config_limits_default_to_none_with_queue_timeout_30_and_scope_account(tmp_path: Path) -> None:
    profile = load_config(write(tmp_path, GOOD_PROFILE), env={}).profiles[0]
    assert profile.default_account is None
    assert not profile.limits.limited
    assert (profile.limits.queue_timeout, profile.limits.scope) == (30.0, LimitScope.ACCOUNT)


@pytest.mark.parametrize(("line", "key", "message"), [
    ('rate_limit: "60/fortnight"', "rate_limit", r"is not a rate limit; write it as \"N/second\""),
    ("rate_limit: 60", "rate_limit", r"60 is not a rate limit; write it as a quoted"),
    ("max_concurrency: 0", "max_concurrency", r"0 is not a number of requests \(1 to 10000\)"),
    ("max_concurrency: true", "max_concurrency", r"True is not a number of requests"),
    ("queue_timeout: -1", "queue_timeout", r"-1 is not a number of seconds \(0 to 3600\)"),
    ("queue_timeout: soon", "queue_timeout", r"'soon' is not a number of seconds"),
    ("limit_scope: user", "limit_scope", r"'user' is not account or profile"),
    ("default_account: a b", "default_account", r"the account name 'a b' may only use letters, digits"),
], ids=["rate-period", "rate-number", "concurrency-zero", "concurrency-bool", "timeout-negative", "timeout-text",
        "scope", "default-account"])
def test_config_limits_bad_value_names_file_line_key_and_fix(tmp_path: Path, line: str, key: str,
                                                              message: str) -> None:
    path = write(tmp_path, GOOD_PROFILE + f"    {line}\n")
    problems = problems_of(path)
    assert len(problems) == 1
    assert re.match(at(path, 6, f"profiles.api.{key}"), problems[0]), problems[0]
    assert re.search(message, problems[0]), problems[0]
