"""``oauth1-proxy bench``: what signing costs on this machine (issue 5, SPEC §3).

Two parts, in one run:

1. The signer: CPU µs per request of ``sign_request`` (HMAC-SHA1, header
   placement) on a 5-parameter GET and on a form POST with a 200-byte body,
   against oauthlib's ``Client.sign``, oauthlib's signature primitives,
   Authlib's ``ClientAuth.sign`` and a bare ``hmac.digest`` of a base string
   of the same size (the floor). Contenders take turns, repetition by
   repetition; the figure is the median. The signatures are checked to be
   the same as oauthlib's, bit for bit.
2. The proxy: requests/s and p50/p99 latency of ``oauth1-proxy run``
   (signing every request) against bare ``mitmdump`` from the same install,
   both in reverse mode to a loopback upstream this bench starts, under the
   same load, in alternating rounds. A third proxy, ``oauth1-proxy run`` with
   a profile that matches nothing, takes its turn too: against it, the figure
   is what signing itself costs, apart from the cheaper event dispatch of
   ``oauth1-proxy run`` (SparseDispatch). Load comes from ``wrk`` when
   installed, else from a built-in asyncio generator (HTTP/1.1 keep-alive).

The machine is shared and noisy: read the ratios, not the absolute figures.
Only loopback addresses are used; every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hmac
import importlib
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from oauth1_proxy.config import ProxyConfig, parse_config
from oauth1_proxy.signing import (
    ClientCredentials,
    RequestToSign,
    SignatureMethod,
    TokenCredentials,
    sign_request,
)

FORM = "application/x-www-form-urlencoded"
NONCE = "f3b7d1c0a9e84c2f9d6b5a4e3c2b1a09"
TIMESTAMP = "1700000000"
CONSUMER_KEY, CONSUMER_SECRET = "bench-consumer-key", "bench-consumer-secret"
TOKEN, TOKEN_SECRET = "bench-token-1234567890", "bench-token-secret"

# (a) a GET with 5 query parameters; (b) a form POST with a 200-byte body.
GET_PATH = "/1.1/statuses/home_timeline.json?count=20&since_id=12345&max_id=67890&trim_user=true&include_entities=0"
GET_URL = "https://api.example.com" + GET_PATH
POST_URL = "https://api.example.com/1.1/statuses/update.json"
POST_BODY = (
    b"status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"
    b"&in_reply_to_status_id=1234567890&lat=37.7821120598956&long=-122.400612831116"
    b"&display_coordinates=true&trim_user=1&pad="
)
POST_BODY += b"x" * (200 - len(POST_BODY))
assert len(POST_BODY) == 200


# --- the signer ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One request to sign, as every contender receives it."""

    name: str
    method: str
    url: str
    body: bytes
    content_type: str | None


CASES = (
    Case("get", "GET", GET_URL, b"", None),
    Case("post", "POST", POST_URL, POST_BODY, FORM),
)


def sign_ours(case: Case) -> Callable[[], str]:
    """Our signer, as the addon calls it: a RequestToSign in, the Authorization value out."""
    client = ClientCredentials(key=CONSUMER_KEY, secret=CONSUMER_SECRET)
    token = TokenCredentials(token=TOKEN, secret=TOKEN_SECRET)

    def run() -> str:
        signed = sign_request(
            RequestToSign(method=case.method, url=case.url, content_type=case.content_type, body=case.body),
            client=client,
            token=token,
            signature_method=SignatureMethod.HMAC_SHA1,
            nonce=NONCE,
            timestamp=TIMESTAMP,
        )
        assert signed.authorization is not None
        return signed.authorization

    return run


def sign_oauthlib_client(case: Case) -> Callable[[], str]:
    """oauthlib's Client.sign with the same nonce and timestamp."""
    from oauthlib.oauth1 import Client

    client = Client(
        CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        resource_owner_key=TOKEN,
        resource_owner_secret=TOKEN_SECRET,
        nonce=NONCE,
        timestamp=TIMESTAMP,
    )
    body = case.body.decode("ascii") if case.body else None
    headers = {"Content-Type": case.content_type} if case.content_type else None

    def run() -> str:
        _, signed_headers, _ = client.sign(case.url, case.method, body=body, headers=headers)
        return str(signed_headers["Authorization"])

    return run


def sign_oauthlib_primitives(case: Case) -> Callable[[], str]:
    """oauthlib's signature functions alone: collect, normalize, base string, HMAC-SHA1 (no header)."""
    from oauthlib.oauth1.rfc5849 import signature as sig

    oauth_params = [
        ("oauth_nonce", NONCE),
        ("oauth_timestamp", TIMESTAMP),
        ("oauth_version", "1.0"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_consumer_key", CONSUMER_KEY),
        ("oauth_token", TOKEN),
    ]
    query = case.url.partition("?")[2]
    body = case.body.decode("ascii") if case.content_type == FORM else None

    def run() -> str:
        params = sig.collect_parameters(uri_query=query, body=body) + oauth_params
        base_string = sig.signature_base_string(
            case.method, sig.base_string_uri(case.url), sig.normalize_parameters(params)
        )
        return str(sig.sign_hmac_sha1(base_string, CONSUMER_SECRET, TOKEN_SECRET))

    return run


def load_authlib() -> tuple[Any, str | None]:
    """Authlib's client_auth module, or None and why it is skipped."""
    try:
        module = importlib.import_module("authlib.oauth1.rfc5849.client_auth")
    except ImportError as e:
        return None, f"Authlib is not installed ({e.name or e}); pip install Authlib (it is in the test extra)"
    return module, None


@contextmanager
def fixed_authlib_nonce(module: Any) -> Iterator[None]:
    """Give Authlib our nonce and timestamp (it draws its own in sign()), so the work compared is the same."""
    saved = module.generate_nonce, module.generate_timestamp
    module.generate_nonce, module.generate_timestamp = (lambda: NONCE), (lambda: TIMESTAMP)
    try:
        yield
    finally:
        module.generate_nonce, module.generate_timestamp = saved


def sign_authlib(module: Any, case: Case) -> Callable[[], str]:
    """Authlib's ClientAuth.sign (HMAC-SHA1, header)."""
    auth = module.ClientAuth(CONSUMER_KEY, CONSUMER_SECRET, token=TOKEN, token_secret=TOKEN_SECRET)
    body = case.body.decode("ascii") if case.body else None

    def run() -> str:
        headers = {"Content-Type": case.content_type} if case.content_type else {}
        _, signed_headers, _ = auth.sign(case.method, case.url, headers, body)
        return str(signed_headers["Authorization"])

    return run


def base_string_of(case: Case) -> str:
    """Our signature base string of a request (its size sets the floor's)."""
    signed = sign_request(
        RequestToSign(method=case.method, url=case.url, content_type=case.content_type, body=case.body),
        client=ClientCredentials(key=CONSUMER_KEY, secret=CONSUMER_SECRET),
        token=TokenCredentials(token=TOKEN, secret=TOKEN_SECRET),
        signature_method=SignatureMethod.HMAC_SHA1,
        nonce=NONCE,
        timestamp=TIMESTAMP,
    )
    return signed.base_string


def hmac_floor(case: Case) -> Callable[[], bytes]:
    """The floor: HMAC-SHA1 over a base string of the same size as this request's."""
    key = f"{CONSUMER_SECRET}&{TOKEN_SECRET}".encode()
    message = base_string_of(case).encode("ascii")
    return lambda: hmac.digest(key, message, "sha1")


def header_params(value: str) -> dict[str, str]:
    """The name="value" pairs of an OAuth Authorization header."""
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


def cpu_us_per_call(fn: Callable[[], object], number: int) -> float:
    """CPU time of this thread per call, in µs (immune to time spent descheduled on a busy machine).

    As timeit does, the cyclic garbage collector is off while timing, and
    what the previous contender left is collected first, so that no
    contender pays for another's garbage.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.thread_time_ns()
        for _ in range(number):
            fn()
        return (time.thread_time_ns() - start) / number / 1000
    finally:
        if was_enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], target_s: float) -> int:
    """How many calls take about target_s seconds."""
    fn()
    number = 1
    while True:
        elapsed = cpu_us_per_call(fn, number) * number / 1e6
        if elapsed >= target_s / 10 or number >= 1 << 20:
            return max(1, int(number * target_s / max(elapsed, 1e-9)))
        number *= 4


def time_contenders(
    contenders: dict[str, Callable[[], object]], repeats: int, target_s: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Median µs per call of each contender, and the median of its repetition-by-repetition ratio to the first.

    They take turns, one short repetition each at a time: this machine's speed
    drifts within seconds, and a ratio of neighbouring repetitions cancels
    most of that drift.
    """
    numbers = {name: calibrate(fn, target_s) for name, fn in contenders.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            samples[name].append(cpu_us_per_call(fn, numbers[name]))
    first = samples[next(iter(contenders))]
    ratios = {name: statistics.median(v / f for v, f in zip(values, first, strict=True))
              for name, values in samples.items()}
    return {name: statistics.median(values) for name, values in samples.items()}, ratios


def bench_signer(quick: bool) -> dict[str, Any]:
    """Time every contender on both requests and check the signatures agree."""
    # oauthlib logs at DEBUG inside sign(); nobody reads those records here.
    logging.getLogger("oauthlib").setLevel(logging.WARNING)
    authlib, authlib_skipped = load_authlib()
    repeats, target_s = (3, 0.01) if quick else (25, 0.02)
    out: dict[str, Any] = {"repeats": repeats, "clock": "thread CPU time", "cases": {}}
    with ExitStack() as stack:
        if authlib is not None:
            stack.enter_context(fixed_authlib_nonce(authlib))
        for case in CASES:
            contenders: dict[str, Callable[[], object]] = {
                "ours": sign_ours(case),
                "oauthlib_client": sign_oauthlib_client(case),
                "oauthlib_primitives": sign_oauthlib_primitives(case),
            }
            if authlib is not None:
                contenders["authlib"] = sign_authlib(authlib, case)
            contenders["hmac_floor"] = hmac_floor(case)
            ours = header_params(sign_ours(case)())
            theirs = header_params(sign_oauthlib_client(case)())
            checks = {
                "oauthlib_client": ours == theirs,
                "oauthlib_primitives": sign_oauthlib_primitives(case)()
                == unquote(ours["oauth_signature"]),
            }
            if authlib is not None:
                checks["authlib"] = header_params(sign_authlib(authlib, case)()) == ours
            us, ratios = time_contenders(contenders, repeats, target_s)
            out["cases"][case.name] = {
                "request": f"{case.method} {case.url}" + (f" ({len(case.body)}-byte form body)" if case.body else ""),
                "base_string_bytes": len(base_string_of(case)),
                "us": us,
                "times_ours": {k: v for k, v in ratios.items() if k not in ("ours", "hmac_floor")},
                "ours_times_floor": 1 / ratios["hmac_floor"],
                "same_signature": checks,
            }
    out["authlib_skipped"] = authlib_skipped
    out["profile_lookup_us"] = bench_profile_lookup(quick)
    return out


def make_profiles_config(count: int, upstream: str = "api.example.com") -> dict[str, Any]:
    """A config mapping with ``count`` consumer-only profiles, the last one for ``upstream``."""
    profiles: dict[str, Any] = {
        f"p{i}": {"hosts": [f"host{i}.example.com"], "consumer_key": f"key{i}", "consumer_secret": "s"}
        for i in range(count - 1)
    }
    profiles["bench"] = {"hosts": [upstream], "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    return {"token_store": "tokens.yaml", "profiles": profiles}


def bench_profile_lookup(quick: bool) -> dict[str, float]:
    """µs per ProxyConfig.profiles_for with 1 and with 100 profiles."""
    configs = {n: parse_config(make_profiles_config(n), "bench.yaml", env={}) for n in (1, 100)}
    path = GET_PATH
    def lookup(config: ProxyConfig) -> Callable[[], object]:
        return lambda: config.profiles_for("https", "api.example.com", 443, path)

    contenders = {f"{n}_profiles": lookup(c) for n, c in configs.items()}
    return time_contenders(contenders, 3 if quick else 7, 0.005 if quick else 0.02)[0]


# --- the upstream -------------------------------------------------------------------------------

UPSTREAM_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
STATS_PATH = b"/__bench_stats"


def serve_upstream() -> None:
    """Run the loopback upstream until stdin closes: a 200 for every request; prints its port first.

    It counts the requests that arrive with an OAuth Authorization header and
    those without (GET /__bench_stats answers with both), so the bench can
    tell that the proxy signed what it forwarded. It verifies nothing.
    """
    counts = {"signed": 0, "unsigned": 0}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lower = head.lower()
                length = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
                if length:
                    await reader.readexactly(int(length[1]))
                if head.startswith(b"GET " + STATS_PATH):
                    body = json.dumps(counts).encode()
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(body), body))
                else:
                    counts["signed" if b"\r\nauthorization: oauth " in lower else "unsigned"] += 1
                    writer.write(UPSTREAM_RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=256)
        print(server.sockets[0].getsockname()[1], flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)  # until the bench closes our stdin
        server.close()

    asyncio.run(main())


@contextmanager
def running_upstream() -> Iterator[int]:
    """Start the upstream in its own process (it must not share our GIL); yield its port."""
    code = "from oauth1_proxy.devtools.bench import serve_upstream; serve_upstream()"
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"the bench's upstream did not start (it printed {line!r})")
        yield int(line)
    finally:
        stop(proc)


def upstream_counts(port: int) -> dict[str, int]:
    """Ask the upstream (directly, not through a proxy) how many signed and unsigned requests it saw."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", STATS_PATH.decode())
        return dict(json.loads(conn.getresponse().read()))
    finally:
        conn.close()


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a process this bench started: close its stdin, terminate, and kill if it lingers."""
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


# --- the proxies --------------------------------------------------------------------------------


@dataclass
class Proxy:
    """A proxy under test, started by this bench."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0


LISTENING = re.compile(r"listening at \[?([0-9a-fA-F:.]+?)\]?:(\d+)\.")


def _script(name: str) -> list[str] | None:
    """A console script installed beside this interpreter (the same install), if there is one."""
    path = Path(sys.executable).parent / name
    return [str(path)] if path.exists() else None


def proxy_commands(
    upstream_port: int, configs: tuple[Path, Path], confdirs: tuple[Path, Path, Path]
) -> dict[str, list[str]]:
    """The command lines, with the same mitmdump options: bare mitmdump, oauth1-proxy run, and
    oauth1-proxy run with nothing to sign."""

    def common(confdir: Path) -> list[str]:
        return [
            "--mode", f"reverse:http://127.0.0.1:{upstream_port}",
            "--listen-host", "127.0.0.1",
            "--listen-port", "0",
            "--set", "flow_detail=0",
            "--set", f"confdir={confdir}",
        ]

    mitmdump = _script("mitmdump") or [
        sys.executable, "-c", "import sys; from mitmproxy.tools.main import mitmdump; sys.exit(mitmdump())",
    ]
    ours = _script("oauth1-proxy") or [sys.executable, "-m", "oauth1_proxy.cli"]
    return {
        "mitmdump": [*mitmdump, *common(confdirs[0])],
        "oauth1-proxy": [*ours, "run", "--config", str(configs[0]), *common(confdirs[1])],
        NOTHING_TO_SIGN: [*ours, "run", "--config", str(configs[1]), *common(confdirs[2])],
    }


NOTHING_TO_SIGN = "oauth1-proxy, no match"


def write_config(directory: Path, upstream_port: int, *, matching: bool = True) -> Path:
    """Our config: one consumer-only profile for the upstream's host:port (or, not matching, for port 9)."""
    path = directory / ("bench.yaml" if matching else "bench-no-match.yaml")
    port = upstream_port if matching else 9
    path.write_text(
        f"# oauth1-proxy bench: {'sign every request to the loopback upstream' if matching else 'sign nothing'}"
        " (consumer-only)\n"
        f"token_store: {directory / 'tokens.yaml'}\n"
        "profiles:\n"
        "  bench:\n"
        f"    hosts: ['127.0.0.1:{port}']\n"
        f"    consumer_key: {CONSUMER_KEY}\n"
        f"    consumer_secret: {CONSUMER_SECRET}\n",
        encoding="utf-8",
    )
    return path


def start_proxy(name: str, command: list[str], log_path: Path) -> Proxy:
    log = open(log_path, "wb")  # a file, not a pipe: a pipe nobody drains would stall the proxy
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    finally:
        log.close()
    return Proxy(name, proc, log_path)


def wait_listening(proxy: Proxy, timeout: float) -> None:
    """Read the proxy's port from its "listening at" line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = proxy.log_path.read_text(encoding="utf-8", errors="replace")
        found = LISTENING.search(text)
        if found:
            proxy.port = int(found[2])
            return
        if proxy.proc.poll() is not None:
            raise RuntimeError(f"{proxy.name} exited with {proxy.proc.returncode} before listening:\n{text[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{proxy.name} did not print its 'listening at' line within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) a process has used, from /proc (None where there is no /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float | None:
    """Resident memory of a process, from /proc (None where there is no /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(found[1]) / 1024 if found else None


# --- load ---------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    """One round of load against one proxy."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    tool: str = ""
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    cpu_us_per_request: float | None = None  # the proxy's own CPU time over the round, per request


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(output: str) -> LoadResult:
    """Read requests, duration, Requests/sec and the 50%/99% latency from wrk --latency output."""

    def ms(number: str, unit: str) -> float:
        return float(number) * _UNIT_MS[unit]

    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s*50(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    p99 = re.search(r"^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    if not (done and rps and p50 and p99):
        raise RuntimeError(f"cannot read wrk's output:\n{output}")
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non2xx:
        errors += int(non2xx[1])
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return LoadResult(
        requests=int(done[1]),
        seconds=ms(done[2], done[3]) / 1000,
        rps=float(rps[1]),
        p50_ms=ms(p50[1], p50[2]),
        p99_ms=ms(p99[1], p99[2]),
        errors=errors,
        tool="wrk",
    )


def run_wrk(wrk: str, port: int, path: str, seconds: float, connections: int) -> LoadResult:
    command = [
        wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
        f"http://127.0.0.1:{port}{path}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-fraction * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


async def _load_connection(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    """One keep-alive connection: send, read the whole response, time it; until the deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"\r\ncontent-length:\s*(\d+)", head.lower())
            if length is None:  # no length: the body ends with the connection
                await reader.read()
                latencies.append(time.perf_counter() - start)
                errors.append(1)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            await reader.readexactly(int(length[1]))
            latencies.append(time.perf_counter() - start)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                errors.append(1)
    except (ConnectionError, asyncio.IncompleteReadError):
        errors.append(1)
    finally:
        writer.close()


async def builtin_load(port: int, path: str, seconds: float, connections: int) -> LoadResult:
    """The built-in load generator: ``connections`` keep-alive HTTP/1.1 connections for ``seconds``."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: oauth1-proxy-bench\r\n\r\n".encode()
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(*(_load_connection(port, request, deadline, latencies, errors) for _ in range(connections)))
    elapsed = time.perf_counter() - start
    ordered = sorted(x * 1000 for x in latencies)
    return LoadResult(
        requests=len(ordered),
        seconds=elapsed,
        rps=len(ordered) / elapsed,
        p50_ms=percentile(ordered, 0.50),
        p99_ms=percentile(ordered, 0.99),
        errors=len(errors),
        tool="builtin",
    )


def apply_load(tool: str, port: int, path: str, seconds: float, connections: int) -> LoadResult:
    if tool == "builtin":
        return asyncio.run(builtin_load(port, path, seconds, connections))
    return run_wrk(tool, port, path, seconds, connections)


# --- the proxy bench ----------------------------------------------------------------------------


def _summary(results: list[LoadResult]) -> dict[str, float | None]:
    cpu = [r.cpu_us_per_request for r in results if r.cpu_us_per_request is not None]
    return {
        "rps": statistics.median(r.rps for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "cpu_us_per_request": statistics.median(cpu) if cpu else None,
        "requests": sum(r.requests for r in results),
        "errors": sum(r.errors for r in results),
    }


def measured_load(tool: str, proxy: Proxy, seconds: float, connections: int) -> LoadResult:
    """One round of load on one proxy, with the CPU time the proxy process used for it."""
    before = cpu_seconds(proxy.proc.pid)
    result = apply_load(tool, proxy.port, GET_PATH, seconds, connections)
    after = cpu_seconds(proxy.proc.pid)
    if before is not None and after is not None and result.requests:
        result.cpu_us_per_request = (after - before) / result.requests * 1e6
    return result


def paired(ours: list[LoadResult], bare: list[LoadResult], figure: Callable[[LoadResult, LoadResult], float]
           ) -> list[float]:
    """A figure for each round: ours against the other proxy's run just before or after it."""
    return [figure(o, b) for o, b in zip(ours, bare, strict=True)]


def _median_cpu_difference(ours: list[LoadResult], other: list[LoadResult]) -> float | None:
    pairs = [o.cpu_us_per_request - b.cpu_us_per_request for o, b in zip(ours, other, strict=True)
             if o.cpu_us_per_request is not None and b.cpu_us_per_request is not None]
    return statistics.median(pairs) if pairs else None


def load_tool(load: str) -> str:
    """The wrk executable, or "builtin", for a --load choice."""
    wrk = shutil.which("wrk") if load in ("auto", "wrk") else None
    if load == "wrk" and wrk is None:
        raise RuntimeError("--load wrk: wrk is not installed (apt-get install wrk)")
    return wrk or "builtin"


def bench_commands(directory: Path, upstream_port: int) -> dict[str, list[str]]:
    """Write our two configs in directory; the three proxies' command lines (see proxy_commands)."""
    configs = write_config(directory, upstream_port), write_config(directory, upstream_port, matching=False)
    confdirs = (directory / "confdir-mitmdump", directory / "confdir-ours", directory / "confdir-no-match")
    return proxy_commands(upstream_port, configs, confdirs)


def bench_proxy(quick: bool, load: str, connections: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The three proxies, alternating rounds of the same load; medians and ratios."""
    tool = load_tool(load)
    # Many short rounds, taking turns (ABC, CBA): on a shared machine the
    # speed drifts within seconds, and each round of ours is compared with
    # the other proxies' rounds next to it.
    rounds, seconds, latency_seconds, warmup = (1, 2.0, 1.0, 0.5) if quick else (15, 2.0, 1.0, 2.0)
    out: dict[str, Any] = {
        "load": "builtin asyncio generator" if tool == "builtin" else "wrk",
        "connections": connections,
        "rounds": rounds,
        "round_seconds": seconds,
        "latency_round_seconds": latency_seconds,
        "path": GET_PATH,
    }
    with tempfile.TemporaryDirectory(prefix="oauth1-proxy-bench-") as tmp, running_upstream() as upstream_port:
        directory = Path(tmp)
        commands = bench_commands(directory, upstream_port)
        out["commands"] = {name: " ".join(cmd) for name, cmd in commands.items()}
        proxies = [start_proxy(name, cmd, directory / f"proxy-{i}.log")
                   for i, (name, cmd) in enumerate(commands.items())]
        try:
            for proxy in proxies:
                wait_listening(proxy, timeout=90)
            progress(f"proxies listening: {', '.join(f'{p.name} on {p.port}' for p in proxies)}; load: {tool}")
            for proxy in proxies:
                apply_load(tool, proxy.port, GET_PATH, warmup, connections)
            ours = next(p for p in proxies if p.name == "oauth1-proxy")
            rss_before = rss_mib(ours.proc.pid)
            before = upstream_counts(upstream_port)
            throughput: dict[str, list[LoadResult]] = {p.name: [] for p in proxies}
            latency: dict[str, list[LoadResult]] = {p.name: [] for p in proxies}
            for i in range(rounds):
                order = proxies if i % 2 == 0 else proxies[::-1]
                for proxy in order:
                    result = measured_load(tool, proxy, seconds, connections)
                    throughput[proxy.name].append(result)
                    progress(f"round {i + 1}/{rounds} {proxy.name}: {result.rps:.1f} req/s, "
                             f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms ({connections} connections)")
                for proxy in order[::-1]:
                    result = measured_load(tool, proxy, latency_seconds, 1)
                    latency[proxy.name].append(result)
                    progress(f"round {i + 1}/{rounds} {proxy.name}: p50 {result.p50_ms:.2f} ms, "
                             f"p99 {result.p99_ms:.2f} ms (1 connection)")
            after = upstream_counts(upstream_port)
            rss_after = rss_mib(ours.proc.pid)
        finally:
            for proxy in proxies:
                stop(proxy.proc)
        for name in throughput:
            out[name] = {
                "load": _summary(throughput[name]),
                "one_connection": _summary(latency[name]),
                "rounds": [asdict(r) for r in throughput[name]],
                "one_connection_rounds": [asdict(r) for r in latency[name]],
            }
    bare, ours_figures = out["mitmdump"], out["oauth1-proxy"]
    ours_load, bare_load = throughput["oauth1-proxy"], throughput["mitmdump"]
    out["paired_throughput_ratios"] = paired(ours_load, bare_load, lambda o, b: o.rps / b.rps)
    # The headline: the median of the round-by-round ratios (each against
    # the neighbouring mitmdump round); the ratio of the medians beside it.
    out["throughput_ratio"] = statistics.median(out["paired_throughput_ratios"])
    out["throughput_ratio_of_medians"] = ours_figures["load"]["rps"] / bare["load"]["rps"]
    for key, ours_rounds, bare_rounds in (("load", ours_load, bare_load),
                                          ("one_connection", latency["oauth1-proxy"], latency["mitmdump"])):
        p50 = paired(ours_rounds, bare_rounds, lambda o, b: o.p50_ms - b.p50_ms)
        p99 = paired(ours_rounds, bare_rounds, lambda o, b: o.p99_ms - b.p99_ms)
        out[f"added_{key}_p50_ms"], out[f"added_{key}_p99_ms"] = statistics.median(p50), statistics.median(p99)
    if ours_figures["load"]["cpu_us_per_request"] is not None and bare["load"]["cpu_us_per_request"] is not None:
        out["added_cpu_us_per_request"] = _median_cpu_difference(ours_load, bare_load)
        out["cpu_ratio"] = bare["load"]["cpu_us_per_request"] / ours_figures["load"]["cpu_us_per_request"]
    # What signing itself costs: the same `oauth1-proxy run`, with a profile that matches nothing.
    idle_load = throughput[NOTHING_TO_SIGN]
    out["signing_paired_throughput_ratios"] = paired(ours_load, idle_load, lambda o, b: o.rps / b.rps)
    out["signing_throughput_ratio"] = statistics.median(out["signing_paired_throughput_ratios"])
    out["signing_added_one_connection_p50_ms"] = statistics.median(
        paired(latency["oauth1-proxy"], latency[NOTHING_TO_SIGN], lambda o, b: o.p50_ms - b.p50_ms))
    out["signing_added_cpu_us_per_request"] = _median_cpu_difference(ours_load, idle_load)
    served = sum(r.requests for r in throughput["oauth1-proxy"] + latency["oauth1-proxy"])
    out["upstream_saw"] = {k: after.get(k, 0) - before.get(k, 0) for k in ("signed", "unsigned")}
    out["oauth1_proxy_requests_measured"] = served
    out["oauth1_proxy_rss_mib"] = {"after_warmup": rss_before, "after_rounds": rss_after}
    return out


def bench_memory(
    requests: int, quick: bool, load: str, connections: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """RSS of one ``oauth1-proxy run`` signing ``requests`` requests, read between rounds of load."""
    tool = load_tool(load)
    samples: list[tuple[int, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="oauth1-proxy-bench-") as tmp, running_upstream() as upstream_port:
        directory = Path(tmp)
        command = bench_commands(directory, upstream_port)["oauth1-proxy"]
        proxy = start_proxy("oauth1-proxy", command, directory / "proxy.log")
        try:
            wait_listening(proxy, timeout=90)
            apply_load(tool, proxy.port, GET_PATH, 2.0, connections)
            before = upstream_counts(upstream_port)
            served = 0
            samples.append((served, rss_mib(proxy.proc.pid)))
            while served < requests:
                served += apply_load(tool, proxy.port, GET_PATH, 2.0 if quick else 10.0, connections).requests
                samples.append((served, rss_mib(proxy.proc.pid)))
                progress(f"memory: {served} requests, RSS {samples[-1][1] or 0:.1f} MiB")
            after = upstream_counts(upstream_port)
        finally:
            stop(proxy.proc)
    return {
        "requests": served,
        "rss_mib": samples,
        "upstream_saw": {k: after.get(k, 0) - before.get(k, 0) for k in ("signed", "unsigned")},
    }


# --- output -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for dist in ("mitmproxy", "oauthlib", "Authlib"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "versions": versions,
    }


LABELS = {
    "ours": "oauth1-proxy sign_request",
    "oauthlib_client": "oauthlib Client.sign",
    "oauthlib_primitives": "oauthlib primitives",
    "authlib": "Authlib ClientAuth.sign",
    "hmac_floor": "hmac.digest (floor)",
}


def print_signer(signer: dict[str, Any], out: TextIO) -> None:
    cases = signer["cases"]
    get, post = cases["get"], cases["post"]
    print(f"Signing one request, HMAC-SHA1 in the Authorization header: CPU µs per request, median of "
          f"{signer['repeats']} repetitions (ratio: times our cost, median of repetition-by-repetition ratios)",
          file=out)
    print(f"  (a) {get['request']}", file=out)
    print(f"  (b) {post['request']}", file=out)
    print(f"  {'':28} {'(a) GET':>22} {'(b) POST':>22}", file=out)
    for key, label in LABELS.items():
        if key not in get["us"]:
            continue
        cells = []
        for case in (get, post):
            us = case["us"][key]
            if key in case["times_ours"]:
                cells.append(f"{us:9.1f} ({case['times_ours'][key]:5.1f}x)")
            elif key == "hmac_floor":
                cells.append(f"{us:9.2f} ({case['base_string_bytes']} B)")
            else:
                cells.append(f"{us:9.1f}        ")
        print(f"  {label:28} {cells[0]:>22} {cells[1]:>22}", file=out)
    print(f"  ours / floor: {get['ours_times_floor']:.1f}x (a), {post['ours_times_floor']:.1f}x (b)", file=out)
    if signer["authlib_skipped"]:
        print(f"  Authlib ClientAuth.sign: skipped: {signer['authlib_skipped']}", file=out)
    for name, label in (("oauthlib_client", "oauthlib Client.sign"), ("oauthlib_primitives", "oauthlib primitives"),
                        ("authlib", "Authlib ClientAuth.sign")):
        if name in get["same_signature"]:
            same = all(c["same_signature"][name] for c in (get, post))
            print(f"  same signature as {label}: {'yes' if same else 'NO'} (same nonce and timestamp)", file=out)
    lookup = signer["profile_lookup_us"]
    print(f"Profile lookup (ProxyConfig.profiles_for): {lookup['1_profiles']:.2f} µs with 1 profile, "
          f"{lookup['100_profiles']:.2f} µs with 100", file=out)


def print_proxy(proxy: dict[str, Any], out: TextIO) -> None:
    print(f"Proxy: reverse mode to a loopback upstream, GET {proxy['path']}; load: {proxy['load']}; "
          f"{proxy['rounds']} alternating round(s) of {proxy['round_seconds']:g} s with "
          f"{proxy['connections']} connections, then {proxy['latency_round_seconds']:g} s with 1 connection; "
          "medians", file=out)
    print(f"  {'':22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   {'1 conn p50':>10} {'p99 ms':>8} {'errors':>7}",
          file=out)
    for name in ("mitmdump", "oauth1-proxy", NOTHING_TO_SIGN):
        load, one = proxy[name]["load"], proxy[name]["one_connection"]
        print(f"  {name:22} {load['rps']:9.1f} {load['p50_ms']:8.2f} {load['p99_ms']:8.2f}   "
              f"{one['p50_ms']:10.2f} {one['p99_ms']:8.2f} {load['errors'] + one['errors']:7d}", file=out)
    rounds = ", ".join(f"{r:.0%}" for r in proxy["paired_throughput_ratios"])
    print(f"  throughput oauth1-proxy / mitmdump: {proxy['throughput_ratio']:.1%} (median of the round-by-round "
          f"ratios; ratio of the medians {proxy['throughput_ratio_of_medians']:.1%}; rounds: {rounds})", file=out)
    if "added_cpu_us_per_request" in proxy:
        cpu = proxy["mitmdump"]["load"]["cpu_us_per_request"], proxy["oauth1-proxy"]["load"]["cpu_us_per_request"]
        print(f"  proxy CPU per request under load: mitmdump {cpu[0]:.0f} µs, oauth1-proxy {cpu[1]:.0f} µs "
              f"(median added {proxy['added_cpu_us_per_request']:+.0f} µs; mitmdump / oauth1-proxy "
              f"{proxy['cpu_ratio']:.1%})", file=out)
    print(f"  added latency (medians of round-by-round differences): p50 {proxy['added_load_p50_ms']:+.2f} ms, "
          f"p99 {proxy['added_load_p99_ms']:+.2f} ms under load; p50 {proxy['added_one_connection_p50_ms']:+.2f} ms, "
          f"p99 {proxy['added_one_connection_p99_ms']:+.2f} ms with 1 connection", file=out)
    idle_cpu = proxy["signing_added_cpu_us_per_request"]
    rounds = ", ".join(f"{r:.0%}" for r in proxy["signing_paired_throughput_ratios"])
    print(f"  signing itself (oauth1-proxy / {NOTHING_TO_SIGN}): throughput {proxy['signing_throughput_ratio']:.1%}"
          + (f", CPU {idle_cpu:+.0f} µs per request" if idle_cpu is not None else "")
          + f", 1-connection p50 {proxy['signing_added_one_connection_p50_ms']:+.2f} ms (medians of round-by-round "
          f"figures; rounds: {rounds})", file=out)
    saw = proxy["upstream_saw"]
    print(f"  the upstream saw {saw['signed']} signed and {saw['unsigned']} unsigned requests "
          f"(oauth1-proxy forwarded {proxy['oauth1_proxy_requests_measured']} in the measured rounds)", file=out)
    rss = proxy["oauth1_proxy_rss_mib"]
    if rss["after_warmup"] is not None and rss["after_rounds"] is not None:
        print(f"  oauth1-proxy memory (RSS): {rss['after_warmup']:.1f} MiB after warm-up, "
              f"{rss['after_rounds']:.1f} MiB after the rounds", file=out)


def print_memory(memory: dict[str, Any], out: TextIO) -> None:
    samples = [(n, rss) for n, rss in memory["rss_mib"] if rss is not None]
    saw = memory["upstream_saw"]
    if not samples:
        print("Memory: no /proc on this machine, RSS not read", file=out)
        return
    steps = ", ".join(f"{n}: {rss:.1f}" for n, rss in samples[:: max(1, len(samples) // 6)])
    print(f"Memory of one oauth1-proxy run over {memory['requests']} requests (the upstream saw {saw['signed']} "
          f"signed, {saw['unsigned']} unsigned): RSS {samples[0][1]:.1f} MiB after warm-up, "
          f"{samples[-1][1]:.1f} MiB at the end, peak {max(r for _, r in samples):.1f} MiB "
          f"(requests: MiB {steps})", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="oauth1-proxy bench",
        description="Signer cost against oauthlib and Authlib, and proxy overhead against bare mitmdump.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer and shorter rounds")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    parser.add_argument("--load", choices=("auto", "wrk", "builtin"), default="auto",
                        help="the load generator (auto: wrk when installed, else the built-in one)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections under load (default 8)")
    parser.add_argument("--skip-proxy", action="store_true", help="time the signer only")
    parser.add_argument("--memory", type=int, metavar="N", default=0,
                        help="also: the RSS of one oauth1-proxy run over N signed requests (100000 takes ~5 min)")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    out = sys.stdout

    def progress(line: str) -> None:
        if not args.json:
            print(f"  ... {line}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    m = results["machine"]
    if not args.json:
        v = m["versions"]
        load = f"; load average {m['load_average'][0]:.2f} at start" if m["load_average"] else ""
        print(f"oauth1-proxy bench on {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['implementation']} "
              f"{m['python']}, mitmproxy {v['mitmproxy']}, oauthlib {v['oauthlib']}, Authlib {v['Authlib']}"
              f"{load}", file=out)
        if args.quick:
            print("(--quick: few, short rounds; rough figures)", file=out)
        print(file=out, flush=True)
    results["signer"] = bench_signer(args.quick)
    if not args.json:
        print_signer(results["signer"], out)
        print(file=out, flush=True)
    if not args.skip_proxy:
        try:
            results["proxy"] = bench_proxy(args.quick, args.load, args.connections, progress)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"oauth1-proxy bench: the proxy part failed: {e}", file=sys.stderr)
            return 1
        if not args.json:
            print_proxy(results["proxy"], out)
    if args.memory > 0:
        try:
            results["memory"] = bench_memory(args.memory, args.quick, args.load, args.connections, progress)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"oauth1-proxy bench: the memory part failed: {e}", file=sys.stderr)
            return 1
        if not args.json:
            print_memory(results["memory"], out)
    if args.json:
        print(json.dumps(results, indent=1))
    checks = [ok for case in results["signer"]["cases"].values() for ok in case["same_signature"].values()]
    return 0 if all(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
