"""What ``check`` says about a profile on a preset whose provider retires OAuth 1.0a (presets.preset_notice)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from oauth1_proxy.presets import PRESETS, preset_notice


def test_preset_notice_garmin_before_the_end_counts_the_days() -> None:
    notice = preset_notice("garmin", date(2026, 12, 1))
    assert notice is not None
    assert notice.startswith("Garmin retires OAuth 1.0a on 2026-12-31 (30 days left)")
    assert "OAuth 2.0 PKCE" in notice
    assert "(1 day left)" in (preset_notice("garmin", date(2026, 12, 30)) or "")
    assert "(0 days left)" in (preset_notice("garmin", date(2026, 12, 31)) or "")


def test_preset_notice_garmin_after_the_end_says_it_is_off() -> None:
    notice = preset_notice("garmin", date(2027, 1, 1))
    assert notice is not None and notice.startswith("Garmin retired OAuth 1.0a on 2026-12-31: this profile can "
                                                    "no longer log in or sign")


def test_preset_notice_twitter_names_the_retired_upload_host() -> None:
    notice = preset_notice("twitter", date(2026, 12, 1))
    assert notice is not None and "upload.twitter.com" in notice and "api.x.com/2/media/upload" in notice
    assert "upload.twitter.com" not in PRESETS["twitter"]["hosts"]


def test_preset_notice_other_presets_have_none() -> None:
    assert preset_notice("trello", date(2026, 12, 1)) is None


def test_preset_etrade_and_sandbox_differ_only_in_the_api_host() -> None:
    production, sandbox = PRESETS["etrade"], PRESETS["etrade-sandbox"]
    assert production["hosts"] == ["api.etrade.com"] and sandbox["hosts"] == ["apisb.etrade.com"]
    assert {k: v for k, v in production.items() if k != "hosts"} == {k: v for k, v in sandbox.items() if k != "hosts"}
    assert production["token_method"] == "GET" and production["callback"] == "oob"
    assert production["require_callback_confirmed"] is False and production["request_token_lifetime"] == 300


def test_check_command_prints_the_garmin_notice_under_the_profile(tmp_path: Path) -> None:
    config = tmp_path / "garmin.yaml"
    config.write_text("token_store: tokens.yaml\nprofiles:\n  fit:\n    preset: garmin\n    consumer_key: ck\n"
                      "    consumer_secret: cs\n")
    config.chmod(0o600)
    result = subprocess.run([str(Path(sys.executable).parent / "oauth1-proxy"), "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr  # a notice warns; it does not fail the check
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("  fit (preset garmin):"))
    expected = preset_notice("garmin", datetime.now(UTC).date())
    assert lines[at + 1] == f"    note: {expected}"
    assert "Garmin retire" in lines[at + 1] and "OAuth 2.0 PKCE" in lines[at + 1]
