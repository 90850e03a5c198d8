"""oauth1_helper_clients (SPEC §12, last bullet): who may use the helper's pages, by peer address."""

from __future__ import annotations

from pathlib import Path

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from oauth1_proxy.config import load_config
from oauth1_proxy.mitmproxy_addon import OAuth1Signer
from oauth1_proxy.tokens import MemoryTokenStore
from oauth1_proxy.web import make_web_app
from oauth1_proxy.web_support import LOOPBACK_NETWORKS, is_allowed_client, parse_client_networks

CONFIG = """
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: cs
"""


def app_for(tmp_path: Path, clients: list[str] | None):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    networks = LOOPBACK_NETWORKS if clients is None else parse_client_networks(clients)
    return make_web_app(lambda: config, MemoryTokenStore, clients=lambda: networks).test_client()


@pytest.mark.parametrize(("address", "allowed"), [
    ("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.0.0.5", False), ("::ffff:10.0.0.5", False), ("2001:db8::1", False), ("", False), ("nonsense", False),
])
def test_is_allowed_client_by_default_is_loopback_only(address: str, allowed: bool) -> None:
    assert is_allowed_client(address, LOOPBACK_NETWORKS) is allowed


@pytest.mark.parametrize(("address", "allowed"), [
    ("10.1.2.3", True), ("::ffff:10.1.2.3", True), ("10.255.0.1", True), ("11.0.0.1", False),
    ("127.0.0.1", False), ("2001:db8::7", True), ("2001:db9::7", False),
])
def test_is_allowed_client_in_named_networks(address: str, allowed: bool) -> None:
    networks = parse_client_networks(["10.0.0.0/8", "2001:db8::/32"])
    assert is_allowed_client(address, networks) is allowed


def test_parse_client_networks_takes_plain_addresses_as_single_hosts() -> None:
    assert [str(n) for n in parse_client_networks(["10.0.0.7", " ::1 "])] == ["10.0.0.7/32", "::1/128"]


@pytest.mark.parametrize("value", ["10.0.0.0/33", "example.com", "", "10.0.0.0/8,10.1.0.0/16"])
def test_parse_client_networks_refuses_a_bad_value_naming_it_and_the_fix(value: str) -> None:
    with pytest.raises(ValueError, match=r"oauth1_helper_clients: .* is not an address or a network in CIDR form; "
                                         r"use e.g. --set oauth1_helper_clients=10.0.0.0/8"):
        parse_client_networks([value])


def test_helper_answers_a_client_of_a_named_network(tmp_path: Path) -> None:
    client = app_for(tmp_path, ["10.0.0.0/8"])
    assert client.get("/status.json", environ_base={"REMOTE_ADDR": "10.2.3.4"}).status_code == 200


def test_helper_with_named_networks_refuses_others_naming_the_option(tmp_path: Path) -> None:
    client = app_for(tmp_path, ["10.0.0.0/8"])
    response = client.get("/status.json", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 403
    assert "clients in oauth1_helper_clients only" in response.get_data(as_text=True)


def test_helper_by_default_refuses_a_balancers_address(tmp_path: Path) -> None:
    client = app_for(tmp_path, None)
    response = client.get("/status.json", environ_base={"REMOTE_ADDR": "10.2.3.4"})
    assert response.status_code == 403
    assert "loopback clients only" in response.get_data(as_text=True)


def test_signer_option_helper_clients_reaches_the_helper(tmp_path: Path) -> None:
    signer = OAuth1Signer()
    with taddons.context(signer) as tctx:
        tctx.configure(signer, oauth1_helper_clients=["192.0.2.0/24"])
        assert is_allowed_client("192.0.2.9", signer.helper.clients)
        assert not is_allowed_client("127.0.0.1", signer.helper.clients)


def test_signer_option_helper_clients_with_a_bad_value_is_refused(tmp_path: Path) -> None:
    signer = OAuth1Signer()
    with taddons.context(signer) as tctx:
        with pytest.raises(exceptions.OptionsError, match="oauth1_helper_clients: 'lan' is not an address"):
            tctx.configure(signer, oauth1_helper_clients=["lan"])
