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
3. With ``--callgrind`` (valgrind installed): instructions per signed request,
   of ``sign_request`` alone and of one request in place through
   OAuth1Signer's hooks (``counts.py``), for this tree and ``--against REV``'s;
   with ``--profile``: the top entries of a cProfile of requests in place.

With ``--instances N`` (2 to 4), only a third part runs: N instances behind
the shipped HAProxy (deploy/haproxy.cfg) against one, in alternating rounds
(devtools/bench/instances.py).

The machine is shared and noisy: read the ratios, not the absolute figures.
Only loopback addresses are used; every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from oauth1_proxy.devtools.bench.counts import bench_counts, print_counts, profile_in_place
from oauth1_proxy.devtools.bench.proxy import bench_memory, bench_proxy
from oauth1_proxy.devtools.bench.report import machine, print_memory, print_proxy, print_signer
from oauth1_proxy.devtools.bench.signer import bench_signer


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
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="alternating rounds of the proxy part (default 15, 1 with --quick); more rounds, "
                             "a narrower interval for the signing figure (15 rounds: about ±4 points)")
    parser.add_argument("--skip-proxy", action="store_true", help="time the signer only")
    parser.add_argument("--instances", type=int, metavar="N", default=0,
                        help="only this: N (2-4) instances behind the shipped HAProxy against one, same run")
    parser.add_argument("--memory", type=int, metavar="N", default=0,
                        help="also: the RSS of one oauth1-proxy run over N signed requests (100000 takes ~5 min)")
    parser.add_argument("--against", metavar="REV",
                        help="also run oauth1-proxy run of an older commit of this clone (git archive), signing "
                             "the same requests, in the same alternating rounds: the same-run ratio against it")
    parser.add_argument("--callgrind", action="store_true",
                        help="also: instructions per signed request (valgrind --tool=callgrind), of sign_request "
                             "alone and in place; with --against, of that commit's tree too")
    parser.add_argument("--profile", action="store_true",
                        help="also: a cProfile of signed requests in place, top 15 entries by inclusive time")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: give 1 or more rounds (the default is 15)")

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
    if args.instances:
        from oauth1_proxy.devtools.bench.instances import bench_instances, print_instances

        try:
            results["instances"] = bench_instances(args.instances, args.quick, args.load, args.connections, progress)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"oauth1-proxy bench: the instances part failed: {e}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(results, indent=1))
        else:
            print_instances(results["instances"], out)
        return 0 if results["instances"]["upstream_saw"]["unsigned"] == 0 else 1
    results["signer"] = bench_signer(args.quick)
    if not args.json:
        print_signer(results["signer"], out)
        print(file=out, flush=True)
    if not args.skip_proxy:
        try:
            results["proxy"] = bench_proxy(args.quick, args.load, args.connections, progress, args.against,
                                           args.rounds)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"oauth1-proxy bench: the proxy part failed: {e}", file=sys.stderr)
            return 1
        if not args.json:
            print_proxy(results["proxy"], out)
    if args.callgrind:
        try:
            results["instructions"] = bench_counts(args.quick, args.against, progress)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"oauth1-proxy bench: the instruction counts failed: {e}", file=sys.stderr)
            return 1
        if not args.json:
            print(file=out)
            print_counts(results["instructions"], out)
    if args.profile:
        try:
            results["profile"] = profile_in_place(300 if args.quick else 2000)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print(f"oauth1-proxy bench: the profile failed: {e}", file=sys.stderr)
            return 1
        if not args.json:
            print(file=out)
            print("Profile of signed requests in place (cProfile, OAuth1Signer's hooks; our code and mitmproxy's, "
                  "by inclusive time):", file=out)
            print(results["profile"].strip("\n"), file=out)
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
