"""The proxy bench: oauth1-proxy run against bare mitmdump and a no-match profile, in alternating rounds."""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from oauth1_proxy.devtools.bench.load import LoadResult, apply_load
from oauth1_proxy.devtools.bench.signer import CONSUMER_KEY, CONSUMER_SECRET, GET_PATH
from oauth1_proxy.devtools.bench.upstream import running_upstream, stop, upstream_counts


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
    return _proxy_commands(upstream_port, configs, confdirs)


def against_name(rev: str) -> str:
    """The contender's name for ``--against REV``: the same ``oauth1-proxy run`` from an older commit."""
    return f"oauth1-proxy @{rev}"


def old_tree(rev: str, directory: Path) -> Path:
    """The package of commit ``rev`` (``git archive`` of its ``addon/``), for ``--against``: its
    ``oauth1-proxy run`` starts from that tree, with this install's mitmproxy and libraries."""
    root = Path(__file__).resolve().parents[4]
    target = directory / "against"
    target.mkdir()
    try:
        archive = subprocess.run(["git", "-C", str(root), "archive", rev, "addon"], check=True,
                                 capture_output=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"--against {rev}: git archive of {root} failed; give a commit of this clone ({e})") from e
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=60)
    return target / "addon"


def _proxy_commands(
    upstream_port: int, configs: tuple[Path, Path], confdirs: tuple[Path, ...]
) -> dict[str, list[str]]:

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
    ours = _ours()
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


def median_interval(values: Sequence[float], confidence: float = 0.9, resamples: int = 2000
                    ) -> tuple[float, float] | None:
    """Where the median of ``values`` lies, ``confidence`` of the time: the percentile bootstrap (resampling
    the rounds with replacement; seeded, so the same rounds give the same interval). None below 5 values."""
    if len(values) < 5:
        return None
    draw = random.Random(0).choices
    medians = sorted(statistics.median(draw(values, k=len(values))) for _ in range(resamples))
    cut = int(resamples * (1 - confidence) / 2)
    return medians[cut], medians[-cut - 1]


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


def bench_commands(directory: Path, upstream_port: int, against: str | None = None) -> dict[str, list[str]]:
    """Write our two configs in directory; the three proxies' command lines (see proxy_commands), and with
    ``against`` a fourth: ``oauth1-proxy run`` of that commit, signing like the second."""
    configs = write_config(directory, upstream_port), write_config(directory, upstream_port, matching=False)
    confdirs = (directory / "confdir-mitmdump", directory / "confdir-ours", directory / "confdir-no-match")
    commands = proxy_commands(upstream_port, configs, confdirs)
    if against:
        tree = old_tree(against, directory)
        old = [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(tree)!r}); sys.argv[0] = 'oauth1-proxy'; "
               "from oauth1_proxy.cli import main; sys.exit(main())"]
        commands[against_name(against)] = [*old, *commands["oauth1-proxy"][len(_ours()):]]
        commands[against_name(against)][commands[against_name(against)].index(f"confdir={confdirs[1]}")] = (
            f"confdir={directory / 'confdir-against'}")
    return commands


def _ours() -> list[str]:
    return _script("oauth1-proxy") or [sys.executable, "-m", "oauth1_proxy.cli"]


def bench_proxy(quick: bool, load: str, connections: int, progress: Callable[[str], None],
                against: str | None = None, rounds: int | None = None) -> dict[str, Any]:
    """The three proxies (four with ``against``), alternating rounds of the same load; medians and ratios.

    ``rounds``: how many (default 15, 1 with ``quick``)."""
    tool = load_tool(load)
    # Many short rounds, taking turns (ABC, CBA): on a shared machine the
    # speed drifts within seconds, and each round of ours is compared with
    # the other proxies' rounds next to it.
    default_rounds, seconds, latency_seconds, warmup = (1, 2.0, 1.0, 0.5) if quick else (15, 2.0, 1.0, 2.0)
    rounds = default_rounds if rounds is None else rounds
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
        commands = bench_commands(directory, upstream_port, against)
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
    out["signing_throughput_ratio_interval"] = median_interval(out["signing_paired_throughput_ratios"])
    out["signing_added_one_connection_p50_ms"] = statistics.median(
        paired(latency["oauth1-proxy"], latency[NOTHING_TO_SIGN], lambda o, b: o.p50_ms - b.p50_ms))
    out["signing_added_cpu_us_per_request"] = _median_cpu_difference(ours_load, idle_load)
    if against:
        # This tree against the older commit, both signing every request: no throughput loss means ~100%.
        old_load = throughput[against_name(against)]
        out["against"] = against
        out["against_paired_throughput_ratios"] = paired(ours_load, old_load, lambda o, b: o.rps / b.rps)
        out["against_throughput_ratio"] = statistics.median(out["against_paired_throughput_ratios"])
        out["against_added_cpu_us_per_request"] = _median_cpu_difference(ours_load, old_load)
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
