"""``oauth1-proxy exec -- CMD`` with real clients, real processes and the real provider (SPEC §13, issue 16).

Each client runs under its own ``exec`` with nothing but the environment exec
gives it (no proxy or CA option on its command line), and calls the HTTPS
provider, which verifies the signature (oauthlib's endpoints): a 200 from
``/api/echo/`` means the request left the proxy signed. Then: the exit status
(the command's, 128+N for a signal), signal forwarding, and no process left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import BIN, CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, profile_for, write_config

pytestmark = pytest.mark.e2e

CLIENTS = Path(__file__).parent / "clients"
TIMEOUT = 120  # a JVM start on a shared 2-core machine takes seconds
GIT_REF = "0123456789abcdef0123456789abcdef01234567"


class GitDumbHttp:
    """A dumb-HTTP git endpoint in front of the provider's app: ``.../info/refs`` is answered with one ref,
    but only after the provider verified the request's signature (its 200); any refusal goes to git as is."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("PATH_INFO", "").endswith("/info/refs"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = [status, headers]
            return lambda data: None

        body = b"".join(self.app(environ, capture))
        if not answer[0].startswith("200"):
            start_response(answer[0], answer[1])
            return [body]
        refs = f"{GIT_REF}\trefs/heads/main\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(refs)))])
        return [refs]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    p = Provider(
        clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
        access_tokens={TOKEN: TOKEN_SECRET},
        tls=True,
        cert_dir=tmp_path_factory.mktemp("exec-provider-certs"),
    )
    p._app.wsgi_app = GitDumbHttp(p._app.wsgi_app)  # type: ignore[method-assign]
    with p:
        yield p


@pytest.fixture(scope="module")
def config(provider: Provider, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_config(tmp_path_factory.mktemp("exec-config") / "proxy.yaml", {"api": profile_for(provider)})
    path.chmod(0o600)
    return path


def exec_argv(config: Path, confdir: Path, provider: Provider, *command: str) -> list[str]:
    assert provider.ca_file is not None
    return [str(BIN / "oauth1-proxy"), "exec", "--config", str(config), "--set", f"confdir={confdir}",
            "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}", "--", *command]


def clean_env() -> dict[str, str]:
    """This test's environment without any proxy or CA variable: whatever the client uses comes from exec."""
    drop = {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO",
            "JAVA_TOOL_OPTIONS", "NODE_USE_ENV_PROXY"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.lower().endswith("_proxy")}


def run_exec(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=clean_env(), **kw)


def left_behind(marker: str) -> list[str]:
    """Processes whose command line names ``marker`` (our unique config path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def url(provider: Provider, path: str = "/api/echo/exec?q=1") -> str:
    return f"https://{provider.host}:{provider.port}{path}"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


# Each client, with no proxy or CA option of its own; each prints the provider's body (JSON).
CLIENT_COMMANDS: dict[str, Callable[[str], list[str]]] = {
    "curl": lambda u: ["curl", "-sS", "--fail-with-body", u],
    "wget": lambda u: ["wget", "-q", "-O", "-", u],
    "requests": lambda u: python(f"import requests; r = requests.get({u!r}); print(r.text)"),
    "urllib": lambda u: python(f"import urllib.request; print(urllib.request.urlopen({u!r}).read().decode())"),
    "httpx": lambda u: python(f"import httpx; print(httpx.get({u!r}).text)"),
    "node-https": lambda u: ["node", str(CLIENTS / "node" / "env_https.mjs"), u],
    "node-fetch": lambda u: ["node", str(CLIENTS / "node" / "env_fetch.mjs"), u],
    "java-httpclient": lambda u: ["java", str(CLIENTS / "java" / "EnvFetch.java"), u],
}


def provider_answer(name: str, stdout: str) -> dict[str, Any]:
    """The provider's JSON body, whatever the client wrapped it in."""
    if name.startswith("node"):
        outer = json.loads(stdout)
        assert outer["status"] == 200, outer
        return json.loads(outer["body"])  # type: ignore[no-any-return]
    if name == "java-httpclient":
        status, _, body = stdout.partition("\n")
        assert status.strip() == "200", stdout
        return json.loads(body)  # type: ignore[no-any-return]
    return json.loads(stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize("client", sorted(CLIENT_COMMANDS))
def test_exec_client_with_only_the_environment_reaches_the_provider_signed(
    client: str, provider: Provider, config: Path, confdir: Path
) -> None:
    exe = CLIENT_COMMANDS[client]("x")[0]
    assert shutil.which(exe) or Path(exe).exists(), f"{exe} is required (scripts/system-deps installs it)"
    if client == "node-fetch":
        assert (CLIENTS / "node" / "node_modules" / "undici").is_dir(), "npm ci in tests/e2e/clients/node"
    result = run_exec(exec_argv(config, confdir, provider, *CLIENT_COMMANDS[client](url(provider))))
    assert result.returncode == 0, result.stdout + result.stderr
    answer = provider_answer(client, result.stdout)
    assert answer["ok"] is True and answer["token"] == TOKEN and answer["consumer_key"] == CONSUMER_KEY
    assert answer["path"] == "/api/echo/exec"
    assert "authorization" in answer["header_names"]  # header placement: signed by the proxy, not the client
    assert not any(s in result.stdout + result.stderr for s in SECRETS)


def test_exec_git_ls_remote_over_https_is_signed(provider: Provider, config: Path, confdir: Path) -> None:
    before = len(provider.records)
    result = run_exec(exec_argv(config, confdir, provider, "git", "ls-remote",
                                url(provider, "/api/echo/repo.git")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{GIT_REF}\trefs/heads/main"
    verified = [r for r in provider.records[before:] if "/api/echo/repo.git/info/refs?" in r.uri]
    assert verified and all(r.valid and r.token == TOKEN for r in verified), provider.records[before:]


def test_exec_non_proxied_tls_still_verifies_with_the_system_cas(
    provider: Provider, config: Path, confdir: Path
) -> None:
    # The bundle exec hands out is the system CAs plus mitmproxy's: a system CA is in it, and verifies.
    code = ("import os, ssl; from cryptography import x509; "
            "b = open(os.environ['SSL_CERT_FILE'], 'rb').read(); "
            "s = open(ssl.get_default_verify_paths().openssl_cafile, 'rb').read(); "
            "print(len(x509.load_pem_x509_certificates(b)), len(x509.load_pem_x509_certificates(s)))")
    result = run_exec(exec_argv(config, confdir, provider, *python(code)))
    assert result.returncode == 0, result.stderr
    bundled, system = map(int, result.stdout.split())
    assert system > 0 and bundled == system + 1


def test_exec_returns_the_command_status(provider: Provider, config: Path, confdir: Path) -> None:
    result = run_exec(exec_argv(config, confdir, provider, "sh", "-c", "exit 7"))
    assert result.returncode == 7, result.stderr
    killed = run_exec(exec_argv(config, confdir, provider, "sh", "-c", "kill -KILL $$"))
    assert killed.returncode == 128 + signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_exec_forwards_the_signal_to_the_command_and_leaves_no_process(
    sig: signal.Signals, provider: Provider, config: Path, confdir: Path
) -> None:
    # The command traps the signal and exits 40+N: that it did proves the signal reached it.
    script = f'trap "exit {40 + sig}" {sig.name.removeprefix("SIG")}; echo $$; while :; do sleep 0.1; done'
    process = subprocess.Popen(exec_argv(config, confdir, provider, "sh", "-c", script), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=clean_env(), start_new_session=True)
    assert process.stdout is not None
    child_pgid = int(process.stdout.readline())
    process.send_signal(sig)
    _, err = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 40 + sig, err
    with pytest.raises(ProcessLookupError):
        os.killpg(child_pgid, 0)  # the command's process group is gone
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)  # so is exec's own (it started in a session of its own)
    assert left_behind(str(config)) == []  # and the proxy (its command line names the config)


def test_exec_command_killed_by_a_forwarded_signal_gives_128_plus_n(
    provider: Provider, config: Path, confdir: Path
) -> None:
    process = subprocess.Popen(exec_argv(config, confdir, provider, "sh", "-c", "echo $$; exec sleep 60"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    assert process.stdout is not None
    process.stdout.readline()
    process.send_signal(signal.SIGHUP)
    process.communicate(timeout=TIMEOUT)
    assert process.returncode == 128 + signal.SIGHUP
    assert left_behind(str(config)) == []


def test_exec_killed_outright_takes_the_proxy_with_it(provider: Provider, config: Path, confdir: Path) -> None:
    process = subprocess.Popen(exec_argv(config, confdir, provider, "sh", "-c", "echo $$; exec sleep 60"),
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env())
    assert process.stdout is not None
    child = int(process.stdout.readline())
    process.kill()  # SIGKILL: exec cleans nothing up; the kernel's parent-death signal stops the proxy
    process.wait()
    deadline = time.monotonic() + 20
    while left_behind(str(config) + " --listen-port") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left_behind(str(config) + " --listen-port") == []
    os.killpg(child, signal.SIGKILL)  # the command itself is the user's: a shell would leave it too


def test_exec_without_a_command_says_how_to_write_it(config: Path) -> None:
    for argv in (["exec", "--config", str(config)], ["exec", "--config", str(config), "--"]):
        result = subprocess.run([str(BIN / "oauth1-proxy"), *argv], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2
        assert "oauth1-proxy exec [-h] [--config FILE] [mitmdump options] -- CMD [ARGS...]" in result.stderr
        assert "Traceback" not in result.stderr


def test_exec_refuses_a_listen_port_or_a_reverse_mode(config: Path) -> None:
    for option, said in ((["--listen-port", "8080"], "exec picks a free loopback port itself"),
                         (["--mode", "reverse:https://x.example"], "exec runs a forward proxy")):
        result = subprocess.run([str(BIN / "oauth1-proxy"), "exec", "--config", str(config), *option, "--", "true"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and said in result.stderr, result.stderr


def test_exec_unknown_command_is_a_clear_message(provider: Provider, config: Path, confdir: Path) -> None:
    result = run_exec(exec_argv(config, confdir, provider, "no-such-command-oauth1"))
    assert result.returncode == 2
    assert "the command 'no-such-command-oauth1' was not found on PATH" in result.stderr
    assert "Traceback" not in result.stderr


class Terminal:
    """exec run on a pseudo-terminal of its own (its controlling terminal), as from an interactive shell."""

    def __init__(self, argv: list[str]) -> None:
        import fcntl
        import termios

        self.master, slave = os.openpty()

        def controlling_terminal() -> None:  # in the child, after setsid: the pty becomes its terminal
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=clean_env(),
                                        start_new_session=True, preexec_fn=controlling_terminal)
        os.close(slave)
        self.seen = b""

    def expect(self, needle: bytes, timeout: float = TIMEOUT) -> None:
        import select

        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{needle!r} not seen in {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # EIO: the terminal's last process closed it
                    break
        assert needle in self.seen, self.seen

    def close(self) -> None:
        os.close(self.master)


def test_exec_on_a_terminal_gives_it_to_the_command_and_ctrl_c_arrives_once(
    provider: Provider, config: Path, confdir: Path
) -> None:
    # The command reads the terminal (a process outside the terminal's foreground group would be stopped by
    # SIGTTIN), then counts the SIGINTs one Ctrl-C brings: exactly one (exec does not forward a second).
    code = ("import signal, sys, time\n"
            "n = []\n"
            "signal.signal(signal.SIGINT, lambda *a: n.append(1))\n"
            "print('ready', flush=True)\n"
            "print('read', input().strip(), flush=True)\n"
            "print('armed', flush=True)\n"
            "while not n: time.sleep(0.05)\n"
            "time.sleep(1.0)\n"
            "print('sigints', len(n), flush=True)\n"
            "sys.exit(40 + len(n))\n")
    terminal = Terminal(exec_argv(config, confdir, provider, *python(code)))
    try:
        terminal.expect(b"ready")
        os.write(terminal.master, b"hello\n")
        terminal.expect(b"read hello")
        terminal.expect(b"armed")
        os.write(terminal.master, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground process group
        terminal.expect(b"sigints 1")
        assert terminal.process.wait(timeout=TIMEOUT) == 41
    finally:
        if terminal.process.poll() is None:
            terminal.process.kill()
        terminal.close()
    assert left_behind(str(config)) == []


def test_exec_first_run_with_a_new_confdir_waits_for_the_ca(provider: Provider, config: Path, tmp_path: Path) -> None:
    # No CA yet: mitmproxy writes one on its first start; exec waits for it before building the trust files.
    confdir = tmp_path / "never-used-confdir"
    result = run_exec(exec_argv(config, confdir, provider, *CLIENT_COMMANDS["curl"](url(provider))))
    assert result.returncode == 0, result.stdout + result.stderr
    assert provider_answer("curl", result.stdout)["ok"] is True
    assert (confdir / "mitmproxy-ca-cert.pem").is_file()
