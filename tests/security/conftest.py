"""The security suite (issue 6) reuses the end-to-end fixtures: real processes on loopback, known test secrets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import *  # noqa: F403
from tests.e2e.conftest import (  # noqa: F401
    BIN,
    RunningProxy,
    confdir,
    http_provider,
    provider,
    run_mitmdump,
    run_proxy,
    start_proxy,
)

from .support import NetworkNamespace, isolated, network_namespace


@pytest.fixture
def run_isolated(confdir: Path, tmp_path: Path) -> Iterator[object]:  # noqa: F811
    """Start ``oauth1-proxy run`` in a private mount namespace: its own /etc/hosts, tmpfs mounts; stopped after."""
    started: list[RunningProxy] = []

    def start(config: Path, *args: str, names: tuple[str, ...] = (), setup: tuple[str, ...] = ()) -> RunningProxy:
        command = [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0", *args]
        proxy = start_proxy(isolated(command, tmp_path, names=names, setup=setup), confdir)
        started.append(proxy)
        return proxy

    yield start
    for p in started:
        p.stop()


@pytest.fixture(scope="module")
def netns() -> Iterator[NetworkNamespace]:
    """A network namespace of our own, joined to this one by a veth pair: a second host for the tests."""
    with network_namespace() as ns:
        yield ns
