"""The configs ``oauth1-proxy init`` writes: one generic, one per preset (SPEC §13). Pure data.

Each is a commented YAML config with a ``${VAR}`` placeholder for every
secret (and for the keys, which change per user), loadable by ``check`` as
soon as the variables are set (and, for RSA presets, the key file exists).
The profile bodies follow ``config/presets/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEADER = """\
# oauth1-proxy config, written by `oauth1-proxy init{preset_flag}`.
# No secret is in this file: each ${{VAR}} is read from the environment when
# the config is loaded (set them in your shell profile or secrets manager).
# Every key is explained in config/example.yaml (README: Config).
# Next: set the variables, then `oauth1-proxy check`{login_hint}.

# Token credentials from `oauth1-proxy login` are kept here (mode 0600),
# relative to this file.
token_store: tokens.yaml

profiles:
"""

GENERIC = """\
  # A profile name: letters, digits, "_" and "-".
  api:
    # The destinations this profile signs ("host" = port 443 for https;
    # "host:port" that port only). Replace with your provider's API host.
    hosts: [api.example.com]
    # Only paths under this prefix are signed (default "/").
    path_prefix: /
    # Client credentials (client key = consumer key, RFC 5849 §1.1).
    consumer_key: ${OAUTH1_CONSUMER_KEY}
    consumer_secret: ${OAUTH1_CONSUMER_SECRET}
    # HMAC-SHA1 | HMAC-SHA256 | HMAC-SHA512 | RSA-SHA1 | RSA-SHA256 | RSA-SHA512 | PLAINTEXT
    signature_method: HMAC-SHA1
    # header (Authorization) | query | body (form requests)
    placement: header
    # The token dance (RFC 5849 §2): your provider's three URLs. Without
    # them (and without a token below) the profile is consumer-only.
    request_token_url: https://api.example.com/oauth/request_token
    authorize_url: https://api.example.com/oauth/authorize
    access_token_url: https://api.example.com/oauth/access_token
    # auto (the proxy's own callback) | oob (a PIN typed in) | your own URL.
    callback: auto
    # Static token credentials instead of the dance (uncomment both):
    # token: ${OAUTH1_TOKEN}
    # token_secret: ${OAUTH1_TOKEN_SECRET}
"""

PRESET_PROFILES: dict[str, str] = {
    "twitter": """\
  # Twitter/X: the preset sets HMAC-SHA1, the hosts (api.twitter.com,
  # api.x.com, ads-api.twitter.com) and the dance URLs. (The v1.1 media
  # upload on upload.twitter.com was retired in 2025: api.x.com/2/media/upload.)
  twitter:
    preset: twitter
    consumer_key: ${TWITTER_CONSUMER_KEY}         # "API Key" in the developer portal
    consumer_secret: ${TWITTER_CONSUMER_SECRET}   # "API Key Secret"
    # callback: oob          # PIN login, for apps without a registered callback URL
""",
    "netsuite": """\
  # NetSuite token-based authentication: HMAC-SHA256, realm from the account
  # host (123456-sb1... -> 123456_SB1); consumer and token from the
  # integration record and the access token (no dance).
  netsuite:
    preset: netsuite
    # Replace 123456-sb1 with your account id.
    hosts: [123456-sb1.restlets.api.netsuite.com, 123456-sb1.suitetalk.api.netsuite.com]
    consumer_key: ${NETSUITE_CONSUMER_KEY}
    consumer_secret: ${NETSUITE_CONSUMER_SECRET}
    token: ${NETSUITE_TOKEN_ID}
    token_secret: ${NETSUITE_TOKEN_SECRET}
""",
    "woocommerce": """\
  # WooCommerce REST over plain http: consumer-only, query placement,
  # HMAC-SHA256. (Over https WooCommerce takes Basic auth instead.)
  shop:
    preset: woocommerce
    hosts: [shop.example.com]                  # your shop's host
    consumer_key: ${WOO_CONSUMER_KEY}          # ck_...
    consumer_secret: ${WOO_CONSUMER_SECRET}    # cs_...
    # key_ampersand: false   # old API versions: no trailing "&" in the key
""",
    "magento": """\
  # Magento 2 integration: HMAC-SHA256; bracketed query keys signed as sent.
  # With the integration's access token there is no dance.
  magento:
    preset: magento
    hosts: [shop.example.com]                  # your store's host
    consumer_key: ${MAGENTO_CONSUMER_KEY}
    consumer_secret: ${MAGENTO_CONSUMER_SECRET}
    token: ${MAGENTO_ACCESS_TOKEN}
    token_secret: ${MAGENTO_ACCESS_TOKEN_SECRET}
""",
    "jira": """\
  # Jira/Confluence application link, RSA-SHA1; the dance lives under
  # /plugins/servlet/oauth/ on the first host. Make the key pair with:
  #   openssl genrsa -out jira-private.pem 2048
  #   openssl rsa -in jira-private.pem -pubout   (paste into the application link)
  jira:
    preset: jira
    hosts: [jira.example.com]                  # your Jira's host
    consumer_key: ${JIRA_CONSUMER_KEY}
    private_key_file: jira-private.pem         # PKCS#1 or PKCS#8, next to this file (mode 0600)
""",
    "trello": """\
  # Trello: HMAC-SHA1; the authorize page gets name, scope and expiration.
  trello:
    preset: trello
    consumer_key: ${TRELLO_API_KEY}
    consumer_secret: ${TRELLO_API_SECRET}
    authorize_params: {name: my-tool, scope: "read,write", expiration: never}
""",
    "flickr": """\
  # Flickr: HMAC-SHA1; "photo" on uploads is not signed; perms on authorize.
  flickr:
    preset: flickr
    consumer_key: ${FLICKR_API_KEY}
    consumer_secret: ${FLICKR_API_SECRET}
    authorize_params: {perms: read}
""",
    "lti11": """\
  # LTI 1.1: consumer-only; launches are form posts signed in the body;
  # XML outcome POSTs carry oauth_body_hash.
  tool:
    preset: lti11
    hosts: [tool.example.com]                  # the tool's host
    consumer_key: ${LTI_CONSUMER_KEY}
    consumer_secret: ${LTI_SHARED_SECRET}
""",
    "mastercard": """\
  # Mastercard APIs: RSA-SHA256 with the PKCS#12 key from the developer
  # portal and its password; oauth_body_hash on every request.
  mastercard:
    preset: mastercard
    hosts: [sandbox.api.mastercard.com, api.mastercard.com]
    consumer_key: ${MASTERCARD_CONSUMER_KEY}
    private_key_file: mastercard-sandbox.p12   # next to this file (mode 0600)
    private_key_password: ${MASTERCARD_KEYSTORE_PASSWORD}
""",
    "garmin": """\
  # Garmin Connect (Health API): HMAC-SHA1, the dance on connectapi.garmin.com.
  garmin:
    preset: garmin
    consumer_key: ${GARMIN_CONSUMER_KEY}
    consumer_secret: ${GARMIN_CONSUMER_SECRET}
""",
    "etrade": """\
  # E*TRADE (api.etrade.com): HMAC-SHA1, PIN login (oob), GET token calls,
  # the key=/token= authorize page; the proxy renews the token before the
  # 2-hour idle limit; it dies at midnight US Eastern: log in once a day.
  etrade:
    preset: etrade
    consumer_key: ${ETRADE_CONSUMER_KEY}
    consumer_secret: ${ETRADE_CONSUMER_SECRET}
""",
    "etrade-sandbox": """\
  # E*TRADE's sandbox (apisb.etrade.com) with a sandbox key; the same dance
  # and token lives as the etrade preset.
  etrade:
    preset: etrade-sandbox
    consumer_key: ${ETRADE_SANDBOX_CONSUMER_KEY}
    consumer_secret: ${ETRADE_SANDBOX_CONSUMER_SECRET}
""",
    "discogs": """\
  # Discogs: HMAC-SHA1; every request needs a User-Agent (the proxy refuses
  # one without, before signing); 60 requests a minute when authenticated.
  discogs:
    preset: discogs
    consumer_key: ${DISCOGS_CONSUMER_KEY}
    consumer_secret: ${DISCOGS_CONSUMER_SECRET}
""",
    "tumblr": """\
  # Tumblr API v2: HMAC-SHA1; the dance on www.tumblr.com (no oob).
  tumblr:
    preset: tumblr
    consumer_key: ${TUMBLR_CONSUMER_KEY}
    consumer_secret: ${TUMBLR_CONSUMER_SECRET}
""",
    "smugmug": """\
  # SmugMug: HMAC-SHA1 on api.smugmug.com and upload.smugmug.com; Access and
  # Permissions on the authorize page; a request token lives 5 minutes.
  smugmug:
    preset: smugmug
    consumer_key: ${SMUGMUG_API_KEY}
    consumer_secret: ${SMUGMUG_API_SECRET}
    authorize_params: {Access: Full, Permissions: Modify}
""",
    "mediawiki": """\
  # MediaWiki OAuth 1.0a (Wikimedia): the dance on the first host, callback
  # oob or a registered prefix; list every wiki you call in hosts.
  wikimedia:
    preset: mediawiki
    hosts: [meta.wikimedia.org, en.wikipedia.org, www.wikidata.org]
    consumer_key: ${MEDIAWIKI_CONSUMER_KEY}
    consumer_secret: ${MEDIAWIKI_CONSUMER_SECRET}
""",
}


VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
PROFILE_NAME = re.compile(r"^  ([A-Za-z0-9_-]+):$", re.MULTILINE)
KEY_FILE = re.compile(r"^    private_key_file: (\S+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    profile: str
    variables: tuple[str, ...]  # in order of appearance, commented-out ones left out
    key_file: str | None  # a private key the user must put next to the config
    logs_in: bool  # the profile has the dance and no static token: `oauth1-proxy login` comes next


def template(preset: str | None) -> Template:
    """The config for ``init [--preset NAME]`` (``KeyError`` for an unknown preset)."""
    body = GENERIC if preset is None else PRESET_PROFILES[preset]
    live = "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))
    profile = PROFILE_NAME.search(body)
    assert profile is not None
    name = profile.group(1)
    static = "\n    token:" in live
    from .presets import PRESETS

    dance = preset is None or "request_token_url" in PRESETS.get(preset, {})
    logs_in = dance and not static
    text = HEADER.format(
        preset_flag=f" --preset {preset}" if preset else "",
        login_hint=f" and `oauth1-proxy login {name}`" if logs_in else "",
    ) + body
    key = KEY_FILE.search(live)
    return Template(
        text=text,
        profile=name,
        variables=tuple(dict.fromkeys(VARIABLE.findall(live))),
        key_file=key.group(1) if key else None,
        logs_in=logs_in,
    )
