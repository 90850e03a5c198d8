"""The config's frozen model (SPEC §4): profiles, host patterns, the whole config and its matching index.

Plain values only: config_check.py builds them from YAML (through config_yaml.py); config.py is the entry point.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .lifetimes import DailyExpiry
from .limits import NO_LIMITS, ProfileLimits
from .presets import realm_from_host
from .signing import ClientCredentials, Placement, RSASigner, SignatureMethod, TokenCredentials
from .stores.location import RedisLocation

DEFAULT_TOKEN_STORE = "~/.config/oauth1-proxy/tokens.yaml"
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True, kw_only=True)
class HostPattern:
    """One entry of ``hosts``: a lower-case host and a port (None: the scheme's default)."""

    host: str
    port: int | None

    def __str__(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def keys(self) -> Iterator[tuple[str, str, int]]:
        """The (scheme, host, port) destinations this entry stands for."""
        for scheme, default in DEFAULT_PORTS.items():
            yield scheme, self.host, default if self.port is None else self.port


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One profile: which requests it signs and with what (SPEC §4)."""

    name: str
    hosts: tuple[HostPattern, ...]
    path_prefix: str = "/"
    consumer_key: str
    consumer_secret: str = field(default="", repr=False)
    signature_method: SignatureMethod = SignatureMethod.HMAC_SHA1
    private_key_file: Path | None = None
    rsa_signer: RSASigner | None = field(default=None, repr=False, compare=False)
    placement: Placement = Placement.HEADER
    realm: str | None = None
    body_hash: bool = False
    body_hash_on_forms: bool = False  # body_hash: always (Mastercard): form bodies too
    exclude_params: frozenset[str] = frozenset()  # left out of the base string (Flickr's "photo")
    realm_from_host: bool = False  # NetSuite: realm = the account id of the request's host
    key_ampersand: bool = True  # False: WooCommerce's legacy key without the trailing "&"
    preset: str | None = None
    token: str | None = None
    token_secret: str | None = field(default=None, repr=False)
    request_token_url: str | None = None
    authorize_url: str | None = None
    access_token_url: str | None = None
    callback: str = "auto"
    authorize_params: tuple[tuple[str, str], ...] = ()
    allow_insecure: bool = False
    clock_skew: int = 0  # seconds added to our clock for this provider's timestamps
    default_account: str | None = None  # the account a request without X-OAuth1-Account signs with (SPEC §11)
    limits: ProfileLimits = NO_LIMITS  # rate_limit, max_concurrency, queue_timeout, limit_scope (SPEC §11)
    # Token lives (SPEC §11; config_lifetimes.py, lifetimes.py).
    renew_url: str | None = None  # a signed call that revives an idle-inactivated token (E*TRADE)
    renew_method: str = "GET"
    idle_timeout: int | None = None  # seconds after which the provider inactivates an unused token
    expires_daily: DailyExpiry | None = None  # every token dies at this wall-clock time and zone
    # Dance variants and request rules (SPEC §11, config_dance.py).
    token_method: str = "POST"  # or "GET" (E*TRADE) for the request-token and access-token calls
    require_callback_confirmed: bool = True
    request_token_lifetime: int | None = None  # seconds the provider keeps a request token
    require_headers: tuple[str, ...] = ()  # refused before signing without them (Discogs: User-Agent)
    # Derived once, here, instead of for every request (issue 5).
    _client: ClientCredentials = field(init=False, repr=False, compare=False)
    _static_token: TokenCredentials | None = field(init=False, repr=False, compare=False)
    _options: dict[str, Any] = field(init=False, repr=False, compare=False)
    _authorize_page: tuple[str, str, int, str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: derived values are set once, at construction
        set_(self, "_client", ClientCredentials(key=self.consumer_key, secret=self.consumer_secret,
                                                 rsa_signer=self.rsa_signer))
        set_(self, "_static_token", None if self.token is None
             else TokenCredentials(token=self.token, secret=self.token_secret or ""))
        set_(self, "_options", {
            "signature_method": self.signature_method,
            "placement": self.placement,
            "realm": self.realm,
            "include_body_hash": self.body_hash,
            "body_hash_on_forms": self.body_hash_on_forms,
            "exclude_params": self.exclude_params,
            "key_ampersand": self.key_ampersand,
        })
        page = None
        if self.authorize_url is not None:
            target = urlsplit(self.authorize_url)
            page = (target.scheme, normalize_host(target.hostname or ""), target.port or DEFAULT_PORTS[target.scheme],
                    target.path or "/")
        set_(self, "_authorize_page", page)

    def realm_for(self, host: str) -> str | None:
        """The realm to send to this host: configured, or derived from the host (NetSuite)."""
        if self.realm_from_host:
            return realm_from_host(host)
        return self.realm

    def signing_options(self, host: str) -> Mapping[str, Any]:
        """The profile's keyword arguments for signing.sign_request, for a request to ``host`` (do not mutate)."""
        if self.realm_from_host:
            return {**self._options, "realm": realm_from_host(host)}
        return self._options

    @property
    def client(self) -> ClientCredentials:
        return self._client

    @property
    def static_token(self) -> TokenCredentials | None:
        """The token credentials of the config (``token``, ``token_secret``), or None: the same object each time."""
        return self._static_token

    @property
    def has_static_token(self) -> bool:
        return self.token is not None

    @property
    def has_dance(self) -> bool:
        """Tell whether the three-legged dance is configured (token credentials are then required)."""
        return self.request_token_url is not None

    def matches_path(self, path: str) -> bool:
        return path.startswith(self.path_prefix)

    def is_authorize_page(self, scheme: str, host: str, port: int, path: str) -> bool:
        """Tell whether a request is for this profile's authorize page (RFC 5849 §2.2).

        Interpretation: the resource owner's browser opens that page; it is not
        a signed request, so it passes through unsigned even on a signed host
        (Twitter's is api.twitter.com/oauth/authorize).
        """
        page = self._authorize_page
        if page is None:
            return False
        return (scheme.lower(), normalize_host(host), port, path.split("?", 1)[0]) == page


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyConfig:
    """The whole config: where tokens live and the profiles, indexed by destination."""

    source: Path
    token_store: Path | RedisLocation  # a YAML file, or a Redis database (stores/location.py; str() redacts)
    profiles: tuple[Profile, ...]
    # (scheme, host, port) -> profiles, longest path_prefix first.
    index: Mapping[tuple[str, str, int], tuple[Profile, ...]] = field(repr=False)
    token_store_key: str | None = field(default=None, repr=False)  # a Fernet key: token secrets sealed at rest

    def profile_named(self, name: str) -> Profile | None:
        for p in self.profiles:
            if p.name == name:
                return p
        return None

    def signs_destination(self, scheme: str, host: str, port: int) -> bool:
        """Tell whether any profile signs for this (scheme, host, port), whatever the path."""
        return (scheme.lower(), normalize_host(host), port) in self.index

    def profiles_for(self, scheme: str, host: str, port: int, path: str) -> tuple[Profile, ...]:
        """Every profile whose destination and path prefix match, longest prefix first."""
        candidates = self.index.get((scheme.lower(), normalize_host(host), port))
        if not candidates:
            return ()
        if len(candidates) == 1:  # the usual destination, one profile: no generator per request (issue 17)
            return candidates if path.startswith(candidates[0].path_prefix) else ()
        return tuple(p for p in candidates if path.startswith(p.path_prefix))

    def profile_for(self, scheme: str, host: str, port: int, path: str) -> Profile | None:
        """The profile that signs a request to this real destination, by the longest path_prefix."""
        candidates = self.index.get((scheme.lower(), normalize_host(host), port))
        if candidates:
            for p in candidates:
                if path.startswith(p.path_prefix):
                    return p
        return None


def normalize_host(host: str) -> str:
    """Lower-case a host and drop one trailing dot (``API.example.com.`` is ``api.example.com``)."""
    host = host.lower()
    return host[:-1] if host.endswith(".") else host


def make_index(profiles: Sequence[Profile]) -> dict[tuple[str, str, int], tuple[Profile, ...]]:
    """Index profiles by (scheme, host, port), each list longest path_prefix first."""
    index: dict[tuple[str, str, int], list[Profile]] = {}
    for p in profiles:
        for pattern in p.hosts:
            for key in pattern.keys():
                bucket = index.setdefault(key, [])
                if p not in bucket:
                    bucket.append(p)
    return {k: tuple(sorted(v, key=lambda p: len(p.path_prefix), reverse=True)) for k, v in index.items()}
