"""The heap made at start-up is moved out of the cyclic collector's way once per process (issue 17,
shell/startup.settle_heap); the collector still frees every cycle made afterwards.

Run in a process of its own: the freeze happens once per process, and in this one whichever test first calls
running() has already made it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import asyncio, gc, json, sys, weakref
sys.path.insert(0, sys.argv[1])
from mitmproxy.test import taddons
from oauth1_proxy.shell.signer import OAuth1Signer

class Node:
    pass

async def main():
    frozen_before = gc.get_freeze_count()
    signer = OAuth1Signer()
    with taddons.context(signer):
        signer.running()
        frozen_after_first = gc.get_freeze_count()
        signer.running()
        frozen_after_second = gc.get_freeze_count()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    collected = gc.collect()
    print(json.dumps({"before": frozen_before, "first": frozen_after_first, "second": frozen_after_second,
                      "collected": collected, "cycle_alive": gone() is not None,
                      "enabled": gc.isenabled()}))

asyncio.run(main())
"""


def _settle_in_a_fresh_process() -> dict[str, int | bool]:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(ROOT / "addon")], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    result: dict[str, int | bool] = json.loads(out.strip().splitlines()[-1])
    return result


def test_running_freezes_the_start_up_heap_once_and_the_collector_still_frees_later_cycles() -> None:
    seen = _settle_in_a_fresh_process()
    # running() froze what start-up made: far more than the interpreter's own few hundred objects.
    assert seen["first"] > seen["before"] + 10_000, seen
    # A second running() (mitmproxy calls it once, a test may twice) freezes nothing more.
    assert seen["second"] == seen["first"], seen
    # What was made afterwards is collected as before: a cycle dropped after the freeze is freed.
    assert seen["enabled"] is True and seen["cycle_alive"] is False and int(seen["collected"]) >= 2, seen
