"""run_stats and web_explain (SPEC §13): the counts, the last refusal, the lines the helper page shows."""

from __future__ import annotations

import threading

from oauth1_proxy.run_stats import ProviderRefusal, RunStats, describe_request
from oauth1_proxy.web_explain import explain_lines, refresh_script


def test_run_stats_counts_per_profile_and_keeps_the_last_refusal() -> None:
    stats = RunStats()
    stats.signed("a")
    stats.signed("a")
    stats.refused_by_proxy("b")
    first = ProviderRefusal(at="t1", request="GET h/p", status=401, problem="x", summary="401 (oauth_problem=x)")
    last = ProviderRefusal(at="t2", request="GET h/q", status=400, problem=None, summary="400 (no oauth_problem given)",
                           base_string_differences=("parameter 'x': ours '1'; provider's '2'",))
    stats.refused_by_provider("a", first)
    stats.refused_by_provider("a", last)
    a = stats.snapshot("a", clock_offset=-30)
    assert (a["signed"], a["refused_by_proxy"], a["refused_by_provider"], a["learned_clock_offset"]) == (2, 0, 2, -30)
    assert a["last_provider_refusal"]["at"] == "t2"
    assert a["last_provider_refusal"]["base_string_differences"] == ["parameter 'x': ours '1'; provider's '2'"]
    assert stats.snapshot("b")["refused_by_proxy"] == 1
    assert stats.snapshot("never") == {"signed": 0, "refused_by_proxy": 0, "refused_by_provider": 0,
                                       "last_provider_refusal": None, "learned_clock_offset": None}


def test_run_stats_counts_from_many_threads_lose_nothing() -> None:
    stats = RunStats()
    threads = [threading.Thread(target=lambda: [stats.signed("a") for _ in range(1000)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.snapshot("a")["signed"] == 8000


def test_describe_request_leaves_the_query_out() -> None:
    assert describe_request("GET", "api.example.com", "/1.1/x.json?oauth_signature=abc&q=1") == \
        "GET api.example.com/1.1/x.json"


def test_explain_lines_say_counts_refusal_and_clock() -> None:
    stats = RunStats()
    stats.signed("a")
    stats.refused_by_provider("a", ProviderRefusal(
        at="2026-12-01T12:00:00Z", request="GET h/p", status=401, problem="signature_invalid",
        summary="401 (oauth_problem=signature_invalid): check it", base_string_differences=("method: ours 'GET'",)))
    lines = explain_lines(stats.snapshot("a", clock_offset=120))
    assert lines == [
        "signed 1, refused by the proxy 0, refused by the provider 1",
        "last refusal by the provider (2026-12-01T12:00:00Z): GET h/p: 401 (oauth_problem=signature_invalid): check it",
        "base string: method: ours 'GET'",
        "learned clock correction: +120 s (the provider's clock against ours)",
    ]
    assert explain_lines({}) == []


def test_refresh_script_sets_text_only_and_cannot_end_its_element() -> None:
    script = refresh_script("/_oauth1/</script><b>x")
    assert "textContent" in script and "innerHTML" not in script
    assert script.count("</script>") == 1  # only its own end
