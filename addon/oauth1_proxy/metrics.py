"""The proxy's Prometheus metrics (SPEC §12): the metric objects and one small function per event.

Rules:
1. A registry of our own (``REGISTRY``), never prometheus_client's global
   default: importing this module registers nothing anywhere else, and
   /metrics shows only these.
2. Labels are a profile name and an account name ("" when none), a status
   class and a result: names from the config and the token store, never a
   secret, a URL, a path or a query. Their number is bounded by the config.
3. No I/O here; the ops listener (shell/ops.py) renders ``exposition()``.
4. The hot path (one call per request) adds to cells in plain dicts on the event loop
   (about 0.2 µs), which prometheus_client reads at scrape time through a
   collector; a ``Counter.labels(...).inc()`` plus a ``Histogram.observe``
   cost about 3.5 µs per signed request (issue 5 counts microseconds).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric

REGISTRY = CollectorRegistry(auto_describe=True)


class _Counts:
    """A counter family kept in plain Python objects, read by prometheus_client at scrape time (rule 4).

    Each label set's count is a one-element list (a cell): a caller that counts many events of one label set
    may keep its cell (``cell``, ``meter``) and add to it with no lookup per event. Written on the proxy's
    event loop only (one writer); a scrape on the ops listener's thread reads a copy of the dict
    (``dict(d)`` is one C call).
    """

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.values: dict[tuple[str, ...], list[int]] = {}

    def cell(self, key: tuple[str, ...]) -> list[int]:
        """The cell of one label set (made at its first use, at zero)."""
        found = self.values.get(key)
        if found is None:
            found = self.values[key] = [0]
        return found

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, cell in dict(self.values).items():
            family.add_metric(key, cell[0])
        yield family

    describe = collect


class _Timings:
    """A histogram family kept in plain lists, one per label set, read at scrape time (rule 4)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name, self.documentation, self.labels = name, documentation, list(labels)
        self.bounds = tuple(buckets)
        self.values: dict[tuple[str, ...], list[float]] = {}  # per-bucket counts (the last: +Inf), then the sum

    def row(self, key: tuple[str, ...]) -> list[float]:
        """The per-bucket counts and sum of one label set (made at its first use)."""
        row = self.values.get(key)
        if row is None:
            row = self.values[key] = [0.0] * (len(self.bounds) + 2)
        return row

    def observe(self, key: tuple[str, ...], seconds: float) -> None:
        row = self.values.get(key) or self.row(key)
        row[bisect.bisect_left(self.bounds, seconds)] += 1
        row[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        for key, row in dict(self.values).items():
            row = list(row)
            cumulative, buckets = 0.0, []
            for bound, count in zip((*map(_le, self.bounds), "+Inf"), row[:-1], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            family.add_metric(key, buckets, row[-1])
        yield family

    describe = collect


def _le(bound: float) -> str:
    return repr(float(bound))


SIGNED = _Counts("oauth1_proxy_requests_signed", "Requests the proxy signed and forwarded.", ["profile", "account"])
REFUSED = _Counts("oauth1_proxy_requests_refused",
                  "Requests to a configured host the proxy answered itself (never forwarded), by its status.",
                  ["profile", "account", "status"])
PASSED = _Counts("oauth1_proxy_requests_passed",
                 "Requests forwarded unsigned: to no configured host (profile \"\"), or a profile's authorize page.",
                 ["profile"])
PROVIDER_ANSWERS = _Counts("oauth1_proxy_provider_responses", "Answers of the provider to signed requests.",
                           ["profile", "status_class"])
SIGNING_SECONDS = _Timings("oauth1_proxy_signing_seconds", "Time the proxy took to sign one request.", ["profile"],
                           (0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05))
for _family in (SIGNED, REFUSED, PASSED, PROVIDER_ANSWERS, SIGNING_SECONDS):
    REGISTRY.register(_family)
# Rare events, possibly from other threads (renewals): prometheus_client's own locked metrics.
TOKEN_EXPIRY = Gauge("oauth1_proxy_token_expiry_timestamp_seconds",
                     "When the stored token of a profile and account expires (Unix time).",
                     ["profile", "account"], registry=REGISTRY)
RENEWALS = Counter("oauth1_proxy_token_renewals", "Token renewals, by result (ok or failed).",
                   ["profile", "account", "result"], registry=REGISTRY)


def status_class(status: int) -> str:
    """The class of an HTTP status: ``2xx`` for 204; ``other`` outside 100-599."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


_STATUS_CLASSES = {status: status_class(status) for status in range(100, 600)}


def _count(family: _Counts, key: tuple[str, ...]) -> None:
    cell = family.values.get(key)
    if cell is None:
        cell = family.values[key] = [0]
    cell[0] += 1


def signed(profile: str, account: str = "", seconds: float | None = None) -> None:
    """Count one request signed as ``profile`` (and ``account``), and how long signing it took. On the event loop."""
    SIGNED.cell((profile, account))[0] += 1
    if seconds is not None:
        SIGNING_SECONDS.observe((profile,), seconds)


@dataclass(frozen=True, slots=True)
class Meter:
    """Where the requests of one profile and account are counted: a caller that signs many keeps it
    (``signed_again``), instead of two lookups per request (issue 17)."""

    signed: list[int]  # SIGNED's cell
    seconds: list[float]  # SIGNING_SECONDS's row
    bounds: tuple[float, ...]


def meter(profile: str, account: str = "") -> Meter:
    """The Meter of ``profile`` and ``account`` (its series made now, at zero, if new)."""
    return Meter(SIGNED.cell((profile, account)), SIGNING_SECONDS.row((profile,)), SIGNING_SECONDS.bounds)


def signed_again(meter: Meter, seconds: float) -> None:
    """``signed`` for the Meter's profile and account. On the event loop."""
    meter.signed[0] += 1
    row = meter.seconds
    row[bisect.bisect_left(meter.bounds, seconds)] += 1
    row[-1] += seconds


def refused(profile: str, account: str = "", status: int = 0) -> None:
    """Count one request to a configured host the proxy refused with ``status`` (401 not logged in, 502, ...)."""
    _count(REFUSED, (profile, account, str(status)))


_UNMATCHED = ("",)


def passed(profile: str = "") -> None:
    """Count one request forwarded unsigned (``profile`` "" when no profile matched). On the event loop."""
    _count(PASSED, (profile,) if profile else _UNMATCHED)


def provider_answer(profile: str, status: int) -> None:
    """Count one answer of the provider to a request signed as ``profile``, by status class (``_count``, written
    out: once per signed request)."""
    values, key = PROVIDER_ANSWERS.values, (profile, _STATUS_CLASSES.get(status) or status_class(status))
    cell = values.get(key)
    if cell is None:
        cell = values[key] = [0]
    cell[0] += 1


def signing_seconds(profile: str, seconds: float) -> None:
    """Record how long signing one request as ``profile`` took. On the event loop."""
    SIGNING_SECONDS.observe((profile,), seconds)


def token_expiry(profile: str, account: str, epoch: float | None) -> None:
    """Set when the token of ``profile``/``account`` expires (Unix time); None: it does not expire (no series)."""
    if epoch is None:
        try:
            TOKEN_EXPIRY.remove(profile, account)
        except KeyError:
            pass
        return
    TOKEN_EXPIRY.labels(profile, account).set(epoch)


def renewal(profile: str, account: str, ok: bool) -> None:
    """Count one renewal of the token of ``profile``/``account``: ok, or failed."""
    RENEWALS.labels(profile, account, "ok" if ok else "failed").inc()


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """Every metric and its content type: the Prometheus text format (0.0.4), or what ``accept`` asks
    for among those prometheus_client writes (OpenMetrics, text 1.0.0)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type


def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    """The current value of one sample (e.g. ``oauth1_proxy_requests_signed_total``), None when absent."""
    value: float | None = REGISTRY.get_sample_value(name, labels or {})
    return value

