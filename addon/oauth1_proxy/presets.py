"""Known quirks of real OAuth 1.0a providers, as profile defaults (issues 7 and 14). Pure data.

A profile that names ``preset: NAME`` starts from these values; every key it
sets itself wins (``authorize_params`` are merged, the profile's winning).
``{host}`` in a URL stands for the profile's first host; ``{oauth_token}``
and ``{consumer_key}`` in an authorize_url are filled in at login
(dance_variants.py).

``NOTICES`` are what ``check`` says about a profile using a preset: a
provider retiring OAuth 1.0a, or part of its API, on a date (the caller
passes today: nothing here reads the clock). The sources of every quirk are
listed in the README's presets table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

# E*TRADE, production (api.etrade.com): HMAC-SHA1 only; the callback is
# always "oob" (a callback URL needs E*TRADE to register it), and the
# request-token answer then says oauth_callback_confirmed=false; the token
# endpoints are documented as GET; the authorize page takes key= and
# token=; a request token lives 5 minutes. The access token is
# inactivated after 2 hours idle and expires at midnight US Eastern (the
# renewal keys come with the token-life settings, SPEC §11).
_ETRADE: Mapping[str, Any] = {
    "hosts": ["api.etrade.com"],
    "signature_method": "HMAC-SHA1",
    "callback": "oob",
    "token_method": "GET",
    "require_callback_confirmed": False,
    "request_token_lifetime": 300,
    "request_token_url": "https://api.etrade.com/oauth/request_token",
    "authorize_url": "https://us.etrade.com/e/t/etws/authorize?key={consumer_key}&token={oauth_token}",
    "access_token_url": "https://api.etrade.com/oauth/access_token",
    # Token lives (SPEC §11): inactive after 2 hours without a request, revived by a signed GET of
    # renew_access_token; every access token expires at midnight US Eastern.
    "renew_url": "https://api.etrade.com/oauth/renew_access_token",
    "renew_method": "GET",
    "idle_timeout": 7200,
    "expires_daily": "00:00 America/New_York",
}

PRESETS: Mapping[str, Mapping[str, Any]] = {
    # Twitter/X: HMAC-SHA1; PIN login (callback: oob) for apps without a
    # registered callback. The v1.1 media upload on upload.twitter.com was
    # retired in 2025 (media goes to api.x.com/2/media/upload now), so that
    # host is no longer signed. What still takes OAuth 1.0a user context: the
    # v2 endpoints on api.x.com / api.twitter.com (POST /2/tweets,
    # /2/media/upload, /2/users/me, ...), the remaining v1.1 endpoints, the
    # Ads API and the OAuth 1.0a dance itself. JSON bodies (v2) and multipart
    # media uploads are not form bodies, so their contents are never in the
    # base string.
    "twitter": {
        "hosts": ["api.twitter.com", "api.x.com", "ads-api.twitter.com"],
        "signature_method": "HMAC-SHA1",
        "request_token_url": "https://api.twitter.com/oauth/request_token",
        "authorize_url": "https://api.twitter.com/oauth/authorize",
        "access_token_url": "https://api.twitter.com/oauth/access_token",
    },
    # NetSuite token-based authentication: HMAC-SHA256, realm = the account id
    # from the host (123456-sb1.restlets.api.netsuite.com -> 123456_SB1), and
    # consumer and token from the config (no dance).
    "netsuite": {
        "signature_method": "HMAC-SHA256",
        "realm_from_host": True,
    },
    # WooCommerce REST over plain http: consumer-only, query placement,
    # HMAC-SHA256. Old API versions sign with no trailing "&" in the key:
    # set key_ampersand: false for those.
    "woocommerce": {
        "signature_method": "HMAC-SHA256",
        "placement": "query",
    },
    # Magento 2 integrations: HMAC-SHA256; bracketed query keys are signed as
    # sent (the proxy never re-encodes); oauth_verifier on the access-token step.
    "magento": {
        "signature_method": "HMAC-SHA256",
        "request_token_url": "https://{host}/oauth/token/request",
        "authorize_url": "https://{host}/admin/oauth_authorize",
        "access_token_url": "https://{host}/oauth/token/access",
    },
    # Jira/Confluence application links: RSA-SHA1 (PKCS#1 or PKCS#8 key); the
    # dance lives under /plugins/servlet/oauth/.
    "jira": {
        "signature_method": "RSA-SHA1",
        "request_token_url": "https://{host}/plugins/servlet/oauth/request-token",
        "authorize_url": "https://{host}/plugins/servlet/oauth/authorize",
        "access_token_url": "https://{host}/plugins/servlet/oauth/access-token",
    },
    # Trello: HMAC-SHA1; the authorize page takes name, scope and expiration.
    "trello": {
        "hosts": ["api.trello.com"],
        "signature_method": "HMAC-SHA1",
        "request_token_url": "https://trello.com/1/OAuthGetRequestToken",
        "authorize_url": "https://trello.com/1/OAuthAuthorizeToken",
        "access_token_url": "https://trello.com/1/OAuthGetAccessToken",
        "authorize_params": {"name": "oauth1-proxy", "scope": "read", "expiration": "30days"},
    },
    # Flickr: "photo" on uploads is left out of the signature; perms on authorize.
    "flickr": {
        "hosts": ["api.flickr.com", "up.flickr.com"],
        "signature_method": "HMAC-SHA1",
        "exclude_params": ["photo"],
        "request_token_url": "https://www.flickr.com/services/oauth/request_token",
        "authorize_url": "https://www.flickr.com/services/oauth/authorize",
        "access_token_url": "https://www.flickr.com/services/oauth/access_token",
        "authorize_params": {"perms": "read"},
    },
    # LTI 1.1: consumer-only; tool launches are form posts signed in the body;
    # XML outcome POSTs (non-form) carry oauth_body_hash.
    "lti11": {
        "signature_method": "HMAC-SHA1",
        "placement": "body",
        "body_hash": True,
    },
    # Mastercard APIs: RSA-SHA256 with a PKCS#12 key and its password;
    # oauth_body_hash on every request, with a body or none, forms included.
    "mastercard": {
        "signature_method": "RSA-SHA256",
        "body_hash": "always",
    },
    # Garmin Connect (Health API): HMAC-SHA1; oauth_verifier on the access-token step.
    # Garmin retires OAuth 1.0a on 2026-12-31 (NOTICES): move the app to OAuth 2.0 PKCE.
    "garmin": {
        "hosts": ["apis.garmin.com"],
        "signature_method": "HMAC-SHA1",
        "request_token_url": "https://connectapi.garmin.com/oauth-service/oauth/request_token",
        "authorize_url": "https://connect.garmin.com/oauthConfirm",
        "access_token_url": "https://connectapi.garmin.com/oauth-service/oauth/access_token",
    },
    "etrade": _ETRADE,
    # E*TRADE's sandbox: the same dance (on api.etrade.com), the API on apisb.etrade.com, a sandbox key.
    "etrade-sandbox": {**_ETRADE, "hosts": ["apisb.etrade.com"]},
    # Discogs: HMAC-SHA1 (Discogs also takes PLAINTEXT over https; HMAC keeps
    # the secrets off the wire); every request needs a User-Agent, so one
    # without is refused by the proxy before signing (require_headers).
    # Authenticated clients get 60 requests a minute.
    "discogs": {
        "hosts": ["api.discogs.com"],
        "signature_method": "HMAC-SHA1",
        "require_headers": ["User-Agent"],
        "request_token_url": "https://api.discogs.com/oauth/request_token",
        "authorize_url": "https://www.discogs.com/oauth/authorize",
        "access_token_url": "https://api.discogs.com/oauth/access_token",
    },
    # Tumblr API v2: HMAC-SHA1; the dance on www.tumblr.com. Tumblr does not
    # take "oob": keep callback: auto (or a URL registered with the app).
    "tumblr": {
        "hosts": ["api.tumblr.com"],
        "signature_method": "HMAC-SHA1",
        "request_token_url": "https://www.tumblr.com/oauth/request_token",
        "authorize_url": "https://www.tumblr.com/oauth/authorize",
        "access_token_url": "https://www.tumblr.com/oauth/access_token",
    },
    # SmugMug API v2: HMAC-SHA1; the authorize page takes Access (Public |
    # Full) and Permissions (Read | Add | Modify); a request token lives 5
    # minutes and is single-use; uploads go to upload.smugmug.com.
    "smugmug": {
        "hosts": ["api.smugmug.com", "upload.smugmug.com"],
        "signature_method": "HMAC-SHA1",
        "request_token_lifetime": 300,
        "request_token_url": "https://api.smugmug.com/services/oauth/1.0a/getRequestToken",
        "authorize_url": "https://api.smugmug.com/services/oauth/1.0a/authorize",
        "access_token_url": "https://api.smugmug.com/services/oauth/1.0a/getAccessToken",
        "authorize_params": {"Access": "Full", "Permissions": "Read"},
    },
    # MediaWiki's OAuth extension (Wikimedia: the dance on meta.wikimedia.org,
    # list the wikis you call after it in hosts): HMAC-SHA1; the endpoints are
    # Special:OAuth pages; the authorize page wants oauth_consumer_key too
    # (and its /wiki/ form); the callback is "oob", or a URL under the prefix
    # registered with the consumer.
    "mediawiki": {
        "signature_method": "HMAC-SHA1",
        "callback": "oob",
        "request_token_url": "https://{host}/w/index.php?title=Special:OAuth/initiate",
        "authorize_url": "https://{host}/wiki/Special:OAuth/authorize?oauth_consumer_key={consumer_key}",
        "access_token_url": "https://{host}/w/index.php?title=Special:OAuth/token",
    },
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """What ``check`` says about a profile on a preset: before ``ends`` (if any), and from that day on."""

    before: str
    after: str = ""
    ends: date | None = None


NOTICES: Mapping[str, Notice] = {
    "garmin": Notice(
        ends=date(2026, 12, 31),
        before="Garmin retires OAuth 1.0a on 2026-12-31 ({days} left): this profile stops working then. Ask "
               "connect-support@developer.garmin.com to convert the app to OAuth 2.0 PKCE and exchange each "
               "user's OAuth 1.0a token for an OAuth 2.0 one before that day.",
        after="Garmin retired OAuth 1.0a on 2026-12-31: this profile can no longer log in or sign. Move the app "
              "to OAuth 2.0 PKCE (connect-support@developer.garmin.com).",
    ),
    "twitter": Notice(
        before="The v1.1 media upload (upload.twitter.com) was retired in 2025 and is no longer signed: "
               "upload media to https://api.x.com/2/media/upload, which takes OAuth 1.0a user context like "
               "the other v2 endpoints.",
    ),
}


def preset_notice(name: str, today: date) -> str | None:
    """The line ``check`` prints for a profile on this preset, as of ``today``, or None."""
    notice = NOTICES.get(name)
    if notice is None:
        return None
    if notice.ends is not None and today > notice.ends and notice.after:
        return notice.after
    if notice.ends is not None:
        left = (notice.ends - today).days
        return notice.before.format(days=f"{left} day{'s' if left != 1 else ''}")
    return notice.before


def apply_preset(preset: Mapping[str, Any], profile: Mapping[str, Any]) -> dict[str, Any]:
    """The profile's raw values on top of a preset's: the profile wins, authorize_params merge."""
    merged: dict[str, Any] = {k: v for k, v in preset.items()}
    for key, value in profile.items():
        if key == "authorize_params" and isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    hosts = merged.get("hosts")
    first = hosts[0] if isinstance(hosts, list) and hosts and isinstance(hosts[0], str) else None
    for key in ("request_token_url", "authorize_url", "access_token_url", "renew_url"):
        url = merged.get(key)
        if isinstance(url, str) and "{host}" in url and key not in profile:
            if first is None:
                merged.pop(key)
            else:
                merged[key] = url.replace("{host}", first)
    return merged


def realm_from_host(host: str) -> str:
    """NetSuite's realm: the account id in the host, upper case, "-" as "_" (123456-sb1.x -> 123456_SB1)."""
    return host.split(".", 1)[0].upper().replace("-", "_")
