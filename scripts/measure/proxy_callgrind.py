"""Instructions per request of a running ``oauth1-proxy run``, signing and matching nothing (issue 17).

    .venv/bin/python scripts/measure/proxy_callgrind.py [N] [--tree DIR]

Starts the bench's loopback upstream, then for each of the bench's two configs (one consumer-only profile for
the upstream, and the same profile for port 9: nothing to sign) an ``oauth1-proxy run`` in reverse mode under
``valgrind --tool=callgrind --instr-atstart=no``: 300 warm-up requests, instrumentation on (callgrind_control),
N sequential keep-alive requests (default 500), instrumentation off, a dump. It prints the user-space
instructions per request of each and their difference: what signing adds to one request in the whole proxy
(mitmproxy's event loop, HTTP layers and every hook), stable where wall clock is not. ``--tree DIR``: run the
``addon/`` of another checkout (``git worktree add DIR REV``) with this install's interpreter and libraries.
``--cache-sim``: also simulate the caches and the branch predictor (``--cache-sim=yes --branch-sim=yes``,
about three times slower) and print callgrind's cycle estimate, Ir + 10 (L1 misses + mispredicted branches)
+ 100 last-level misses: instructions alone miss what signing's extra code and data cost in misses.
``--top K``: also the K functions (C functions: the interpreter, CPython's objects, OpenSSL, libc) whose own
instructions per request signing adds most to (callgrind_annotate of each run, one minus the other).
Needs Debian's valgrind (scripts/system-deps); takes about a minute (three with ``--cache-sim``).
"""

from __future__ import annotations

import glob
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))

from oauth1_proxy.devtools.bench.proxy import write_config  # noqa: E402
from oauth1_proxy.devtools.bench.upstream import running_upstream  # noqa: E402

PATH = "/1.1/statuses/home_timeline.json?count=20&since_id=12345"
LISTENING = re.compile(r"listening at \[?([0-9a-fA-F:.]+?)\]?:(\d+)\.")


def start_run(name: str, command: list[str], config: Path, upstream: int, work: Path, env: dict[str, str],
              timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    """``command`` (what runs the CLI) with ``run`` in reverse mode to the upstream, its log in ``work``, started
    and listening: the process and its port (shared with call_counts.py)."""
    log = work / f"{name}.log"
    with log.open("wb") as sink:  # the child keeps its own copy of the file
        proc = subprocess.Popen(
            [*command, "run", "--config", str(config),
             "--mode", f"reverse:http://127.0.0.1:{upstream}", "--listen-host", "127.0.0.1", "--listen-port", "0",
             "--set", "flow_detail=0", "--set", f"confdir={work / ('conf-' + name)}"],
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env)
    for _ in range(int(timeout * 10)):
        time.sleep(0.1)
        found = LISTENING.search(log.read_text(errors="replace"))
        if found:
            return proc, int(found[2])
    proc.kill()
    raise SystemExit(f"{name}: no 'listening at' line:\n{log.read_text(errors='replace')[-2000:]}")


def send_requests(port: int, n: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for _ in range(n):
        connection.request("GET", PATH)
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    connection.close()


def count(name: str, config: Path, upstream: int, n: int, work: Path, tree: Path | None,
          cache_sim: bool = False) -> tuple[dict[str, float], str]:
    """Events per request of one proxy (a run with the instrumentation on over n requests only): ``Ir``
    (instructions), and with ``cache_sim`` the miss and branch events and ``CEst``, callgrind's cycle estimate."""
    code = "import sys; from oauth1_proxy.cli import main; sys.exit(main())"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if tree is not None:
        env["PYTHONPATH"] = str(tree / "addon")
    out = work / f"cg.{name}"
    proc, port = start_run(name, ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                  f"--callgrind-out-file={out}.%p",
                                  *(["--cache-sim=yes", "--branch-sim=yes"] if cache_sim else []),
                                  sys.executable, "-c", code], config, upstream, work, env, 180)
    try:
        send_requests(port, 300)
        time.sleep(1)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True, capture_output=True)
        send_requests(port, n)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(180)
    found: list[tuple[dict[str, float], str]] = []
    for path in glob.glob(f"{out}.{proc.pid}*"):
        lines = open(path).read().splitlines()
        names = next(line.split()[1:] for line in lines if line.startswith("events:"))
        for line in lines:
            if line.startswith("totals:"):  # callgrind leaves trailing zero counts out
                values = [int(v) for v in line.split()[1:]]
                found.append(({k: v / n for k, v in zip(names, values + [0] * (len(names) - len(values)),
                                                         strict=True)}, path))
    events, path = max(found, key=lambda e: e[0]["Ir"])
    if cache_sim:
        events["CEst"] = (events["Ir"] + 10 * (events["I1mr"] + events["D1mr"] + events["D1mw"]
                                               + events["Bcm"] + events["Bim"])
                          + 100 * (events["ILmr"] + events["DLmr"] + events["DLmw"]))
    return events, path


def by_function(path: str, n: int) -> dict[str, float]:
    """Each function's own instructions per request in one callgrind dump (callgrind_annotate, every line)."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--show=Ir", path],
                          check=True, capture_output=True, text=True).stdout
    found: dict[str, float] = {}
    for line in text.splitlines():
        row = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if row and "PROGRAM TOTALS" not in line:
            # "file:function [object]"; recursion levels ('2) and the build's own path folded away
            name = re.sub(r"'\d+", "", re.sub(r"/tmp/python-build[^ ]*?/Python-[\d.]+/", "", row[2]))
            found[name] = found.get(name, 0) + int(row[1].replace(",", "")) / n
    return found


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv and argv[0].isdigit() else 500
    tree = Path(argv[argv.index("--tree") + 1]).resolve() if "--tree" in argv else None
    cache_sim = "--cache-sim" in argv
    top = int(argv[argv.index("--top") + 1]) if "--top" in argv else 0
    with tempfile.TemporaryDirectory(prefix="proxy-callgrind-") as directory, running_upstream() as upstream:
        work = Path(directory)
        signed, signed_path = count("signed", write_config(work, upstream, matching=True), upstream, n, work, tree,
                                    cache_sim)
        idle, idle_path = count("no-match", write_config(work, upstream, matching=False), upstream, n, work, tree,
                                cache_sim)
        functions = (by_function(signed_path, n), by_function(idle_path, n)) if top else None
    print(f"{'tree ' + str(tree) if tree else 'this tree'}: {n} requests each, per request")
    for event, what in (("Ir", "instructions"), ("CEst", "cycle estimate")):
        if event in signed:
            a, b = signed[event], idle[event]
            print(f"  {what}: signing {a:12,.0f}, matching nothing {b:12,.0f}, added {a - b:10,.0f}"
                  f"  (no match / signing: {b / a:.1%})")
    if cache_sim:
        for event in ("I1mr", "D1mr", "D1mw", "Bcm", "Bim", "ILmr", "DLmr", "DLmw"):
            print(f"    {event:5} signing {signed[event]:10,.0f}, matching nothing {idle[event]:10,.0f}, "
                  f"added {signed[event] - idle[event]:8,.0f}")
    if functions is not None:
        a, b = functions
        added = sorted(((a.get(k, 0) - b.get(k, 0), k) for k in set(a) | set(b)), reverse=True)
        print(f"  the {top} functions whose own instructions per request signing adds most to:")
        for value, name in added[:top]:
            print(f"    {value:+9,.0f}  {name[:140]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
