"""How the signer applied a Sign to a request of a kept shape, so that the next ones are applied in one step
(issue 17).

A request of a shape the policy keeps (policy.ShapeMemo) is signed by the shape's plan: ``ShapeMemo.again``
gives the Authorization value and the base string, and everything else the signer does to such a request is
the same for every request of the shape (the header fields the Sign strips, the target it sends, the SPEC §8
line's fields). ``KeptApply`` is that, read off the request the long way signed (``record``): the header fields
as they left, but the Authorization field the signer appended last. Only the header placement with the body
unchanged is recorded (a body or query placement, a body whose ``oauth_*`` parameters were stripped, a
profile with limits: the long way each time). tests/test_signer_again.py compares both ways, field for field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from oauth1_proxy import metrics
from oauth1_proxy.policy import ShapeMemo, Sign
from oauth1_proxy.run_stats import ProfileCounts, RunStats

__all__ = ["KeptApply", "record"]


@dataclass(frozen=True, slots=True)
class KeptApply:
    """What the signer does to every request of one kept shape but the Authorization value (a KeptShape's
    ``applied``). Slots, not a NamedTuple: the one step reads eight of its fields per request, and a slot is
    read without a descriptor call (issue 17)."""

    name: str  # the profile's
    fields: tuple[tuple[bytes, bytes], ...]  # the header fields sent, but the appended Authorization
    path: bytes | None  # the target sent, when it is not the one received (oauth_* stripped from the query)
    may_retry: bool  # the Sign's (SignedFlow's, with the flow not one of our retries)
    account_key: str
    line: tuple[Any, ...]  # SPEC §8's fields, as SignedLines.take keeps them
    counts: ProfileCounts  # the profile's counts for the helper page (RunStats.counts): ``signed`` += 1 per request
    meter: metrics.Meter  # its /metrics series (metrics.signed_again)


def record(memo: ShapeMemo, shape: object, decision: Sign, request: http.Request, received_path: bytes,
           stats: RunStats) -> None:
    """Set the kept shape's ``applied`` from a request just signed with ``decision`` the long way, where it
    applies. The Sign is looked at first: a query or body placement never looks the shape up again."""
    authorization, profile = decision.authorization, decision.profile
    if authorization is None or decision.body_changed or profile.limits.limited:
        return
    kept = memo.kept(shape)
    # No plan (yet, or ever: PLAINTEXT and RSA have none): nothing for ShapeMemo.again to fill.
    if kept is None or kept.applied is not None or kept.made is None or kept.plan is None \
            or kept.plan.where != "authorization":
        return
    fields = request.headers.fields
    if fields[-1:] != ((b"Authorization", authorization.encode("utf-8", "surrogateescape")),):
        return
    path = request.data.path
    kept.applied = KeptApply(
        name=profile.name, fields=fields[:-1], path=None if path == received_path else path,
        may_retry=decision.may_retry, account_key=decision.account_key,
        line=(profile.name, decision.method, decision.shown_host, decision.target, profile.signature_method),
        counts=stats.counts(profile.name), meter=metrics.meter(profile.name),
    )
