"""Python-level calls per request of a running ``oauth1-proxy run``, signing against matching nothing (issue 17).

    .venv/bin/python scripts/measure/call_counts.py [N]

Starts the bench's loopback upstream, then for each of the bench's two configs (as proxy_callgrind.py) an
``oauth1-proxy run`` in reverse mode with cProfile ready but off: 300 warm-up requests, the profiler on
(a real-time signal: mitmproxy takes SIGUSR1 and SIGUSR2), N sequential keep-alive requests (default 2000),
the profiler off and its stats written. It prints the calls per request of each (functions written in Python
and built-ins alike) and, per function, how many more calls a signed request makes than one matching nothing:
what signing adds, call by call. Call counts are exact; cProfile's times are inflated by the profiler and are
printed only as a hint. One type's ``__new__`` shows twice (its address differs between the two processes).
"""

from __future__ import annotations

import os
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "addon"), str(Path(__file__).resolve().parent)]  # ours, and proxy_callgrind.py

from proxy_callgrind import send_requests, start_run  # noqa: E402

from oauth1_proxy.devtools.bench.proxy import write_config  # noqa: E402
from oauth1_proxy.devtools.bench.upstream import running_upstream  # noqa: E402

ON, OFF = signal.SIGRTMIN + 1, signal.SIGRTMIN + 2
PROFILED = f"""
import cProfile, os, signal, sys
from oauth1_proxy.cli import main
profile = cProfile.Profile()
signal.signal({int(ON)}, lambda *_: profile.enable())
signal.signal({int(OFF)}, lambda *_: (profile.disable(), profile.dump_stats(os.environ["CALL_COUNTS_OUT"])))
sys.exit(main())
"""


def calls(name: str, config: Path, upstream: int, n: int, work: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Calls and cProfile's own seconds per request, per function, of one proxy over n requests."""
    out = work / f"{name}.prof"
    env = {**os.environ, "PYTHONHASHSEED": "0", "CALL_COUNTS_OUT": str(out)}
    proc, port = start_run(name, [sys.executable, "-c", PROFILED], config, upstream, work, env, 60)
    try:
        send_requests(port, 300)
        time.sleep(1)
        os.kill(proc.pid, ON)
        time.sleep(0.3)
        send_requests(port, n)
        time.sleep(0.5)  # the last flush of SPEC §8's lines
        os.kill(proc.pid, OFF)
        for _ in range(100):
            time.sleep(0.1)
            if out.exists():
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    if not out.exists():
        raise SystemExit(f"{name}: the profiler wrote no stats to {out}; the proxy's log:\n"
                         f"{(work / (name + '.log')).read_text(errors='replace')[-2000:]}")
    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    named = {f"{Path(file).name}:{line}:{function}": row for (file, line, function), row in stats.items()}
    return ({k: row[1] / n for k, row in named.items()}, {k: row[2] / n for k, row in named.items()})


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv and argv[0].isdigit() else 2000
    with tempfile.TemporaryDirectory(prefix="call-counts-") as directory, running_upstream() as upstream:
        work = Path(directory)
        signed, signed_time = calls("signed", write_config(work, upstream, matching=True), upstream, n, work)
        idle, idle_time = calls("no-match", write_config(work, upstream, matching=False), upstream, n, work)
    print(f"{n} requests each; calls per request: signing {sum(signed.values()):,.1f}, "
          f"matching nothing {sum(idle.values()):,.1f}")
    print(f"{'added':>7} {'signing':>8} {'no match':>8}  {'own time added (profiled)':>26}  function")
    for key in sorted(set(signed) | set(idle), key=lambda k: -(signed.get(k, 0) - idle.get(k, 0))):
        added = signed.get(key, 0) - idle.get(key, 0)
        if abs(added) >= 0.05:
            hint = 1e6 * (signed_time.get(key, 0) - idle_time.get(key, 0))
            print(f"{added:+7.2f} {signed.get(key, 0):8.2f} {idle.get(key, 0):8.2f}  {hint:+23.2f} µs  {key}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
