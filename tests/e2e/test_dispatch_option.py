"""`oauth1-proxy run --set oauth1_sparse_dispatch=false` keeps mitmproxy's own event dispatch (issue 13)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from oauth1_proxy.devtools.provider import Provider
from tests.e2e.conftest import BIN, curl, profile_for, write_config

PROBE = (
    "import logging\n"
    "from mitmproxy import ctx\n"
    "def running():\n"
    "    logging.warning('dispatch-probe: %s', type(ctx.master.addons).__name__)\n"
)


@pytest.mark.parametrize(
    ("args", "manager"),
    [((), "SparseDispatch"), (("--set", "oauth1_sparse_dispatch=false"), "AddonManager")],
    ids=["default", "oauth1_sparse_dispatch=false"],
)
def test_run_oauth1_sparse_dispatch_option_picks_the_manager_and_still_signs(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, args: tuple[str, ...], manager: str
) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    proxy = run_proxy(config, "-s", str(probe), *args)
    assert proxy.wait_for("dispatch-probe:", timeout=10), proxy.text()
    assert f"dispatch-probe: {manager}" in proxy.text()
    said = [line for line in proxy.output if "event dispatch:" in line]
    if manager == "AddonManager":
        assert len(said) == 1 and "mitmproxy's own (oauth1_sparse_dispatch is false)" in said[0], said
    else:
        assert said == []
    result = curl("-x", proxy.url, f"{http_provider.base_url}/api/echo/one")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["token"] is not None  # signed, with the token: the provider accepted it
    assert http_provider.records and all(r.valid for r in http_provider.records)


def test_run_oauth1_sparse_dispatch_option_with_a_bad_value_exits_naming_it(tmp_path: Path, confdir: Path) -> None:
    # Our addon is added in code, not as a -s script: a bad value stops the start (no silent skip, #8013).
    config = write_config(tmp_path / "proxy.yaml", {"api": {
        "hosts": ["api.example.com"], "consumer_key": "key", "consumer_secret": "secret"}})
    result = subprocess.run(
        [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0",
         "--set", "oauth1_sparse_dispatch=maybe", "--set", f"confdir={confdir}"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "oauth1_sparse_dispatch" in result.stderr + result.stdout
    assert "listening at" not in result.stdout
