"""Load against one proxy: ``wrk`` when installed, else a built-in asyncio generator (HTTP/1.1 keep-alive)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


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
