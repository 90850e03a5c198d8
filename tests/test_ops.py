"""The ops listener (shell/ops.py, SPEC §12) on a real loopback socket, and the metrics module (metrics.py)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from mitmproxy import exceptions
from mitmproxy.test import taddons

from oauth1_proxy import metrics
from oauth1_proxy.config import parse_config
from oauth1_proxy.shell.ops import OpsListener, parse_ops_listen
from oauth1_proxy.tokens import FileTokenStore, MemoryTokenStore, TokenStore

CONFIG = parse_config({"profiles": {"api": {
    "hosts": ["api.example.com"], "consumer_key": "ck", "consumer_secret": "ops-Consumer-Secret",
    "token": "tk", "token_secret": "ops-Token-Secret"}}}, "config.yaml")


def get(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def listening(ops: OpsListener, running: bool = True) -> None:
    """Stand in for mitmproxy's proxyserver addon: a server that is (or is not) listening."""
    ops._proxyserver = SimpleNamespace(servers=[SimpleNamespace(is_running=running)])


class Started:
    def __init__(self, ops: OpsListener, tctx: Any) -> None:
        self.ops, self.tctx = ops, tctx

    @property
    def url(self) -> str:
        assert self.ops.url is not None
        return self.ops.url


@pytest.fixture
def start_ops() -> Any:
    contexts: list[Any] = []

    def start(config: Any = CONFIG, store: TokenStore | None = None, listen: str = "127.0.0.1:0") -> Started:
        chosen = MemoryTokenStore() if store is None else store
        ops = OpsListener(lambda: config, lambda: chosen)
        context = taddons.context(ops)
        tctx = context.__enter__()
        contexts.append((context, ops))
        tctx.configure(ops, oauth1_ops_listen=listen)
        ops.running()
        return Started(ops, tctx)

    yield start
    for context, ops in contexts:
        ops.done()
        context.__exit__(None, None, None)


# --- the option ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("", None), ("  ", None), ("127.0.0.1:9090", ("127.0.0.1", 9090)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:9090", ("::1", 9090)), ("0.0.0.0:9090", ("0.0.0.0", 9090)), ("localhost:80", ("localhost", 80)),
], ids=["empty", "blank", "ipv4", "port-0", "ipv6", "all-interfaces", "name"])
def test_parse_ops_listen_accepts_host_port(value: str, expected: tuple[str, int] | None) -> None:
    assert parse_ops_listen(value) == expected


@pytest.mark.parametrize("value", ["9090", "127.0.0.1", ":9090", "127.0.0.1:http", "127.0.0.1:70000", "::1:9090",
                                   "[nothost]:9090", "127.0.0.1:-1"])
def test_parse_ops_listen_refuses_a_bad_value_naming_it_and_the_fix(value: str) -> None:
    with pytest.raises(exceptions.OptionsError, match=r"oauth1_ops_listen: .*" + r".*HOST:PORT"):
        parse_ops_listen(value)


def test_ops_option_with_a_bad_value_is_refused_by_configure() -> None:
    ops = OpsListener(lambda: CONFIG, MemoryTokenStore)
    with taddons.context(ops) as tctx:
        with pytest.raises(exceptions.OptionsError, match="'nope' is not HOST:PORT"):
            tctx.configure(ops, oauth1_ops_listen="nope")


def test_ops_listener_is_off_by_default() -> None:
    ops = OpsListener(lambda: CONFIG, MemoryTokenStore)
    with taddons.context(ops):
        ops.running()
        assert ops.url is None and ops._server is None
        ops.done()


# --- the routes ----------------------------------------------------------------------------------


def test_ops_healthz_with_the_config_loaded_is_200(start_ops: Any) -> None:
    started = start_ops()
    status, headers, body = get(started.url + "/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "ok"
    assert headers["Content-Type"] == "application/json"


def test_ops_healthz_without_a_config_is_503(start_ops: Any) -> None:
    started = start_ops(config=None)
    status, _, body = get(started.url + "/healthz")
    assert status == 503
    assert "not loaded" in json.loads(body)["checks"]["config"]


def test_ops_readyz_with_the_proxy_listening_and_the_store_reachable_is_200(start_ops: Any) -> None:
    started = start_ops()
    listening(started.ops)
    status, _, body = get(started.url + "/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"] == {"config": "loaded, 1 profile(s)", "proxy": "listening",
                                          "token_store": "reachable"}


def test_ops_readyz_while_the_proxy_does_not_listen_is_503(start_ops: Any) -> None:
    started = start_ops()
    listening(started.ops, running=False)
    status, _, body = get(started.url + "/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["proxy"] == "not listening"


def test_ops_readyz_with_an_unreadable_token_store_is_503_naming_it(start_ops: Any, tmp_path: Path) -> None:
    store_path = tmp_path / "tokens.yaml"
    store_path.write_text("api: [not, a, token\n")
    started = start_ops(store=FileTokenStore(store_path))
    listening(started.ops)
    status, _, body = get(started.url + "/readyz")
    assert status == 503
    assert str(store_path) in json.loads(body)["checks"]["token_store"]


def test_ops_readyz_with_no_token_stored_yet_is_still_ready(start_ops: Any, tmp_path: Path) -> None:
    # A missing (or expired) login is the user's to fix in the helper, not a reason to restart the pod.
    started = start_ops(store=FileTokenStore(tmp_path / "absent" / "tokens.yaml"))
    listening(started.ops)
    status, _, _ = get(started.url + "/readyz")
    assert status == 200


def test_ops_readyz_asks_a_store_with_ping_by_its_ping(start_ops: Any) -> None:
    class Down(MemoryTokenStore):
        def ping(self) -> None:
            raise ConnectionError("redis://:hunter2@10.0.0.1:6379/0 refused")  # a secret in the exception text

    started = start_ops(store=Down())
    listening(started.ops)
    status, _, body = get(started.url + "/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["token_store"] == "the token store failed (ConnectionError)"
    assert b"hunter2" not in body


def test_ops_readyz_asks_a_store_with_problem_for_its_problem_first(start_ops: Any) -> None:
    class Stale(MemoryTokenStore):
        def problem(self) -> str | None:
            return "redis://oauth1-proxy-redis:6379/0: the token store is unreachable (Connection refused)"

        def ping(self) -> None:
            raise AssertionError("not asked once problem() answered")

    started = start_ops(store=Stale())
    listening(started.ops)
    status, _, body = get(started.url + "/readyz")
    assert status == 503
    assert "unreachable" in json.loads(body)["checks"]["token_store"]


def test_ops_metrics_serves_the_prometheus_text_format(start_ops: Any) -> None:
    started = start_ops()
    metrics.signed("ops-metrics-test", "")
    status, headers, body = get(started.url + "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert 'oauth1_proxy_requests_signed_total{account="",profile="ops-metrics-test"}' in text
    assert "# TYPE oauth1_proxy_signing_seconds histogram" in text
    assert "python_gc_objects_collected_total" not in text  # our registry, not the global default


def test_ops_metrics_in_openmetrics_when_asked(start_ops: Any) -> None:
    started = start_ops()
    request = urllib.request.Request(started.url + "/metrics", headers={"Accept": "application/openmetrics-text"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/openmetrics-text")
        assert answer.read().endswith(b"# EOF\n")


@pytest.mark.parametrize("path", ["/", "/metrics/x", "/healthz/", "/status.json", "/login/api", "/..%2fmetrics"])
def test_ops_any_other_path_is_404(start_ops: Any, path: str) -> None:
    started = start_ops()
    status, _, _ = get(started.url + path)
    assert status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_ops_a_method_other_than_get_or_head_is_405(start_ops: Any, method: str) -> None:
    started = start_ops()
    status, headers, _ = get(started.url + "/metrics", method=method)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"


def test_ops_head_answers_without_a_body(start_ops: Any) -> None:
    started = start_ops()
    connection = http.client.HTTPConnection(*started.url.removeprefix("http://").split(":"), timeout=10)
    connection.request("HEAD", "/healthz")
    answer = connection.getresponse()
    assert answer.status == 200 and answer.read() == b""
    connection.close()


def test_ops_no_answer_holds_a_secret(start_ops: Any) -> None:
    started = start_ops()
    listening(started.ops)
    for path in ("/healthz", "/readyz", "/metrics"):
        _, _, body = get(started.url + path)
        assert b"ops-Consumer-Secret" not in body and b"ops-Token-Secret" not in body


def test_ops_listener_closes_a_connection_that_sends_nothing(start_ops: Any) -> None:
    import socket
    import time

    from oauth1_proxy.shell.ops import _Handler

    started = start_ops()
    host, port = started.url.removeprefix("http://").split(":")
    _Handler.timeout, saved = 0.5, _Handler.timeout
    try:
        with socket.create_connection((host, int(port)), timeout=10) as idle:
            began = time.monotonic()
            assert idle.recv(1) == b""  # closed by the listener, not by us
            assert time.monotonic() - began < 5
    finally:
        _Handler.timeout = saved


def test_ops_listener_stops_at_done(start_ops: Any) -> None:
    started = start_ops()
    url = started.url
    started.ops.done()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/healthz", timeout=5)


def test_ops_listener_moves_when_the_option_changes_while_running(start_ops: Any) -> None:
    started = start_ops()
    first = started.url
    started.tctx.configure(started.ops, oauth1_ops_listen="127.0.0.1:0")  # same value: stays
    assert started.url == first
    started.tctx.configure(started.ops, oauth1_ops_listen="")
    assert started.ops.url is None
    started.tctx.configure(started.ops, oauth1_ops_listen="127.0.0.1:0")
    assert get(started.url + "/healthz")[0] == 200


def test_ops_listener_on_a_port_in_use_logs_an_error_naming_it(start_ops: Any, caplog: Any) -> None:
    first = start_ops()
    port = first.url.rpartition(":")[2]
    second = start_ops(listen=f"127.0.0.1:{port}")
    assert second.ops.url is None
    assert f"oauth1_ops_listen: cannot listen on 127.0.0.1:{port}" in caplog.text


# --- metrics.py ----------------------------------------------------------------------------------


def test_metrics_signed_counts_per_profile_and_account() -> None:
    labels = {"profile": "m-signed", "account": "alice"}
    before = metrics.sample("oauth1_proxy_requests_signed_total", labels) or 0
    metrics.signed("m-signed", "alice")
    metrics.signed("m-signed", "alice")
    assert metrics.sample("oauth1_proxy_requests_signed_total", labels) == before + 2


def test_metrics_refused_counts_by_status() -> None:
    metrics.refused("m-refused", "", 401)
    assert metrics.sample("oauth1_proxy_requests_refused_total",
                          {"profile": "m-refused", "account": "", "status": "401"}) == 1


def test_metrics_provider_answer_counts_by_status_class() -> None:
    for status in (200, 204, 401, 503):
        metrics.provider_answer("m-answers", status)
    labels = {"profile": "m-answers"}
    assert metrics.sample("oauth1_proxy_provider_responses_total", {**labels, "status_class": "2xx"}) == 2
    assert metrics.sample("oauth1_proxy_provider_responses_total", {**labels, "status_class": "4xx"}) == 1
    assert metrics.sample("oauth1_proxy_provider_responses_total", {**labels, "status_class": "5xx"}) == 1


@pytest.mark.parametrize(("status", "expected"), [(100, "1xx"), (299, "2xx"), (599, "5xx"), (600, "other"),
                                                  (0, "other")])
def test_metrics_status_class_of_a_status(status: int, expected: str) -> None:
    assert metrics.status_class(status) == expected


def test_metrics_signing_seconds_is_a_histogram_per_profile() -> None:
    metrics.signing_seconds("m-time", 0.00003)
    assert metrics.sample("oauth1_proxy_signing_seconds_count", {"profile": "m-time"}) == 1
    assert metrics.sample("oauth1_proxy_signing_seconds_bucket", {"profile": "m-time", "le": "5e-05"}) == 1


def test_metrics_token_expiry_sets_and_clears_the_gauge() -> None:
    labels = {"profile": "m-expiry", "account": "bob"}
    metrics.token_expiry("m-expiry", "bob", 1_900_000_000)
    assert metrics.sample("oauth1_proxy_token_expiry_timestamp_seconds", labels) == 1_900_000_000
    metrics.token_expiry("m-expiry", "bob", None)
    assert metrics.sample("oauth1_proxy_token_expiry_timestamp_seconds", labels) is None


def test_metrics_renewal_counts_ok_and_failed() -> None:
    metrics.renewal("m-renew", "", True)
    metrics.renewal("m-renew", "", False)
    metrics.renewal("m-renew", "", False)
    assert metrics.sample("oauth1_proxy_token_renewals_total",
                          {"profile": "m-renew", "account": "", "result": "ok"}) == 1
    assert metrics.sample("oauth1_proxy_token_renewals_total",
                          {"profile": "m-renew", "account": "", "result": "failed"}) == 2


def test_metrics_passed_counts_unmatched_requests_under_an_empty_profile() -> None:
    before = metrics.sample("oauth1_proxy_requests_passed_total", {"profile": ""}) or 0
    metrics.passed()
    assert metrics.sample("oauth1_proxy_requests_passed_total", {"profile": ""}) == before + 1


# --- the signer counts (shell/signer.py, shell/refusals.py) --------------------------------------


def signer_with(tmp_path: Path, config: str) -> Any:
    from oauth1_proxy.mitmproxy_addon import OAuth1Signer

    path = tmp_path / "config.yaml"
    path.write_text(config)
    signer = OAuth1Signer()
    return signer, path


def refused_count(profile: str, status: str) -> float:
    return metrics.sample("oauth1_proxy_requests_refused_total",
                          {"profile": profile, "account": "", "status": status}) or 0


def test_signer_counts_a_refusal_other_than_a_missing_token_under_its_profile(tmp_path: Path) -> None:
    # SPEC §12: refused per profile, whatever the reason (here PLAINTEXT over plain http, SPEC §5).
    from tests.test_mitmproxy_addon import config_with, make_flow, profile_yaml

    signer, path = signer_with(tmp_path, config_with(profile_yaml("m-plain-http", signature_method="PLAINTEXT",
                                                                   hosts="['api.example.com:80']")))
    before = refused_count("m-plain-http", "502")
    with taddons.context(signer) as tctx:
        tctx.configure(signer, oauth1_config=str(path))
        flow = make_flow(url="http://api.example.com/v1/items")
        signer.request(flow)
    assert flow.response is not None and flow.response.status_code == 502
    assert refused_count("m-plain-http", "502") == before + 1


def test_signer_counts_a_signed_request_its_time_and_the_providers_answer(tmp_path: Path) -> None:
    from mitmproxy.test import tflow

    from tests.test_mitmproxy_addon import config_with, make_flow, profile_yaml

    signer, path = signer_with(tmp_path, config_with(profile_yaml("m-signer")))
    with taddons.context(signer) as tctx:
        tctx.configure(signer, oauth1_config=str(path))
        flow = make_flow()
        signer.request(flow)
        assert flow.response is None and "authorization" in flow.request.headers
        flow.response = tflow.tresp(status_code=201)
        signer.response(flow)
    assert metrics.sample("oauth1_proxy_requests_signed_total", {"profile": "m-signer", "account": ""}) == 1
    assert metrics.sample("oauth1_proxy_signing_seconds_count", {"profile": "m-signer"}) == 1
    assert metrics.sample("oauth1_proxy_provider_responses_total",
                          {"profile": "m-signer", "status_class": "2xx"}) == 1
