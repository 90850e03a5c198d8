"""One error hierarchy (issue 13): status_hint is an HTTP status everywhere; exit codes are exit_code."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import oauth1_proxy
from oauth1_proxy import errors
from oauth1_proxy.cli import main
from tests.test_mitmproxy_addon import STATIC


def every_error() -> list[type[errors.ProxyError]]:
    """Every ProxyError class in the package, after importing every module of it."""
    for module in pkgutil.walk_packages(oauth1_proxy.__path__, "oauth1_proxy."):
        if module.name.rpartition(".")[2] == "__main__":  # a program (python -m ...), not a library: importing runs it
            continue
        importlib.import_module(module.name)
    found: list[type[errors.ProxyError]] = []
    todo = [errors.ProxyError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return [c for c in found if c.__module__.startswith("oauth1_proxy.")]


ERRORS = every_error()


def test_every_error_list_covers_the_hierarchy() -> None:
    names = {c.__name__ for c in ERRORS}
    assert {"ProxyError", "UsageError", "LoginError", "ExchangeError", "MisdirectedRequest"} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=[c.__qualname__ for c in ERRORS])
def test_error_status_hint_is_an_http_status_and_exit_code_an_exit_status(cls: type[errors.ProxyError]) -> None:
    assert 400 <= cls.status_hint <= 599, f"{cls.__module__}.{cls.__qualname__}.status_hint = {cls.status_hint}"
    assert 1 <= cls.exit_code <= 125, f"{cls.__module__}.{cls.__qualname__}.exit_code = {cls.exit_code}"


@pytest.mark.parametrize("cls", ERRORS, ids=[c.__qualname__ for c in ERRORS])
def test_error_is_defined_in_errors_py(cls: type[errors.ProxyError]) -> None:
    # demo's DemoFailed goes to the dev tools wing (issue 13), whose errors are its own; a private subclass
    # (tokens._Unwritable) is a module's internal signal, caught inside it as its public base.
    internal = cls.__name__.startswith("_") or cls.__name__ == "DemoFailed"
    assert cls.__module__ == "oauth1_proxy.errors" or internal, cls.__module__


def test_error_names_stay_importable_from_where_they_were() -> None:
    from oauth1_proxy.cli import UsageError
    from oauth1_proxy.login import LoginError
    from oauth1_proxy.mitmproxy_addon import MisdirectedRequest
    from oauth1_proxy.token_exchange import ExchangeError

    assert (UsageError, LoginError, MisdirectedRequest, ExchangeError) == (
        errors.UsageError, errors.LoginError, errors.MisdirectedRequest, errors.ExchangeError)


def test_error_exit_codes_are_usage_2_and_everything_else_1() -> None:
    assert (errors.UsageError.exit_code, errors.LoginError.exit_code, errors.ConfigError.exit_code) == (2, 1, 1)
    assert (errors.UsageError.status_hint, errors.LoginError.status_hint) == (400, 500)


def test_main_usage_error_exits_2_and_a_config_error_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(STATIC)
    assert main(["sign", "--config", str(config), "api.example.com/v1/items"]) == 2
    assert "is not an absolute http(s) URL" in capsys.readouterr().err
    assert main(["check", "--config", str(tmp_path / "missing.yaml")]) == 1
    err = capsys.readouterr().err
    assert "missing.yaml" in err and "Traceback" not in err
