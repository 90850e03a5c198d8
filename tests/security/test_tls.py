"""Promises: TLS verification stays on unless the user turns it off, visibly; PLAINTEXT only over TLS (SPEC §5).

Also checked elsewhere:
- tests/e2e/test_proxy_signs_requests.py::test_proxy_verifies_upstream_certificates (verification on by default);
- tests/e2e/test_proxy_signs_requests.py::test_proxy_refuses_plaintext_over_plain_http;
- tests/test_mitmproxy_addon.py::test_request_plaintext_over_http_is_refused and
  ::test_request_plaintext_over_http_with_allow_insecure_is_signed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from oauth1_proxy.devtools.provider import Provider
from tests.e2e.conftest import curl, profile_for, write_config

INSECURE_WARNING = "ssl_insecure is set: upstream TLS certificates are NOT verified"


def test_proxy_with_ssl_insecure_logs_it_as_the_users_choice(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "--set", "ssl_insecure=true")  # the provider's CA is not trusted
    assert proxy.wait_for(INSECURE_WARNING)
    assert "This is your explicit choice" in proxy.text()


def test_proxy_with_ssl_insecure_reaches_an_untrusted_upstream(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    # What the warning is about: the untrusted certificate is accepted, the request leaves signed.
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "-k")
    result = curl("--cacert", str(proxy.ca_file), "-x", proxy.url, f"{provider.base_url}/api/me")
    assert json.loads(result.stdout)["screen_name"] == "demo_user"
    assert [r.valid for r in provider.records] == [True]


def test_proxy_by_default_does_not_log_the_insecure_warning(
    tmp_path: Path, provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
    proxy = run_proxy(config, "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}")
    assert proxy.wait_for("oauth1-proxy: profile api")
    assert INSECURE_WARNING not in proxy.text()


def test_proxy_plaintext_over_http_with_allow_insecure_is_signed_and_verifies(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    profile = profile_for(http_provider, signature_method="PLAINTEXT", allow_insecure=True)
    proxy = run_proxy(write_config(tmp_path / "proxy.yaml", {"api": profile}))
    result = curl("-x", proxy.url, f"{http_provider.base_url}/api/echo/insecure")
    assert json.loads(result.stdout)["signature_method"] == "PLAINTEXT"
    assert [r.valid for r in http_provider.records] == [True]
