"""The helper is a web page and the web is hostile (issue 12 part 2, SPEC §10): real mitmdump, raw requests.

Each test is an attack of the outside review, replayed against a running
proxy on loopback: a DNS-rebinding page's Host header, cross-site forms,
another browser's callback, a provider that drips, PLAINTEXT in clear.
The attacks a browser makes are replayed in real chromium in
tests/e2e/test_helper_attacks_browser.py.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from tests.e2e.conftest import CONSUMER_KEY, CONSUMER_SECRET, SECRETS, TOKEN_SECRET, profile_for, write_config
from tests.e2e.helper_forms import csrf_from, log_out, start_login
from tests.e2e.test_token_dance import DIRECT, approve_at_provider, dance_profile, read_authorize_url, run_login
from tests.test_transport import DripServer

HELPER = "http://oauth1.proxy"
EVIL = "attacker.test"


@pytest.fixture
def dance_provider() -> Any:
    with Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)], screen_name="alice",
                  user_id="42") as p:
        yield p


def direct_url(proxy: Any) -> str:
    assert proxy.wait_for(" direct")
    m = DIRECT.search(proxy.text())
    assert m, proxy.text()
    return str(m.group(1))


def port_of(url: str) -> int:
    return int(url.rstrip("/").rpartition(":")[2])


def stored(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "tokens.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def dance_endpoints(provider: Provider) -> list[str]:
    return [r.endpoint for r in provider.records if r.endpoint in ("request_token", "access_token")]


def logged_in_proxy(tmp_path: Path, provider: Provider, run_proxy: Any, *args: str) -> Any:
    """A proxy whose profile "p" is logged in through the helper (the dance through the proxy)."""
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider)})
    proxy = run_proxy(config, *args)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    login = start_login(s, f"{HELPER}/login/p")
    assert s.get(approve_at_provider(s, login.headers["Location"]).headers["Location"], timeout=10).status_code == 200
    assert "p" in stored(tmp_path)
    return proxy


# --- 1. The direct helper URL answers only its own Host (DNS rebinding) ----------------------------


@pytest.mark.parametrize("route", ["/", "/status.json", "/login/p"])
def test_direct_helper_rebinding_host_is_421_and_reveals_nothing(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any, route: str
) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    direct = direct_url(proxy)
    port = port_of(direct)
    answer = requests.get(f"{direct.rstrip('/')}{route}", headers={"Host": f"{EVIL}:{port}"}, timeout=10)
    assert answer.status_code == 421
    assert "alice" not in answer.text and "logged_in" not in answer.text
    for own in (f"127.0.0.1:{port}", f"localhost:{port}"):
        assert requests.get(f"{direct}status.json", headers={"Host": own}, timeout=10).status_code == 200


def test_direct_helper_rebinding_cannot_log_out_or_steer_the_callback(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    direct = direct_url(proxy)
    evil = {"Host": f"{EVIL}:{port_of(direct)}", "Origin": f"http://{EVIL}:{port_of(direct)}"}
    own_page = requests.get(direct, timeout=10)  # even holding a genuine page token
    token = csrf_from(own_page)
    before = len(dance_endpoints(dance_provider))
    assert requests.post(f"{direct}logout/p", data={"csrf": token}, headers=evil, timeout=10).status_code == 421
    assert requests.post(f"{direct}login/p", data={"csrf": token}, headers=evil, timeout=10).status_code == 421
    assert "p" in stored(tmp_path)
    assert len(dance_endpoints(dance_provider)) == before  # no oauth_callback=http://attacker.test:... was sent
    assert not any(EVIL in r.uri for r in dance_provider.records)


def test_helper_through_the_proxy_with_a_foreign_host_header_is_421(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    answer = requests.get(f"{HELPER}/status.json", headers={"Host": f"{EVIL}"}, proxies={"http": proxy.url},
                          timeout=10)
    assert answer.status_code == 421 and "alice" not in answer.text


def test_cli_login_listener_refuses_a_rebinding_host_and_keeps_waiting(
    tmp_path: Path, dance_provider: Provider
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    process = run_login(config)
    try:
        url = read_authorize_url(process, dance_provider)
        s = requests.Session()
        back = approve_at_provider(s, url).headers["Location"]  # http://127.0.0.1:PORT/callback/p?...
        port = port_of(back.partition("/callback")[0])
        refused = requests.get(back, headers={"Host": f"{EVIL}:{port}"}, timeout=10)
        assert refused.status_code == 421
        other = requests.get(back.partition("?")[0] + "?oauth_token=other&oauth_verifier=x", timeout=10)
        assert other.status_code == 400  # another login's callback does not end this one
        assert process.poll() is None
        assert s.get(back, timeout=10).status_code == 200
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out
    assert stored(tmp_path)["p"]["screen_name"] == "alice"


# --- 2. Reverse mode signs and answers only its own Host --------------------------------------------


def reverse_proxy(tmp_path: Path, provider: Provider, run_proxy: Any, *args: str) -> Any:
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(provider)})
    return run_proxy(config, "--mode", f"reverse:{provider.base_url}", *args)


@pytest.mark.parametrize("host", [f"{EVIL}:PORT", EVIL, "127.0.0.1:1", "localhost.evil:PORT"], ids=str)
def test_reverse_mode_rebinding_host_is_421_and_nothing_leaves(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, host: str
) -> None:
    proxy = reverse_proxy(tmp_path, http_provider, run_proxy)
    host = host.replace("PORT", str(proxy.port))
    for path in ("/api/me", "/_oauth1/status.json"):
        answer = requests.get(f"http://127.0.0.1:{proxy.port}{path}", headers={"Host": host}, timeout=10)
        assert answer.status_code == 421, answer.text
        assert "oauth_signature" not in answer.text
    assert http_provider.records == []
    assert proxy.wait_for("does not name this listener")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LocalHost."], ids=str)
def test_reverse_mode_own_host_is_signed_and_upstream_gets_the_target_host_as_before(
    tmp_path: Path, http_provider: Provider, run_proxy: Any, name: str
) -> None:
    proxy = reverse_proxy(tmp_path, http_provider, run_proxy)
    answer = requests.get(f"http://127.0.0.1:{proxy.port}/api/me", headers={"Host": f"{name}:{proxy.port}"},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    record = http_provider.records[-1]
    assert record.valid
    assert record.uri.startswith(f"http://{http_provider.host}:{http_provider.port}/api/me")  # the target's Host


def test_reverse_mode_keep_host_header_still_forwards_the_clients_host(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    """The user's own keep_host_header: the client's Host goes upstream, so the signer refuses it as before (400)."""
    proxy = reverse_proxy(tmp_path, http_provider, run_proxy, "--set", "keep_host_header=true")
    own = requests.get(f"http://127.0.0.1:{proxy.port}/api/me", timeout=10)
    assert own.status_code == 400 and "does not match the destination" in own.json()["message"]
    assert http_provider.records == []
    evil = requests.get(f"http://127.0.0.1:{proxy.port}/api/me", headers={"Host": EVIL}, timeout=10)
    assert evil.status_code == 421


def test_reverse_mode_oauth1_reverse_hosts_admits_the_listed_names(
    tmp_path: Path, http_provider: Provider, run_proxy: Any
) -> None:
    proxy = reverse_proxy(tmp_path, http_provider, run_proxy, "--set", "oauth1_reverse_hosts=api.local",
                          "--set", "oauth1_reverse_hosts=other.local:9")
    base = f"http://127.0.0.1:{proxy.port}/api/me"
    assert requests.get(base, headers={"Host": f"api.local:{proxy.port}"}, timeout=10).status_code == 200
    assert requests.get(base, headers={"Host": "api.local"}, timeout=10).status_code == 200
    assert requests.get(base, headers={"Host": "other.local:9"}, timeout=10).status_code == 200
    assert requests.get(base, headers={"Host": f"other.local:{proxy.port}"}, timeout=10).status_code == 421
    assert requests.get(base, headers={"Host": f"{EVIL}:{proxy.port}"}, timeout=10).status_code == 421
    assert all(r.valid for r in http_provider.records) and len(http_provider.records) == 3


def test_reverse_mode_as_a_mitmdump_script_checks_the_host_too(
    tmp_path: Path, http_provider: Provider, run_mitmdump: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": profile_for(http_provider)})
    config.chmod(0o600)
    script = Path(__file__).parents[2] / "addon" / "oauth1_proxy" / "mitmproxy_addon.py"
    proxy = run_mitmdump("-s", str(script), "--set", f"oauth1_config={config}", "--mode",
                         f"reverse:{http_provider.base_url}")
    base = f"http://127.0.0.1:{proxy.port}/api/me"
    assert requests.get(base, headers={"Host": f"{EVIL}:{proxy.port}"}, timeout=10).status_code == 421
    assert http_provider.records == []
    assert requests.get(base, timeout=10).status_code == 200
    assert http_provider.records[-1].valid
    assert http_provider.records[-1].uri.startswith(f"http://{http_provider.host}:{http_provider.port}/")


def test_reverse_mode_bad_oauth1_reverse_hosts_is_a_clear_start_error(tmp_path: Path, http_provider: Provider,
                                                                        run_proxy: Any) -> None:
    with pytest.raises(AssertionError) as e:
        reverse_proxy(tmp_path, http_provider, run_proxy, "--set", "oauth1_reverse_hosts=a b/c")
    text = str(e.value)
    assert "oauth1_reverse_hosts: 'a b/c' is not a host name or HOST:PORT" in text and "Traceback" not in text


# --- 3. Cross-site requests cannot start, complete or end a login ----------------------------------


def test_cross_site_logout_with_origin_null_is_refused(tmp_path: Path, dance_provider: Provider,
                                                       run_proxy: Any) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    proxies = {"http": proxy.url}
    for headers in ({"Origin": "null"}, {}, {"Origin": "http://attacker.test"}):
        answer = requests.post(f"{HELPER}/logout/p", headers=headers, proxies=proxies, allow_redirects=False,
                               timeout=10)
        assert answer.status_code == 403, (headers, answer.text)
    assert "p" in stored(tmp_path)


def test_twenty_login_gets_make_no_request_token_call(tmp_path: Path, dance_provider: Provider,
                                                      run_proxy: Any) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    for _ in range(20):
        page = requests.get(f"{HELPER}/login/p", proxies={"http": proxy.url}, timeout=10)
        assert page.status_code == 200 and 'id="start-login"' in page.text
    assert dance_endpoints(dance_provider) == []


def test_callback_of_a_login_another_browser_started_completes_nothing(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    """Login CSRF: the attacker starts a login, approves as themselves, and sends the user their callback."""
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config)
    attacker, user = requests.Session(), requests.Session()
    attacker.proxies = user.proxies = {"http": proxy.url}
    login = start_login(attacker, f"{HELPER}/login/p")
    callback = approve_at_provider(attacker, login.headers["Location"]).headers["Location"]
    refused = user.get(callback, timeout=10)
    assert refused.status_code == 403 and "another browser" in refused.text
    assert stored(tmp_path) == {} and "access_token" not in dance_endpoints(dance_provider)
    assert attacker.get(callback, timeout=10).status_code == 200  # the login itself still works for its browser


def test_reverse_mode_logout_works_when_opened_as_localhost(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider)})
    proxy = run_proxy(config, "--mode", f"reverse:{dance_provider.base_url}")
    origin = f"http://localhost:{proxy.port}"
    s = requests.Session()
    login = start_login(s, f"{origin}/_oauth1/login/p")
    back = approve_at_provider(s, login.headers["Location"]).headers["Location"]
    assert back.startswith(f"{origin}/_oauth1/callback/p?")  # the callback names the Host the browser used
    assert s.get(back, timeout=10).status_code == 200
    assert log_out(s, f"{origin}/_oauth1/", "p").status_code == 303
    assert "p" not in stored(tmp_path)


# --- 5. The oob page takes the PIN ----------------------------------------------------------------


def test_oob_login_through_the_helper_page_takes_the_pin(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider, callback="oob")})
    proxy = run_proxy(config)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    page = start_login(s, f"{HELPER}/login/p")
    assert page.status_code == 200 and 'id="pin"' in page.text and "--oob" not in page.text
    authorize = re.search(r'id="authorize" href="([^"]+)"', page.text)
    assert authorize
    pin_page = approve_at_provider(requests.Session(), authorize.group(1).replace("&amp;", "&"))
    pin = re.search(r'id="pin">([^<]+)<', pin_page.text)
    assert pin, pin_page.text
    token = re.search(r'name="oauth_token" value="([^"]+)"', page.text)
    assert token
    done = s.post(f"{HELPER}/verify/p", data={"csrf": csrf_from(page), "oauth_token": token.group(1),
                                              "pin": pin.group(1)}, headers={"Origin": HELPER}, timeout=10)
    assert done.status_code == 200 and 'id="success"' in done.text and "alice" in done.text
    assert stored(tmp_path)["p"]["screen_name"] == "alice"
    assert requests.get(f"{dance_provider.base_url}/api/me", proxies={"http": proxy.url}, timeout=10).status_code \
        == 200


# --- 6. A dripping provider: the deadline holds, the other pages keep answering ------------------


def test_dripping_provider_ends_the_login_at_the_deadline_and_status_keeps_answering(
    tmp_path: Path, run_proxy: Any
) -> None:
    drip = DripServer(2.0, "headers")  # a byte every 2 s, as in the review
    try:
        url = f"http://127.0.0.1:{drip.port}"
        config = write_config(tmp_path / "proxy.yaml", {"p": {
            "hosts": ["api.example.test"], "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET,
            "request_token_url": f"{url}/oauth/request_token", "authorize_url": f"{url}/oauth/authorize",
            "access_token_url": f"{url}/oauth/access_token"}})
        proxy = run_proxy(config)
        s = requests.Session()
        s.proxies = {"http": proxy.url}
        result: dict[str, Any] = {}

        def login() -> None:
            started = time.monotonic()
            result["answer"] = start_login(s, f"{HELPER}/login/p")
            result["took"] = time.monotonic() - started

        thread = threading.Thread(target=login)
        thread.start()
        time.sleep(1.0)
        while thread.is_alive():  # status.json answers, through the proxy, while the login waits
            started = time.monotonic()
            status = requests.get(f"{HELPER}/status.json", proxies={"http": proxy.url}, timeout=10)
            assert status.status_code == 200 and time.monotonic() - started < 2.0
            time.sleep(1.0)
            if "answer" not in result:
                result["checked_while_waiting"] = True
        thread.join()
    finally:
        drip.close()
    assert result.get("checked_while_waiting")
    assert result["answer"].status_code == 502
    assert "within 15 s" in result["answer"].text
    assert result["took"] < 20, result["took"]  # the deadline (15 s), not 1000 bytes x 2 s


# --- 7. PLAINTEXT over plain http is refused for the dance too ----------------------------------------


def plaintext_config(tmp_path: Path, provider: Provider) -> Path:
    return write_config(tmp_path / "proxy.yaml", {"p": dance_profile(provider, signature_method="PLAINTEXT")})


def test_plaintext_dance_over_http_through_the_helper_sends_nothing(
    tmp_path: Path, dance_provider: Provider, run_proxy: Any
) -> None:
    proxy = run_proxy(plaintext_config(tmp_path, dance_provider))
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    page = start_login(s, f"{HELPER}/login/p")
    assert page.status_code == 502
    assert "PLAINTEXT" in page.text and "in clear" in page.text and "allow_insecure: true" in page.text
    assert dance_provider.records == []
    for secret in (CONSUMER_SECRET, TOKEN_SECRET):
        assert secret not in page.text and secret not in proxy.text()


def test_plaintext_cli_login_oob_over_http_sends_nothing(tmp_path: Path, dance_provider: Provider) -> None:
    process = run_login(plaintext_config(tmp_path, dance_provider), "--oob")
    out, _ = process.communicate("", timeout=30)
    assert process.returncode == 1, out
    assert "PLAINTEXT" in out and "nothing was sent" in out and "allow_insecure: true" in out
    assert "Traceback" not in out and CONSUMER_SECRET not in out
    assert dance_provider.records == []


def test_plaintext_dance_over_http_with_allow_insecure_runs(
    tmp_path: Path, dance_provider: Provider
) -> None:
    config = write_config(tmp_path / "proxy.yaml", {"p": dance_profile(dance_provider, signature_method="PLAINTEXT",
                                                                       allow_insecure=True)})
    process = run_login(config, "--oob")
    try:
        url = read_authorize_url(process, dance_provider)
        pin = re.search(r'id="pin">([^<]+)<', approve_at_provider(requests.Session(), url).text)
        assert pin
        out, _ = process.communicate(pin.group(1) + "\n", timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out


def test_no_helper_page_or_log_shows_a_secret(tmp_path: Path, dance_provider: Provider, run_proxy: Any) -> None:
    proxy = logged_in_proxy(tmp_path, dance_provider, run_proxy)
    s = requests.Session()
    s.proxies = {"http": proxy.url}
    pages = [s.get(f"{HELPER}{route}", timeout=10).text for route in ("/", "/status.json", "/login/p")]
    for text in [*pages, proxy.text()]:
        for secret in SECRETS:
            assert secret not in text
