"""Every verb's --help (issue 16): exit 0, a usage line naming the verb's arguments, and a sentence on what it
does; the top-level help lists every verb."""

from __future__ import annotations

import subprocess
import sys

import pytest

# verb -> what its help must name
VERBS: dict[str, tuple[str, ...]] = {
    "run": ("--config FILE", "[mitmdump options]"),
    "check": ("--config FILE", "token store"),
    "sign": ("--config FILE", "-X METHOD", "-H 'NAME: VALUE'", "-d DATA", "--nonce", "--timestamp", "--explain",
             "url"),
    "login": ("--config FILE", "--oob", "profile"),
    "exec": ("--config FILE", "[mitmdump options] -- CMD [ARGS...]", "HTTPS_PROXY", "NODE_EXTRA_CA_CERTS",
             "JAVA_TOOL_OPTIONS", "128+N"),
    "init": ("--preset NAME", "[file]", "mode 0600", "twitter"),
    "status": ("--config FILE", "expiry"),
    "logout": ("--account NAME", "--config FILE", "profile"),
    "web": ("--config FILE", "[mitmweb options]", "No view of mitmweb shows a secret"),
    "demo": ("--once", "--port PORT"),
    "bench": ("--quick", "--json"),
}


def _help(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oauth1_proxy.cli", *args], capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_cli_verb_help_exits_0_and_names_its_arguments(verb: str) -> None:
    result = _help(verb, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: oauth1-proxy {verb} ")
    for needle in VERBS[verb]:
        assert needle in result.stdout, (verb, needle, result.stdout)
    assert "Traceback" not in result.stdout + result.stderr


def test_cli_help_lists_every_verb() -> None:
    result = _help("--help")
    assert result.returncode == 0
    for verb in VERBS:
        assert f"    {verb} " in result.stdout, verb
