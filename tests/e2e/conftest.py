"""Real processes on loopback: the provider (oauthlib's endpoints) and oauth1-proxy/mitmdump.

Every server binds 127.0.0.1 on an ephemeral port and is stopped by the
fixture that started it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from oauth1_proxy.devtools.provider import Provider, ProviderClient

BIN = Path(sys.executable).parent
LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9a-f.:]+)\]?:(\d+)")

# Known test credentials: every e2e scenario uses these, and scans output for them.
CONSUMER_KEY = "e2e-consumer-key"
CONSUMER_SECRET = "e2e-consumer-secret-&+/ä"
TOKEN = "e2e-access-token"
TOKEN_SECRET = "e2e-token-secret-%20="
SECRETS = (CONSUMER_SECRET, TOKEN_SECRET)


@dataclass
class RunningProxy:
    """A proxy subprocess and everything it printed."""

    process: subprocess.Popen[str]
    host: str
    port: int
    confdir: Path
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def text(self) -> str:
        return "\n".join(self.output)

    def wait_for(self, needle: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_proxy(command: Sequence[str], confdir: Path, *, timeout: float = 30.0) -> RunningProxy:
    """Start a proxy command (oauth1-proxy run / mitmdump) and read back its listening address."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [*command, "--set", f"confdir={confdir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    output: list[str] = []
    found = threading.Event()
    address: list[tuple[str, int]] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            m = LISTENING.search(line)
            if m and not address:
                address.append((m.group(1), int(m.group(2))))
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    found.wait(timeout)
    if not address:
        process.kill()
        process.wait()
        raise AssertionError("the proxy did not start:\n" + "\n".join(output))
    proxy = RunningProxy(process=process, host=address[0][0], port=address[0][1], confdir=confdir, output=output)
    # mitmdump logs the profile lines in `running`, just after listening.
    proxy.wait_for("oauth1-proxy:", timeout=2.0)
    return proxy


@pytest.fixture(scope="session")
def confdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mitmproxy confdir (and so one CA) for the session."""
    return tmp_path_factory.mktemp("mitmproxy-confdir")


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    """An HTTPS provider on oauthlib's endpoints, knowing the test client and token."""
    p = Provider(
        clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
        access_tokens={TOKEN: TOKEN_SECRET},
        tls=True,
        cert_dir=tmp_path / "provider-certs",
    )
    with p:
        yield p


@pytest.fixture
def http_provider(tmp_path: Path) -> Iterator[Provider]:
    """The same provider over plain http."""
    p = Provider(
        clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
        access_tokens={TOKEN: TOKEN_SECRET},
        tls=False,
    )
    with p:
        yield p


class _PlainDumper(yaml.SafeDumper):
    """Writes YAML as a person would: a value shared by two profiles is written twice, never as an alias
    (the config refuses anchors and aliases)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def write_config(path: Path, profiles: dict[str, dict[str, object]], **top: object) -> Path:
    data: dict[str, object] = {"token_store": str(path.parent / "tokens.yaml"), **top, "profiles": profiles}
    path.write_text(yaml.dump(data, Dumper=_PlainDumper, sort_keys=False))
    return path


def profile_for(provider: Provider, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "hosts": [f"{provider.host}:{provider.port}"],
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "token": TOKEN,
        "token_secret": TOKEN_SECRET,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture
def run_proxy(confdir: Path) -> Iterator[object]:
    """Start ``oauth1-proxy run --config FILE [args]``; every proxy started is stopped after the test."""
    started: list[RunningProxy] = []

    def start(config: Path, *args: str) -> RunningProxy:
        proxy = start_proxy(
            [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0", *args], confdir
        )
        started.append(proxy)
        return proxy

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def run_mitmdump(confdir: Path) -> Iterator[object]:
    """Start plain ``mitmdump [args]`` on an ephemeral port."""
    started: list[RunningProxy] = []

    def start(*args: str) -> RunningProxy:
        proxy = start_proxy([str(BIN / "mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", "0", *args],
                            confdir)
        started.append(proxy)
        return proxy

    yield start
    for p in started:
        p.stop()


def curl(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    """Run the real curl; return its result (stdout is the body, with -i the head too)."""
    exe = shutil.which("curl")
    assert exe, "curl is required by the e2e tests (make test installs it)"
    return subprocess.run([exe, "-sS", *args], capture_output=True, timeout=timeout)
