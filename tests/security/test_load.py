"""Reliability under load (issue 6): every request signed and verified; nonces never repeat (RFC 5849 §3.3)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.mitmproxy_addon import make_nonce
from tests.e2e.conftest import profile_for, write_config

CLIENTS = 16
REQUESTS_EACH = 100


def test_proxy_under_16_concurrent_clients_every_request_is_signed_and_verified(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    # The provider (oauthlib's endpoints) refuses a reused nonce: 1600 valid records mean 1600 fresh nonces.
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    proxy = run_proxy(config)
    statuses: list[int] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with requests.Session() as s:  # a plain client: it knows nothing of OAuth
            s.proxies = {"http": proxy.url}
            for i in range(REQUESTS_EACH):
                url = f"{http_provider.base_url}/api/echo/load/{n}/{i}?q=%7E{i}&c={n}"
                if i % 2:
                    r = s.post(url, data={"status": f"client {n} post {i} ~!", "n": str(i)}, timeout=30)
                else:
                    r = s.get(url, timeout=30)
                with lock:
                    statuses.append(r.status_code)

    started = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client, n) for n in range(CLIENTS)]:
            future.result()
    elapsed = time.monotonic() - started
    records = http_provider.records
    assert statuses.count(200) == CLIENTS * REQUESTS_EACH, sorted(set(statuses))
    assert len(records) == CLIENTS * REQUESTS_EACH
    refused = [(r.uri, r.reason) for r in records if not r.valid]
    assert refused == []
    assert len({r.nonce for r in records}) == len(records)
    assert {r.method for r in records} == {"GET", "POST"}
    assert elapsed < 120, elapsed


def test_make_nonce_a_million_draws_never_repeat() -> None:
    seen = {make_nonce() for _ in range(1_000_000)}
    assert len(seen) == 1_000_000


def test_make_nonce_is_128_bits_of_hex() -> None:
    nonce = make_nonce()
    assert len(nonce) == 32 and int(nonce, 16) >= 0
