"""Promise: fail closed, lose nothing (issue 12, part 4), end to end through real proxies.

- A request to a signed destination whose target is not a path (``OPTIONS *``, ``GET *``, ``POST *``) is
  refused by the proxy itself, in regular mode (Host header and CONNECT tunnel) and in reverse mode; raw TCP
  in a tunnel to a signed destination relays nothing. A listener on the signed port records every byte that
  arrives: none does.
- A FIFO as token store does not stop the proxy; a FIFO as config does not hang ``check``.
- A login or logout another process stores is used promptly (a miss at once, a change within 0.25 s).
- Two ``oauth1-proxy login`` runs at once, with a proxy running, both keep their token.

Unit level: tests/test_failclosed_addon.py, tests/test_tokens.py, tests/test_config.py.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.tokens import FileTokenStore
from tests.e2e.conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, TOKEN, TOKEN_SECRET, RunningProxy, start_proxy
from tests.e2e.test_token_dance import approve_at_provider, dance_profile, read_authorize_url

from .support import raw_request


class Recorder:
    """A loopback listener that records every byte each connection sends, and answers 200 to what it can."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        data = b""
        conn.settimeout(3)
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            if data:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\narrived!")
        except OSError:
            pass
        finally:
            with self._lock:
                self.received.append(data)
            conn.close()

    def arrived(self) -> list[bytes]:
        """What arrived so far, empty connections left out (mitmproxy may connect before it has anything)."""
        with self._lock:
            return [d for d in self.received if d]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def signed_config(tmp_path: Path, port: int, **extra: object) -> Path:
    profile: dict[str, object] = {"hosts": [f"127.0.0.1:{port}"], "consumer_key": CONSUMER_KEY,
                                  "consumer_secret": CONSUMER_SECRET, "token": TOKEN, "token_secret": TOKEN_SECRET}
    profile.update(extra)
    config = tmp_path / "proxy.yaml"
    config.write_text(yaml.safe_dump({"token_store": str(tmp_path / "tokens.yaml"),
                                      "profiles": {"api": {k: v for k, v in profile.items() if v is not None}}}))
    return config


def run(config: Path, confdir: Path, *args: str) -> RunningProxy:
    return start_proxy([str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0", *args],
                       confdir)


def settle() -> None:
    time.sleep(0.5)  # anything the proxy forwards reaches the recorder well within this


METHODS = ["OPTIONS", "GET", "POST"]


def asterisk(method: str, host: str) -> bytes:
    body = b"a=1" if method == "POST" else b""
    headers = f"{method} * HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
    if body:
        headers += "Content-Type: application/x-www-form-urlencoded\r\n"
    return headers.encode() + b"\r\n" + body


def assert_refused_by_the_proxy(status: int, body: bytes) -> None:
    assert status == 400
    assert b"is not a path" in body and b"oauth1-proxy forwards nothing to it unsigned" in body


@pytest.mark.parametrize("method", METHODS)
def test_e2e_asterisk_form_to_a_signed_host_is_refused_and_nothing_arrives(
    tmp_path: Path, confdir: Path, recorder: Recorder, method: str
) -> None:
    proxy = run(signed_config(tmp_path, recorder.port), confdir)
    try:
        answer = raw_request(proxy.port, asterisk(method, f"127.0.0.1:{recorder.port}"))
        settle()
    finally:
        proxy.stop()
    assert_refused_by_the_proxy(answer.status, answer.body)
    assert recorder.arrived() == []


def through_tunnel(proxy_port: int, target_port: int, data: bytes) -> bytes:
    """CONNECT to the target, send data in the tunnel, return what comes back (until close or 3 s)."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as s:
        s.sendall(f"CONNECT 127.0.0.1:{target_port} HTTP/1.1\r\nHost: 127.0.0.1:{target_port}\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        s.sendall(data)
        s.settimeout(3)
        back = b""
        try:
            while b"\r\n\r\n" not in back or len(back) < 200:
                chunk = s.recv(65536)
                if not chunk:
                    break
                back += chunk
        except TimeoutError:
            pass
        return back


@pytest.mark.parametrize("method", METHODS)
def test_e2e_asterisk_form_in_a_connect_tunnel_to_a_signed_host_is_refused_and_nothing_arrives(
    tmp_path: Path, confdir: Path, recorder: Recorder, method: str
) -> None:
    proxy = run(signed_config(tmp_path, recorder.port), confdir)
    try:
        back = through_tunnel(proxy.port, recorder.port, asterisk(method, f"127.0.0.1:{recorder.port}"))
        settle()
    finally:
        proxy.stop()
    assert back.startswith(b"HTTP/1.1 400") and b"Server: oauth1-proxy" in back
    assert recorder.arrived() == []


@pytest.mark.parametrize("method", METHODS)
def test_e2e_asterisk_form_in_reverse_mode_is_refused_and_nothing_arrives(
    tmp_path: Path, confdir: Path, recorder: Recorder, method: str
) -> None:
    proxy = run(signed_config(tmp_path, recorder.port), confdir, "--mode", f"reverse:http://127.0.0.1:{recorder.port}")
    try:
        answer = raw_request(proxy.port, asterisk(method, f"127.0.0.1:{proxy.port}"))
        settle()
    finally:
        proxy.stop()
    assert_refused_by_the_proxy(answer.status, answer.body)
    assert recorder.arrived() == []


def test_e2e_raw_tcp_in_a_connect_tunnel_to_a_signed_host_relays_nothing(
    tmp_path: Path, confdir: Path, recorder: Recorder
) -> None:
    # A leading empty line: mitmproxy cannot read it as HTTP and relays it as TCP; a server may still read
    # the request (RFC 9112 §2.2 lets it skip the empty line).
    proxy = run(signed_config(tmp_path, recorder.port), confdir)
    try:
        through_tunnel(proxy.port, recorder.port, f"\r\nGET /v1 HTTP/1.1\r\nHost: 127.0.0.1:{recorder.port}\r\n\r\n"
                       .encode())
        settle()
    finally:
        proxy.stop()
    assert recorder.arrived() == []
    assert "refused raw TCP data to 127.0.0.1" in proxy.text()


def test_e2e_origin_form_to_the_recorder_arrives_signed(tmp_path: Path, confdir: Path, recorder: Recorder) -> None:
    # The control: the recorder does see what the proxy forwards.
    proxy = run(signed_config(tmp_path, recorder.port), confdir)
    try:
        answer = raw_request(proxy.port, f"GET http://127.0.0.1:{recorder.port}/v1 HTTP/1.1\r\n"
                                         f"Host: 127.0.0.1:{recorder.port}\r\n\r\n".encode())
    finally:
        proxy.stop()
    assert answer.status == 200 and answer.body == b"arrived!"
    [arrived] = recorder.arrived()
    assert arrived.startswith(b"GET /v1 HTTP/1.1\r\n") and b'Authorization: OAuth oauth_consumer_key="' in arrived


# --- a FIFO does not hang anything -------------------------------------------------------------------------


def dance_config(tmp_path: Path, port: int, store: Path) -> Path:
    """A profile that signs 127.0.0.1:port with tokens from ``store`` (not logged in until one is there)."""
    config = signed_config(tmp_path, port, token=None, token_secret=None,
                           request_token_url=f"http://127.0.0.1:{port}/oauth/request_token",
                           authorize_url=f"http://127.0.0.1:{port}/oauth/authorize",
                           access_token_url=f"http://127.0.0.1:{port}/oauth/access_token")
    data = yaml.safe_load(config.read_text())
    data["token_store"] = str(store)
    config.write_text(yaml.safe_dump(data))
    return config


def test_e2e_fifo_token_store_does_not_stop_the_proxy(tmp_path: Path, confdir: Path, recorder: Recorder) -> None:
    fifo = tmp_path / "fifo-store.yaml"
    os.mkfifo(fifo)
    other = Recorder()  # a destination no profile signs: passes through
    proxy = run(dance_config(tmp_path, recorder.port, fifo), confdir)
    try:
        proxies = {"http": proxy.url}
        for _ in range(3):
            passed = requests.get(f"http://127.0.0.1:{other.port}/x", proxies=proxies, timeout=5)
            refused = requests.get(f"http://127.0.0.1:{recorder.port}/v1", proxies=proxies, timeout=5)
            assert passed.status_code == 200 and passed.content == b"arrived!"
            assert refused.status_code == 500
            assert "it is a named pipe (FIFO), not a regular file" in refused.json()["message"]
    finally:
        proxy.stop()
        other.close()
    assert recorder.arrived() == []
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_e2e_check_with_a_fifo_as_config_exits_1_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "proxy.yaml"
    os.mkfifo(fifo)
    result = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(fifo)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert "it is a named pipe (FIFO), not a regular file" in result.stderr and "Traceback" not in result.stderr


def test_e2e_check_with_a_fifo_as_token_store_exits_1_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo-store.yaml"
    os.mkfifo(fifo)
    config = dance_config(tmp_path, 9, fifo)
    result = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 1
    assert "it is a named pipe (FIFO), not a regular file" in result.stderr and "Traceback" not in result.stderr


# --- another process's login and logout are seen promptly ---------------------------------------------------

STORE_WRITER = """
import sys
from pathlib import Path
from oauth1_proxy.tokens import FileTokenStore, StoredToken
store = FileTokenStore(Path(sys.argv[1]))
if sys.argv[2] == "put":
    store.put("api", StoredToken(token=sys.argv[3], token_secret="s"))
else:
    store.delete("api")
"""


def other_process(store: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-c", STORE_WRITER, str(store), *args], check=True, timeout=30)


def test_e2e_login_stored_by_another_process_is_used_by_the_next_request(
    tmp_path: Path, confdir: Path, recorder: Recorder
) -> None:
    store = tmp_path / "tokens.yaml"
    proxy = run(dance_config(tmp_path, recorder.port, store), confdir)
    url, proxies = f"http://127.0.0.1:{recorder.port}/v1", {"http": proxy.url}
    try:
        assert requests.get(url, proxies=proxies, timeout=5).status_code == 401
        other_process(store, "put", "token-one")
        at_once = requests.get(url, proxies=proxies, timeout=5)  # a miss re-reads the store (off the loop)
        other_process(store, "put", "token-two")
        time.sleep(1.0)  # a change is seen within WATCH_INTERVAL (0.25 s); margin for a loaded machine
        changed = requests.get(url, proxies=proxies, timeout=5)
        other_process(store, "delete")
        time.sleep(1.0)
        logged_out = requests.get(url, proxies=proxies, timeout=5)
    finally:
        proxy.stop()
    assert at_once.status_code == 200 and changed.status_code == 200
    tokens = [re.search(rb'oauth_token="([^"]+)"', a).group(1) for a in recorder.arrived()]  # type: ignore[union-attr]
    assert tokens == [b"token-one", b"token-two"]
    assert logged_out.status_code == 401


# --- two logins at once, with a proxy running --------------------------------------------------------------


def test_e2e_two_cli_logins_at_once_with_a_running_proxy_keep_both_tokens(
    tmp_path: Path, confdir: Path
) -> None:
    from oauth1_proxy.devtools.provider import ProviderClient

    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice",
                  user_id="42") as provider:
        config = tmp_path / "proxy.yaml"
        config.write_text(yaml.safe_dump({"token_store": str(tmp_path / "tokens.yaml"), "profiles": {
            name: dance_profile(provider, path_prefix=f"/api/echo/{name}/") for name in ("p", "q")}}))
        proxy = run(config, confdir)
        try:
            logins: dict[str, subprocess.Popen[str]] = {}
            pins: dict[str, str] = {}
            for name in ("p", "q"):
                logins[name] = subprocess.Popen(
                    [str(BIN / "oauth1-proxy"), "login", name, "--config", str(config), "--no-browser", "--oob"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                    env=dict(os.environ, PYTHONUNBUFFERED="1"))
                url = read_authorize_url(logins[name], provider)
                pin = re.search(r'id="pin">([^<]+)<', approve_at_provider(requests.Session(), url).text)
                assert pin
                pins[name] = pin.group(1)
            outputs: dict[str, Any] = {}
            threads = [threading.Thread(target=lambda n=n: outputs.update({n: logins[n].communicate(
                pins[n] + "\n", timeout=60)[0]})) for n in logins]
            for t in threads:
                t.start()
            for t in threads:
                t.join(90)
            stored = FileTokenStore(tmp_path / "tokens.yaml").all()
            time.sleep(1.0)
            answers = [requests.get(f"{provider.base_url}/api/echo/{n}/x", proxies={"http": proxy.url}, timeout=10)
                       for n in ("p", "q")]
            resources = [r for r in provider.records if r.endpoint == "resource"]
        finally:
            proxy.stop()
    assert all(logins[n].returncode == 0 and "token stored" in outputs[n] for n in logins), outputs
    assert sorted(stored) == ["p", "q"]
    # The running proxy signs with both stored tokens, and the provider accepts both.
    assert [a.status_code for a in answers] == [200, 200]
    assert [r.valid for r in resources] == [True, True]
    assert sorted(r.token or "" for r in resources) == sorted(t.token for t in stored.values())


# --- no secret in any config error, from every command ------------------------------------------------------

SECRET_BODY = "Zq8RVery-Secret-Value"
SPECIAL_STARTS = ["!", "*", "&", "%", "@", "`", "|", ">", "\t"]


def secret_config(tmp_path: Path, first: str) -> Path:
    config = tmp_path / "proxy.yaml"
    config.write_text(
        "profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n"
        f"    consumer_secret: {first}{SECRET_BODY}\n    token: tok\n    token_secret: ts\n", encoding="utf-8")
    return config


def command_output(command: str, config: Path, confdir: Path) -> tuple[int | None, str]:
    if command == "mitmdump -s":
        from oauth1_proxy import mitmproxy_addon

        args = [str(BIN / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", "0", "-s",
                mitmproxy_addon.__file__, "--set", f"oauth1_config={config}", "--set", f"confdir={confdir}"]
    elif command == "run":
        args = [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0",
                "--set", f"confdir={confdir}"]
    elif command == "sign":
        args = [str(BIN / "oauth1-proxy"), "sign", "--config", str(config), "https://api.example.com/x"]
    elif command == "login":
        args = [str(BIN / "oauth1-proxy"), "login", "api", "--config", str(config), "--no-browser", "--oob"]
    else:
        args = [str(BIN / "oauth1-proxy"), "check", "--config", str(config)]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        out, _ = process.communicate(timeout=8)
    except subprocess.TimeoutExpired:  # mitmdump reports a script's error and serves on
        process.terminate()
        out, _ = process.communicate(timeout=10)
    return process.returncode, out


@pytest.mark.parametrize("first", SPECIAL_STARTS, ids=[repr(c) for c in SPECIAL_STARTS])
@pytest.mark.parametrize("command", ["check", "run", "sign", "login", "mitmdump -s"])
def test_e2e_config_error_for_a_secret_starting_with_yaml_syntax_never_prints_it(
    tmp_path: Path, confdir: Path, command: str, first: str
) -> None:
    code, out = command_output(command, secret_config(tmp_path, first), confdir)
    assert re.search(r"proxy\.yaml:5: (profiles\.api\.)?consumer_secret: ", out), out  # the file, the line, the key
    assert "quote" in out and "Traceback" not in out
    for shown in (SECRET_BODY, SECRET_BODY[:4], first + SECRET_BODY[:1]):
        assert shown not in out
    assert code == 1


@pytest.mark.parametrize("first", SPECIAL_STARTS, ids=[repr(c) for c in SPECIAL_STARTS])
def test_e2e_check_with_a_hand_edited_token_store_never_prints_its_secret(tmp_path: Path, first: str) -> None:
    store = tmp_path / "tokens.yaml"
    store.write_text(f"api:\n  token: tok\n  token_secret: {first}{SECRET_BODY}\n", encoding="utf-8")
    config = dance_config(tmp_path, 9, store)
    result = subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(config)], capture_output=True,
                            text=True, timeout=30)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in out
    assert f"{store}: the token store " in out
    for shown in (SECRET_BODY, SECRET_BODY[:4], first + SECRET_BODY[:1]):
        assert shown not in out
