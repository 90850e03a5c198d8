"""What the bench prints: the machine, then each part's figures as text."""

from __future__ import annotations

import os
import platform
from typing import Any, TextIO

from oauth1_proxy.devtools.bench.proxy import NOTHING_TO_SIGN


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
    names = ["mitmdump", "oauth1-proxy", NOTHING_TO_SIGN] + ([f"oauth1-proxy @{proxy['against']}"]
                                                              if "against" in proxy else [])
    for name in names:
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
    interval = proxy["signing_throughput_ratio_interval"]
    print(f"  signing itself (oauth1-proxy / {NOTHING_TO_SIGN}): throughput {proxy['signing_throughput_ratio']:.1%}"
          + (f" (90% interval of that median: {interval[0]:.1%} to {interval[1]:.1%}, bootstrap over the "
             "rounds)" if interval else "")
          + (f", CPU {idle_cpu:+.0f} µs per request" if idle_cpu is not None else "")
          + f", 1-connection p50 {proxy['signing_added_one_connection_p50_ms']:+.2f} ms (medians of round-by-round "
          f"figures; rounds: {rounds})", file=out)
    if "against" in proxy:
        old_cpu = proxy["against_added_cpu_us_per_request"]
        rounds = ", ".join(f"{r:.0%}" for r in proxy["against_paired_throughput_ratios"])
        print(f"  this tree / {proxy['against']} (both signing): throughput {proxy['against_throughput_ratio']:.1%}"
              + (f", CPU {old_cpu:+.0f} µs per request" if old_cpu is not None else "")
              + f" (medians of round-by-round figures; rounds: {rounds})", file=out)
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
