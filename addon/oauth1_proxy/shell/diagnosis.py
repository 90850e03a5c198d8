"""Reading a provider's refusal of a signed request (SPEC §8): one log line why, and the clock correction.

The signer's response hook calls it for a signed flow refused 400 or 401
(and 403 or 429, logged only when diagnostics.known_refusal knows the answer:
X's client-not-enrolled, NetSuite's concurrency limit); what it learns
corrects the profile's timestamps from then on, and the signer may retry the
request once with it (shell/signer.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from mitmproxy import ctx, http

from oauth1_proxy.config import ProxyConfig
from oauth1_proxy.diagnostics import clock_correction, diff_base_strings, parse_refusal
from oauth1_proxy.run_stats import ProviderRefusal, RunStats, describe_request
from oauth1_proxy.shell.logs import logger

DIAGNOSED_STATUSES = frozenset({400, 401, 403, 429})
_KNOWN_ONLY = frozenset({403, 429})  # logged only when a known refusal: a plain 403 is the API's business


def _no_redaction(text: str) -> str:
    return text


def learn_from_refusal(flow: http.HTTPFlow, profile_name: str, base_string: str, config: ProxyConfig | None,
                       skew: dict[str, int], *, stats: RunStats | None = None,
                       redact: Callable[[str], str] = _no_redaction) -> bool:
    """Log why the provider refused; for a refused timestamp, learn the profile's clock correction into ``skew``.

    True when the refusal was the timestamp and a correction is known: a retry
    with it may succeed. ``base_string`` is logged only with oauth1_debug (it holds no secret).
    ``stats`` keeps the diagnosis for the helper page, passed through ``redact`` (the provider wrote it).
    """
    assert flow.response is not None
    response = flow.response
    headers = {k: response.headers.get(k, "") for k in ("www-authenticate", "date")}
    diagnosis = parse_refusal(response.status_code, headers, response.get_content(strict=False) or b"",
                              host=flow.request.host)
    if response.status_code in _KNOWN_ONLY and diagnosis.known is None:
        return False
    logger.warning("oauth1-proxy: profile %s: %s %s%s was refused: %s", profile_name, flow.request.method,
                   flow.request.host, flow.request.path.partition("?")[0], diagnosis.summary())
    if stats is not None:
        differences = (diff_base_strings(base_string, diagnosis.provider_base_string)
                       if diagnosis.provider_base_string else [])
        stats.refused_by_provider(profile_name, ProviderRefusal(
            at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            request=redact(describe_request(flow.request.method, flow.request.host, flow.request.path)),
            status=response.status_code, problem=redact(diagnosis.problem) if diagnosis.problem else None,
            summary=redact(diagnosis.summary()), base_string_differences=tuple(redact(d) for d in differences),
        ))
    if ctx.options.oauth1_debug:
        logger.info("oauth1-proxy: our signature base string: %s", base_string)
        if diagnosis.provider_base_string:
            logger.info("oauth1-proxy: the provider's base string: %s", diagnosis.provider_base_string)
            for line in diff_base_strings(base_string, diagnosis.provider_base_string):
                logger.info("oauth1-proxy: differs: %s", line)
    if diagnosis.problem != "timestamp_refused" or config is None:
        return False
    profile = config.profile_named(profile_name)
    correction = clock_correction(diagnosis, time.time())
    if profile is None or correction is None:
        return False
    learned = correction - profile.clock_skew
    if skew.get(profile.name) != learned:
        skew[profile.name] = learned
        logger.warning("oauth1-proxy: profile %s: the provider's clock is %+d s from ours; its timestamps are "
                       "corrected from now on (set clock_skew: %d in the profile to start with it).",
                       profile.name, correction, correction)
    return True
