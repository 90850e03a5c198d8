"""A real redis-server (Debian's) on 127.0.0.1, an ephemeral port and a password, for the Redis store tests.

The config (password included) goes to redis-server on stdin (``redis-server -``),
so the password is not on its command line. ``start_redis`` stops the server
and leaves nothing running; nothing is saved to disk.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
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
    ca_file: Path | None = None  # with TLS: the throwaway CA that signed the server's certificate

    @property
    def url(self) -> str:
        scheme = "rediss" if self.ca_file else "redis"
        return f"{scheme}://:{ENCODED_PASSWORD}@127.0.0.1:{self.port}/0"

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


def _ready(port: int, timeout: float, ca_file: Path | None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as plain:
            s = ssl.create_default_context(cafile=str(ca_file)).wrap_socket(plain, server_hostname="127.0.0.1") \
                if ca_file else plain
            s.sendall(b"PING\r\n")
            if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def start_redis(directory: Path, password: str = PASSWORD, *, tls: bool = False) -> Iterator[RedisServer]:
    """redis-server on 127.0.0.1; ``tls``: TLS only (``tls-port``), with a throwaway CA (``RedisServer.ca_file``)."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: scripts/system-deps installs it (apt-get install redis-server)"
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = None
    tls_lines = ""
    if tls:
        from oauth1_proxy.devtools.provider.tls import write_tls_files

        ca_file, cert_file, key_file = write_tls_files(directory / "tls")
        tls_lines = (f"tls-cert-file {cert_file}\ntls-key-file {key_file}\ntls-ca-cert-file {ca_file}\n"
                     "tls-auth-clients no\n")
    for _ in range(5):
        port = _free_port()
        ports = f"port 0\ntls-port {port}\n{tls_lines}" if tls else f"port {port}\n"
        config = (f"bind 127.0.0.1\n{ports}requirepass \"{password}\"\nsave \"\"\nappendonly no\n"
                  f"dir {directory}\ndaemonize no\nprotected-mode yes\nlogfile \"\"\n")
        process = subprocess.Popen([binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        assert process.stdin is not None
        process.stdin.write(config.encode())
        process.stdin.close()
        if _ready(port, 10.0, ca_file):
            server = RedisServer(process, port, password, directory, ca_file)
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
