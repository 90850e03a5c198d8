"""STYLE.md's dependency rules: only the shell imports mitmproxy; signing.py (with its shortcuts, signing_fast.py)
is standard library only; the runtime never imports the dev tools (``oauth1_proxy.devtools``), which only cli.py
loads, lazily."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import oauth1_proxy

PACKAGE = Path(oauth1_proxy.__file__).parent
DEVTOOLS = "devtools"
# Every module of the package, subpackages included, named relative to it ("config", "devtools.bench").
# A __main__ module runs its program when imported: it is left out.
ALL_MODULES = sorted(
    m.name.removeprefix("oauth1_proxy.")
    for m in pkgutil.walk_packages([str(PACKAGE)], prefix="oauth1_proxy.")
    if not m.name.endswith(".__main__")
)
# Only these may import mitmproxy (pyproject.toml's TID251 per-file ignores say the same). The bench
# starts mitmdump as a process and imports none of it.
MITMPROXY_SHELL = {
    "mitmproxy_addon",
    "cli",
    "shell.dispatch",
    "shell.signer",
    "shell.kept_apply",
    "shell.capture",
    "shell.frontends",
    "shell.logs",
    "shell.helper",
    "shell.responses",
    "shell.reverse",
    "shell.refusals",
    "shell.startup",
    "shell.flow_input",
    "shell.diagnosis",
    "shell.limits",
    "shell.renewer",
    "shell.ops",
    "shell.web_ui",
}
CORE_MODULES = [m for m in ALL_MODULES if m not in MITMPROXY_SHELL]
# The runtime: everything outside devtools/ (cli.py and the mitmproxy shell included).
RUNTIME_MODULES = [m for m in ALL_MODULES if m != DEVTOOLS and not m.startswith(DEVTOOLS + ".")]
DEVTOOLS_MODULES = [m for m in ALL_MODULES if m not in RUNTIME_MODULES]
# Pure modules: no clock, no randomness, no I/O (their own docstrings state the rule).
PURE_MODULES = ["signing", "signing_fast", "signing_plan", "token_exchange", "accounts", "limits"]
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


def module_path(module: str) -> Path:
    """The source file of a module named relative to the package ("devtools.provider" is a package)."""
    base = PACKAGE.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def loaded_after_import(module: str, prefix: str) -> list[str]:
    """Import one module in a fresh interpreter; return the loaded modules named ``prefix`` or under it."""
    code = (
        f"import sys, oauth1_proxy.{module}\n"
        f"print(sorted(m for m in sys.modules if m == {prefix!r} or m.startswith({prefix + '.'!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return list(ast.literal_eval(result.stdout.strip()))


def imported_modules(module: str) -> list[tuple[str, int]]:
    """Every module a file imports (absolute name, relative level), from its syntax tree."""
    tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
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
    assert {"config_model", "config_yaml", "config_check", "web_support"} <= set(CORE_MODULES)
    assert {"cli", "mitmproxy_addon", "config", "web"} <= set(RUNTIME_MODULES)
    assert {"devtools.demo", "devtools.bench", "devtools.bench.signer", "devtools.provider", "devtools.provider.app",
            "devtools.provider.validator", "devtools.provider.wire", "devtools.provider.tls"} <= set(DEVTOOLS_MODULES)


def test_shell_list_names_exactly_the_modules_of_the_shell() -> None:
    # Every module under shell/ may import mitmproxy, and the list names no module that is gone.
    shell = {m for m in ALL_MODULES if m.startswith("shell.")}
    assert shell == {m for m in MITMPROXY_SHELL if m.startswith("shell.")}
    assert MITMPROXY_SHELL <= set(ALL_MODULES)


def test_web_support_imports_without_flask() -> None:
    # The helper's building blocks (Host checks, pending logins) serve shell/ and login.py without Flask.
    assert loaded_after_import("web_support", "flask") == []


@pytest.mark.parametrize("module", CORE_MODULES, ids=CORE_MODULES)
def test_module_imports_without_mitmproxy(module: str) -> None:
    assert loaded_after_import(module, "mitmproxy") == []


@pytest.mark.parametrize("module", RUNTIME_MODULES, ids=RUNTIME_MODULES)
def test_runtime_module_imports_without_devtools(module: str) -> None:
    assert loaded_after_import(module, "oauth1_proxy.devtools") == []


def test_devtools_check_sees_devtools_when_loaded() -> None:
    # Guards the check above against a prefix that matches nothing.
    assert "oauth1_proxy.devtools.provider.app" in loaded_after_import("devtools.demo", "oauth1_proxy.devtools")


def absolute_imports(node: ast.AST, module: str) -> list[str]:
    """The absolute module names one import statement may load, relative imports resolved against ``module``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        package = f"oauth1_proxy.{module}".split(".")
        if not module_path(module).name == "__init__.py":
            package = package[:-1]
        parent = ".".join(package[: len(package) - node.level + 1])
        base = f"{parent}.{base}" if base else parent
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def devtools_imports(module: str) -> dict[str, str]:
    """Each import of oauth1_proxy.devtools in a module's file: the module named -> the function holding it."""
    tree = ast.parse(module_path(module).read_text(encoding="utf-8"))
    scopes: list[tuple[ast.AST, str]] = [(node, "<module>") for node in tree.body]
    found: dict[str, str] = {}
    while scopes:
        node, scope = scopes.pop()
        names = [n for n in absolute_imports(node, module)
                 if n == "oauth1_proxy.devtools" or n.startswith("oauth1_proxy.devtools.")]
        if names:
            found[max(names, key=len)] = scope
        inner = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else scope
        scopes.extend((child, inner) for child in ast.iter_child_nodes(node))
    return found


def test_cli_imports_devtools_only_inside_the_demo_and_bench_verbs() -> None:
    assert devtools_imports("cli") == {
        "oauth1_proxy.devtools.demo": "cmd_demo",
        "oauth1_proxy.devtools.bench.main": "main",  # under `if argv[0] == "bench"`
    }


@pytest.mark.parametrize("module", [m for m in RUNTIME_MODULES if m != "cli"],
                         ids=[m for m in RUNTIME_MODULES if m != "cli"])
def test_runtime_module_names_no_devtools_import(module: str) -> None:
    assert devtools_imports(module) == {}


@pytest.mark.parametrize("module", DEVTOOLS_MODULES, ids=DEVTOOLS_MODULES)
def test_devtools_module_never_imports_the_mitmproxy_addon(module: str) -> None:
    named = [name for name, _ in imported_modules(module)]
    assert not any(name.endswith("mitmproxy_addon") for name in named)


def test_signing_imports_only_the_standard_library() -> None:
    # signing.py's one import of ours is its shortcuts (issue 13), which import only the standard library
    # themselves (the next test): the signer as a whole stays standard library only.
    assert ("hmac", 0) in imported_modules("signing")  # the parse sees its imports at all
    outside = [
        (name, level)
        for name, level in imported_modules("signing")
        if (level > 0 or name.partition(".")[0] not in sys.stdlib_module_names) and (name, level) != ("", 1)
    ]
    assert outside == []
    assert ("", 1) in imported_modules("signing")  # its shortcuts and its plans (issue 17), and nothing else:
    text = module_path("signing").read_text(encoding="utf-8")
    assert "from . import signing_fast as shortcuts" in text and "from . import signing_plan as plans" in text
    assert loaded_after_import("signing", "oauth1_proxy") == ["oauth1_proxy", "oauth1_proxy.signing",
                                                              "oauth1_proxy.signing_fast",
                                                              "oauth1_proxy.signing_plan"]


@pytest.mark.parametrize(("module", "seen"), [("signing_fast", "re"), ("signing_plan", "hashlib")])
def test_signing_helper_imports_only_the_standard_library(module: str, seen: str) -> None:
    assert (seen, 0) in imported_modules(module)  # the parse sees its imports at all
    outside = [
        (name, level)
        for name, level in imported_modules(module)
        if level > 0 or name.partition(".")[0] not in sys.stdlib_module_names
    ]
    assert outside == []


@pytest.mark.parametrize("module", PURE_MODULES, ids=PURE_MODULES)
def test_pure_module_imports_no_clock_randomness_or_io(module: str) -> None:
    used = {name for name, level in imported_modules(module) if level == 0}
    assert used & IMPURE == set()


PROVIDER_MODULES = [m for m in DEVTOOLS_MODULES if m == "devtools.provider" or m.startswith("devtools.provider.")]


def test_provider_check_covers_its_modules() -> None:
    assert {"devtools.provider.app", "devtools.provider.wire", "devtools.provider.validator"} <= set(PROVIDER_MODULES)


@pytest.mark.parametrize("module", PROVIDER_MODULES, ids=PROVIDER_MODULES)
def test_provider_module_never_loads_our_signer(module: str) -> None:
    # The provider is the independent oracle (its docstring, SPEC §9): a bug in signing.py cannot hide itself.
    assert loaded_after_import(module, "oauth1_proxy.signing") == []
    assert loaded_after_import(module, "oauth1_proxy.signing_fast") == []
    assert loaded_after_import(module, "oauth1_proxy.signing_plan") == []
