"""Instructions per flow of OAuth1Signer's hooks in place, whole or with parts cut out (issue 17).

    .venv/bin/python scripts/measure/hook_parts.py [--host HOST] [--without PART,PART...]

Each flow goes through requestheaders, request and response by scripts/measure/hook_cycle.py's loop (the bench's
in-place config: HMAC-SHA1, a static token, its long GET), under ``valgrind --tool=callgrind``: a run with
3,000 flows minus a run with 1,000 (the start-up and the flows' own making cancel out), divided by 2,000.
``--host other.example.com``: flows no profile signs. ``--without`` replaces parts by no-ops, to read what
each costs as the difference to the whole (not a correct proxy then, a measurement only):
metrics (metrics.signed, signed_again, provider_answer), stats (RunStats.signed: the long way only), lines
(SignedLines.take and so the flush), nonce (a constant nonce), fill (each plan's place made once and served
again: its HMAC and texts). Needs Debian's valgrind; takes about a minute per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import hook_cycle  # noqa: E402  (this folder's: the same flows through the same hooks)

PARTS = ("metrics", "stats", "lines", "nonce", "fill")


def _cut(signer: Any, parts: set[str]) -> None:
    from oauth1_proxy import signing_plan
    from oauth1_proxy.shell import logs
    from oauth1_proxy.shell import signer as shell

    if "metrics" in parts:
        shell.metrics.signed = lambda *a: None  # type: ignore[assignment]
        shell.metrics.signed_again = lambda *a: None  # type: ignore[assignment]
        shell.metrics.provider_answer = lambda *a: None  # type: ignore[assignment]
    if "stats" in parts:
        signer.stats.signed = lambda *a: None
    if "lines" in parts:
        logs.SIGNED_LINES.take = lambda *a: None  # type: ignore[method-assign]
    if "nonce" in parts:
        shell.make_nonce = lambda: "0123456789abcdef0123456789abcdef"  # type: ignore[assignment]
    if "fill" in parts:
        served: dict[int, Any] = {}
        place = signing_plan.Plan.place

        def once(plan: Any, nonce: str, timestamp: str) -> Any:
            if id(plan) not in served:
                served[id(plan)] = place(plan, nonce, timestamp)
            return served[id(plan)]

        signing_plan.Plan.place = once  # type: ignore[method-assign]


def _instructions(n: int, host: str, config: Path, parts: str) -> int:
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__, "--one",
         str(n), host, str(config), parts],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=900)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise SystemExit(f"no callgrind total:\n{out.stderr[-2000:]}")
    return int(found[1])


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        n, host, config, parts = argv[1:5]
        cut = set(filter(None, parts.split(",")))
        asyncio.run(hook_cycle.cycle(int(n), host, Path(config), prepare=lambda signer: _cut(signer, cut)))
        return 0
    from oauth1_proxy.devtools.bench import inplace

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=inplace.HOST)
    parser.add_argument("--without", default="", help=f"comma-separated, of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    unknown = set(filter(None, args.without.split(","))) - set(PARTS)
    if unknown:
        parser.error(f"--without: {', '.join(sorted(unknown))} is not one of {', '.join(PARTS)}")
    with tempfile.TemporaryDirectory(prefix="hook-parts-") as directory:
        config = Path(directory) / "inplace.yaml"
        config.write_text(inplace.config_text(Path(directory) / "inplace-tokens.yaml"))
        config.chmod(0o600)
        few, many = (_instructions(n, args.host, config, args.without) for n in (1000, 3000))
    print(f"{args.host}{' without ' + args.without if args.without else ''}: {(many - few) / 2000:,.0f} "
          "instructions per flow (requestheaders, request, response)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
