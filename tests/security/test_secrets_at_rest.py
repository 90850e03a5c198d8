"""Promise: secrets at rest. Files holding secrets that other users can open get a warning, like ssh (SPEC §7).

The token store's own mode (0600) is also checked by
tests/test_tokens.py::test_file_token_store_file_mode_is_0600 and after a
real dance by tests/e2e/test_token_dance.py::test_dance_through_proxy_regular_mode_then_signed_call.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from oauth1_proxy.devtools.provider import Provider
from oauth1_proxy.permissions import permission_warning
from oauth1_proxy.tokens import FileTokenStore, StoredToken
from tests.e2e.conftest import BIN, SECRETS, profile_for, write_config

REGULAR = stat.S_IFREG


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o700 | 0o020], ids=oct)
def test_permission_warning_file_open_to_group_or_others_names_file_mode_and_fix(mode: int) -> None:
    warning = permission_warning("/etc/o/config.yaml", REGULAR | mode, "config file")
    assert warning == (
        f"/etc/o/config.yaml: permissions {mode:04o} are too open for a config file: "
        f"{'other users' if mode & 0o007 else 'its group'} can read or change it. Run: chmod 600 /etc/o/config.yaml"
    )


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700], ids=oct)
def test_permission_warning_private_file_is_none(mode: int) -> None:
    assert permission_warning("/k.pem", REGULAR | mode, "private key file") is None


def test_permission_warning_folder_is_none() -> None:
    assert permission_warning("/tmp", stat.S_IFDIR | 0o777, "config file") is None


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "oauth1-proxy"), "check", "--config", str(config)], capture_output=True,
                          text=True, timeout=60)


def test_check_config_readable_by_others_warns_and_still_exits_0(tmp_path: Path, http_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    config.chmod(0o644)
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert (f"oauth1-proxy: warning: {config}: permissions 0644 are too open for a config file: other users can "
            f"read or change it. Run: chmod 600 {config}") in result.stderr
    assert not any(secret in result.stdout + result.stderr for secret in SECRETS)


def test_check_private_config_does_not_warn(tmp_path: Path, http_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    config.chmod(0o600)
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_check_private_key_readable_by_group_warns_naming_the_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = tmp_path / "private.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    pem.chmod(0o640)
    config = write_config(tmp_path / "proxy.yaml", {"jira": {
        "hosts": ["jira.example.com"], "consumer_key": "ck", "signature_method": "RSA-SHA1",
        "private_key_file": "private.pem",
    }})
    config.chmod(0o600)
    result = check(config)
    assert result.returncode == 0, result.stderr
    assert f"{pem}: permissions 0640 are too open for a private key file: its group can" in result.stderr
    assert "config file" not in result.stderr


def test_check_token_store_opened_to_others_warns(tmp_path: Path, http_provider: Provider) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    config.chmod(0o600)
    store = tmp_path / "tokens.yaml"
    FileTokenStore(store).put("other", StoredToken(token="t", token_secret="s"))
    store.chmod(0o644)
    assert f"{store}: permissions 0644 are too open for a token store" in check(config).stderr


def test_run_config_readable_by_others_logs_the_warning(tmp_path: Path, http_provider: Provider,
                                                        run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(http_provider)})
    config.chmod(0o604)
    proxy = run_proxy(config)
    assert proxy.wait_for(f"oauth1-proxy: {config}: permissions 0604 are too open for a config file")


def test_file_token_store_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        FileTokenStore(tmp_path / "tokens.yaml").put("api", StoredToken(token="t", token_secret="s"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "tokens.yaml").stat().st_mode) == 0o600
