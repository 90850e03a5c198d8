"""SPEC §8's one line per signed request, written off the hot path (issue 17): a real ``oauth1-proxy run``
signs requests; its lines come out within the flush interval, none is lost at SIGTERM or SIGINT, and none
holds a secret the client put into a field of the line."""

from __future__ import annotations

import http.client
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.shell.logs import FLUSH_INTERVAL
from tests.e2e.conftest import CONSUMER_SECRET, SECRETS, TOKEN_SECRET, RunningProxy, profile_for, write_config
from tests.security.support import leaks, plaintext_signature_forms, raw_request, secret_forms

SIGNED = "oauth1-proxy: signed profile="


def signed_lines(proxy: RunningProxy) -> list[str]:
    return [line for line in list(proxy.output) if SIGNED in line]


def start(tmp_path: Path, provider: Provider, run_proxy: Any) -> RunningProxy:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy: RunningProxy = run_proxy(config)
    return proxy


def send(proxy: RunningProxy, provider: Provider, paths: list[str]) -> None:
    """GET each path of the provider through the proxy, on one keep-alive connection (absolute form)."""
    connection = http.client.HTTPConnection(proxy.host, proxy.port, timeout=20)
    try:
        for path in paths:
            connection.request("GET", f"http://{provider.host}:{provider.port}{path}")
            response = connection.getresponse()
            response.read()
            assert response.status != 401 or b"login" not in response.headers.get("content-type", "").encode()
    finally:
        connection.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_stopped_by_a_signal_writes_exactly_one_line_per_signed_request(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, stop: signal.Signals
) -> None:
    proxy = start(tmp_path, http_provider, run_proxy)
    n = 150
    send(proxy, http_provider, [f"/api/me?i={i}" for i in range(n)])
    proxy.process.send_signal(stop)  # at once: the last lines are still waiting for the timer
    assert proxy.process.wait(timeout=20) == 0
    time.sleep(0.2)  # the pump thread reads what was left in the pipe
    lines = signed_lines(proxy)
    assert len(lines) == n, proxy.text()[-2000:]
    assert all(line.endswith(f"api GET {http_provider.host} /api/me HMAC-SHA1") for line in lines), [
        line for line in lines if not line.endswith("HMAC-SHA1")]
    assert all(line.startswith("[") and "] " + SIGNED in line for line in lines)  # mitmproxy's [HH:MM:SS.mmm]


def test_run_writes_a_signed_line_within_the_flush_interval(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    proxy = start(tmp_path, http_provider, run_proxy)
    delays = []
    for i in range(5):
        before = len(signed_lines(proxy))
        send(proxy, http_provider, [f"/api/me?round={i}"])
        sent = time.monotonic()
        while len(signed_lines(proxy)) == before and time.monotonic() - sent < 5:
            time.sleep(0.005)
        delays.append(time.monotonic() - sent)
        assert len(signed_lines(proxy)) == before + 1
        time.sleep(FLUSH_INTERVAL)  # the next request arms a new timer
    # The timer fires FLUSH_INTERVAL after the line was taken; the pipe and a loaded machine add a little.
    assert sorted(delays)[2] < FLUSH_INTERVAL + 0.3, delays
    assert proxy.process.poll() is None


def test_run_signed_lines_never_hold_a_secret_the_client_put_in_the_path(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    # Of the line's fields (profile, method, host, path, signature method) the client sets the method and
    # the path; a profile name and a host cannot be a secret (the config's grammar). The path carries
    # every form of each secret the scan looks for, and the PLAINTEXT signature of the two.
    proxy = start(tmp_path, http_provider, run_proxy)
    forms = sorted(set().union(*(secret_forms(s) for s in SECRETS),
                               plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET)))
    target = f"http://{http_provider.host}:{http_provider.port}".encode()
    answers: list[int] = []
    for form in forms:
        safe = form.replace(b" ", b"%20").replace(b"#", b"%23").replace(b"?", b"%3F")
        for path in (b"/api/" + safe, b"/api/x" + safe + b"y/oauth_signature=" + safe):
            for method in (b"GET", b"PROPFIND"):
                answers.append(raw_request(proxy.port, method + b" " + target + path + b" HTTP/1.1\r\nHost: "
                            + target[7:] + b"\r\nConnection: close\r\n\r\n", host=proxy.host).status)
    expected = sum(status != 400 for status in answers)  # mitmproxy refuses raw non-ASCII bytes in a path (400)
    assert expected >= 3 * len(forms)
    deadline = time.monotonic() + 10
    while len(signed_lines(proxy)) < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    proxy.process.send_signal(signal.SIGTERM)
    proxy.process.wait(timeout=20)
    time.sleep(0.2)
    lines = signed_lines(proxy)
    assert len(lines) == expected, (len(lines), expected)
    assert sum("PROPFIND" in line for line in lines) == expected // 2
    assert all("REDACTED" in line for line in lines)  # each path held a secret: the filter took it out
    # Our lines only: mitmdump's own flow line (flow_detail 1) prints the URL the client sent, as before.
    found = leaks("\n".join(lines).encode("utf-8", "surrogateescape"), SECRETS,
                  plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET))
    assert found == [], found
