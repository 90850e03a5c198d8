"""STYLE.md's dependency rules: only the shell imports mitmproxy; signing.py is standard library only."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import oauth1_proxy

PACKAGE = Path(oauth1_proxy.__file__).parent
# Only these may import mitmproxy (pyproject.toml's TID251 per-file ignores say the same).
MITMPROXY_SHELL = {"mitmproxy_addon", "cli", "bench"}
CORE_MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]) if m.name not in MITMPROXY_SHELL)
# Pure modules: no clock, no randomness, no I/O (their own docstrings state the rule).
PURE_MODULES = ["signing", "token_exchange"]
IMPURE = {
    "time",
    "secrets",
    "random",
    "os",
    "socket",
    "io",
    "subprocess",
    "threading",
    "urllib.request",
    "http.client",
    "datetime",
}


def imported_modules(module: str) -> list[tuple[str, int]]:
    """Every module a file imports (absolute name, relative level), from its syntax tree."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


def test_core_modules_list_covers_the_package() -> None:
    # Guards the parametrization below against finding nothing.
    assert {"config", "signing", "tokens", "token_exchange", "errors"} <= set(CORE_MODULES)


@pytest.mark.parametrize("module", CORE_MODULES, ids=CORE_MODULES)
def test_module_imports_without_mitmproxy(module: str) -> None:
    code = (
        f"import sys, oauth1_proxy.{module}\n"
        "print(sorted(m for m in sys.modules if m == 'mitmproxy' or m.startswith('mitmproxy.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_signing_imports_only_the_standard_library() -> None:
    assert ("hmac", 0) in imported_modules("signing")  # the parse sees its imports at all
    outside = [
        (name, level)
        for name, level in imported_modules("signing")
        if level > 0 or name.partition(".")[0] not in sys.stdlib_module_names
    ]
    assert outside == []


@pytest.mark.parametrize("module", PURE_MODULES, ids=PURE_MODULES)
def test_pure_module_imports_no_clock_randomness_or_io(module: str) -> None:
    used = {name for name, level in imported_modules(module) if level == 0}
    assert used & IMPURE == set()
