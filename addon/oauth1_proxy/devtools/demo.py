"""``oauth1-proxy demo``: the whole job on an embedded provider (SPEC §3).

1. Start a provider on loopback (oauthlib's server endpoints verify every
   signature; HTTPS with a throwaway CA).
2. Start ``oauth1-proxy run`` configured for it (a real mitmdump).
3. Run the token dance (auto-approved) and store the token.
4. Call the API through the proxy with a plain client that knows nothing
   of OAuth; the provider verifies the signature.
5. Print the curl lines to try; serve until Ctrl-C (``--once``: exit).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import yaml

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from oauth1_proxy.errors import ProxyError
from oauth1_proxy.web import HELPER_HOST

LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9a-f.:]+)\]?:(\d+)")
PROFILE = "demo"
HELPER = f"http://{HELPER_HOST}"


class DemoFailed(ProxyError):
    """The walk-through failed: ``demo --once`` exits 1 (the inherited ``exit_code``)."""


_OUTPUT = threading.Lock()  # the proxy's output (a thread) and ours share stdout


def _say(text: str = "") -> None:
    """Print one whole line: print() writes the text and the newline separately, so lines could interleave."""
    with _OUTPUT:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def _start_proxy(config: Path, port: int, provider: Provider, confdir: Path | None) -> tuple[subprocess.Popen[str],
                                                                                              int, list[str]]:
    assert provider.ca_file is not None
    command = [
        sys.executable, "-m", "oauth1_proxy.cli", "run", "--config", str(config),
        "--listen-port", str(port), "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}",
        "--set", "flow_detail=0",
    ]
    if confdir is not None:
        command += ["--set", f"confdir={confdir}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines: list[str] = []
    ready = threading.Event()
    found: list[int] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            lines.append(line)
            _say(f"   proxy | {line}")
            m = LISTENING.search(line)
            if m and not found:
                found.append(int(m.group(2)))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(30)
    if not found:
        process.kill()
        raise DemoFailed("the proxy did not start; its output is above.")
    return process, found[0], lines


def _press_login_button(opener: urllib.request.OpenerDirector, login_url: str) -> str:
    """What a browser does on the helper's login page: POST its form (with the page's same-origin token)."""
    with opener.open(login_url, timeout=30) as response:
        form = response.read().decode("utf-8", "replace")
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', form)
    if token is None:
        raise DemoFailed(f"the helper's login page at {login_url} has no login form; see the proxy output above.")
    request = urllib.request.Request(login_url, data=urllib.parse.urlencode({"csrf": token.group(1)}).encode(),
                                     headers={"Origin": HELPER}, method="POST")
    with opener.open(request, timeout=30) as response:
        return str(response.read().decode("utf-8", "replace"))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(*, once: bool = False, port: int = 0, confdir: Path | None = None) -> int:
    """Run the walk-through; with ``once``, exit 0 only when the signed call verified."""
    state = Path(tempfile.mkdtemp(prefix="oauth1-proxy-demo-"))
    consumer_key, consumer_secret = f"demo-{secrets.token_hex(8)}", secrets.token_urlsafe(24)
    provider = Provider(clients=[ProviderClient(key=consumer_key, secret=consumer_secret)], tls=True,
                        auto_approve=True, cert_dir=state / "provider-tls")
    proxy: subprocess.Popen[str] | None = None
    try:
        provider.start()
        _say(f"1. Provider (oauthlib's endpoints, verifying every signature) at {provider.base_url}")
        config_path = state / "demo.yaml"
        config_path.write_text(yaml.safe_dump({
            "token_store": str(state / "tokens.yaml"),
            "profiles": {PROFILE: {
                "hosts": [f"{provider.host}:{provider.port}"],
                "consumer_key": consumer_key,
                "consumer_secret": consumer_secret,
                "signature_method": "HMAC-SHA1",
                "request_token_url": provider.request_token_url,
                "authorize_url": provider.authorize_url,
                "access_token_url": provider.access_token_url,
            }},
        }, sort_keys=False))
        os.chmod(config_path, 0o600)
        _say(f"2. Starting the proxy: oauth1-proxy run --config {config_path}")
        proxy, proxy_port, _ = _start_proxy(config_path, port, provider, confdir)
        proxy_url = f"http://127.0.0.1:{proxy_port}"

        ca_file = (confdir or Path(os.path.expanduser("~/.mitmproxy"))) / "mitmproxy-ca-cert.pem"
        deadline = time.monotonic() + 15
        while not ca_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        context = ssl.create_default_context(cafile=str(ca_file))
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({"https": proxy_url, "http": proxy_url}),
            urllib.request.HTTPSHandler(context=context),
            urllib.request.HTTPCookieProcessor(CookieJar()),  # the helper binds the login to this "browser"
        )
        _say(f"3. The token dance through the proxy's helper: {HELPER}/login/{PROFILE}, then its button")
        _say("   (request token -> the provider's authorize page, auto-approved here -> callback -> access token)")
        page = _press_login_button(opener, f"{HELPER}/login/{PROFILE}")
        if 'id="success"' not in page:
            raise DemoFailed("the helper did not complete the login; see the proxy output above.")
        with opener.open(f"{HELPER}/status.json", timeout=10) as response:
            status = json.loads(response.read())
        me = next(p for p in status["profiles"] if p["name"] == PROFILE)
        _say(f"   logged in as {me.get('screen_name')} (user_id {me.get('user_id')}) since {me.get('since')}; "
             f"token stored in {state / 'tokens.yaml'}")

        _say("4. A plain client (no OAuth) calls the API through the proxy")
        before = len(provider.records)
        with opener.open(f"{provider.base_url}/api/me", timeout=20) as response:
            answer = json.loads(response.read())
        records = provider.records[before:]
        if not records or not all(r.valid for r in records):
            raise DemoFailed("the provider did not verify the proxied call; see the proxy output above.")
        _say(f"   GET {provider.base_url}/api/me -> {answer}  (signature verified by the provider)")

        curl = f"curl --cacert {ca_file} -x {proxy_url}"
        _say()
        _say("Try it yourself (every request leaves signed; the provider checks each signature):")
        _say(f"  {curl} {provider.base_url}/api/me")
        _say(f"  {curl} '{provider.base_url}/api/echo/search?q=caf%C3%A9&lang=fr'")
        _say(f"  {curl} -d 'status=Hello Ladies + Gentlemen' {provider.base_url}/api/echo/statuses/update")
        _say(f"  {curl} -X PUT -H 'Content-Type: application/json' -d '{{\"a\": 1}}' "
             f"{provider.base_url}/api/echo/items/1")
        _say(f"  {curl} -X DELETE {provider.base_url}/api/echo/items/1")
        _say(f"  {curl} {HELPER}/status.json        # the helper: who is logged in")
        _say(f"Or open the helper in a browser: {HELPER}/ through the proxy, or the direct URL printed above.")
        if once:
            _say("\nDemo OK.")
            return 0
        _say("\nServing until Ctrl-C.")
        signal.signal(signal.SIGTERM, _interrupt)
        while proxy.poll() is None:
            time.sleep(0.5)
        raise DemoFailed("the proxy stopped; its output is above.")
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError, KeyError, StopIteration) as e:  # urllib's errors are OSErrors
        print(f"oauth1-proxy demo: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.terminate()
            try:
                proxy.wait(10)
            except subprocess.TimeoutExpired:
                proxy.kill()
        provider.stop()
        shutil.rmtree(state, ignore_errors=True)
