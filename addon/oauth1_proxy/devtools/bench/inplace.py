"""One signed request in place, for the bench's instruction counts and profile (issue 17).

Run as a program (``python inplace.py N [--build M] [--profile] [--dir DIR]``), in
its own process, by ``counts.py``: it drives the OAuth1Signer's hooks the
way mitmdump does (root logger at DEBUG, mitmproxy's terminal log writing to
/dev/null, the legacy log events), over N test flows to a configured host
(HMAC-SHA1, a static token), then lets the log timer fire. ``--build M``
makes M flows however many are signed: N = 0 with the same M runs
everything but the signing: the difference of two runs, divided by N, is the
cost of one signed request. It imports mitmproxy itself (lazily, in main:
the bench's modules import none of it at load) and only the names of
``oauth1_proxy`` every commit has, so ``--against REV`` counts an old tree
with the same program (PYTHONPATH=that tree).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

HOST = "api.example.com"
PATH = "/1.1/statuses/home_timeline.json?count=20&since_id=12345&max_id=67890&trim_user=true&include_entities=0"


def config_text(store: Path) -> str:
    """The profile every flow matches (static token: no store read per request)."""
    return (
        f"token_store: {store}\n"
        "profiles:\n"
        "  api:\n"
        f"    hosts: [{HOST}]\n"
        "    consumer_key: bench-consumer-key\n"
        "    consumer_secret: bench-consumer-secret\n"
        "    token: bench-token-1234567890\n"
        "    token_secret: bench-token-secret\n"
    )


async def drive(n: int, config: Path, profile: bool, build: int) -> None:
    import logging
    import os

    from mitmproxy.addons.proxyauth import ProxyAuth  # noqa: TID251 (a program of its own; see the docstring)
    from mitmproxy.addons.termlog import TermLog  # noqa: TID251
    from mitmproxy.test import taddons, tflow  # noqa: TID251

    # The signer itself, not the -s script module (importing that makes its addons: devtools never does).
    from oauth1_proxy.shell.signer import OAuth1Signer

    logging.getLogger().setLevel(logging.DEBUG)  # as mitmdump does
    addons = [OAuth1Signer()]  # what mitmproxy_addon.make_addons gives oauth1-proxy run
    with open(os.devnull, "w") as devnull, \
            taddons.context(TermLog(devnull), ProxyAuth(), *addons) as tctx:  # type: ignore[no-untyped-call]
        signer = addons[0]
        tctx.configure(signer, oauth1_config=str(config), listen_host="127.0.0.1")
        signer.running()
        flows = []
        for _ in range(max(n, build)):  # made in both runs: the difference is the signing alone
            flow = tflow.tflow()
            flow.request.scheme, flow.request.host, flow.request.port = "https", HOST, 443
            flow.request.path = PATH
            flow.request.headers["host"] = HOST
            flows.append(flow)
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for flow in flows[:n]:
            result = signer.request(flow)
            if result is not None:
                await result
            assert "authorization" in flow.request.headers, "the flow was not signed"
        await asyncio.sleep(0.3)  # the log timer (0.2 s) flushes what is waiting
        if profiler is not None:
            profiler.disable()
            import pstats

            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("cumulative").print_stats(r"oauth1_proxy|mitmproxy", 15)
        signer.done()


def main(argv: list[str]) -> int:
    n = int(argv[0])
    profile = "--profile" in argv
    work = Path(argv[argv.index("--dir") + 1]) if "--dir" in argv else Path.cwd()
    config = work / "inplace.yaml"
    config.write_text(config_text(work / "inplace-tokens.yaml"))
    config.chmod(0o600)
    build = int(argv[argv.index("--build") + 1]) if "--build" in argv else n
    asyncio.run(drive(n, config, profile, build))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
