"""``oauth1-proxy bench --instances N``: N instances behind the shipped HAProxy against one, in the same run.

Two real haproxy processes use deploy/haproxy.cfg as shipped (its addresses from the environment): one in
front of instance 1 alone, one in front of all N. Each instance is an ``oauth1-proxy run`` in reverse mode to
the bench's loopback upstream, signing every request, with its ops listener for HAProxy's /readyz checks, all
sharing one confdir. The same load goes to each balancer in alternating rounds; the figure is the median of
the round-by-round throughput ratios (N behind the balancer / one behind the same kind of balancer).

mitmproxy runs one event loop on one core, so more throughput needs more processes; on a machine with
few cores the load generator, the upstream, HAProxy and the instances share them, and N instances gain
little. The report says how many cores there were.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

from oauth1_proxy.devtools.bench.load import LoadResult, apply_load
from oauth1_proxy.devtools.bench.proxy import (
    Proxy,
    _script,
    _summary,
    cpu_seconds,
    load_tool,
    start_proxy,
    wait_listening,
    write_config,
)
from oauth1_proxy.devtools.bench.signer import GET_PATH
from oauth1_proxy.devtools.bench.upstream import running_upstream, stop, upstream_counts

MAX_INSTANCES = 4  # deploy/haproxy.cfg names up to four
OPS_LINE = re.compile(r"ops listener at http://127\.0\.0\.1:(\d+)")


def shipped_haproxy_cfg() -> Path:
    """deploy/haproxy.cfg of the source tree this package runs from (an editable install)."""
    path = Path(__file__).resolve().parents[4] / "deploy" / "haproxy.cfg"
    if not path.is_file():
        raise RuntimeError(f"--instances needs the source tree's deploy/haproxy.cfg ({path} is missing); run the "
                           "bench from a checkout (pip install -e .).")
    return path


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy") else None)
    if found is None:
        raise RuntimeError("--instances needs HAProxy: apt-get install haproxy (scripts/system-deps does).")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def instance_command(config: Path, upstream_port: int, confdir: Path) -> list[str]:
    """One instance: reverse mode to the upstream, answering the balancers' Host (127.0.0.1, any port)."""
    ours = _script("oauth1-proxy") or ["oauth1-proxy"]
    return [*ours, "run", "--config", str(config), "--mode", f"reverse:http://127.0.0.1:{upstream_port}",
            "--listen-host", "127.0.0.1", "--listen-port", "0", "--set", "flow_detail=0",
            "--set", f"confdir={confdir}", "--set", "oauth1_ops_listen=127.0.0.1:0",
            "--set", "oauth1_reverse_hosts=127.0.0.1", "--set", "oauth1_helper_port=-1"]


def wait_ops_port(proxy: Proxy, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = OPS_LINE.search(proxy.log_path.read_text(encoding="utf-8", errors="replace"))
        if found:
            return int(found[1])
        time.sleep(0.05)
    raise RuntimeError(f"{proxy.name} printed no ops listener line within {timeout:.0f} s")


def start_balancer(cfg: Path, backends: list[tuple[int, int]], log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """haproxy -f the shipped cfg, in front of (proxy port, ops port) pairs; its port once it listens."""
    port = free_port()
    env = {"PATH": os.environ.get("PATH", ""), "OAUTH1_LB_BIND": f"127.0.0.1:{port}"}
    for i, (proxy_port, ops_port) in enumerate(backends, start=1):
        env |= {f"OAUTH1_PROXY_{i}": f"127.0.0.1:{proxy_port}", f"OAUTH1_PROXY_{i}_OPS": str(ops_port)}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([haproxy_binary(), "-db", "-f", str(cfg)], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("haproxy did not listen within 15 s") from None
            time.sleep(0.05)


def _cpu(procs: list[subprocess.Popen[bytes]]) -> float | None:
    values = [cpu_seconds(p.pid) for p in procs]
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def bench_instances(count: int, quick: bool, load: str, connections: int,
                    progress: Callable[[str], None]) -> dict[str, Any]:
    """N instances behind one balancer against one instance behind another, alternating rounds."""
    if not 2 <= count <= MAX_INSTANCES:
        raise RuntimeError(f"--instances {count}: give 2 to {MAX_INSTANCES} (deploy/haproxy.cfg names four)")
    tool = load_tool(load)
    cfg = shipped_haproxy_cfg()
    rounds, seconds, warmup = (1, 2.0, 0.5) if quick else (9, 3.0, 2.0)
    out: dict[str, Any] = {"instances": count, "load": "builtin asyncio generator" if tool == "builtin" else "wrk",
                           "connections": connections, "rounds": rounds, "round_seconds": seconds,
                           "cpus": os.cpu_count(), "haproxy_cfg": str(cfg)}
    with tempfile.TemporaryDirectory(prefix="oauth1-proxy-bench-") as tmp, running_upstream() as upstream_port:
        directory = Path(tmp)
        config = write_config(directory, upstream_port)
        confdir = directory / "confdir"  # one CA for every instance
        instances: list[Proxy] = []
        balancers: list[subprocess.Popen[bytes]] = []
        try:
            for i in range(count):
                instances.append(start_proxy(f"instance {i + 1}", instance_command(config, upstream_port, confdir),
                                             directory / f"instance-{i + 1}.log"))
                if i == 0:  # the first creates the CA the others read
                    wait_listening(instances[0], timeout=90)
            for proxy in instances[1:]:
                wait_listening(proxy, timeout=90)
            backends = [(p.port, wait_ops_port(p, timeout=30)) for p in instances]
            one, one_port = start_balancer(cfg, backends[:1], directory / "haproxy-one.log")
            balancers.append(one)
            many, many_port = start_balancer(cfg, backends, directory / "haproxy-many.log")
            balancers.append(many)
            targets = {"one": (one_port, instances[:1]), "many": (many_port, instances)}
            progress(f"{count} instances ready; haproxy in front of one on {one_port}, of all on {many_port}; "
                     f"load: {tool}")
            for port, _ in targets.values():
                apply_load(tool, port, GET_PATH, warmup, connections)
            before = upstream_counts(upstream_port)
            results: dict[str, list[LoadResult]] = {"one": [], "many": []}
            for i in range(rounds):
                for name in (("one", "many") if i % 2 == 0 else ("many", "one")):
                    port, behind = targets[name]
                    cpu_before = _cpu([p.proc for p in behind])
                    result = apply_load(tool, port, GET_PATH, seconds, connections)
                    cpu_after = _cpu([p.proc for p in behind])
                    if cpu_before is not None and cpu_after is not None and result.requests:
                        result.cpu_us_per_request = (cpu_after - cpu_before) / result.requests * 1e6
                    results[name].append(result)
                    progress(f"round {i + 1}/{rounds} {name}: {result.rps:.1f} req/s, p50 {result.p50_ms:.2f} ms, "
                             f"p99 {result.p99_ms:.2f} ms")
            after = upstream_counts(upstream_port)
        finally:
            for proc in balancers:
                stop(proc)
            for proxy in instances:
                stop(proxy.proc)
    for name, rounds_of in results.items():
        out[name] = {"load": _summary(rounds_of), "rounds": [asdict(r) for r in rounds_of]}
    ratios = [m.rps / o.rps for m, o in zip(results["many"], results["one"], strict=True) if o.rps]
    out["paired_throughput_ratios"] = ratios
    out["throughput_ratio"] = statistics.median(ratios) if ratios else None
    out["upstream_saw"] = {k: after.get(k, 0) - before.get(k, 0) for k in ("signed", "unsigned")}
    return out


def print_instances(result: dict[str, Any], out: TextIO) -> None:
    n, one, many = result["instances"], result["one"]["load"], result["many"]["load"]
    print(f"{n} instances behind the shipped HAProxy against one ({result['cpus']} CPUs; {result['load']}, "
          f"{result['connections']} connections, {result['rounds']} rounds of {result['round_seconds']:.0f} s):",
          file=out)
    for label, figures in (("1 instance ", one), (f"{n} instances", many)):
        print(f"  {label}: {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.2f} ms  "
              f"p99 {figures['p99_ms']:6.2f} ms  errors {figures['errors']}", file=out)
    ratio = result["throughput_ratio"]
    print(f"  throughput {n} / 1: {ratio:.2f}x (median of paired rounds)" if ratio else "  throughput: no figure",
          file=out)
    saw = result["upstream_saw"]
    print(f"  the upstream saw {saw['signed']} signed and {saw['unsigned']} unsigned requests", file=out)
    if (result["cpus"] or 1) <= 2:
        print("  (on 2 cores or fewer, the load, upstream, HAProxy and instances share them: expect little gain)",
              file=out)
