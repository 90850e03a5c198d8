"""Known quirks of real OAuth 1.0a providers, as profile defaults (issue 7). Pure data.

A profile that names ``preset: NAME`` starts from these values; every key it
sets itself wins (``authorize_params`` are merged, the profile's winning).
``{host}`` in a URL stands for the profile's first host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PRESETS: Mapping[str, Mapping[str, Any]] = {
    # Twitter/X v1.1: HMAC-SHA1; PIN login (callback: oob) for apps without a
    # registered callback. JSON bodies (v2) and multipart media uploads are not
    # form bodies, so their contents are never in the base string.
    "twitter": {
        "hosts": ["api.twitter.com", "api.x.com", "upload.twitter.com", "ads-api.twitter.com"],
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
    "garmin": {
        "hosts": ["apis.garmin.com"],
        "signature_method": "HMAC-SHA1",
        "request_token_url": "https://connectapi.garmin.com/oauth-service/oauth/request_token",
        "authorize_url": "https://connect.garmin.com/oauthConfirm",
        "access_token_url": "https://connectapi.garmin.com/oauth-service/oauth/access_token",
    },
}


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
