"""``oauth1-proxy exec [--config FILE] [mitmdump options] -- CMD [ARGS]`` (SPEC §13).

1. Starts ``oauth1-proxy run`` (the same mitmdump, the signer last) as a
   process of its own session, on a free loopback port, and waits until it
   listens. Its output goes to stderr, warnings and errors only unless the
   options say otherwise (``--set termlog_verbosity=info``): the command's
   stdout stays its own.
2. Runs CMD with ``exec_env.child_environment`` (proxy and CA variables) in a
   process group of its own. When stdin is our terminal, the terminal is
   handed to that group (as a shell does), so Ctrl-C reaches the command once;
   SIGINT, SIGTERM and SIGHUP sent to ``exec`` itself are forwarded to the
   command's group.
3. Stops the proxy (SIGTERM, then SIGKILL after 10 s) and removes the trust
   files; exits with the command's status, 128+N when a signal N ended it.

The proxy also gets SIGTERM from the kernel if ``exec`` dies without cleaning
up (``PR_SET_PDEATHSIG``), so no proxy outlives it.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .discovery import discover
from .errors import UsageError
from .exec_env import child_environment, private_directory, remove_directory, write_trust_files

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
START_TIMEOUT = 60.0  # seconds for the proxy to listen (a cold start on a loaded machine takes a few)
STOP_TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1
# Quiet by default: warnings and errors, no flow lines. Each is left out when the user's options set it
# (mitmproxy refuses two values for one option).
QUIET = {"termlog_verbosity": "warn", "flow_detail": "0"}
VERBOSITY_FLAGS = ("-q", "--quiet", "-v", "--verbose", "--flow-detail")
# `oauth1-proxy run --config CONFIG ARGS...` without run's own "config ... (from --config)" line: exec said it.
PROXY_BOOT = ("import sys; from argparse import Namespace; from oauth1_proxy.cli import cmd_run; "
              "sys.exit(cmd_run(Namespace(config=sys.argv[1]), sys.argv[2:]))")
USAGE = "oauth1-proxy exec [-h] [--config FILE] [mitmdump options] -- CMD [ARGS...]"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oauth1-proxy exec", usage=USAGE,
        description=(
            "Run CMD with the signing proxy in front of it: the proxy starts on a free loopback port for CMD's "
            "lifetime, and CMD gets HTTP_PROXY/HTTPS_PROXY (and lower case), SSL_CERT_FILE, REQUESTS_CA_BUNDLE, "
            "CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS, NODE_USE_ENV_PROXY=1, GIT_SSL_CAINFO and JAVA_TOOL_OPTIONS "
            "(proxy and trust store); NO_PROXY is removed. Exits with CMD's status (128+N for signal N)."),
        epilog="mitmdump options (--set k=v, --mode upstream:URL, -w FILE, ...) go before --. "
               "Example: oauth1-proxy exec -- curl https://api.twitter.com/1.1/account/verify_credentials.json",
    )
    p.add_argument("--config", default=None, metavar="FILE",
                   help="the YAML config file (default: $OAUTH1_PROXY_CONFIG, ./oauth1-proxy.yaml, "
                        "~/.config/oauth1-proxy/config.yaml)")
    return p


def split_command(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """``[options] -- CMD ARGS`` -> (options, CMD ARGS)."""
    if "--" not in argv:
        raise UsageError(f"exec needs the command after --; write: {USAGE}")
    i = list(argv).index("--")
    command = list(argv[i + 1:])
    if not command:
        raise UsageError(f"exec needs a command after --; write: {USAGE}")
    return list(argv[:i]), command


def check_proxy_options(options: Sequence[str]) -> None:
    """exec chooses the address; the proxy must be a forward proxy (regular or upstream mode)."""
    for i, a in enumerate(options):
        name = a.split("=", 1)[0]
        value = a.split("=", 1)[1] if "=" in a else (options[i + 1] if i + 1 < len(options) else "")
        if name in ("--listen-host", "--listen-port", "-p") or value.startswith(("listen_host=", "listen_port=")):
            raise UsageError(f"exec picks a free loopback port itself: leave out {a!r} "
                             "(use `oauth1-proxy run` to choose the address).")
        if name in ("--mode", "-m") and not (value == "regular" or value.startswith("upstream:")):
            raise UsageError(f"exec runs a forward proxy; the mode {value!r} is not one: use regular or "
                             "upstream:URL, or `oauth1-proxy run` for the other modes.")


def set_options(options: Sequence[str]) -> dict[str, str]:
    """The ``--set k=v`` (and ``--set=k=v``) values among mitmdump's options."""
    found: dict[str, str] = {}
    for i, a in enumerate(options):
        value = a.removeprefix("--set=") if a.startswith("--set=") else (
            options[i + 1] if a == "--set" and i + 1 < len(options) else "")
        key, sep, v = value.partition("=")
        if sep:
            found[key] = v
    return found


def confdir(options: Sequence[str]) -> Path:
    """mitmproxy's confdir (where its CA is) as the options set it (default ~/.mitmproxy)."""
    return Path(set_options(options).get("confdir", "~/.mitmproxy")).expanduser()


def quiet_options(options: Sequence[str]) -> list[str]:
    """The quiet defaults the user's options do not set themselves."""
    if any(a.split("=", 1)[0] in VERBOSITY_FLAGS or a.startswith("-v") for a in options):
        return []
    given = set_options(options)
    return [x for k, v in QUIET.items() if k not in given for x in ("--set", f"{k}={v}")]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the proxy's process, between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


class _Signals:
    """Forward SIGINT/SIGTERM/SIGHUP to the command's process group; remember one that came before it."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.pending: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        for sig in FORWARDED:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        child = self.child
        if child is None or child.returncode is not None:
            self.pending = self.pending or sig
            return
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            pass


def _terminal() -> int | None:
    """stdin's fd when it is a terminal whose foreground group is ours (then the command gets the terminal)."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


def _give_terminal(fd: int, pgid: int) -> None:
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, pgid)
    except OSError:
        pass
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _start_proxy(config: str, port: int, options: Sequence[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", PROXY_BOOT, config, "--listen-port", str(port), *quiet_options(options),
               *options]
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=sys.stderr.fileno(), stderr=sys.stderr.fileno(),
        start_new_session=True, preexec_fn=_die_with_parent,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )


def _wait_ready(proxy: subprocess.Popen[bytes], port: int, ca: Path, signals: _Signals) -> None:
    """Until the proxy listens and its CA exists (mitmproxy writes the CA on a first run; the two can come in
    either order); a proxy that exits, a timeout or a signal ends the wait."""
    deadline = time.monotonic() + START_TIMEOUT
    listening = False
    while time.monotonic() < deadline and signals.pending is None:
        if proxy.poll() is not None:
            raise UsageError(f"the proxy exited (status {proxy.returncode}) before it listened on "
                             f"127.0.0.1:{port}; its messages are above.")
        if not listening:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    listening = True
            except OSError:
                pass
        if listening and ca.is_file():
            return
        time.sleep(0.05)
    if signals.pending is None:
        missing = f"its CA file {ca} was not written" if listening else f"it did not listen on 127.0.0.1:{port}"
        raise UsageError(f"the proxy was not ready within {START_TIMEOUT:.0f} s: {missing}; its messages are "
                         "above. Check confdir (--set confdir=DIR) is writable.")


def _stop(proxy: subprocess.Popen[bytes]) -> None:
    if proxy.poll() is None:
        proxy.terminate()
        try:
            proxy.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()


def exit_status(returncode: int) -> int:
    """A shell's convention: the command's status, or 128+N when signal N ended it."""
    return 128 - returncode if returncode < 0 else returncode


def main(argv: Sequence[str]) -> int:
    if "--" not in argv and {"-h", "--help"} & set(argv):
        parser().parse_args(["--help"])  # prints the help, exits 0
    before, command = split_command(argv)
    args, options = parser().parse_known_args(before)
    check_proxy_options(options)
    config = discover(args.config)
    from .config import load_config

    load_config(config)  # our own message for a bad config, before any process starts
    port = free_port()
    workdir = private_directory()
    try:
        with _Signals() as signals:
            proxy = _start_proxy(config, port, options)
            try:
                ca = confdir(options) / "mitmproxy-ca-cert.pem"
                _wait_ready(proxy, port, ca, signals)
                if signals.pending is not None:
                    return 128 + signals.pending
                trust = write_trust_files(workdir, ca, os.environ)
                env = child_environment(os.environ, host="127.0.0.1", port=port, trust=trust)
                print(f"oauth1-proxy: exec: proxy http://127.0.0.1:{port}, CA bundle {trust.bundle}",
                      file=sys.stderr)
                return _run_child(command, env, signals)
            finally:
                _stop(proxy)
    finally:
        remove_directory(workdir)


def _run_child(command: list[str], env: dict[str, str], signals: _Signals) -> int:
    terminal = _terminal()

    def setup() -> None:  # in the command's process: a group of its own, given the terminal
        os.setpgid(0, 0)
        if terminal is not None:
            _give_terminal(terminal, os.getpid())

    try:
        child = subprocess.Popen(command, env=env, preexec_fn=setup)
    except FileNotFoundError:
        raise UsageError(f"the command {command[0]!r} was not found on PATH; check its name.") from None
    except PermissionError:
        raise UsageError(f"the command {command[0]!r} is not executable; check its mode.") from None
    signals.child = child
    if signals.pending is not None:
        os.killpg(child.pid, signals.pending)
    try:
        returncode = child.wait()
    finally:
        if terminal is not None:
            _give_terminal(terminal, os.getpgrp())
    return exit_status(returncode)
