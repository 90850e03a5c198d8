"""Wall clock of one flow through OAuth1Signer's hooks in place, signed and unsigned (issue 17).

    .venv/bin/python scripts/measure/hook_cycle.py [N]

The bench's in-place driver (devtools/bench/inplace.py: its config, HMAC-SHA1 with a static token, its long GET)
with mitmproxy's test flows, but each flow through requestheaders, request and response, as mitmdump calls
them; once to the configured host (signed) and once to another (unsigned), N flows each (default 20000),
three times alternating. Prints process CPU µs per flow. Warm loops: a running proxy pays more per
instruction (README, Performance).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "addon"))

from oauth1_proxy.devtools.bench import inplace  # noqa: E402


async def cycle(n: int, host: str, config: Path, prepare: Callable[[Any], None] = lambda signer: None) -> float:
    """Process CPU µs per flow of n flows to ``host``; ``prepare`` sees the signer first (hook_parts.py's cuts)."""
    from mitmproxy.addons.proxyauth import ProxyAuth
    from mitmproxy.addons.termlog import TermLog
    from mitmproxy.test import taddons, tflow, tutils

    from oauth1_proxy.shell.signer import OAuth1Signer

    logging.getLogger().setLevel(logging.DEBUG)  # as mitmdump does
    signer = OAuth1Signer()
    prepare(signer)
    with open(os.devnull, "w") as devnull, \
            taddons.context(TermLog(devnull), ProxyAuth(), signer) as tctx:  # type: ignore[no-untyped-call]
        tctx.configure(signer, oauth1_config=str(config), listen_host="127.0.0.1")
        signer.running()
        flows = []
        for _ in range(n):
            flow = tflow.tflow()
            flow.request.scheme, flow.request.host, flow.request.port = "https", host, 443
            flow.request.path = inplace.PATH
            flow.request.headers["host"] = host
            flows.append(flow)
        response = tutils.tresp()
        started = time.process_time()
        for flow in flows:
            signer.requestheaders(flow)
            result = signer.request(flow)
            if result is not None:
                await result
            flow.response = response
            result = signer.response(flow)
            if result is not None:
                await result
        spent = time.process_time() - started
        assert ("authorization" in flows[0].request.headers) == (host == inplace.HOST)
        await asyncio.sleep(0.3)  # the log timer
        signer.done()
    return spent / n * 1e6


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:  # one measurement, in a process of its own (mitmproxy's test master: one loop each)
        print(asyncio.run(cycle(int(argv[1]), argv[2], Path(argv[3]))))
        return 0
    n = int(argv[0]) if argv else 20000
    with tempfile.TemporaryDirectory(prefix="hook-cycle-") as directory:
        work = Path(directory)
        config = work / "inplace.yaml"
        config.write_text(inplace.config_text(work / "inplace-tokens.yaml"))
        config.chmod(0o600)

        def one(host: str) -> float:
            out = subprocess.run([sys.executable, __file__, "--one", str(n), host, str(config)], check=True,
                                 capture_output=True, text=True, timeout=600).stdout
            return float(out.split()[-1])

        for _ in range(3):
            signed, unsigned = one(inplace.HOST), one("other.example.com")
            print(f"signed {signed:.1f} µs per flow, unsigned {unsigned:.1f}, added {signed - unsigned:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
