"""Instruction counts and a profile of one signed request (issue 17): stable figures on a noisy machine.

``valgrind --tool=callgrind`` counts the instructions a process executes;
two runs of the same program, one doing N requests and one doing none,
differ by N requests' worth (start-up, imports and exit cancel out), and
the count barely moves with the machine's load. Two programs:

- ``sign_request`` alone: the bench's GET (5 query parameters, HMAC-SHA1,
  header placement), N times, in a plain loop;
- one signed request in place: ``inplace.py`` drives OAuth1Signer's hooks
  over N flows (policy, shell, the log line), as mitmdump would.

With ``--against REV`` both programs also count that commit's tree (the
same program, PYTHONPATH=its ``addon/``), in the same run. PYTHONHASHSEED
is fixed so that two runs hash (and so execute) alike.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

INPLACE = Path(__file__).with_name("inplace.py")
TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)

SIGN_REQUEST_PROGRAM = """
import sys
from oauth1_proxy.signing import ClientCredentials, RequestToSign, SignatureMethod, TokenCredentials, sign_request
URL = ("https://api.example.com/1.1/statuses/home_timeline.json"
       "?count=20&since_id=12345&max_id=67890&trim_user=true&include_entities=0")
client = ClientCredentials(key="bench-consumer-key", secret="bench-consumer-secret")
token = TokenCredentials(token="bench-token-1234567890", secret="bench-token-secret")
request = RequestToSign(method="GET", url=URL, content_type=None, body=b"")
for _ in range(int(sys.argv[1])):
    sign_request(request, client=client, token=token, signature_method=SignatureMethod.HMAC_SHA1,
                 nonce="f3b7d1c0a9e84c2f9d6b5a4e3c2b1a09", timestamp="1700000000")
"""


def valgrind() -> str | None:
    return shutil.which("valgrind")


def instructions(argv: list[str], *, pythonpath: Path | None, workdir: Path) -> int:
    """The instructions ``argv`` executes under callgrind (its whole run)."""
    tool = valgrind()
    if tool is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind): no instruction counts")
    handle, out = tempfile.mkstemp(prefix="callgrind.", dir=workdir)
    os.close(handle)
    env = dict(os.environ, PYTHONHASHSEED="0")
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    result = subprocess.run([tool, "--tool=callgrind", f"--callgrind-out-file={out}", *argv], cwd=workdir,
                            env=env, capture_output=True, timeout=1800)
    data = Path(out).read_bytes()
    os.unlink(out)
    found = TOTALS.search(data)
    if result.returncode != 0 or found is None:
        tail = result.stderr.decode("utf-8", "replace")[-1500:]
        raise RuntimeError(f"callgrind run of {' '.join(argv)} failed (exit {result.returncode}):\n{tail}")
    return int(found.group(1))


def per_request(argv: Callable[[int], list[str]], n: int, *, pythonpath: Path | None, workdir: Path,
                pool: ThreadPoolExecutor) -> dict[str, Any]:
    """Instructions per request: (run with n requests - run with 0) / n."""
    with_n = pool.submit(instructions, argv(n), pythonpath=pythonpath, workdir=workdir)
    with_0 = pool.submit(instructions, argv(0), pythonpath=pythonpath, workdir=workdir)
    total, base = with_n.result(), with_0.result()
    return {"n": n, "instructions_n": total, "instructions_0": base, "per_request": (total - base) / n}


def bench_counts(quick: bool, against: str | None, progress: Callable[[str], None]) -> dict[str, Any]:
    """Instructions per signed request, of sign_request alone and in place; of REV's tree too."""
    from oauth1_proxy.devtools.bench.proxy import against_name, old_tree

    n_sign, n_place = (200, 50) if quick else (2000, 300)
    here = Path(__file__).resolve().parents[3]  # this tree's addon/
    results: dict[str, Any] = {"n_sign_request": n_sign, "n_in_place": n_place, "trees": {}}
    with tempfile.TemporaryDirectory(prefix="oauth1-bench-counts-") as tmp, ThreadPoolExecutor(2) as pool:
        workdir = Path(tmp)
        trees: dict[str, Path] = {"this tree": here}
        if against:
            trees[against_name(against)] = old_tree(against, workdir)
        for name, tree in trees.items():
            progress(f"callgrind: {name}, sign_request x{n_sign} and x0")
            sign = per_request(lambda k: [sys.executable, "-c", SIGN_REQUEST_PROGRAM, str(k)], n_sign,
                               pythonpath=tree, workdir=workdir, pool=pool)
            progress(f"callgrind: {name}, {n_place} flows in place and 0")
            place = per_request(lambda k: [sys.executable, str(INPLACE), str(k), "--build", str(n_place),
                                          "--dir", str(workdir)], n_place,
                                pythonpath=tree, workdir=workdir, pool=pool)
            results["trees"][name] = {"sign_request": sign, "in_place": place}
    return results


def profile_in_place(n: int) -> str:
    """cProfile of n signed requests in place (inplace.py --profile): the entries of our code and mitmproxy's."""
    with tempfile.TemporaryDirectory(prefix="oauth1-bench-profile-") as tmp:
        result = subprocess.run([sys.executable, str(INPLACE), str(n), "--profile", "--dir", tmp],
                                capture_output=True, text=True, timeout=600, cwd=tmp)
    if result.returncode != 0:
        raise RuntimeError(f"the in-place profile failed:\n{result.stderr[-1500:]}")
    return result.stdout


def print_counts(counts: dict[str, Any], out: Any) -> None:
    print(f"Instructions per signed request (valgrind --tool=callgrind; a run with N minus a run with 0; "
          f"stable under load): sign_request alone N={counts['n_sign_request']}, one request in place through "
          f"OAuth1Signer's hooks N={counts['n_in_place']}", file=out)
    trees = counts["trees"]
    for name, figures in trees.items():
        print(f"  {name:28} sign_request {figures['sign_request']['per_request']:>10,.0f}   "
              f"in place {figures['in_place']['per_request']:>11,.0f}", file=out)
    if len(trees) == 2:
        (_, new), (old_name, old) = trees.items()
        for part in ("sign_request", "in_place"):
            before, after = old[part]["per_request"], new[part]["per_request"]
            print(f"  {part}: {after / before:.1%} of {old_name} ({after - before:+,.0f} instructions)", file=out)
