"""Reliability under faults (issue 6): upstreams down or silent, a provider failing mid-dance, a killed writer,
a read-only or full token store.
"""

from __future__ import annotations

import hashlib
import html
import http.server
import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.errors import TokenStoreError
from oauth1_proxy.tokens import FileTokenStore, StoredToken
from tests.e2e.conftest import (
    BIN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    RunningProxy,
    curl,
    profile_for,
    start_proxy,
    write_config,
)
from tests.e2e.helper_forms import start_login

from .support import isolated, tmpfs

HELPER = "http://oauth1.proxy"


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


# --- upstream down or silent ------------------------------------------------------------------------


def test_proxy_upstream_down_answers_502_and_keeps_serving(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    down = free_port()
    config = write_config(tmp_path / "proxy.yaml", {
        "down": profile_for(http_provider, hosts=[f"127.0.0.1:{down}"]),
        "api": profile_for(http_provider),
    })
    proxy = run_proxy(config)
    result = curl("-i", "-x", proxy.url, f"http://127.0.0.1:{down}/api/me")
    assert result.stdout.startswith(b"HTTP/1.1 502"), result.stdout[:200]
    assert b"Connect call failed" in result.stdout
    again = curl("-x", proxy.url, f"{http_provider.base_url}/api/me")
    assert json.loads(again.stdout)["screen_name"] == "demo_user"
    assert [r.valid for r in http_provider.records] == [True]


def test_proxy_upstream_never_answering_is_cut_off_after_tcp_timeout_and_keeps_serving(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    # mitmproxy has no response timeout of its own: tcp_timeout (default 600 s) closes a connection idle
    # that long, and the client sees it closed (no 504).
    silent = SilentServer()
    try:
        config = write_config(tmp_path / "proxy.yaml", {
            "silent": profile_for(http_provider, hosts=[f"127.0.0.1:{silent.port}"]),
            "api": profile_for(http_provider),
        })
        proxy = run_proxy(config, "--set", "tcp_timeout=2")
        started = time.monotonic()
        result = curl("-x", proxy.url, f"http://127.0.0.1:{silent.port}/api/me", timeout=30)
        elapsed = time.monotonic() - started
        assert result.returncode == 52, result  # curl: "Empty reply from server"
        assert 1.5 < elapsed < 10, elapsed
        assert proxy.wait_for("Closing connection due to inactivity")
        again = curl("-x", proxy.url, f"{http_provider.base_url}/api/me")
        assert json.loads(again.stdout)["screen_name"] == "demo_user"
    finally:
        silent.stop()


# --- the provider fails during the dance: no partial token -------------------------------------------


class FailingTokenEndpoint(http.server.BaseHTTPRequestHandler):
    """An access-token endpoint that fails in the way its path names."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.path.strip("/")
        if kind == "error-500":
            self.send_response(500)
            self.send_header("Content-Length", "14")
            self.end_headers()
            self.wfile.write(b"internal error")
        elif kind == "no-secret":
            body = b"oauth_token=half-a-token&user_id=42"
            self.send_response(200)
            self.send_header("Content-Type", "application/x-www-form-urlencoded")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif kind == "truncated":
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                             b"Content-Length: 200\r\n\r\noauth_token=cut&oauth_token_sec")
        # "reset": nothing at all; the connection closes.
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        return None


FAILURES = ["error-500", "no-secret", "truncated", "reset"]


@dataclass
class Dance:
    proxy: RunningProxy
    provider: Provider
    store: Path
    store_before: bytes


@pytest.fixture(scope="module")
def failing_dance(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> Iterator[Dance]:
    """A proxy whose profiles get request tokens from a real provider and fail at the access token."""
    tmp = tmp_path_factory.mktemp("dance")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FailingTokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    failing = f"http://127.0.0.1:{server.server_address[1]}"
    provider = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)]).start()
    store = tmp / "tokens.yaml"
    FileTokenStore(store).put("other", StoredToken(token="kept", token_secret="kept-secret"))
    profiles = {
        kind: {"hosts": [f"api-{i}.example.com"], "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
               "request_token_url": provider.request_token_url, "authorize_url": provider.authorize_url,
               "access_token_url": f"{failing}/{kind}"}
        for i, kind in enumerate(FAILURES)
    }
    config = write_config(tmp / "proxy.yaml", profiles)
    proxy = start_proxy([str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0"], confdir)
    try:
        yield Dance(proxy=proxy, provider=provider, store=store, store_before=store.read_bytes())
    finally:
        proxy.stop()
        provider.stop()
        server.shutdown()
        server.server_close()


def dance_until_callback(dance: Dance, name: str) -> requests.Response:
    """Log in through the helper, approve at the provider, then follow the callback."""
    s = requests.Session()
    s.proxies = {"http": dance.proxy.url}
    login = start_login(s, f"{HELPER}/login/{name}")
    assert login.status_code == 303, login.text
    token = parse_qs(urlsplit(login.headers["Location"]).query)["oauth_token"][0]
    verifier = dance.provider.approve(token)
    return s.get(f"{HELPER}/callback/{name}?oauth_token={token}&oauth_verifier={verifier}", timeout=30)


@pytest.mark.parametrize("failure", FAILURES)
def test_dance_access_token_step_failing_writes_no_partial_token(failing_dance: Dance, failure: str) -> None:
    page = dance_until_callback(failing_dance, failure)
    assert page.status_code >= 500
    assert failing_dance.store.read_bytes() == failing_dance.store_before  # byte for byte
    status = requests.get(f"{HELPER}/status.json", proxies={"http": failing_dance.proxy.url}, timeout=20).json()
    assert {p["name"]: p["logged_in"] for p in status["profiles"]}[failure] is False


@pytest.mark.parametrize("failure", FAILURES)
def test_dance_access_token_step_failing_says_which_step_failed(failing_dance: Dance, failure: str) -> None:
    page = dance_until_callback(failing_dance, failure)
    assert page.status_code == 502
    assert f'Profile "{failure}": the access token' in html.unescape(page.text)


# --- kill -9 while the token store is written ----------------------------------------------------------

WRITER = """
import hashlib, os, sys, time
from pathlib import Path
from oauth1_proxy.tokens import FileTokenStore, StoredToken

real_fsync = os.fsync
def slow_fsync(fd):  # a slow disk: the kill often lands between the temp file and the rename
    time.sleep(0.02)
    real_fsync(fd)
os.fsync = slow_fsync

store = FileTokenStore(Path(sys.argv[1]))
generation = int(sys.argv[2])
print("ready", flush=True)
while True:
    generation += 1
    token = f"gen-{generation}-" + "t" * 20000
    store.put("api", StoredToken(token=token, token_secret=hashlib.sha256(token.encode()).hexdigest()))
"""


def generation_of(path: Path) -> int:
    """Read the store as a fresh process would; check the token is whole (its secret is its hash)."""
    stored = FileTokenStore(path).get("api")
    assert stored is not None
    assert stored.token_secret == hashlib.sha256(stored.token.encode()).hexdigest()
    assert FileTokenStore(path).get("other") is not None  # the other profile survived too
    return int(stored.token.split("-")[1])


def test_token_store_killed_mid_write_30_times_is_always_the_old_or_the_new_store(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    store = FileTokenStore(path)
    store.put("other", StoredToken(token="kept", token_secret="kept-secret"))
    store.put("api", StoredToken(token="gen-0-x", token_secret=hashlib.sha256(b"gen-0-x").hexdigest()))
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    generation, mid_write = 0, 0
    rng = random.Random(6)
    for _ in range(30):
        writer = subprocess.Popen([sys.executable, str(script), str(path), str(generation)], stdout=subprocess.PIPE,
                                  text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(rng.uniform(0.01, 0.25))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
        writer.stdout.close()
        now = generation_of(path)
        assert now >= generation
        generation = now
        leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        mid_write += bool(leftovers)
        for p in leftovers:  # a half-written copy holds secrets too: private, then gone
            assert stat.S_IMODE(p.stat().st_mode) == 0o600
            p.unlink()
    assert generation > 0
    assert mid_write > 0, "no kill landed mid-write; the test proved nothing"


# --- read-only folder or full disk: a clear error, the token kept in memory for this run -----------------

STORE_SCRIPT = """
import json, sys
from pathlib import Path
from oauth1_proxy.errors import TokenStoreError
from oauth1_proxy.tokens import FileTokenStore, StoredToken

path = Path(sys.argv[1])
before = path.read_bytes()
store = FileTokenStore(path)
new = StoredToken(token="new-token", token_secret="new-secret-" + "s" * 70000)
try:
    store.put("api", new)
    error = None
except TokenStoreError as e:
    error = str(e)
print(json.dumps({
    "error": error,
    "unchanged": path.read_bytes() == before,
    "this_run": store.get("api") == new,
    "all": sorted(store.all()),
    "next_run": FileTokenStore(path).get("api") is not None,
}))
"""


def put_in_namespace(tmp_path: Path, **tmpfs_options: bool) -> dict[str, Any]:
    """Put a token into a store on a tmpfs (full or read-only) that only this subprocess sees."""
    old = tmp_path / "seed" / "tokens.yaml"
    old.parent.mkdir()
    FileTokenStore(old).put("other", StoredToken(token="kept", token_secret="kept-secret"))
    folder = tmp_path / "store"
    script = tmp_path / "put.py"
    script.write_text(STORE_SCRIPT)
    command = isolated([sys.executable, str(script), str(folder / "tokens.yaml")], tmp_path,
                       setup=tmpfs(folder, copy=[old], **tmpfs_options))
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize(("options", "reason"), [
    ({"full": True}, "No space left on device"),
    ({"read_only": True}, "Read-only file system"),
], ids=["full-disk", "read-only"])
def test_token_store_that_cannot_be_written_raises_a_clear_error_saying_the_token_is_kept_in_memory(
    tmp_path: Path, options: dict[str, bool], reason: str
) -> None:
    result = put_in_namespace(tmp_path, **options)
    assert result["error"] is not None
    assert f"the token store cannot be written ({reason})" in result["error"]
    assert "The new token of profile 'api' is kept in memory for this run only" in result["error"]
    assert "new-secret" not in result["error"]


@pytest.mark.parametrize("options", [{"full": True}, {"read_only": True}], ids=["full-disk", "read-only"])
def test_token_store_that_cannot_be_written_keeps_the_old_store_and_the_new_token_for_this_run(
    tmp_path: Path, options: dict[str, bool]
) -> None:
    result = put_in_namespace(tmp_path, **options)
    assert result["unchanged"] is True
    assert result["this_run"] is True
    assert result["all"] == ["api", "other"]
    assert result["next_run"] is False  # not on disk: the user must log in again


def failing_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)


def store_after_a_failed_put(path: Path, monkeypatch: pytest.MonkeyPatch, token: str) -> FileTokenStore:
    """A store whose put of profile "api" failed on a full disk (so it keeps the token in memory)."""
    store = FileTokenStore(path)
    with monkeypatch.context() as m:
        failing_writes(m)
        with pytest.raises(TokenStoreError):
            store.put("api", StoredToken(token=token, token_secret="s1"))
    return store


def test_token_store_kept_in_memory_is_written_with_the_next_put_that_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_after_a_failed_put(tmp_path / "tokens.yaml", monkeypatch, "new")
    store.put("other", StoredToken(token="o", token_secret="s2"))  # the disk has room again
    assert set(FileTokenStore(tmp_path / "tokens.yaml").all()) == {"api", "other"}


def test_token_store_kept_in_memory_gives_way_to_a_login_another_process_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_after_a_failed_put(tmp_path / "tokens.yaml", monkeypatch, "in-memory")
    assert (stored := store.get("api")) is not None and stored.token == "in-memory"
    FileTokenStore(tmp_path / "tokens.yaml").put("api", StoredToken(token="newer", token_secret="s2"))
    assert (stored := store.get("api")) is not None and stored.token == "newer"


def test_dance_with_a_full_token_store_tells_the_user_and_signs_for_this_run(tmp_path: Path, confdir: Path) -> None:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)]) as provider:
        store_dir = tmp_path / "store"
        config = write_config(tmp_path / "proxy.yaml", {"p": {
            "hosts": [f"{provider.host}:{provider.port}"], "consumer_key": CONSUMER_KEY,
            "consumer_secret": CONSUMER_SECRET, "request_token_url": provider.request_token_url,
            "authorize_url": provider.authorize_url, "access_token_url": provider.access_token_url,
        }}, token_store=str(store_dir / "tokens.yaml"))
        command = [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0"]
        proxy = start_proxy(isolated(command, tmp_path, setup=tmpfs(store_dir, size="16k", full=True)), confdir)
        try:
            page = dance_until_callback(Dance(proxy, provider, store_dir / "tokens.yaml", b""), "p")
            assert page.status_code == 200 and 'id="success"' in page.text  # logged in, for this run
            assert 'id="warning"' in page.text and "No space left on device" in page.text
            assert "kept in memory for this run only" in page.text
            me = requests.get(f"{provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=20)
            assert me.status_code == 200, me.text
            assert provider.records[-1].valid
            assert proxy.wait_for("kept in memory for this run only")  # the log says it too
        finally:
            proxy.stop()
    assert not os.path.exists(store_dir / "tokens.yaml")  # the tmpfs was the proxy's alone
