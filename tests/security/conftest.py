"""The security suite (issue 6) reuses the end-to-end fixtures: real processes on loopback, known test secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import *  # noqa: F403
from tests.e2e.conftest import confdir, http_provider, provider, run_mitmdump, run_proxy  # noqa: F401

from .support import NetworkNamespace, network_namespace


@pytest.fixture(scope="module")
def netns() -> Iterator[NetworkNamespace]:
    """A network namespace of our own, joined to this one by a veth pair: a second host for the tests."""
    with network_namespace() as ns:
        yield ns
