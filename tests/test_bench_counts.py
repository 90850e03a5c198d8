"""The bench's instruction counts and profile (issue 17): real callgrind runs, the in-place driver, the report."""

from __future__ import annotations

import io
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy.devtools.bench import counts


def test_inplace_driver_signs_every_flow_and_profiles_the_signers_hooks(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(counts.INPLACE), "20", "--profile", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # it asserts each flow got an Authorization header
    lines = result.stdout.splitlines()
    entries = [line for line in lines if "signer.py" in line or "signing.py" in line or "policy.py" in line]
    assert any("(sign_flow)" in line and line.split()[0] == "20" for line in entries), result.stdout
    assert any("(sign_request)" in line for line in entries)


def test_inplace_driver_with_no_flow_runs_everything_else(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(counts.INPLACE), "0", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_callgrind_counts_sign_request_instructions_per_request(tmp_path: Path) -> None:
    # Real valgrind: 40 signatures minus none; one HMAC-SHA1 GET takes tens of thousands of instructions.
    here = Path(counts.__file__).resolve().parents[3]
    with ThreadPoolExecutor(2) as pool:
        found = counts.per_request(lambda k: [sys.executable, "-c", counts.SIGN_REQUEST_PROGRAM, str(k)], 40,
                                   pythonpath=here, workdir=tmp_path, pool=pool)
    assert found["instructions_n"] > found["instructions_0"] > 10_000_000  # a whole interpreter's start
    assert 10_000 < found["per_request"] < 2_000_000, found
    assert list(tmp_path.iterdir()) == []  # the callgrind files are removed


def test_callgrind_failure_names_the_program_and_its_error(tmp_path: Path) -> None:
    try:
        counts.instructions([sys.executable, "-c", "raise SystemExit(3)"], pythonpath=None, workdir=tmp_path)
    except RuntimeError as e:
        assert "exit 3" in str(e) and "callgrind run of" in str(e)
    else:
        raise AssertionError("a failing program gave a count")


def test_print_counts_gives_each_tree_and_the_ratio_against_the_old_one() -> None:
    def figures(sign: float, place: float) -> dict[str, dict[str, float]]:
        return {"sign_request": {"per_request": sign}, "in_place": {"per_request": place}}

    out = io.StringIO()
    counts.print_counts({"n_sign_request": 200, "n_in_place": 50,
                         "trees": {"this tree": figures(50_000, 400_000),
                                   "oauth1-proxy @abc": figures(50_000, 800_000)}}, out)
    text = out.getvalue()
    assert "this tree" in text and "400,000" in text and "800,000" in text
    assert "in_place: 50.0% of oauth1-proxy @abc (-400,000 instructions)" in text
    assert "sign_request: 100.0% of oauth1-proxy @abc (+0 instructions)" in text


@pytest.mark.filterwarnings("ignore:use sign_:DeprecationWarning")  # the signer part times oauthlib's old primitives
def test_bench_callgrind_and_profile_flags_print_both_parts(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    # The counts themselves are real in the test above; here the flag's wiring, with the real profile.
    import oauth1_proxy.devtools.bench as bench

    asked: list[tuple[bool, str | None]] = []

    def fake_counts(quick: bool, against: str | None, progress: Any) -> dict[str, Any]:
        asked.append((quick, against))
        one = {"sign_request": {"per_request": 1000.0}, "in_place": {"per_request": 5000.0}}
        return {"n_sign_request": 200, "n_in_place": 50, "trees": {"this tree": one}}

    monkeypatch.setattr(bench, "bench_counts", fake_counts)
    assert bench.main(["--quick", "--skip-proxy", "--callgrind", "--profile"]) == 0
    out = capsys.readouterr().out
    assert asked == [(True, None)]
    assert "Instructions per signed request" in out and "5,000" in out
    assert "Profile of signed requests in place" in out and "(sign_flow)" in out
