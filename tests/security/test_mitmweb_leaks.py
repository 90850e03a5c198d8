"""Promise: mitmweb never serves a secret (SPEC §8, issue 12), at any moment it can read a flow.

A real ``mitmweb -s addon/oauth1_proxy/mitmproxy_addon.py`` on loopback ports, read through its own HTTP API
and websocket while:
- a PLAINTEXT-signed request is in flight (the provider answers only when the test lets it);
- a PLAINTEXT-signed request is intercepted (``--set intercept=...``), then resumed;
- a client does its own three-legged dance through the proxy: the credentials responses carry
  ``oauth_token_secret`` (the client must still get them);
- a provider refuses a PLAINTEXT request and echoes the signature it received (net.oauth style).
Every view of every flow is scanned: ``GET /flows``, ``/updates``, each message's ``content.data`` and content view,
``/flows/dump``, the ``export`` command (curl, raw), ``save.har``, ``/events`` (with proxy_debug on), and the flow
objects themselves (a test-only probe command).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from flask import Response
from flask import request as flask_request
from tornado.websocket import websocket_connect

from oauth1_proxy.devtools.provider import Provider, ProviderClient
from tests.e2e.conftest import (
    BIN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    TOKEN,
    TOKEN_SECRET,
    RunningProxy,
    profile_for,
    start_proxy,
    write_config,
)
from tests.e2e.test_capture_replay import OTHER_KEY, OTHER_SECRET, client_side_dance

from .support import leaks, plaintext_signature_forms

ADDON = Path(__file__).resolve().parents[2] / "addon" / "oauth1_proxy" / "mitmproxy_addon.py"
PROXY_LISTENING = re.compile(r"HTTP\(S\) proxy listening at 127\.0\.0\.1:(\d+)")
SIGNATURE = f"{quote(CONSUMER_SECRET, safe='~')}&{quote(TOKEN_SECRET, safe='~')}"  # RFC 5849 §3.4.4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Web:
    """mitmweb's HTTP API, authenticated with its token."""

    base: str
    token: str
    session: requests.Session = field(default_factory=requests.Session)

    def get(self, path: str) -> requests.Response:
        r = self.session.get(f"{self.base}{path}", params={"token": self.token}, timeout=20)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r

    def post(self, path: str, payload: object | None = None) -> requests.Response:
        # tornado's xsrf check compares the cookie with the header; a plain hex value is its version 1 form.
        xsrf = self.token
        r = self.session.post(f"{self.base}{path}", params={"token": self.token}, json=payload,
                              headers={"X-XSRFToken": xsrf}, cookies={"_mitmproxy_xsrf": xsrf}, timeout=20)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r

    def put(self, path: str, payload: object) -> requests.Response:
        r = self.session.put(f"{self.base}{path}", params={"token": self.token}, json=payload,
                             headers={"X-XSRFToken": self.token}, cookies={"_mitmproxy_xsrf": self.token}, timeout=20)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r

    def flows(self) -> list[dict[str, Any]]:
        return list(self.get("/flows").json())


@dataclass
class Scan:
    outputs: dict[str, bytes] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=lambda: [CONSUMER_SECRET, TOKEN_SECRET, OTHER_SECRET])
    checks: dict[str, object] = field(default_factory=dict)

    def add(self, name: str, data: bytes | str) -> None:
        self.outputs[name] = self.outputs.get(name, b"") + (data.encode() if isinstance(data, str) else data) + b"\n"


class Gate:
    """A route that answers only when the test opens it, recording the Authorization it received."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.arrived = threading.Event()
        self.authorization: str | None = None

    def view(self, rest: str = "") -> Response:
        self.authorization = flask_request.headers.get("Authorization")
        self.arrived.set()
        self.open.wait(30)
        return Response("slow answer\n", mimetype="text/plain")


def echo_refusal() -> Response:
    """A net.oauth-style refusal: the signature it received, in WWW-Authenticate and in the body."""
    m = re.search(r'oauth_signature="([^"]*)"', flask_request.headers.get("Authorization", ""))
    received = m.group(1) if m else ""
    response = Response(f"oauth_problem=signature_invalid&oauth_signature={received}"
                        f"&oauth_signature_base_string=GET%26x\n", status=401,
                        mimetype="application/x-www-form-urlencoded")
    response.headers["WWW-Authenticate"] = (f'OAuth realm="x", oauth_problem="signature_invalid", '
                                            f'oauth_signature="{received}"')
    return response


PROBE = """\
from mitmproxy import command, flow


class Probe:
    \"\"\"A test-only command: the flow object itself, as mitmweb holds it (not what it serves).\"\"\"

    @command.command("probe.state")
    def state(self, f: flow.Flow) -> str:
        return repr(f.get_state())


addons = [Probe()]
"""


def start_mitmweb(config: Path, confdir: Path, token: str, web_port: int, *extra: str) -> RunningProxy:
    command = [str(BIN / "mitmweb"), "--no-web-open-browser", "--listen-host", "127.0.0.1", "--listen-port", "0",
               "--set", f"web_port={web_port}", "--set", "web_host=127.0.0.1", "--set", f"web_password={token}",
               "-s", str(ADDON), "--set", f"oauth1_config={config}", *extra]
    proxy = start_proxy(command, confdir)
    assert proxy.wait_for("HTTP(S) proxy listening at", timeout=20), proxy.text()
    m = PROXY_LISTENING.search(proxy.text())
    assert m, proxy.text()
    proxy = replace(proxy, port=int(m.group(1)))
    assert proxy.wait_for("oauth1-proxy: profile", timeout=20), proxy.text()
    return proxy


class Updates:
    """mitmweb's /updates websocket, read in a thread of its own: every message it pushes."""

    def __init__(self, url: str) -> None:
        self.messages: list[str] = []
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run(url)), daemon=True)
        self._thread.start()
        assert self.ready.wait(20), "the /updates websocket did not open"

    async def _run(self, url: str) -> None:
        conn = await websocket_connect(url)
        self.ready.set()
        while not self._stop.is_set():
            try:
                message = await asyncio.wait_for(conn.read_message(), 0.2)
            except TimeoutError:
                continue
            if message is None:
                break
            self.messages.append(message if isinstance(message, str) else message.decode())
        conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def wait_for_flow(web: Web, path: str, predicate: Any = lambda f: True, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in web.flows():
            if f["request"]["path"].startswith(path) and predicate(f):
                return f
        time.sleep(0.1)
    raise AssertionError(f"no flow for {path} in mitmweb: {web.flows()}")


def every_view_of(web: Web, scan: Scan, flow: dict[str, Any], name: str) -> None:
    """Everything mitmweb serves about one flow, added to the scan under ``name``."""
    scan.add(name, json.dumps(flow))
    for message in ("request", "response"):
        if message == "response" and "response" not in flow:
            continue
        scan.add(name, web.get(f"/flows/{flow['id']}/{message}/content.data").content)
        scan.add(name, web.get(f"/flows/{flow['id']}/{message}/content/auto.json").content)
    for fmt in ("curl", "raw"):
        scan.add(name, json.dumps(web.post("/commands/export", {"arguments": [fmt, f"@{flow['id']}"]}).json()))
    scan.add(name, web.get("/flows/dump").content)


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> Iterator[Scan]:
    tmp = tmp_path_factory.mktemp("mitmweb")
    result = Scan()
    gate = Gate()
    tls = Provider(clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
                   access_tokens={TOKEN: TOKEN_SECRET}, tls=True, cert_dir=tmp / "tls")
    tls._app.add_url_rule("/slow/<path:rest>", "slow", gate.view)
    tls._app.add_url_rule("/netoauth/<path:rest>", "netoauth", lambda rest: echo_refusal())
    other = Provider(clients=[ProviderClient(key=OTHER_KEY, secret=OTHER_SECRET)])
    tls.start()
    other.start()
    config = write_config(tmp / "proxy.yaml", {
        "plain": profile_for(tls, signature_method="PLAINTEXT"),
    })
    token = secrets.token_hex(8)
    web_port = free_port()
    har = tmp / "web.har"
    probe = tmp / "probe.py"
    probe.write_text(PROBE)
    proxy = start_mitmweb(config, confdir, token, web_port, "--set", "intercept=~q & ~u /api/echo/intercepted",
                          "--set", f"ssl_verify_upstream_trusted_ca={tls.ca_file}", "-s", str(probe),
                          "--set", "proxy_debug=true", "--set", "termlog_verbosity=debug")
    web = Web(f"http://127.0.0.1:{web_port}", token)
    try:
        web.get("/")  # sets the auth and xsrf cookies
        updates = Updates(f"ws://127.0.0.1:{web_port}/updates?token={token}")
        run_scenarios(result, web, proxy, tls, other, gate, har)
        time.sleep(0.5)  # the last updates
        updates.stop()
        result.add("the /updates websocket", "\n".join(updates.messages))
        result.checks["updates"] = len(updates.messages)
        result.add("GET /events", web.get("/events").content)
        web.post("/commands/save.har", {"arguments": ["@all", str(har)]})
        result.add("save.har", har.read_bytes())
    finally:
        gate.open.set()
        proxy.stop()
        tls.stop()
        other.stop()
    result.add("mitmweb's stdout and stderr", proxy.text())
    result.checks["records"] = tls.records
    yield result


def run_scenarios(scan: Scan, web: Web, proxy: RunningProxy, tls: Provider, other: Provider, gate: Gate,
                  har: Path) -> None:
    curl = ["curl", "-sS", "--cacert", str(proxy.ca_file), "-x", proxy.url]

    # 1. In flight: the provider holds the answer until the test has read every view.
    slow = subprocess.Popen([*curl, f"{tls.base_url}/slow/in-flight"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert gate.arrived.wait(20), "the signed request never reached the provider"
    flow = wait_for_flow(web, "/slow/in-flight")
    assert "response" not in flow
    every_view_of(web, scan, flow, "a request in flight")
    scan.add("the flow objects mitmweb holds", web.post("/commands/probe.state", {"arguments": [f"@{flow['id']}"]})
             .json()["value"])
    scan.add("a request in flight", json.dumps(web.post("/commands/save.har", {"arguments": [f"@{flow['id']}",
                                                                                  str(har)]}).json()))
    scan.add("a request in flight", har.read_bytes())
    gate.open.set()
    out, err = slow.communicate(timeout=30)
    assert out == b"slow answer\n", err
    scan.checks["upstream authorization"] = gate.authorization
    scan.add("the same request, answered", json.dumps(wait_for_flow(web, "/slow/in-flight", lambda f: "response" in f)))

    # 2. Intercepted (before it leaves), then resumed from the API.
    held = subprocess.Popen([*curl, f"{tls.base_url}/api/echo/intercepted"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    flow = wait_for_flow(web, "/api/echo/intercepted", lambda f: f["intercepted"])
    every_view_of(web, scan, flow, "an intercepted request")
    scan.add("the flow objects mitmweb holds", web.post("/commands/probe.state", {"arguments": [f"@{flow['id']}"]})
             .json()["value"])
    web.post(f"/flows/{flow['id']}/resume")
    out, err = held.communicate(timeout=30)
    scan.checks["intercepted answer"] = json.loads(out)
    every_view_of(web, scan, wait_for_flow(web, "/api/echo/intercepted", lambda f: "response" in f),
                  "an intercepted request, answered")

    # 2b. Intercepted and edited in the UI: it goes as edited, with the redacted signature, and is refused.
    held = subprocess.Popen([*curl, f"{tls.base_url}/api/echo/intercepted-edited"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    flow = wait_for_flow(web, "/api/echo/intercepted-edited", lambda f: f["intercepted"])
    web.put(f"/flows/{flow['id']}", {"request": {"headers": [*flow["request"]["headers"], ["X-Edited", "1"]]}})
    web.post(f"/flows/{flow['id']}/resume")
    out, err = held.communicate(timeout=30)
    scan.checks["edited answer"] = out
    every_view_of(web, scan, wait_for_flow(web, "/api/echo/intercepted-edited", lambda f: "response" in f),
                  "an intercepted request, answered")

    # 3. A client's own dance: the credentials responses carry oauth_token_secret.
    scan.secrets.append(client_side_dance(other, proxy.url))  # the client received it: asserted inside
    for f in web.flows():
        if f["request"]["path"].startswith("/oauth/"):
            every_view_of(web, scan, f, "credentials responses")
    scan.checks["credentials flows"] = sum(f["request"]["path"].startswith("/oauth/") for f in web.flows())

    time.sleep(0.2)  # settled once written to the client
    for f in web.flows():
        scan.add("the flow objects mitmweb holds", web.post("/commands/probe.state", {"arguments": [f"@{f['id']}"]})
                 .json()["value"])

    # 4. A refusal that echoes the PLAINTEXT signature (net.oauth).
    refused = subprocess.run([*curl, "-i", f"{tls.base_url}/netoauth/refused"], capture_output=True, timeout=30)
    scan.checks["refusal the client got"] = refused.stdout
    every_view_of(web, scan, wait_for_flow(web, "/netoauth/refused", lambda f: "response" in f),
                  "a refusal echoing the signature")


OUTPUTS = ["a request in flight", "the same request, answered", "an intercepted request",
           "an intercepted request, answered", "credentials responses", "a refusal echoing the signature",
           "the /updates websocket", "GET /events", "save.har", "mitmweb's stdout and stderr",
           "the flow objects mitmweb holds"]


@pytest.mark.parametrize("output", OUTPUTS)
def test_mitmweb_output_never_holds_a_secret_in_any_encoding(scan: Scan, output: str) -> None:
    data = scan.outputs[output]
    found = leaks(data, scan.secrets, plaintext_signature_forms(CONSUMER_SECRET, TOKEN_SECRET))
    found += [s for s in ("e2e-consumer-secret", "e2e-token-secret") if s.encode() in data]
    assert found == [], (output, found)


def test_mitmweb_views_show_the_signed_requests_redacted(scan: Scan) -> None:
    for output in ("a request in flight", "an intercepted request", "a refusal echoing the signature"):
        data = scan.outputs[output]
        assert b'oauth_signature_method=\\"PLAINTEXT\\"' in data or b'oauth_signature_method="PLAINTEXT"' in data
        assert b"REDACTED" in data, output
    assert b"oauth_token_secret=REDACTED" in scan.outputs["credentials responses"]
    assert b"oauth_token_secret=REDACTED" in scan.outputs["the flow objects mitmweb holds"]  # settled
    assert b'oauth_signature=\\"REDACTED\\"' in scan.outputs["the flow objects mitmweb holds"] \
        or b"oauth_signature=\"REDACTED\"" in scan.outputs["the flow objects mitmweb holds"]  # held back
    assert scan.checks["credentials flows"] == 2
    assert int(str(scan.checks["updates"])) > 5
    events = scan.outputs["GET /events"]
    assert b"SendData(server, <" in events and b"signed profile=plain" in events  # proxy_debug, our line


def test_mitmweb_upstream_still_gets_the_real_signature(scan: Scan) -> None:
    assert scan.checks["upstream authorization"] is not None
    assert f'oauth_signature="{quote(SIGNATURE, safe="~")}"' in str(scan.checks["upstream authorization"])
    answer = scan.checks["intercepted answer"]
    assert isinstance(answer, dict) and answer["ok"] is True and answer["signature_method"] == "PLAINTEXT"
    records: Any = scan.checks["records"]
    assert any(r.valid and r.uri.endswith("/api/echo/intercepted") for r in records)


def test_mitmweb_client_still_gets_the_refusal_it_was_sent(scan: Scan) -> None:
    # The echo is the client's own signature: the client gets the provider's answer unchanged.
    answer = bytes(scan.checks["refusal the client got"])  # type: ignore[arg-type]
    assert re.search(rb"HTTP/[12.]+ 401", answer), answer
    assert f"oauth_signature={quote(SIGNATURE, safe='~')}".encode() in answer


def test_mitmweb_request_edited_while_intercepted_goes_redacted_and_is_refused(scan: Scan) -> None:
    # The signed copy is for the request as signed; an edited request is the user's, and its signature is REDACTED.
    assert b"signature_invalid" in bytes(scan.checks["edited answer"])  # type: ignore[arg-type]
    records: Any = scan.checks["records"]
    assert any(not r.valid and r.uri.endswith("/api/echo/intercepted-edited") for r in records)
