"""shell/kept_apply.py and policy.ShapeMemo.again: a request of a kept shape, signed in one step, leaves the proxy
exactly as the long way sends it (issue 17).

The same requests go through two signers with the same nonces and the same clock: one as the proxy runs, one
with ``ShapeMemo.again`` answering None (every request the long way: ``decide``, then the Sign applied). Every
request must leave the same (header fields, target, body, the proxy's answer), be remembered the same
(SignedFlow), be counted the same (the helper page's counts, /metrics) and logged the same (SPEC §8's line).
Hypothesis draws sequences over a few shapes, so that each repeats and reaches its plan, with the store's token
replaced between requests; one test checks that the one step is taken at all, and what it sends passes the
strict grammar and both verifiers (tests/wire.py).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from itertools import count
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mitmproxy.test import taddons

from oauth1_proxy import metrics
from oauth1_proxy.policy import ShapeMemo
from oauth1_proxy.shell import signer as shell
from oauth1_proxy.shell.signer import OAuth1Signer
from oauth1_proxy.tokens import FileTokenStore, StoredToken
from tests.test_mitmproxy_addon import CONSUMER_SECRET, DANCE, FORM, TOKEN_SECRET, make_flow
from tests.test_signing_plan import fresh_plans
from tests.wire import verify_signed_request

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z

def _static(name: str, extra: str = "") -> str:
    """A profile with a static token for ``name``.example.com; ``extra``: more of its keys."""
    return (f"  {name}:\n    hosts: [{name}.example.com]\n    consumer_key: ck\n"
            f'    consumer_secret: "{CONSUMER_SECRET}"\n    token: the-token\n    token_secret: "{TOKEN_SECRET}"\n'
            + extra)


CONFIG = "token_store: tokens.yaml\nprofiles:\n" + _static("static") + _static("query", "    placement: query\n") \
    + _static("body", "    placement: body\n") + _static("limited", "    rate_limit: 1000/second\n") + f"""\
  dance:
    hosts: [dance.example.com, static.example.com]
    path_prefix: /v1
    consumer_key: ck
    consumer_secret: "{CONSUMER_SECRET}"
    request_token_url: {DANCE["request_token_url"]}
    authorize_url: {DANCE["authorize_url"]}
    access_token_url: {DANCE["access_token_url"]}
"""

HOSTS = ["static.example.com", "dance.example.com", "query.example.com", "body.example.com", "limited.example.com"]
TARGETS = ["/v1/items", "/v1/items?q=%7E&x=a+b", "/v1/items?oauth_token=old&a=1"]
HEADERS: list[dict[str, str]] = [
    {},
    {"X-OAuth1-Profile": "static"},
    {"X-OAuth1-Profile": "dance"},
    {"Authorization": 'OAuth oauth_token="old"'},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Content-Type": FORM},
    {"Content-Type": "application/json"},
    {"X-OAuth1-Account": "bob"},
]
BODIES = [b"", b"a=1&b=2", b"a=1&oauth_nonce=old", b'{"a": 1}']

shapes = st.tuples(st.sampled_from(HOSTS), st.sampled_from(["GET", "POST"]), st.sampled_from(TARGETS),
                   st.sampled_from(range(len(HEADERS))), st.sampled_from(range(len(BODIES))))
# A shape that takes the one step from its third request on: header placement, the body unchanged.
# static.example.com: the static profile's, and the dance profile's (the store's token) under /v1.
one_step_shapes = st.tuples(st.just("static.example.com"), st.sampled_from(["GET", "POST"]), st.sampled_from(TARGETS),
                            st.sampled_from([0, 1, 2, 3, 4, 6]), st.sampled_from([0, 3]))
# Each example: four shapes, the first of those above three times, then steps over the four (each repeats,
# reaching its plan), the store's token replaced now and then.
steps = st.lists(st.one_of(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3), st.just("token")),
                 min_size=1, max_size=24)


@contextmanager
def _signer(folder: Path) -> Iterator[OAuth1Signer]:
    """test_mitmproxy_addon.signer_for, for several signers in one test: a test master leaves its log handler
    installed when it ends (mitmproxy removes it when a master's run ends), and a line logged to it then raises
    on its closed loop; so it is removed here."""
    path = folder / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(0o600)
    signer = OAuth1Signer()
    with taddons.context(signer) as tctx:
        try:
            tctx.configure(signer, oauth1_config=str(path))
            yield signer
        finally:
            tctx.master._legacy_log_events.uninstall()


def _token(version: int) -> StoredToken:
    return StoredToken(token=f"tok-{version}", token_secret=f"sec-{version}", obtained_at="2026-01-01T00:00:00Z")


def _flow(shape: tuple[str, str, str, int, int]) -> Any:
    host, method, target, headers, body = shape
    return make_flow(method, f"https://{host}{target}", BODIES[body], dict(HEADERS[headers]))


@contextmanager
def _fixed_clock_and_nonces() -> Iterator[None]:
    numbers = count()
    with mock.patch.object(shell, "make_nonce", lambda: f"{next(numbers):032x}"), \
            mock.patch("time.time", return_value=NOW + 0.25):
        yield


def _one_way(tmp_path: Path, sequence: list[Any], *, one_step: bool) -> tuple[list[Any], list[str], Any]:
    """Sign the sequence in a fresh signer; what left, what was logged, and what was counted."""
    folder = tmp_path / "proxy"  # the same path both ways: refusals name the config file
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    store = FileTokenStore(folder / "tokens.yaml")
    store.put("dance", _token(0))
    metrics.SIGNED.values.clear()
    metrics.SIGNING_SECONDS.values.clear()
    out: list[Any] = []
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("oauth1_proxy").addHandler(handler)
    version = count(1)
    long_way = mock.patch.object(ShapeMemo, "again", return_value=None) if not one_step else nullcontext()
    try:
        with long_way, fresh_plans(), _fixed_clock_and_nonces(), _signer(folder) as signer:
            for step in sequence:
                if step == "token":
                    store.put("dance", _token(next(version)))
                    assert signer.store is not None
                    signer.store.refresh()  # type: ignore[attr-defined]
                    continue
                flow = _flow(step)
                signer.request(flow)
                request = flow.request
                response = flow.response
                out.append((request.headers.fields, request.data.path, request.raw_content,
                            None if response is None else (response.status_code, response.content),
                            signer._signed.get(flow.id)))
                signer.response(flow)
            counted = ({name: signer.explain(name)["signed"] for name in ("static", "dance", "query", "body",
                                                                             "limited")},
                       {key: cell[0] for key, cell in metrics.SIGNED.values.items()},
                       {key: sum(row[:-1]) for key, row in metrics.SIGNING_SECONDS.values.items()})
    finally:
        logging.getLogger("oauth1_proxy").removeHandler(handler)
    return out, lines, counted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(one_step_shapes, st.lists(shapes, min_size=3, max_size=3), steps)
def test_every_request_of_a_kept_shape_leaves_as_the_long_way_sends_it(
        tmp_path_factory: pytest.TempPathFactory, first: Any, others: list[Any], picks: list[Any]) -> None:
    tmp_path = tmp_path_factory.mktemp("again")
    pool = [first, *others]
    sequence = [step if step == "token" else pool[step] for step in [0, 0, 0, *picks]]
    answers: list[Any] = []
    again = ShapeMemo.again

    def spy(memo: ShapeMemo, *args: Any, **kwargs: Any) -> Any:
        answers.append(again(memo, *args, **kwargs))
        return answers[-1]

    with mock.patch.object(ShapeMemo, "again", spy):
        one_step = _one_way(tmp_path, sequence, one_step=True)
    assert any(answer is not None for answer in answers)  # the first shape's third request at least
    long_way = _one_way(tmp_path, sequence, one_step=False)
    assert one_step[0] == long_way[0]  # each request as it left, its answer and its SignedFlow
    assert one_step[1] == long_way[1]  # SPEC §8's lines
    assert one_step[2] == long_way[2]  # the helper page's counts and /metrics


def test_the_third_request_of_a_shape_takes_one_step_and_verifies(tmp_path: Path) -> None:
    # Header placement with a static token: the first request is signed by the recipe, the second makes the
    # plan, from the third on ShapeMemo.again signs it and kept_apply's record applies it.
    answers: list[Any] = []
    again = ShapeMemo.again

    def spy(memo: ShapeMemo, *args: Any, **kwargs: Any) -> Any:
        answers.append(again(memo, *args, **kwargs))
        return answers[-1]

    with mock.patch.object(ShapeMemo, "again", spy), fresh_plans(), _signer(tmp_path) as signer:
        flows = [make_flow("GET", "https://static.example.com/v1/items?q=%7E&x=a+b",
                           headers={"X-OAuth1-Profile": "static", "Authorization": 'OAuth oauth_token="old"'})
                 for _ in range(4)]
        for flow in flows:
            signer.request(flow)
        assert [answer is not None for answer in answers] == [False, False, True, True]
        for flow in flows:
            request = flow.request
            assert flow.response is None
            assert "x-oauth1-profile" not in request.headers
            assert len(request.headers.get_all("authorization")) == 1
            verify_signed_request(request.method, request.url, list(request.headers.items(multi=True)),
                                  request.raw_content or b"", consumer_secret=CONSUMER_SECRET,
                                  token_secret=TOKEN_SECRET)
        nonces = {request_nonce(flow) for flow in flows}
        assert len(nonces) == 4


def request_nonce(flow: Any) -> str:
    value: str = flow.request.headers["authorization"]
    return value.split('oauth_nonce="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize("host", ["query.example.com", "body.example.com", "limited.example.com"])
def test_a_query_or_body_placement_or_a_limited_profile_is_never_one_step(tmp_path: Path, host: str) -> None:
    with _signer(tmp_path) as signer:
        for _ in range(4):
            flow = make_flow("POST", f"https://{host}/v1/items", b"a=1", {"Content-Type": FORM})
            signer.request(flow)
            assert flow.response is None
        assert all(kept.applied is None for kept in signer._shapes._prepared.values())
