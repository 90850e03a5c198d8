"""When a provider refuses a signed request: a clear log line, a base-string diff, clock correction (issue 4)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from oauth1_proxy.devtools.provider import Provider, ProviderClient

from .conftest import CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN, TOKEN_SECRET, profile_for, write_config


def make_provider(**kw: Any) -> Provider:
    return Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                    access_tokens={TOKEN: TOKEN_SECRET}, **kw)


def test_signature_invalid_is_logged_and_debug_diff_names_the_parameter(
    tmp_path: Path, run_proxy: Any, run_mitmdump: Any
) -> None:
    with make_provider(report_base_string=True) as provider:
        # A second proxy rewrites the query after we signed it: the provider sees x=2, we signed x=1.
        second = run_mitmdump("--map-remote", "|x=1|x=2")
        config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
        proxy = run_proxy(config, "--mode", f"upstream:{second.url}", "--set", "oauth1_debug=true")
        reply = requests.get(f"{provider.base_url}/api/echo/diag?x=1", proxies={"http": proxy.url}, timeout=10)
        assert reply.status_code == 401
        assert proxy.wait_for("differs:")
        log = proxy.text()
    assert "profile api: GET 127.0.0.1/api/echo/diag was refused: 401 (oauth_problem=signature_invalid)" in log
    assert "our signature base string: GET&" in log
    assert "differs: parameter 'x': ours '1'; provider's '2'" in log
    for secret in SECRETS:
        assert secret not in log


def test_refusal_without_debug_logs_one_line_without_base_string(tmp_path: Path, run_proxy: Any) -> None:
    with make_provider() as provider:
        config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider, consumer_secret="wrong")})
        proxy = run_proxy(config)
        reply = requests.get(f"{provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=10)
        assert reply.status_code == 401
        assert proxy.wait_for("was refused")
    assert "check consumer_secret and token_secret" in proxy.text()
    assert "GET&http" not in proxy.text()  # no base string without oauth1_debug


def test_provider_clock_15_minutes_ahead_is_corrected_and_retried(tmp_path: Path, run_proxy: Any) -> None:
    with make_provider(clock_offset=900) as provider:
        config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
        proxy = run_proxy(config)
        proxies = {"http": proxy.url}
        first = requests.get(f"{provider.base_url}/api/me", proxies=proxies, timeout=40)
        assert first.status_code == 200, first.text  # refused, corrected, retried
        assert [r.reason for r in provider.records] == ["timestamp_refused", None]
        later = requests.post(f"{provider.base_url}/api/echo/later", data={"a": "1"}, proxies=proxies, timeout=10)
        assert later.status_code == 200
        assert provider.records[-1].valid
        assert proxy.text().count("the provider's clock is") == 1  # logged once per profile


def test_clock_skew_post_with_body_is_not_retried(tmp_path: Path, run_proxy: Any) -> None:
    with make_provider(clock_offset=900) as provider:
        config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider)})
        proxy = run_proxy(config)
        proxies = {"http": proxy.url}
        post = requests.post(f"{provider.base_url}/api/echo/once", data={"a": "1"}, proxies=proxies, timeout=10)
        assert post.status_code == 401
        assert len(provider.records) == 1  # not sent twice
        after = requests.get(f"{provider.base_url}/api/me", proxies=proxies, timeout=10)
        assert after.status_code == 200  # the correction was learned from the refusal
        assert len(provider.records) == 2


def test_configured_clock_skew_is_used_from_the_first_request(tmp_path: Path, run_proxy: Any) -> None:
    with make_provider(clock_offset=-900) as provider:
        config = write_config(tmp_path / "proxy.yaml", {"api": profile_for(provider, clock_skew=-900)})
        proxy = run_proxy(config)
        reply = requests.get(f"{provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=10)
        assert reply.status_code == 200
        assert len(provider.records) == 1 and provider.records[0].valid
