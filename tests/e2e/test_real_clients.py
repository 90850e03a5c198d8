"""Real clients through a real ``oauth1-proxy run`` to the real provider, over HTTPS (issue 12, part 1).

Clients: curl (HTTP/1.1 and HTTP/2), requests, httpx (HTTP/1.1 and HTTP/2),
aiohttp, urllib, Node fetch (undici's ProxyAgent), Java's HttpClient and wget.
Each trusts only the mitmproxy CA of the proxy's confdir, sends a GET with a
query and a POST with a form body, through a header-placement profile with a
realm (RFC 5849 §3.5.1), a query-placement profile (§3.5.2) and a
body-placement profile (§3.5.3; a GET falls back to the header).

Every request is checked three ways:

- the provider (oauthlib's server endpoints, ``oauth1_proxy.provider``)
  verifies the signature; a refusal fails the test with the provider's
  ``oauth_problem`` and advice;
- what the upstream server received is checked on the wire, before any
  verifier folds it into a dict: ``OAuth `` then ``realm`` first, then
  ``name="value"`` pairs separated by ``", "``, each protocol parameter
  exactly once, names and values percent-encoded per §3.6; with query or body
  placement, each ``oauth_*`` parameter once there and nowhere else; the
  client's own query and body arrive byte for byte (body placement appends);
- the protocol both legs spoke: the client's (curl ``%{http_version}``,
  httpx ``http_version``, ...) and the upstream's (``SERVER_PROTOCOL``);
- the proxy logged one line for it (SPEC §8), and no secret anywhere in its output.

Every client but wget (which cannot) also streams the form body: no
Content-Length, chunked over HTTP/1.1.

HTTP/2: mitmproxy mirrors the upstream's ALPN to the client, so the HTTP/2
cases go to ``H2Upstream`` (hypercorn serving the provider's own Flask app
with the provider's TLS files, offering h2), never to the provider's
HTTP/1.1-only server; one test pins that mirroring.

One provider, one HTTP/2 upstream and one proxy serve the whole module.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

import aiohttp
import httpx
import pytest
import requests
import yarl

from oauth1_proxy.provider import Provider, ProviderClient, VerifiedRequest

from .conftest import (
    BIN,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SECRETS,
    TOKEN,
    TOKEN_SECRET,
    RunningProxy,
    curl,
    profile_for,
    start_proxy,
    write_config,
)
from .h2_upstream import H2Upstream, Received, Recorder

pytestmark = pytest.mark.e2e

CLIENTS_DIR = Path(__file__).parent / "clients"
NODE_DIR = CLIENTS_DIR / "node"
JAVA_SOURCE = CLIENTS_DIR / "java" / "Fetch.java"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# Generous: 5 test runs may share this machine's 2 cores; a JVM start then takes seconds.
TIMEOUT = 90
TRUST_STORE_PASSWORD = "e2e-truststore"  # protects nothing: the store holds only the mitmproxy CA's certificate

# The client's own bytes, with values that need encoding (RFC 5849 §3.6):
# UTF-8, "+" as a space, an encoded "+", "~" as %7E, an empty value.
QUERY = "q=caf%C3%A9&sp=a+b&t=%2B%7E&e="
FORM = "status=Hello%20Ladies+%2B%20Gentlemen&a=1&a=2&empty="
# A realm (header only, a quoted-string, never in the base string: RFC 5849 §3.5.1, §3.4.1.3.1).
REALM = "https://localhost/e2e realm"

PROTOCOL_PARAMETERS = frozenset({
    "oauth_consumer_key", "oauth_token", "oauth_signature_method", "oauth_signature", "oauth_timestamp",
    "oauth_nonce",
})
# RFC 5849 §3.6: the unreserved characters stay, every other byte is %XX with upper-case hex.
PERCENT_ENCODED = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*")
# RFC 5849 §3.5.1 (with RFC 2617's auth-param): OAuth, a space, then name="value" pairs joined by ", ".
HEADER_PARAMETER = re.compile(r'([^=", ]+)="([^"]*)"')


# -- the stack: provider, HTTP/2 upstream, proxy -------------------------------------------------


@dataclass(frozen=True)
class Stack:
    provider: Provider
    h2: H2Upstream
    received: Recorder
    proxy: RunningProxy
    trust_store: Path
    workdir: Path

    @property
    def ca_file(self) -> str:
        return str(self.proxy.ca_file)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, confdir: Path) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("real-clients")
    certs = workdir / "provider-certs"
    provider = Provider(
        clients=[ProviderClient(key=CONSUMER_KEY, secret=CONSUMER_SECRET)],
        access_tokens={TOKEN: TOKEN_SECRET},
        tls=True,
        cert_dir=certs,
    )
    with provider:
        # The provider's Flask app serves both servers; the recorder sees every request either receives.
        app = provider._app  # its own app, served by a second (HTTP/2) server too
        recorder = Recorder(app.wsgi_app)
        app.wsgi_app = recorder  # type: ignore[method-assign]
        with H2Upstream(app, certfile=certs / "provider-cert.pem", keyfile=certs / "provider-key.pem") as h2:
            hosts = [f"{provider.host}:{provider.port}", f"{h2.host}:{h2.port}"]
            config = write_config(workdir / "proxy.yaml", {
                "header": profile_for(provider, hosts=list(hosts), realm=REALM),
                "query": profile_for(provider, hosts=list(hosts), path_prefix="/api/echo/query/", placement="query"),
                "body": profile_for(provider, hosts=list(hosts), path_prefix="/api/echo/body/", placement="body",
                                    realm=REALM),
            })
            config.chmod(0o600)  # the proxy warns about a config file others can read
            assert provider.ca_file is not None
            proxy = start_proxy(
                [str(BIN / "oauth1-proxy"), "run", "--config", str(config), "--listen-port", "0",
                 "--set", f"ssl_verify_upstream_trusted_ca={provider.ca_file}"],
                confdir,
            )
            try:
                yield Stack(provider, h2, recorder, proxy, _java_trust_store(workdir, proxy.ca_file), workdir)
            finally:
                proxy.stop()
    assert not any(secret in proxy.text() for secret in SECRETS), "a secret appeared in the proxy's output"


def _java_trust_store(workdir: Path, ca_file: Path) -> Path:
    """A PKCS#12 trust store holding only the mitmproxy CA, made with the JDK's keytool."""
    keytool = shutil.which("keytool")
    assert keytool, "keytool (the JDK) is required: scripts/system-deps installs default-jdk-headless"
    store = workdir / "mitmproxy-ca.p12"
    subprocess.run(
        [keytool, "-importcert", "-noprompt", "-alias", "mitmproxy", "-file", str(ca_file),
         "-keystore", str(store), "-storetype", "PKCS12", "-storepass", TRUST_STORE_PASSWORD],
        check=True, capture_output=True, timeout=TIMEOUT,
    )
    return store


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for a client process: no proxy variables but the ones a case sets."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(extra)
    return env


# -- the clients -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    http_version: str | None  # what the client says it spoke to the proxy; None when it cannot tell
    trace: str = ""  # the client's own diagnostics (curl -v), when asked for


@dataclass(frozen=True)
class Send:
    """What a client is asked to send: a GET, or a POST of FORM, whole or streamed in two chunks."""

    method: str
    url: str
    form: str | None = None
    streamed: bool = False  # no Content-Length: chunked over HTTP/1.1, DATA frames over HTTP/2

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": FORM_MEDIA_TYPE} if self.form is not None else {}

    @property
    def chunks(self) -> list[bytes]:
        data = (self.form or "").encode()
        return [data[:10], data[10:]]


ClientCall = Callable[[Stack, Send], Reply]


def _curl(version: Literal["--http1.1", "--http2"], *extra: str) -> ClientCall:
    def call(stack: Stack, send: Send) -> Reply:
        args = [*extra, version, "--cacert", stack.ca_file, "-x", stack.proxy.url, "--noproxy", "",
                "-w", "\n%{http_code} %{http_version}", "-X", send.method]
        if send.form is not None:
            args += ["--data-binary", send.form, "-H", f"Content-Type: {FORM_MEDIA_TYPE}"]
            if send.streamed:  # curl sends the body chunked (HTTP/2: without a Content-Length)
                args += ["-H", "Transfer-Encoding: chunked"]
        result = curl(*args, send.url, timeout=TIMEOUT)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        body, _, tail = result.stdout.decode().rpartition("\n")
        status, http_version = tail.split(" ")
        return Reply(int(status), body, f"HTTP/{http_version}", result.stderr.decode(errors="replace"))

    return call


def _requests(stack: Stack, send: Send) -> Reply:
    data = iter(send.chunks) if send.streamed else send.form  # an iterator: requests sends it chunked
    with requests.Session() as session:
        session.trust_env = False
        response = session.request(
            send.method, send.url, data=data, headers=send.headers,
            proxies={"https": stack.proxy.url}, verify=stack.ca_file, timeout=TIMEOUT,
        )
        return Reply(response.status_code, response.text, {10: "HTTP/1.0", 11: "HTTP/1.1"}[response.raw.version])


def _httpx(http2: bool) -> ClientCall:
    def call(stack: Stack, send: Send) -> Reply:
        context = ssl.create_default_context(cafile=stack.ca_file)
        content = iter(send.chunks) if send.streamed else send.form.encode() if send.form is not None else None
        with httpx.Client(proxy=stack.proxy.url, verify=context, http1=not http2, http2=http2,
                          trust_env=False, timeout=TIMEOUT) as client:
            response = client.request(send.method, send.url, content=content, headers=send.headers)
            return Reply(response.status_code, response.text, response.http_version)

    return call


def _aiohttp(stack: Stack, send: Send) -> Reply:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in send.chunks:
            yield chunk

    async def go() -> Reply:
        context = ssl.create_default_context(cafile=stack.ca_file)
        data = chunks() if send.streamed else send.form.encode() if send.form is not None else None
        async with aiohttp.ClientSession(trust_env=False) as session:
            async with session.request(
                send.method, yarl.URL(send.url, encoded=True),  # encoded=True: yarl sends the query as given
                data=data, headers=send.headers,
                proxy=stack.proxy.url, ssl=context, timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            ) as response:
                version = f"HTTP/{response.version.major}.{response.version.minor}" if response.version else None
                return Reply(response.status, await response.text(), version)

    return asyncio.run(go())


def _urllib(stack: Stack, send: Send) -> Reply:
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": stack.proxy.url}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=stack.ca_file)),
    )
    # An iterable without a Content-Length: urllib sends it chunked.
    data = iter(send.chunks) if send.streamed else send.form.encode() if send.form is not None else None
    request = urllib.request.Request(send.url, data=data, method=send.method, headers=send.headers)
    try:
        with opener.open(request, timeout=TIMEOUT) as response:
            return Reply(response.status, response.read().decode(), {10: "HTTP/1.0", 11: "HTTP/1.1"}[response.version])
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read().decode(), None)


def _node_fetch(stack: Stack, send: Send) -> Reply:
    node = shutil.which("node")
    assert node, "node is required: scripts/system-deps installs nodejs"
    assert (NODE_DIR / "node_modules" / "undici").is_dir(), (
        f"undici is not installed in {NODE_DIR}: run npm ci --prefix {NODE_DIR} (scripts/system-deps does)"
    )
    args = [node, str(NODE_DIR / "fetch.mjs"), send.method, send.url, *([send.form] if send.form is not None else [])]
    env = _clean_env(PROXY_URL=stack.proxy.url, CA_FILE=stack.ca_file, STREAM_BODY="1" if send.streamed else "")
    result = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, cwd=NODE_DIR, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    return Reply(int(data["status"]), str(data["body"]), None)  # undici speaks HTTP/1.1 only


def _java(stack: Stack, send: Send) -> Reply:
    java = shutil.which("java")
    assert java, "java is required: scripts/system-deps installs default-jdk-headless"
    args = [
        java, f"-Djavax.net.ssl.trustStore={stack.trust_store}", "-Djavax.net.ssl.trustStoreType=PKCS12",
        f"-Djavax.net.ssl.trustStorePassword={TRUST_STORE_PASSWORD}", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
        str(JAVA_SOURCE), stack.proxy.host, str(stack.proxy.port), send.method, send.url,
        *([send.form] if send.form is not None else []),
    ]
    env = _clean_env(STREAM_BODY="1" if send.streamed else "")
    result = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert result.returncode == 0, result.stderr
    status, version, body = result.stdout.split("\n", 2)
    return Reply(int(status), body, {"HTTP_1_1": "HTTP/1.1", "HTTP_2": "HTTP/2"}[version])


def _wget(stack: Stack, send: Send) -> Reply:
    assert not send.streamed, "wget cannot stream a request body"
    wget = shutil.which("wget")
    assert wget, "wget is required: scripts/system-deps installs wget"
    args = [wget, "-S", "-O", "-", "--content-on-error", "--no-hsts", "--tries=1", f"--timeout={TIMEOUT}",
            f"--ca-certificate={stack.ca_file}", "-e", "use_proxy=on", "-e", f"https_proxy={stack.proxy.url}"]
    if send.form is not None:
        args += [f"--post-data={send.form}", f"--header=Content-Type: {FORM_MEDIA_TYPE}"]
    result = subprocess.run([*args, send.url], capture_output=True, timeout=TIMEOUT, env=_clean_env())
    # wget exits 8 on an HTTP error status; the status line (-S) tells which.
    status_lines = re.findall(r"^\s*(HTTP/[0-9.]+) (\d{3})", result.stderr.decode(errors="replace"), re.M)
    assert status_lines, result.stderr.decode(errors="replace")
    version, status = status_lines[-1]
    return Reply(int(status), result.stdout.decode(), version)


@dataclass(frozen=True)
class Client:
    name: str
    call: ClientCall
    http2: bool = False  # sent to the HTTP/2 upstream; both legs must speak HTTP/2
    sends_query: str = QUERY  # the query the client puts on the wire for QUERY
    streams: bool = True  # can send a body of unknown length (chunked / HTTP/2 DATA without Content-Length)


# requests re-quotes every URL (requests.utils.requote_uri): it decodes percent-encoded
# unreserved characters, so "%7E" leaves the client as "~". The proxy must forward (and
# sign) what it received from the client: "~".
REQUESTS_QUERY = QUERY.replace("%7E", "~")


CLIENTS = [
    Client("curl-http1.1", _curl("--http1.1")),
    Client("curl-http2", _curl("--http2"), http2=True),
    Client("requests", _requests, sends_query=REQUESTS_QUERY),
    Client("httpx-http1.1", _httpx(http2=False)),
    Client("httpx-http2", _httpx(http2=True), http2=True),
    Client("aiohttp", _aiohttp),
    Client("urllib", _urllib),
    Client("node-fetch-undici", _node_fetch),
    Client("java-httpclient", _java),
    Client("java-httpclient-http2", _java, http2=True),
    Client("wget", _wget, streams=False),
]
KINDS = ("get-query", "post-form", "post-form-streamed")
CASES = [
    pytest.param(client, kind, id=f"{client.name}-{kind}")
    for client in CLIENTS for kind in KINDS if kind != "post-form-streamed" or client.streams
]


# -- what the upstream must have received ---------------------------------------------------------


def parse_authorization(value: str) -> list[tuple[str, str]]:
    """Parse an OAuth Authorization header strictly (RFC 5849 §3.5.1); fail on any deviation."""
    assert value.startswith("OAuth "), f"Authorization does not start with 'OAuth ': {value[:20]!r}"
    rest = value[len("OAuth "):]
    pairs: list[tuple[str, str]] = []
    for i, item in enumerate(rest.split(", ")):
        m = HEADER_PARAMETER.fullmatch(item)
        assert m, f"parameter {i} of the Authorization header is not name=\"value\": {item.partition('=')[0]!r}"
        pairs.append((m.group(1), m.group(2)))
    return pairs


def assert_each_once_and_encoded(pairs: list[tuple[str, str]], where: str) -> None:
    """Each protocol parameter exactly once (RFC 5849 §3.2), names and values percent-encoded (§3.6)."""
    names = [name for name, _ in pairs]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"{where}: protocol parameters sent more than once: {duplicated} (RFC 5849 §3.2)"
    missing = sorted(PROTOCOL_PARAMETERS - set(names))
    assert not missing, f"{where}: protocol parameters missing: {missing}"
    for name, value in pairs:
        assert name.startswith("oauth_"), f"{where}: {name!r} among the protocol parameters"
        assert PERCENT_ENCODED.fullmatch(name), f"{where}: name {name!r} is not percent-encoded per §3.6"
        # The value is not shown: with PLAINTEXT, oauth_signature is the secrets.
        assert PERCENT_ENCODED.fullmatch(value), f"{where}: {name}'s value is not percent-encoded per §3.6"


def form_pairs(encoded: str) -> list[tuple[str, str]]:
    return [(seg.partition("=")[0], seg.partition("=")[2]) for seg in encoded.split("&") if seg]


def oauth_pairs(encoded: str) -> list[tuple[str, str]]:
    return [(n, v) for n, v in form_pairs(encoded) if unquote(n).startswith("oauth_")]


def without_oauth(encoded: str) -> str:
    kept = [seg for seg in encoded.split("&") if seg and not unquote(seg.partition("=")[0]).startswith("oauth_")]
    return "&".join(kept)


def assert_wire(received: Received, placement: str, *, sent_query: str, sent_form: str | None) -> None:
    """Check what the upstream received, as bytes, before any verifier library reads it.

    ``placement`` is the profile's; body placement falls back to the header for a
    request without a form body (SPEC §4).
    """
    where = "header" if placement == "body" and sent_form is None else placement
    body = received.body.decode("latin-1")
    if where == "header":
        assert received.authorization is not None, "the upstream received no Authorization header"
        pairs = parse_authorization(received.authorization)
        assert pairs[0] == ("realm", REALM), f"realm is not the first parameter: {pairs[0][0]!r}"
        assert_each_once_and_encoded(pairs[1:], "Authorization header")
    else:
        assert received.authorization is None or not received.authorization.startswith("OAuth"), (
            f"{placement} placement, yet the upstream received an OAuth Authorization header"
        )
        assert_each_once_and_encoded(oauth_pairs(received.query if where == "query" else body), where)
    assert where == "query" or not oauth_pairs(received.query), "oauth_* parameters in the query"
    assert where == "body" or not oauth_pairs(body), "oauth_* parameters in the body"
    assert without_oauth(received.query) == sent_query, (
        f"the client's query arrived changed: {without_oauth(received.query)!r}, sent {sent_query!r}"
    )
    if sent_form is None:
        assert received.body == b""
        return
    assert received.content_type is not None and received.content_type.startswith(FORM_MEDIA_TYPE)
    if where == "body":
        # §3.5.3: the protocol parameters are appended; the client's bytes come first, unchanged.
        assert body.startswith(sent_form + "&oauth_"), f"the form body arrived changed: {without_oauth(body)!r}"
    else:
        assert received.body == sent_form.encode(), f"the form body arrived changed: {received.body!r}"


def only_record(records: list[VerifiedRequest], marker: str) -> VerifiedRequest:
    mine = [r for r in records if marker in r.uri]
    assert len(mine) == 1, f"the provider verified {len(mine)} requests for {marker}, expected 1"
    return mine[0]


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("placement", ["header", "query", "body"])
@pytest.mark.parametrize(("client", "kind"), CASES)
def test_real_client_request_through_proxy_is_signed_once_and_verified(
    stack: Stack, client: Client, kind: str, placement: str
) -> None:
    upstream = stack.h2.base_url if client.http2 else stack.provider.base_url
    marker = f"{client.name}-{kind}-{uuid.uuid4().hex[:8]}"
    method, form = ("GET", None) if kind == "get-query" else ("POST", FORM)
    url = f"{upstream}/api/echo/{placement}/{marker}?{QUERY}"

    reply = client.call(stack, Send(method, url, form, streamed=kind == "post-form-streamed"))

    record = only_record(stack.provider.records, marker)
    assert reply.status == 200 and record.valid, (
        f"the provider refused {client.name}'s {method} ({record.problem}): HTTP {reply.status} {reply.body}"
    )
    body = json.loads(reply.body)
    assert body["ok"] is True and body["token"] == TOKEN and body["consumer_key"] == CONSUMER_KEY
    assert body["method"] == method
    (received,) = stack.received.find(marker)
    assert_wire(received, placement, sent_query=client.sends_query, sent_form=form)
    if kind == "post-form-streamed" and not client.http2:
        # The premise of the case: the client streamed. mitmproxy forwards the client's
        # HTTP/1.1 framing, so the upstream sees the chunks' framing too.
        assert received.chunked, f"{client.name} did not send the body chunked (Transfer-Encoding)"
    expected = "HTTP/2" if client.http2 else "HTTP/1.1"
    assert received.protocol == expected, f"the upstream leg spoke {received.protocol}, expected {expected}"
    if reply.http_version is not None:
        assert reply.http_version == expected, f"the client leg spoke {reply.http_version}, expected {expected}"
    assert_logged_once(stack.proxy, placement, method, marker)
    assert not any(secret in stack.proxy.text() for secret in SECRETS)


def assert_logged_once(proxy: RunningProxy, profile: str, method: str, marker: str) -> None:
    """SPEC §8: one log line per signed request, naming the profile, the method, the host and the path."""
    assert proxy.wait_for(f"/{marker}", timeout=30.0)
    lines = [line for line in proxy.output if "oauth1-proxy:" in line and f"/{marker}" in line]
    assert len(lines) == 1, f"{len(lines)} oauth1-proxy log lines for one signed request: {lines}"
    assert f"profile={profile}" in lines[0] and f" {method} " in lines[0] and "localhost" in lines[0], lines[0]


@pytest.mark.parametrize("placement", ["header", "query", "body"])
def test_curl_large_form_with_expect_100_continue_is_signed_and_verified(stack: Stack, placement: str) -> None:
    # With "Expect: 100-continue" (curl sends it on its own only for large bodies; the
    # size changed between curl versions, so it is asked for here) curl waits for the
    # 100 before it sends the body: the proxy must sign the body that follows.
    marker = f"expect-{uuid.uuid4().hex[:8]}"
    form = FORM + "&big=" + "x%7E" * 700
    url = f"{stack.provider.base_url}/api/echo/{placement}/{marker}?{QUERY}"
    reply = _curl("--http1.1", "-v", "-H", "Expect: 100-continue")(stack, Send("POST", url, form))
    assert "> Expect: 100-continue" in reply.trace and "< HTTP/1.1 100 Continue" in reply.trace
    record = only_record(stack.provider.records, marker)
    assert reply.status == 200 and record.valid, f"the provider refused ({record.problem}): {reply.body}"
    (received,) = stack.received.find(marker)
    assert_wire(received, placement, sent_query=QUERY, sent_form=form)


def test_curl_http2_to_http11_only_upstream_speaks_http11_on_both_legs(stack: Stack) -> None:
    # Why the HTTP/2 cases need H2Upstream: mitmproxy mirrors the upstream's ALPN,
    # so curl --http2 against the provider's own server silently gets HTTP/1.1.
    marker = f"mirror-{uuid.uuid4().hex[:8]}"
    reply = _curl("--http2")(stack, Send("GET", f"{stack.provider.base_url}/api/echo/header/{marker}?{QUERY}"))
    assert reply.status == 200, reply.body
    (received,) = stack.received.find(marker)
    assert (reply.http_version, received.protocol) == ("HTTP/1.1", "HTTP/1.1")
    assert only_record(stack.provider.records, marker).valid


def test_h2_upstream_speaks_http2_and_records_the_raw_target(stack: Stack) -> None:
    # The support itself, without the proxy: hypercorn negotiates h2 and the recorder
    # keeps the request target's bytes (the provider verifies those, not a re-encoding).
    marker = f"direct-{uuid.uuid4().hex[:8]}"
    assert stack.provider.ca_file is not None
    context = ssl.create_default_context(cafile=stack.provider.ca_file)
    with httpx.Client(http1=False, http2=True, verify=context, trust_env=False, timeout=TIMEOUT) as client:
        response = client.get(f"{stack.h2.base_url}/public/hello?m={marker}&{QUERY}")
    assert (response.status_code, response.http_version) == (200, "HTTP/2")
    (received,) = stack.received.find(marker)
    assert (received.protocol, received.target) == ("HTTP/2", f"/public/hello?m={marker}&{QUERY}")
    assert received.host == f"localhost:{stack.h2.port}"  # :authority, as the provider's Host


def test_real_client_refusal_fails_with_the_providers_message(stack: Stack) -> None:
    # The check the client tests rely on: a request the provider refuses surfaces its
    # oauth_problem. Here a host the proxy does not sign (127.0.0.1 is not in the
    # profile's hosts) reaches the provider unsigned.
    marker = f"unsigned-{uuid.uuid4().hex[:8]}"
    reply = _requests(stack, Send("GET", f"https://127.0.0.1:{stack.provider.port}/api/echo/header/{marker}"))
    record = only_record(stack.provider.records, marker)
    assert reply.status == 400 and not record.valid
    assert record.problem == "parameter_absent" and "oauth_problem=parameter_absent" in reply.body
    (received,) = stack.received.find(marker)
    assert received.authorization is None


# -- the wire check itself: it refuses what issue 12 found, and only that ------------------------

_GOOD_HEADER = (
    f'OAuth realm="{REALM}", oauth_consumer_key="e2e-consumer-key", oauth_nonce="4572616e48616d6d65724c61686176", '
    'oauth_signature_method="HMAC-SHA1", oauth_timestamp="1700000000", oauth_token="e2e-access-token", '
    'oauth_version="1.0", oauth_signature="Og4yt0zg4tN1XB5nBRh3OGAAXSI%3D"'
)


def _header_wire(authorization: str) -> Received:
    return Received(protocol="HTTP/1.1", method="GET", host="localhost:1", target=f"/api/echo/header/x?{QUERY}",
                    authorization=authorization, content_type=None, body=b"")


def test_wire_check_accepts_a_strict_rfc5849_header() -> None:
    assert_wire(_header_wire(_GOOD_HEADER), "header", sent_query=QUERY, sent_form=None)


@pytest.mark.parametrize(
    ("authorization", "complaint"),
    [
        # issue 12: the raw signature, then the encoded copy.
        (_GOOD_HEADER.replace('oauth_signature="', 'oauth_signature="Og4yt0zg4tN1XB5nBRh3OGAAXSI=", oauth_signature="'),
         "sent more than once: ['oauth_signature']"),
        (_GOOD_HEADER.replace("%3D", "="), "oauth_signature's value is not percent-encoded"),
        (_GOOD_HEADER.replace(f'realm="{REALM}", ', "") + f', realm="{REALM}"', "realm is not the first parameter"),
        (_GOOD_HEADER.replace(', oauth_nonce="4572616e48616d6d65724c61686176"', ""), "missing: ['oauth_nonce']"),
        (_GOOD_HEADER.replace(", ", ",", 1), "is not name=\"value\""),
        (_GOOD_HEADER.replace("OAuth ", "oauth "), "does not start with 'OAuth '"),
    ],
    ids=["duplicated-signature", "unencoded-value", "realm-not-first", "missing-nonce", "bad-separator",
         "lower-case-scheme"],
)
def test_wire_check_refuses_a_header_that_breaks_rfc5849(authorization: str, complaint: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        assert_wire(_header_wire(authorization), "header", sent_query=QUERY, sent_form=None)


def test_wire_check_refuses_a_query_parameter_sent_twice() -> None:
    query = f"{QUERY}&oauth_consumer_key=k&oauth_nonce=n&oauth_signature_method=HMAC-SHA1&oauth_timestamp=1" \
            "&oauth_token=t&oauth_signature=a%3D&oauth_signature=a="
    received = Received(protocol="HTTP/1.1", method="GET", host="localhost:1", target=f"/api/echo/query/x?{query}",
                        authorization=None, content_type=None, body=b"")
    with pytest.raises(AssertionError, match=re.escape("sent more than once: ['oauth_signature']")):
        assert_wire(received, "query", sent_query=QUERY, sent_form=None)


def test_wire_check_refuses_a_changed_client_body() -> None:
    received = Received(protocol="HTTP/1.1", method="POST", host="localhost:1", target=f"/api/echo/header/x?{QUERY}",
                        authorization=_GOOD_HEADER, content_type=FORM_MEDIA_TYPE,
                        body=FORM.replace("%20", "+").encode())
    with pytest.raises(AssertionError, match="the form body arrived changed"):
        assert_wire(received, "header", sent_query=QUERY, sent_form=FORM)
