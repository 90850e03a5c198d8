"""Instructions per call of each part of the one step (issue 17), warm, in one process.

    .venv/bin/python scripts/measure/step_parts.py [N] [--part NAME]

The bench's in-place config (devtools/bench/inplace.py: HMAC-SHA1, a static token, its long GET) on
OAuth1Signer with mitmproxy's test flow. Each part is called N times (default 10000) in a process under
``valgrind --tool=callgrind``, and once more 0 times; the difference divided by N is what one call costs,
the loop's own call included (``noop``: about 1,000). Parts:

- ``signed``: ``sign_flow`` of a request of a kept shape (the one step, its header fields reset each time);
- ``unsigned``: ``sign_flow`` of the same request to a host no profile signs (what both proxies do);
- ``again``: ``ShapeMemo.again``, the policy's half (``place`` included); ``place``: ``Plan.place`` alone;
- ``nonce``, ``take`` (SPEC §8's line kept), ``signed_again`` (the /metrics cells), ``noop``.

``signed`` minus ``unsigned`` is what signing adds inside the request hook. Needs Debian's valgrind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))

PARTS = ("noop", "signed", "unsigned", "again", "place", "nonce", "take", "signed_again")


async def _run(part: str, n: int) -> None:
    from mitmproxy.addons.proxyauth import ProxyAuth
    from mitmproxy.addons.termlog import TermLog
    from mitmproxy.test import taddons, tflow

    from oauth1_proxy import metrics
    from oauth1_proxy.devtools.bench import inplace
    from oauth1_proxy.shell import signer as shell
    from oauth1_proxy.shell.logs import SIGNED_LINES

    logging.getLogger().setLevel(logging.DEBUG)  # as mitmdump does
    work = Path(tempfile.mkdtemp(prefix="step-parts-"))
    config = work / "inplace.yaml"
    config.write_text(inplace.config_text(work / "inplace-tokens.yaml"))
    config.chmod(0o600)
    signer = shell.OAuth1Signer()
    with open(os.devnull, "w") as devnull, \
            taddons.context(TermLog(devnull), ProxyAuth(), signer) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(signer, oauth1_config=str(config), listen_host="127.0.0.1")
        signer.running()

        def flow_to(host: str) -> Any:
            flow = tflow.tflow()
            flow.request.scheme, flow.request.host, flow.request.port = "https", host, 443
            flow.request.path = inplace.PATH
            flow.request.headers["host"] = host
            return flow

        flow, other = flow_to(inplace.HOST), flow_to("other.example.com")
        fields, path = flow.request.data.headers.fields, flow.request.data.path

        def signed() -> None:
            flow.request.data.headers.fields, flow.request.data.path = fields, path
            signer.sign_flow(flow)
            signer._signed.clear()

        for _ in range(3):  # planned the second time, its one step recorded the third
            signed()
        memo = signer._shapes
        shape, kept = next(iter(memo._prepared.items()))
        assert kept.plan is not None and kept.applied is not None, "the shape is not kept: no one step to measure"
        plan, applied, tokens = kept.plan, kept.applied, signer._lookups[1]
        calls = {
            "noop": lambda: None,
            "signed": signed,
            "unsigned": lambda: signer.sign_flow(other),
            "again": lambda: memo.again(shape, signer.config, tokens, 1_700_000_000, shell.make_nonce, signer._skew),
            "place": lambda: plan.place(shell.make_nonce(), "1700000000"),
            "nonce": shell.make_nonce,
            "take": lambda: SIGNED_LINES.take(1_700_000_000.5, applied.line),
            "signed_again": lambda: metrics.signed_again(applied.meter, 0.0001),
        }
        call = calls[part]
        for i in range(n):
            call()
            if i % 1000 == 999:
                SIGNED_LINES.pending.clear()  # lines are not what this measures: no flush
        SIGNED_LINES.pending.clear()
        signer.done()


def _instructions(part: str, n: int, work: Path) -> int:
    out = work / f"cg.{part}.{n}"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                    "--one", part, str(n)], check=True, capture_output=True, timeout=900)
    return next(int(line.split()[1]) for line in out.read_text().splitlines() if line.startswith("totals:"))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        asyncio.run(_run(argv[1], int(argv[2])))
        return 0
    n = int(argv[0]) if argv and argv[0].isdigit() else 10000
    parts = [argv[argv.index("--part") + 1]] if "--part" in argv else list(PARTS)
    with tempfile.TemporaryDirectory(prefix="step-parts-") as directory:
        work = Path(directory)
        print(f"instructions per call, {n} calls minus none, under callgrind")
        for part in parts:
            per_call = (_instructions(part, n, work) - _instructions(part, 0, work)) / n
            print(f"  {part:14} {per_call:10,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
