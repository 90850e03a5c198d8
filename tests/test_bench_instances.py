"""`oauth1-proxy bench --instances N` (SPEC §12): N instances behind the shipped HAProxy against one, same run.

The suite checks that the bench runs real haproxy and instances and reports every figure, not how fast they are.
"""

from __future__ import annotations

import json
import subprocess
import sys

BENCH_COMMAND = [sys.executable, "-m", "oauth1_proxy.cli", "bench"]


def test_bench_instances_quick_json_measures_both_and_everything_arrived_signed() -> None:
    done = subprocess.run([*BENCH_COMMAND, "--instances", "2", "--quick", "--json", "--load", "builtin",
                           "--connections", "4"], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["instances"]
    assert result["instances"] == 2 and result["cpus"] >= 1
    assert result["haproxy_cfg"].endswith("deploy/haproxy.cfg")
    for name in ("one", "many"):
        figures = result[name]["load"]
        assert figures["requests"] > 0 and figures["errors"] == 0 and figures["rps"] > 0, (name, figures)
    assert result["throughput_ratio"] > 0
    measured = result["one"]["load"]["requests"] + result["many"]["load"]["requests"]
    assert result["upstream_saw"]["unsigned"] == 0
    assert result["upstream_saw"]["signed"] >= measured


def test_bench_instances_prints_the_figures_and_the_core_count() -> None:
    done = subprocess.run([*BENCH_COMMAND, "--instances", "2", "--quick", "--load", "builtin", "--connections", "2"],
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    assert "2 instances behind the shipped HAProxy against one (" in done.stdout
    assert "CPUs;" in done.stdout and "throughput 2 / 1:" in done.stdout
    assert "0 unsigned requests" in done.stdout


def test_bench_instances_out_of_range_says_so_and_exits_1() -> None:
    done = subprocess.run([*BENCH_COMMAND, "--instances", "5", "--quick"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert "--instances 5: give 2 to 4" in done.stderr
