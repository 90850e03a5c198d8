"""The signer bench: CPU µs per request of ``sign_request`` against oauthlib, Authlib and a bare HMAC."""

from __future__ import annotations

import gc
import hmac
import importlib
import logging
import re
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from oauth1_proxy.config import ProxyConfig, parse_config
from oauth1_proxy.signing import (
    ClientCredentials,
    RequestToSign,
    SignatureMethod,
    TokenCredentials,
    sign_request,
)

FORM = "application/x-www-form-urlencoded"
NONCE = "f3b7d1c0a9e84c2f9d6b5a4e3c2b1a09"
TIMESTAMP = "1700000000"
CONSUMER_KEY, CONSUMER_SECRET = "bench-consumer-key", "bench-consumer-secret"
TOKEN, TOKEN_SECRET = "bench-token-1234567890", "bench-token-secret"

# (a) a GET with 5 query parameters; (b) a form POST with a 200-byte body.
GET_PATH = "/1.1/statuses/home_timeline.json?count=20&since_id=12345&max_id=67890&trim_user=true&include_entities=0"
GET_URL = "https://api.example.com" + GET_PATH
POST_URL = "https://api.example.com/1.1/statuses/update.json"
POST_BODY = (
    b"status=Hello%20Ladies%20%2B%20Gentlemen%2C%20a%20signed%20OAuth%20request%21"
    b"&in_reply_to_status_id=1234567890&lat=37.7821120598956&long=-122.400612831116"
    b"&display_coordinates=true&trim_user=1&pad="
)
POST_BODY += b"x" * (200 - len(POST_BODY))
assert len(POST_BODY) == 200


# --- the signer ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One request to sign, as every contender receives it."""

    name: str
    method: str
    url: str
    body: bytes
    content_type: str | None


CASES = (
    Case("get", "GET", GET_URL, b"", None),
    Case("post", "POST", POST_URL, POST_BODY, FORM),
)


def sign_ours(case: Case) -> Callable[[], str]:
    """Our signer, as the addon calls it: a RequestToSign in, the Authorization value out."""
    client = ClientCredentials(key=CONSUMER_KEY, secret=CONSUMER_SECRET)
    token = TokenCredentials(token=TOKEN, secret=TOKEN_SECRET)

    def run() -> str:
        signed = sign_request(
            RequestToSign(method=case.method, url=case.url, content_type=case.content_type, body=case.body),
            client=client,
            token=token,
            signature_method=SignatureMethod.HMAC_SHA1,
            nonce=NONCE,
            timestamp=TIMESTAMP,
        )
        assert signed.authorization is not None
        return signed.authorization

    return run


def sign_oauthlib_client(case: Case) -> Callable[[], str]:
    """oauthlib's Client.sign with the same nonce and timestamp."""
    from oauthlib.oauth1 import Client

    client = Client(
        CONSUMER_KEY,
        client_secret=CONSUMER_SECRET,
        resource_owner_key=TOKEN,
        resource_owner_secret=TOKEN_SECRET,
        nonce=NONCE,
        timestamp=TIMESTAMP,
    )
    body = case.body.decode("ascii") if case.body else None
    headers = {"Content-Type": case.content_type} if case.content_type else None

    def run() -> str:
        _, signed_headers, _ = client.sign(case.url, case.method, body=body, headers=headers)
        return str(signed_headers["Authorization"])

    return run


def sign_oauthlib_primitives(case: Case) -> Callable[[], str]:
    """oauthlib's signature functions alone: collect, normalize, base string, HMAC-SHA1 (no header)."""
    from oauthlib.oauth1.rfc5849 import signature as sig

    oauth_params = [
        ("oauth_nonce", NONCE),
        ("oauth_timestamp", TIMESTAMP),
        ("oauth_version", "1.0"),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_consumer_key", CONSUMER_KEY),
        ("oauth_token", TOKEN),
    ]
    query = case.url.partition("?")[2]
    body = case.body.decode("ascii") if case.content_type == FORM else None

    def run() -> str:
        params = sig.collect_parameters(uri_query=query, body=body) + oauth_params
        base_string = sig.signature_base_string(
            case.method, sig.base_string_uri(case.url), sig.normalize_parameters(params)
        )
        return str(sig.sign_hmac_sha1(base_string, CONSUMER_SECRET, TOKEN_SECRET))

    return run


def load_authlib() -> tuple[Any, str | None]:
    """Authlib's client_auth module, or None and why it is skipped."""
    try:
        module = importlib.import_module("authlib.oauth1.rfc5849.client_auth")
    except ImportError as e:
        return None, f"Authlib is not installed ({e.name or e}); pip install Authlib (it is in the test extra)"
    return module, None


@contextmanager
def fixed_authlib_nonce(module: Any) -> Iterator[None]:
    """Give Authlib our nonce and timestamp (it draws its own in sign()), so the work compared is the same."""
    saved = module.generate_nonce, module.generate_timestamp
    module.generate_nonce, module.generate_timestamp = (lambda: NONCE), (lambda: TIMESTAMP)
    try:
        yield
    finally:
        module.generate_nonce, module.generate_timestamp = saved


def sign_authlib(module: Any, case: Case) -> Callable[[], str]:
    """Authlib's ClientAuth.sign (HMAC-SHA1, header)."""
    auth = module.ClientAuth(CONSUMER_KEY, CONSUMER_SECRET, token=TOKEN, token_secret=TOKEN_SECRET)
    body = case.body.decode("ascii") if case.body else None

    def run() -> str:
        headers = {"Content-Type": case.content_type} if case.content_type else {}
        _, signed_headers, _ = auth.sign(case.method, case.url, headers, body)
        return str(signed_headers["Authorization"])

    return run


def base_string_of(case: Case) -> str:
    """Our signature base string of a request (its size sets the floor's)."""
    signed = sign_request(
        RequestToSign(method=case.method, url=case.url, content_type=case.content_type, body=case.body),
        client=ClientCredentials(key=CONSUMER_KEY, secret=CONSUMER_SECRET),
        token=TokenCredentials(token=TOKEN, secret=TOKEN_SECRET),
        signature_method=SignatureMethod.HMAC_SHA1,
        nonce=NONCE,
        timestamp=TIMESTAMP,
    )
    return signed.base_string


def hmac_floor(case: Case) -> Callable[[], bytes]:
    """The floor: HMAC-SHA1 over a base string of the same size as this request's."""
    key = f"{CONSUMER_SECRET}&{TOKEN_SECRET}".encode()
    message = base_string_of(case).encode("ascii")
    return lambda: hmac.digest(key, message, "sha1")


def header_params(value: str) -> dict[str, str]:
    """The name="value" pairs of an OAuth Authorization header."""
    return dict(re.findall(r'(\w+)="([^"]*)"', value))


def cpu_us_per_call(fn: Callable[[], object], number: int) -> float:
    """CPU time of this thread per call, in µs (immune to time spent descheduled on a busy machine).

    As timeit does, the cyclic garbage collector is off while timing, and
    what the previous contender left is collected first, so that no
    contender pays for another's garbage.
    """
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.thread_time_ns()
        for _ in range(number):
            fn()
        return (time.thread_time_ns() - start) / number / 1000
    finally:
        if was_enabled:
            gc.enable()


def calibrate(fn: Callable[[], object], target_s: float) -> int:
    """How many calls take about target_s seconds."""
    fn()
    number = 1
    while True:
        elapsed = cpu_us_per_call(fn, number) * number / 1e6
        if elapsed >= target_s / 10 or number >= 1 << 20:
            return max(1, int(number * target_s / max(elapsed, 1e-9)))
        number *= 4


def time_contenders(
    contenders: dict[str, Callable[[], object]], repeats: int, target_s: float
) -> tuple[dict[str, float], dict[str, float]]:
    """Median µs per call of each contender, and the median of its repetition-by-repetition ratio to the first.

    They take turns, one short repetition each at a time: this machine's speed
    drifts within seconds, and a ratio of neighbouring repetitions cancels
    most of that drift.
    """
    numbers = {name: calibrate(fn, target_s) for name, fn in contenders.items()}
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            samples[name].append(cpu_us_per_call(fn, numbers[name]))
    first = samples[next(iter(contenders))]
    ratios = {name: statistics.median(v / f for v, f in zip(values, first, strict=True))
              for name, values in samples.items()}
    return {name: statistics.median(values) for name, values in samples.items()}, ratios


def bench_signer(quick: bool) -> dict[str, Any]:
    """Time every contender on both requests and check the signatures agree."""
    # oauthlib logs at DEBUG inside sign(); nobody reads those records here.
    logging.getLogger("oauthlib").setLevel(logging.WARNING)
    authlib, authlib_skipped = load_authlib()
    repeats, target_s = (3, 0.01) if quick else (25, 0.02)
    out: dict[str, Any] = {"repeats": repeats, "clock": "thread CPU time", "cases": {}}
    with ExitStack() as stack:
        if authlib is not None:
            stack.enter_context(fixed_authlib_nonce(authlib))
        for case in CASES:
            contenders: dict[str, Callable[[], object]] = {
                "ours": sign_ours(case),
                "oauthlib_client": sign_oauthlib_client(case),
                "oauthlib_primitives": sign_oauthlib_primitives(case),
            }
            if authlib is not None:
                contenders["authlib"] = sign_authlib(authlib, case)
            contenders["hmac_floor"] = hmac_floor(case)
            ours = header_params(sign_ours(case)())
            theirs = header_params(sign_oauthlib_client(case)())
            checks = {
                "oauthlib_client": ours == theirs,
                "oauthlib_primitives": sign_oauthlib_primitives(case)()
                == unquote(ours["oauth_signature"]),
            }
            if authlib is not None:
                checks["authlib"] = header_params(sign_authlib(authlib, case)()) == ours
            us, ratios = time_contenders(contenders, repeats, target_s)
            out["cases"][case.name] = {
                "request": f"{case.method} {case.url}" + (f" ({len(case.body)}-byte form body)" if case.body else ""),
                "base_string_bytes": len(base_string_of(case)),
                "us": us,
                "times_ours": {k: v for k, v in ratios.items() if k not in ("ours", "hmac_floor")},
                "ours_times_floor": 1 / ratios["hmac_floor"],
                "same_signature": checks,
            }
    out["authlib_skipped"] = authlib_skipped
    out["profile_lookup_us"] = bench_profile_lookup(quick)
    return out


def make_profiles_config(count: int, upstream: str = "api.example.com") -> dict[str, Any]:
    """A config mapping with ``count`` consumer-only profiles, the last one for ``upstream``."""
    profiles: dict[str, Any] = {
        f"p{i}": {"hosts": [f"host{i}.example.com"], "consumer_key": f"key{i}", "consumer_secret": "s"}
        for i in range(count - 1)
    }
    profiles["bench"] = {"hosts": [upstream], "consumer_key": CONSUMER_KEY, "consumer_secret": CONSUMER_SECRET}
    return {"token_store": "tokens.yaml", "profiles": profiles}


def bench_profile_lookup(quick: bool) -> dict[str, float]:
    """µs per ProxyConfig.profiles_for with 1 and with 100 profiles."""
    configs = {n: parse_config(make_profiles_config(n), "bench.yaml", env={}) for n in (1, 100)}
    path = GET_PATH
    def lookup(config: ProxyConfig) -> Callable[[], object]:
        return lambda: config.profiles_for("https", "api.example.com", 443, path)

    contenders = {f"{n}_profiles": lookup(c) for n, c in configs.items()}
    return time_contenders(contenders, 3 if quick else 7, 0.005 if quick else 0.02)[0]
