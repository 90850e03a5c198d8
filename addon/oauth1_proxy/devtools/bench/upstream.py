"""The loopback upstream the proxy bench sends to, and stopping the processes the bench starts."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
    code = "from oauth1_proxy.devtools.bench.upstream import serve_upstream; serve_upstream()"
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
