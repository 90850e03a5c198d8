"""What this run did, per profile, for the helper page that explains (SPEC §13). No I/O, no mitmproxy.

Counted by the signer: requests signed, requests the proxy refused (not
logged in, a Host that does not match, ...), requests the provider refused
(400/401 to a signed request), and the last provider refusal with its
diagnosis (diagnostics.parse_refusal: the ``oauth_problem``, what to check,
and the base-string difference when the provider sent its own). Nothing here
holds a secret: a diagnosis names parameters, never their secret values, and a
signature base string never contains a secret (RFC 5849 §3.4.1: the secrets
are the key, not the text).

In memory only, for the process's lifetime: a restart starts at zero.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderRefusal:
    at: str  # ISO 8601, UTC, as the caller's clock says
    request: str  # "GET api.example.com/1.1/x.json": method, host and path, never the query
    status: int
    problem: str | None
    summary: str  # diagnostics.Diagnosis.summary(): what went wrong and what to check
    base_string_differences: tuple[str, ...] = ()


@dataclass(slots=True)
class ProfileCounts:
    signed: int = 0
    refused_by_proxy: int = 0
    refused_by_provider: int = 0
    last_refusal: ProviderRefusal | None = None


@dataclass
class RunStats:
    """Thread-safe counters: the signer writes on the event loop, the helper reads from its threads."""

    _by_profile: dict[str, ProfileCounts] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _counts(self, profile: str) -> ProfileCounts:
        return self._by_profile.setdefault(profile, ProfileCounts())

    def signed(self, profile: str) -> None:
        """Count one signed request. The event loop is the only writer of ``signed``, so a profile already
        counted takes no lock (a reader sees the count before or after; issue 17); a new entry is made under it."""
        counts = self._by_profile.get(profile)  # not _counts: setdefault makes a ProfileCounts per request
        if counts is None:
            with self._lock:
                counts = self._counts(profile)
        counts.signed += 1

    def counts(self, profile: str) -> ProfileCounts:
        """The counts of one profile (made now under the lock, if new): a caller signing many requests of it adds
        1 to ``signed`` itself, on the event loop (as ``signed`` does; issue 17)."""
        with self._lock:
            return self._counts(profile)

    def refused_by_proxy(self, profile: str) -> None:
        with self._lock:
            self._counts(profile).refused_by_proxy += 1

    def refused_by_provider(self, profile: str, refusal: ProviderRefusal) -> None:
        with self._lock:
            counts = self._counts(profile)
            counts.refused_by_provider += 1
            counts.last_refusal = refusal

    def snapshot(self, profile: str, *, clock_offset: int | None = None) -> dict[str, Any]:
        """The JSON the helper serves for one profile (``clock_offset``: the learned correction, seconds)."""
        with self._lock:
            c = self._by_profile.get(profile) or ProfileCounts()
            last = c.last_refusal
            return {
                "signed": c.signed,
                "refused_by_proxy": c.refused_by_proxy,
                "refused_by_provider": c.refused_by_provider,
                "last_provider_refusal": None if last is None else {
                    "at": last.at, "request": last.request, "status": last.status, "problem": last.problem,
                    "summary": last.summary, "base_string_differences": list(last.base_string_differences),
                },
                "learned_clock_offset": clock_offset,
            }


def describe_request(method: str, host: str, path: str) -> str:
    """Method, host and path: the query may carry parameters a user would not show (and, in query
    placement, the signature itself)."""
    return f"{method} {host}{path.partition('?')[0]}"


def no_stats(profile: str) -> Mapping[str, Any]:
    """For a helper with no signer behind it (tests, a WSGI server of one's own): nothing to explain."""
    return {}


__all__: Sequence[str] = ["ProfileCounts", "ProviderRefusal", "RunStats", "describe_request", "no_stats"]
