"""Promise: nobody else uses your credentials (SPEC §3, §6).

The second host is a network namespace this module creates, joined to ours
by a veth pair (10.213.x.1 here, 10.213.x.2 there), deleted at the end.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy.devtools.provider import Provider
from tests.e2e.conftest import RunningProxy, curl, profile_for, write_config

from .support import NetworkNamespace

HELPER_STATUS = "http://oauth1.proxy/status.json"
WARNING = (
    "without proxyauth: anyone who can reach this port can make requests signed with your credentials. "
    "Listen on 127.0.0.1, or set --proxyauth."
)


@pytest.fixture
def config(tmp_path: Path, http_provider: Provider) -> Path:
    return write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})


@pytest.fixture
def exposed(config: Path, netns: NetworkNamespace, run_proxy: Any) -> RunningProxy:
    """The proxy listening on our side of the veth pair, without proxyauth."""
    proxy: RunningProxy = run_proxy(config, "--listen-host", netns.host_address)
    return proxy


def test_run_listens_on_loopback_by_default(config: Path, run_proxy: Any) -> None:
    proxy = run_proxy(config)
    assert proxy.host == "127.0.0.1"  # from "HTTP(S) proxy listening at 127.0.0.1:PORT."


def test_run_by_default_is_not_reachable_on_another_local_address(config: Path, run_proxy: Any) -> None:
    # Bound to 127.0.0.1 itself, not to all interfaces: 127.0.0.2 (also this machine) is refused.
    proxy = run_proxy(config)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", proxy.port), timeout=5).close()


def test_run_listening_elsewhere_without_proxyauth_warns(exposed: RunningProxy, netns: NetworkNamespace) -> None:
    assert exposed.host == netns.host_address
    assert exposed.wait_for(WARNING)
    assert f"listening on {netns.host_address} {WARNING}" in exposed.text()


def test_run_listening_elsewhere_with_proxyauth_does_not_warn(
    config: Path, netns: NetworkNamespace, run_proxy: Any
) -> None:
    proxy = run_proxy(config, "--listen-host", netns.host_address, "--proxyauth", "alice:wonderland")
    assert proxy.wait_for("oauth1-proxy: profile api")
    assert "without proxyauth" not in proxy.text()


def test_run_listening_elsewhere_with_proxyauth_asks_other_hosts_for_credentials(
    config: Path, netns: NetworkNamespace, run_proxy: Any, http_provider: Provider
) -> None:
    proxy = run_proxy(config, "--listen-host", netns.host_address, "--proxyauth", "alice:wonderland")
    result = netns.run("curl", "-sS", "-i", "-x", f"http://{netns.host_address}:{proxy.port}",
                       f"{http_provider.base_url}/api/me")
    assert result.stdout.startswith(b"HTTP/1.1 407"), result.stdout[:200]
    assert http_provider.records == []


def test_helper_answers_a_client_on_another_host_with_403(exposed: RunningProxy, netns: NetworkNamespace) -> None:
    result = netns.run("curl", "-sS", "-i", "-x", f"http://{netns.host_address}:{exposed.port}", HELPER_STATUS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"HTTP/1.1 403"), result.stdout[:200]
    assert b"answers loopback clients only" in result.stdout
    assert exposed.wait_for(f"refused a request from {netns.address} (loopback clients only)")


def test_helper_judges_by_peer_address_so_this_host_via_the_veth_address_gets_403(
    exposed: RunningProxy, netns: NetworkNamespace
) -> None:
    # From this host, but through a non-loopback address: the peer address is 10.213.x.1, not loopback.
    result = curl("-i", "-x", f"http://{netns.host_address}:{exposed.port}", HELPER_STATUS)
    assert result.stdout.startswith(b"HTTP/1.1 403"), result.stdout[:200]


def test_helper_answers_a_loopback_client_with_the_status(config: Path, run_proxy: Any) -> None:
    proxy = run_proxy(config)
    result = curl("-i", "-x", proxy.url, HELPER_STATUS)
    assert result.stdout.startswith(b"HTTP/1.1 200"), result.stdout[:200]
    assert json.loads(result.stdout.split(b"\r\n\r\n", 1)[1])["profiles"][0]["name"] == "api"


def test_helper_direct_url_is_not_reachable_from_another_host(exposed: RunningProxy, netns: NetworkNamespace) -> None:
    assert exposed.wait_for(" direct")
    m = re.search(r"http://127\.0\.0\.1:(\d+)/ direct", exposed.text())
    assert m, exposed.text()
    # The direct listener is bound to 127.0.0.1: the other host cannot even connect.
    result = netns.run("curl", "-sS", "--max-time", "5", f"http://{netns.host_address}:{m.group(1)}/status.json")
    assert result.returncode == 7, (result.returncode, result.stdout[:200])  # "Couldn't connect to server"
