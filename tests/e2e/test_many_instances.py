"""Many instances behind the shipped HAProxy, on loopback (SPEC §12): real haproxy with deploy/haproxy.cfg in front
of two `oauth1-proxy run` processes sharing one confdir (one CA) and one token store, real HTTPS clients through
the balancer to the test provider, and `kill -9` of one instance under load.

Shown: no request to the configured host ever reached the provider unsigned (the provider verifies and records
every request it gets), every request started after the kill succeeded, and the token is still there and used.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.tokens import FileTokenStore, StoredToken
from tests.deploy_files import HAPROXY_CFG

from .conftest import SECRETS, TOKEN, TOKEN_SECRET, RunningProxy, profile_for, write_config
from .test_ops_listener import fetch, ops_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SharedStore:
    """One token store every instance uses: what the config's token_store says, and how to read and seed it."""

    token_store: str
    put: Callable[[str, StoredToken], None]
    get: Callable[[str], StoredToken | None]


@pytest.fixture(params=["file", "redis"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SharedStore]:
    """The shared token store, one param per backend: one file, or a real redis-server (SPEC §12)."""
    if request.param == "file":
        store = FileTokenStore(tmp_path / "shared" / "tokens.yaml")
        yield SharedStore(token_store=str(store.path), put=store.put, get=store.get)
        return
    from oauth1_proxy.stores.managed import open_token_store
    from tests.redis_server import start_redis

    with start_redis(tmp_path / "redis") as server:
        redis_store = open_token_store(server.url)
        try:
            yield SharedStore(token_store=server.url, put=redis_store.put, get=redis_store.get)
        finally:
            redis_store.close()


@dataclass
class Balancer:
    process: subprocess.Popen[str]
    url: str
    output: list[str]


def start_haproxy(instances: list[tuple[RunningProxy, int]]) -> Balancer:
    """Real haproxy with deploy/haproxy.cfg as shipped, its addresses from the environment (loopback only)."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert os.path.exists(haproxy), "haproxy is in scripts/system-deps (apt-get install haproxy)"
    bind = f"127.0.0.1:{free_port()}"
    env = {"PATH": os.environ["PATH"], "OAUTH1_LB_BIND": bind}
    for i, (proxy, ops_port) in enumerate(instances, start=1):
        env |= {f"OAUTH1_PROXY_{i}": f"{proxy.host}:{proxy.port}", f"OAUTH1_PROXY_{i}_OPS": str(ops_port)}
    process = subprocess.Popen([haproxy, "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
    deadline = time.monotonic() + 15
    while True:
        assert process.poll() is None, "haproxy exited:\n" + "".join(output)
        try:
            socket.create_connection(("127.0.0.1", int(bind.rpartition(":")[2])), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "haproxy did not listen:\n" + "".join(output)
            time.sleep(0.05)
    return Balancer(process=process, url=f"http://{bind}", output=output)


@dataclass
class Outcome:
    started: float
    ok: bool
    detail: str


def _hold_port(host: str, port: int) -> socket.socket | None:
    """Bind (never listen on) a port no process listens on any more: connects to it are refused, and the kernel
    gives it to no other socket. None if something took it first."""
    holder = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind((host, port))
    except OSError:
        holder.close()
        return None
    return holder


def one_request(balancer: Balancer, ca_file: Path, url: str) -> Outcome:
    """One HTTPS request through the balancer on a connection of its own (a new client each time)."""
    started = time.monotonic()
    try:
        with requests.Session() as session:
            answer = session.get(url, proxies={"http": balancer.url, "https": balancer.url}, verify=str(ca_file),
                                 timeout=15)
        body = answer.json() if answer.status_code == 200 else {}
        ok = answer.status_code == 200 and body.get("ok") is True and body.get("token") == TOKEN
        return Outcome(started, ok, f"{answer.status_code} {answer.text[:200]}")
    except requests.RequestException as e:
        return Outcome(started, False, type(e).__name__)


def test_two_instances_behind_haproxy_survive_kill_9_of_one_under_load(
    tmp_path: Path, provider: Provider, run_proxy: Any, shared_store: SharedStore
) -> None:
    assert provider.ca_file is not None
    # A logged-in profile whose token lives in the shared store only (dance URLs, no token in the config).
    profile = profile_for(provider, token=None, token_secret=None,
                          request_token_url=f"{provider.base_url}/oauth/request_token",
                          authorize_url=f"{provider.base_url}/oauth/authorize",
                          access_token_url=f"{provider.base_url}/oauth/access_token")
    shared_store.put("api", StoredToken(token=TOKEN, token_secret=TOKEN_SECRET, obtained_at="2026-12-01T00:00:00Z"))
    config = write_config(tmp_path / "proxy.yaml", {"api": profile}, token_store=shared_store.token_store)
    options = ("--set", "oauth1_ops_listen=127.0.0.1:0", "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}",
               "--set", "oauth1_helper_clients=127.0.0.1/32")
    # One after the other: the first creates the shared confdir's CA (if the session has none yet), the second reads it.
    instances = []
    for _ in range(2):
        proxy = run_proxy(config, *options)
        instances.append((proxy, int(ops_url(proxy).rpartition(":")[2])))
    ca_file = instances[0][0].ca_file
    balancer = start_haproxy(instances)
    held: socket.socket | None = None
    try:
        url = f"{provider.base_url}/api/echo?load=1"
        first = one_request(balancer, ca_file, url)
        assert first.ok, (first.detail, "".join(balancer.output)[-3000:])
        # The helper behind the balancer: the peer it sees is haproxy's (127.0.0.1, in oauth1_helper_clients).
        status = requests.get("http://oauth1.proxy/status.json", proxies={"http": balancer.url}, timeout=10)
        assert status.status_code == 200 and status.json()["profiles"][0]["logged_in"] is True

        outcomes: list[Outcome] = []
        stop = threading.Event()
        killed_at: list[float] = []

        def client() -> None:
            while not stop.is_set():
                outcomes.append(one_request(balancer, ca_file, url))

        with ThreadPoolExecutor(4) as pool:
            for _ in range(4):
                pool.submit(client)
            time.sleep(2.0)
            victim = instances[0][0].process
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            # The dead instance's port stays closed, as a real deployment's fixed port would: here it is an
            # ephemeral one (port 0), and haproxy's next connect to it could otherwise be given that same port
            # as its own source, a TCP self-connect that "succeeds" and hangs until the check marks it down.
            held = _hold_port(instances[0][0].host, instances[0][0].port)
            killed_at.append(time.monotonic())
            time.sleep(3.0)
            stop.set()

        before = [o for o in outcomes if o.started < killed_at[0]]
        after = [o for o in outcomes if o.started >= killed_at[0]]
        assert len(before) >= 8 and len(after) >= 8, (len(before), len(after))
        print(f"requests before the kill {len(before)} (failed {sum(not o.ok for o in before)}), after {len(after)}")
        failed_after = [o.detail for o in after if not o.ok]
        assert not failed_after, (failed_after, "".join(balancer.output)[-3000:])
        # Requests cut off at the kill may fail (their connection died), but none went out unsigned:
        # every request the provider ever got was signed and verified, with a fresh nonce each.
        records = [r for r in provider.records if r.uri.startswith(f"{provider.base_url}/api/")]
        assert records and all(r.valid for r in records), [r.reason for r in records if not r.valid]
        assert len({r.nonce for r in records}) == len(records)
        assert len(records) >= sum(o.ok for o in outcomes) + 1
        # The survivor is still ready; the killed one's ops port is gone.
        ready = fetch(f"http://127.0.0.1:{instances[1][1]}/readyz")
        assert ready[0] == 200, ready
        # No token lost: the store still holds it, and a new request is signed with it.
        kept = shared_store.get("api")
        assert kept is not None and kept.token == TOKEN
        last = one_request(balancer, ca_file, url)
        assert last.ok, (last.detail, "".join(balancer.output)[-3000:])
    finally:
        balancer.process.terminate()
        balancer.process.wait(timeout=10)
        if held is not None:
            held.close()
    logs = "".join(balancer.output) + "\n".join(p.text() for p, _ in instances)
    for secret in SECRETS:
        assert secret not in logs
