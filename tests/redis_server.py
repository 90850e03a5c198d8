"""A real redis-server (Debian's) on 127.0.0.1, an ephemeral port and a password, for the Redis store tests.

The config (password included) goes to redis-server on stdin (``redis-server -``),
so the password is not on its command line. ``start_redis`` stops the server
and leaves nothing running; nothing is saved to disk.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "redis-test-password-Zq9/+:@%"  # URL-special characters: the store must quote and redact it
ENCODED_PASSWORD = "redis-test-password-Zq9%2F%2B%3A%40%25"


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    password: str
    directory: Path

    @property
    def url(self) -> str:
        return f"redis://:{ENCODED_PASSWORD}@127.0.0.1:{self.port}/0"

    def client(self) -> object:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def start_redis(directory: Path, password: str = PASSWORD) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: scripts/system-deps installs it (apt-get install redis-server)"
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        port = _free_port()
        config = (f"bind 127.0.0.1\nport {port}\nrequirepass \"{password}\"\nsave \"\"\nappendonly no\n"
                  f"dir {directory}\ndaemonize no\nprotected-mode yes\nlogfile \"\"\n")
        process = subprocess.Popen([binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        assert process.stdin is not None
        process.stdin.write(config.encode())
        process.stdin.close()
        if _ready(port, 10.0):
            server = RedisServer(process, port, password, directory)
            try:
                yield server
            finally:
                server.stop()
            return
        process.kill()
        process.wait()
    raise AssertionError("redis-server did not start on a free loopback port")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    with start_redis(tmp_path / "redis") as server:
        yield server
