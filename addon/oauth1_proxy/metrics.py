"""The proxy's Prometheus metrics (SPEC §12): the metric objects and one small function per event.

Rules:
1. A registry of our own (``REGISTRY``), never prometheus_client's global
   default: importing this module registers nothing anywhere else, and
   /metrics shows only these.
2. Labels are a profile name and an account name ("" when none), a status
   class and a result: names from the config and the token store, never a
   secret, a URL, a path or a query. Their number is bounded by the config.
3. No I/O here; the ops listener (shell/ops.py) renders ``exposition()``.
4. The hot path (one call per signed or passed request) reuses each label
   set's child: ``Counter.labels`` costs microseconds, a cached child's
   ``inc`` a fraction of one.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

REGISTRY = CollectorRegistry(auto_describe=True)

SIGNED = Counter("oauth1_proxy_requests_signed", "Requests the proxy signed and forwarded.",
                 ["profile", "account"], registry=REGISTRY)
REFUSED = Counter("oauth1_proxy_requests_refused",
                  "Requests to a configured host the proxy answered itself (never forwarded), by its status.",
                  ["profile", "account", "status"], registry=REGISTRY)
PASSED = Counter("oauth1_proxy_requests_passed",
                 "Requests forwarded unsigned: to no configured host (profile \"\"), or a profile's authorize page.",
                 ["profile"], registry=REGISTRY)
PROVIDER_ANSWERS = Counter("oauth1_proxy_provider_responses", "Answers of the provider to signed requests.",
                           ["profile", "status_class"], registry=REGISTRY)
SIGNING_SECONDS = Histogram("oauth1_proxy_signing_seconds", "Time the proxy took to sign one request.",
                            ["profile"], registry=REGISTRY,
                            buckets=(0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05))
TOKEN_EXPIRY = Gauge("oauth1_proxy_token_expiry_timestamp_seconds",
                     "When the stored token of a profile and account expires (Unix time).",
                     ["profile", "account"], registry=REGISTRY)
RENEWALS = Counter("oauth1_proxy_token_renewals", "Token renewals, by result (ok or failed).",
                   ["profile", "account", "result"], registry=REGISTRY)

_children: dict[tuple[object, ...], Any] = {}


def _child(metric: Any, *labels: str) -> Any:
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def status_class(status: int) -> str:
    """The class of an HTTP status: ``2xx`` for 204; ``other`` outside 100-599."""
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def signed(profile: str, account: str = "") -> None:
    """Count one request signed as ``profile`` (and ``account``)."""
    _child(SIGNED, profile, account).inc()


def refused(profile: str, account: str = "", status: int = 0) -> None:
    """Count one request to a configured host the proxy refused with ``status`` (401 not logged in, 502, ...)."""
    _child(REFUSED, profile, account, str(status)).inc()


def passed(profile: str = "") -> None:
    """Count one request forwarded unsigned (``profile`` "" when no profile matched)."""
    _child(PASSED, profile).inc()


def provider_answer(profile: str, status: int) -> None:
    """Count one answer of the provider to a request signed as ``profile``, by status class."""
    _child(PROVIDER_ANSWERS, profile, status_class(status)).inc()


def signing_seconds(profile: str, seconds: float) -> None:
    """Record how long signing one request as ``profile`` took."""
    _child(SIGNING_SECONDS, profile).observe(seconds)


def token_expiry(profile: str, account: str, epoch: float | None) -> None:
    """Set when the token of ``profile``/``account`` expires (Unix time); None: it does not expire (no series)."""
    if epoch is None:
        try:
            TOKEN_EXPIRY.remove(profile, account)
        except KeyError:
            pass
        _children.pop((TOKEN_EXPIRY, profile, account), None)
        return
    _child(TOKEN_EXPIRY, profile, account).set(epoch)


def renewal(profile: str, account: str, ok: bool) -> None:
    """Count one renewal of the token of ``profile``/``account``: ok, or failed."""
    _child(RENEWALS, profile, account, "ok" if ok else "failed").inc()


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """Every metric and its content type: the Prometheus text format (0.0.4), or what ``accept`` asks
    for among those prometheus_client writes (OpenMetrics, text 1.0.0)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type


def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    """The current value of one sample (e.g. ``oauth1_proxy_requests_signed_total``), None when absent."""
    value: float | None = REGISTRY.get_sample_value(name, labels or {})
    return value

