"""Promise: matching cannot be tricked (SPEC §5). Requests are signed only for the configured destination.

End to end: a real ``oauth1-proxy run`` whose private /etc/hosts points the
look-alike names at 127.0.0.1, so every tricked request really reaches a
loopback provider, whose records show it arrived unsigned. Unit level:
``ProxyConfig.profile_for`` for the forms no client can send.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy.config import ProxyConfig, parse_config, parse_host
from oauth1_proxy.devtools.provider import Provider, ProviderClient, VerifiedRequest
from tests.e2e.conftest import (
    BIN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    TOKEN,
    TOKEN_SECRET,
    RunningProxy,
    curl,
    profile_for,
    start_proxy,
    write_config,
)

from .support import isolated, raw_request

CONFIGURED = "api.example.com"
IDN_CONFIGURED = "xn--bcher-kva.example"  # bücher.example
HOMOGRAPH = "аpi.example.com"  # a Cyrillic "а"
LOOK_ALIKES = (
    "evil.test",
    "api.example.com.evil.test",
    "evilapi.example.com",
    "sub.api.example.com",
    HOMOGRAPH.encode("idna").decode(),
)


@dataclass
class Tricked:
    proxy: RunningProxy
    provider: Provider  # the configured port
    other_port: Provider  # same host names, another port

    def get(self, url: str, *args: str) -> Any:
        return curl("-x", self.proxy.url, *args, url)


def new_provider() -> Provider:
    return Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                    access_tokens={TOKEN: TOKEN_SECRET}).start()


@pytest.fixture(scope="module")
def tricked(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> Iterator[Tricked]:
    """One proxy signing for api.example.com:P and xn--bcher-kva.example:P; every look-alike resolves to 127.0.0.1."""
    tmp = tmp_path_factory.mktemp("matching")
    provider, other = new_provider(), new_provider()
    port = provider.port
    config = write_config(tmp / "proxy.yaml", {
        "api": profile_for(provider, hosts=[f"{CONFIGURED}:{port}"]),
        "idn": profile_for(provider, hosts=[f"{IDN_CONFIGURED}:{port}"]),
    })
    names = (CONFIGURED, f"{CONFIGURED}.", IDN_CONFIGURED, *LOOK_ALIKES)
    command = [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0"]
    proxy = start_proxy(isolated(command, tmp, names=names), confdir)
    try:
        yield Tricked(proxy=proxy, provider=provider, other_port=other)
    finally:
        proxy.stop()
        provider.stop()
        other.stop()


def record_for(provider: Provider, marker: str) -> VerifiedRequest:
    found = [r for r in provider.records if f"/api/echo/{marker}" in r.uri]
    assert len(found) == 1, (marker, [r.uri for r in provider.records])
    return found[0]


def arrived_unsigned(record: VerifiedRequest) -> bool:
    return (record.signature_method, record.consumer_key, record.nonce, record.token) == (None, None, None, None)


# --- the configured destination, written differently: signed, and the provider verifies ---------------------


def test_matching_host_in_upper_case_is_the_configured_destination_and_signed(tricked: Tricked) -> None:
    tricked.get(f"http://API.Example.COM:{tricked.provider.port}/api/echo/upper")
    record = record_for(tricked.provider, "upper")
    assert record.valid and record.consumer_key == CONSUMER_KEY


def test_matching_host_with_trailing_dot_is_the_configured_destination_and_signed(tricked: Tricked) -> None:
    tricked.get(f"http://{CONFIGURED}.:{tricked.provider.port}/api/echo/dot")
    record = record_for(tricked.provider, "dot")
    assert record.valid and record.consumer_key == CONSUMER_KEY


def test_matching_idna_unicode_name_sent_in_its_xn_form_is_signed(tricked: Tricked) -> None:
    # curl converts bücher.example to xn--bcher-kva.example (IDNA), the configured host.
    tricked.get(f"http://bücher.example:{tricked.provider.port}/api/echo/idn")
    record = record_for(tricked.provider, "idn")
    assert record.valid and record.uri.startswith(f"http://{IDN_CONFIGURED}:")


# --- tricks: the request reaches a server, unsigned ---------------------------------------------------


def test_matching_userinfo_in_absolute_url_is_refused_before_anything_is_sent(tricked: Tricked) -> None:
    port = tricked.provider.port
    response = raw_request(tricked.proxy.port, (
        f"GET http://{CONFIGURED}:{port}@evil.test:{port}/api/echo/userinfo-raw HTTP/1.1\r\n"
        f"Host: evil.test:{port}\r\n\r\n").encode())
    assert response.status == 400  # mitmproxy: "Bad HTTP request line"
    assert not [r for r in tricked.provider.records if "userinfo-raw" in r.uri]


def test_matching_userinfo_written_by_curl_goes_unsigned_to_the_real_host(tricked: Tricked) -> None:
    # curl sends the userinfo as Basic credentials, to evil.test: the real destination.
    port = tricked.provider.port
    tricked.get(f"http://{CONFIGURED}:{port}@evil.test:{port}/api/echo/userinfo-curl")
    record = record_for(tricked.provider, "userinfo-curl")
    assert record.uri.startswith(f"http://evil.test:{port}/")
    assert arrived_unsigned(record)


def test_matching_spoofed_host_header_to_another_destination_is_not_signed(tricked: Tricked) -> None:
    port = tricked.provider.port
    tricked.get(f"http://evil.test:{port}/api/echo/spoofed", "-H", f"Host: {CONFIGURED}:{port}")
    record = record_for(tricked.provider, "spoofed")
    assert record.uri.startswith(f"http://{CONFIGURED}:{port}/")  # the Host header arrived as sent...
    assert arrived_unsigned(record)  # ...but the destination was evil.test


@pytest.mark.parametrize(
    ("host", "marker"),
    [
        ("api.example.com.evil.test", "suffix"),
        ("evilapi.example.com", "prefix"),
        ("sub.api.example.com", "subdomain"),
    ],
    ids=["suffix-look-alike", "prefix-look-alike", "implicit-subdomain"],
)
def test_matching_look_alike_host_is_not_signed(tricked: Tricked, host: str, marker: str) -> None:
    tricked.get(f"http://{host}:{tricked.provider.port}/api/echo/{marker}")
    assert arrived_unsigned(record_for(tricked.provider, marker))


def test_matching_other_port_of_the_configured_host_is_not_signed(tricked: Tricked) -> None:
    tricked.get(f"http://{CONFIGURED}:{tricked.other_port.port}/api/echo/other-port")
    assert arrived_unsigned(record_for(tricked.other_port, "other-port"))


def test_matching_idna_homograph_is_not_signed(tricked: Tricked) -> None:
    # "аpi.example.com" with a Cyrillic "а" is xn--pi-6kc.example.com on the wire: another host.
    tricked.get(f"http://{HOMOGRAPH}:{tricked.provider.port}/api/echo/homograph")
    record = record_for(tricked.provider, "homograph")
    assert record.uri.startswith("http://xn--pi-6kc.example.com:")
    assert arrived_unsigned(record)


def test_matching_raw_unicode_host_is_refused_before_anything_is_sent(tricked: Tricked) -> None:
    port = tricked.provider.port
    response = raw_request(tricked.proxy.port, (
        f"GET http://bücher.example:{port}/api/echo/raw-unicode HTTP/1.1\r\nHost: bücher.example:{port}\r\n\r\n"
    ).encode())
    assert response.status == 400
    assert not [r for r in tricked.provider.records if "raw-unicode" in r.uri]


# --- inside a TLS tunnel (regular mode, CONNECT): the destination is the CONNECT target ------------------


@pytest.fixture
def tls_proxy(tmp_path: Path, provider: Provider, run_proxy: Any) -> RunningProxy:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})  # localhost:P
    proxy: RunningProxy = run_proxy(config, "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    return proxy


def test_matching_tls_tunnel_to_other_host_with_configured_host_header_is_not_signed(
    provider: Provider, tls_proxy: RunningProxy
) -> None:
    # CONNECT 127.0.0.1:P (not configured); inside the tunnel "Host: localhost:P" (configured).
    curl("--cacert", str(tls_proxy.ca_file), "-x", tls_proxy.url, "-H", f"Host: localhost:{provider.port}",
         f"https://127.0.0.1:{provider.port}/api/echo/tunnel")
    assert arrived_unsigned(record_for(provider, "tunnel"))


def test_matching_tls_tunnel_to_configured_host_with_other_host_header_is_refused(
    provider: Provider, tls_proxy: RunningProxy
) -> None:
    result = curl("-i", "--cacert", str(tls_proxy.ca_file), "-x", tls_proxy.url, "-H",
                  f"Host: 127.0.0.1:{provider.port}", f"https://localhost:{provider.port}/api/echo/tunnel-spoof")
    head = result.stdout.split(b"\r\n\r\n", 1)[1]  # after the CONNECT's 200
    assert head.startswith(b"HTTP/1.1 400")
    assert b"does not match the destination" in head
    assert provider.records == []


# --- unit level: what profile_for matches -------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> ProxyConfig:
    profile = {"consumer_key": "ck", "consumer_secret": "cs"}
    return parse_config({"profiles": {
        "api": {"hosts": [CONFIGURED, f"{CONFIGURED}:8443"], **profile},
        "idn": {"hosts": [IDN_CONFIGURED], **profile},
    }}, "test.yaml", env={})


@pytest.mark.parametrize(
    ("scheme", "host", "port", "expected"),
    [
        ("https", "API.EXAMPLE.COM", 443, "api"),
        ("HTTPS", "Api.Example.Com", 443, "api"),
        ("https", "api.example.com.", 443, "api"),
        ("http", "api.example.com", 80, "api"),
        ("https", "api.example.com", 8443, "api"),
        ("https", "XN--BCHER-KVA.EXAMPLE", 443, "idn"),
    ],
    ids=["upper-case", "mixed-case-scheme", "trailing-dot", "http-default-port", "explicit-port", "xn-upper-case"],
)
def test_profile_for_same_destination_written_differently_matches(
    config: ProxyConfig, scheme: str, host: str, port: int, expected: str
) -> None:
    profile = config.profile_for(scheme, host, port, "/v1/x")
    assert profile is not None and profile.name == expected


@pytest.mark.parametrize(
    ("scheme", "host", "port"),
    [
        ("https", "api.example.com.evil.test", 443),
        ("https", "evilapi.example.com", 443),
        ("https", "api.example.co", 443),
        ("https", "sub.api.example.com", 443),
        ("https", "example.com", 443),
        ("https", "api.example.com..", 443),
        ("https", "api.example.com", 444),
        ("http", "api.example.com", 443),
        ("https", "api.example.com", 80),
        ("https", "api.example.com@evil.test", 443),
        ("https", "evil.test#api.example.com", 443),
        ("https", "bücher.example", 443),
        ("https", HOMOGRAPH, 443),
        ("https", HOMOGRAPH.encode("idna").decode(), 443),
        ("https", "ａｐｉ.example.com", 443),
        ("https", "", 443),
    ],
    ids=["suffix", "prefix", "shorter", "subdomain", "parent", "two-trailing-dots", "other-port", "http-on-443",
         "https-on-80", "userinfo", "fragment", "unicode-of-xn", "homograph", "homograph-xn", "fullwidth", "empty"],
)
def test_profile_for_other_destination_matches_nothing(config: ProxyConfig, scheme: str, host: str, port: int) -> None:
    assert config.profile_for(scheme, host, port, "/v1/x") is None


def test_config_host_in_unicode_is_refused_asking_for_a_plain_name() -> None:
    # Hosts are compared as the client sends them, so the config must hold the xn-- form.
    with pytest.raises(ValueError, match="'bücher.example' is not a valid host name"):
        parse_host("bücher.example")
