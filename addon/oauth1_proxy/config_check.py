"""Validation of a profile's plain values (SPEC §4): every problem names the file, the line, the key and the fix.

``${VAR}`` substitution, host entries, RSA keys: all checked here; config.py's
parse_config runs it over the whole file.

A little over 400 lines: ``check_profile`` is the one place that reads a
profile's keys in order and hands each group to its checker (config_dance,
config_lifetimes, config_limits, secret_refs); split further, the order of
the problems a user reads would be spread over files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .config_dance import check_dance_variants
from .config_lifetimes import LIFETIME_KEYS, check_lifetime_keys
from .config_limits import ACCOUNT_AND_LIMIT_KEYS, check_accounts_and_limits
from .config_model import HostPattern, Profile, normalize_host
from .config_yaml import Located, NotARegularFile, Path_, dotted
from .presets import PRESETS, apply_preset
from .secret_refs import FILE_PREFIX, SecretFileError, secret_path
from .signing import Placement, RSASigner, SignatureMethod

PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+\Z")
# A host name (RFC 1123 labels) or an IPv4 address; IPv6 in brackets.
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z)({_LABEL})(\.{_LABEL})*\Z")
ENV_REF = re.compile(r"\$\{([^}]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

PROFILE_KEYS = (
    "hosts",
    "path_prefix",
    "consumer_key",
    "consumer_secret",
    "signature_method",
    "private_key_file",
    "placement",
    "realm",
    "body_hash",
    "token",
    "token_secret",
    "request_token_url",
    "authorize_url",
    "access_token_url",
    "callback",
    "authorize_params",
    "allow_insecure",
    "clock_skew",
    "preset",
    "exclude_params",
    "realm_from_host",
    "key_ampersand",
    "private_key_password",
    *ACCOUNT_AND_LIMIT_KEYS,
    *LIFETIME_KEYS,
    "token_method",  # the dance variants and request rules of config_dance.py (issue 14)
    "require_callback_confirmed",
    "request_token_lifetime",
    "require_headers",
)
SECRET_KEYS = frozenset({"consumer_secret", "token_secret", "private_key_password", "token_store", "token_store_key"})

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha512": hashes.SHA512,
}


class Checker:
    # ${file:PATH} reader (secret_refs.read_secret_file); None: files are not read (parse_config's pure use).
    read_secret: Callable[[Path], str] | None = None

    def __init__(
        self,
        lines: Mapping[Path_, int],
        source: str,
        env: Mapping[str, str],
        base_dir: Path,
        read_file: Callable[[Path], bytes] | None,
    ) -> None:
        self.loc = Located(source)
        self.loc.lines.update(lines)
        self.env = env
        self.base_dir = base_dir
        self.read_file = read_file
        self.problems: list[str] = []

    def problem(self, path: Path_, message: str) -> None:
        self.problems.append(f"{self.loc.where(path)}: {dotted(path)}: {message}")

    def expand(self, value: str, path: Path_) -> str | None:
        """Replace ``${VAR}`` with the environment's value and ``${file:PATH}`` with a file's; report problems."""
        ok = True

        def sub(m: re.Match[str]) -> str:
            nonlocal ok
            name = m.group(1)
            if name.startswith(FILE_PREFIX):
                secret = self.file_secret(name, path)
                ok = ok and secret is not None
                return secret or ""
            if not ENV_NAME.match(name):
                ok = False
                self.problem(path, f"'${{{name}}}' is not a valid variable reference; write ${{NAME}}.")
                return ""
            if name not in self.env:
                ok = False
                self.problem(
                    path,
                    f"the environment variable {name} is not set; export {name}=... before starting, "
                    "or write the value in the file.",
                )
                return ""
            return self.env[name]

        result = ENV_REF.sub(sub, value)
        return result if ok else None

    def file_secret(self, reference: str, path: Path_) -> str | None:
        """The secret a ``${file:PATH}`` names (secret_refs.py), or None with the problem reported."""
        try:
            file = secret_path(reference, self.base_dir)
            if self.read_secret is None:
                raise SecretFileError(f"${{file:{file}}}: files are not read here; load the config with "
                                      "load_config (oauth1-proxy check --config FILE).")
            return self.read_secret(file)
        except SecretFileError as e:
            self.problem(path, str(e))
            return None

    def string(self, data: Mapping[str, Any], key: str, path: Path_, *, required: bool = False,
               allow_empty: bool = True) -> str | None:
        full = (*path, key)
        if key not in data or data[key] is None:
            if required:
                self.problem(full, "is required; add it to the profile.")
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            shown = "this value" if key in SECRET_KEYS else repr(value)
            self.problem(full, f"{shown} is not a string; write a quoted string.")
            return None
        text = self.expand(str(value), full)
        if text is None:
            return None
        if not text and not allow_empty:
            self.problem(full, "is empty; give a value.")
            return None
        return text

    def boolean(self, data: Mapping[str, Any], key: str, path: Path_, default: bool) -> bool:
        value = data.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem((*path, key), f"{value!r} is not true or false; write true or false.")
            return default
        return value

    def choice[E: (SignatureMethod, Placement)](
        self, data: Mapping[str, Any], key: str, path: Path_, enum: type[E], default: E
    ) -> E:
        raw = self.string(data, key, path)
        if raw is None:
            return default
        for member in enum:
            if member.value.lower() == raw.lower():
                return member
        allowed = ", ".join(m.value for m in enum)
        self.problem((*path, key), f"{raw!r} is not supported; use one of {allowed}.")
        return default

    def url(self, data: Mapping[str, Any], key: str, path: Path_) -> str | None:
        raw = self.string(data, key, path)
        if raw is None:
            return None
        if not is_http_url(raw):
            self.problem((*path, key), f"{raw!r} is not an http(s) URL; write it as https://host/path.")
            return None
        return raw

    def path(self, raw: str) -> Path:
        p = Path(raw).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def is_http_url(raw: str) -> bool:
    """Tell whether a URL is absolute http(s) with a host and, if any, a valid port."""
    try:
        parts = urlsplit(raw)
        port_ok = parts.port is None or parts.port > 0  # .port raises ValueError beyond 65535
    except ValueError:  # "https://[api.example.com/": an unclosed IPv6 bracket
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok


def parse_host(raw: str) -> HostPattern:
    """Parse one ``hosts`` entry: ``host`` or ``host:port``; raise ValueError with the fix."""
    text = raw.strip().lower()
    if "://" in text or "/" in text:
        raise ValueError(f"{raw!r} is not a host; write only the host name (and :port), without scheme or path.")
    port: int | None = None
    host = text
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{raw!r} is not a valid IPv6 host; write it as [::1] or [::1]:8443.")
        host, rest = text[1:end], text[end + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{raw!r} is not host:port; write [::1]:8443.")
            port = _parse_port(rest[1:], raw)
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        port = _parse_port(port_text, raw)
    host = normalize_host(host)
    if not host.count(":") and not HOST_NAME.match(host):
        raise ValueError(f"{raw!r} is not a valid host name; write a name such as api.example.com.")
    return HostPattern(host=host, port=port)


def _parse_port(text: str, raw: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{raw!r} has no valid port; write host:port with a port from 1 to 65535.")
    return int(text)


def make_rsa_signer(data: bytes, password: bytes | None = None) -> RSASigner:
    """Load an RSA private key once (PEM: PKCS#1 or PKCS#8; or PKCS#12) and return a signer for it."""
    key: object
    if b"-----BEGIN" in data:
        key = serialization.load_pem_private_key(data, password=password)
    else:
        key = pkcs12.load_key_and_certificates(data, password)[0]
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the key is not an RSA private key")

    def sign(message: bytes, hash_name: str) -> bytes:
        return key.sign(message, padding.PKCS1v15(), _HASHES[hash_name]())

    return sign


def check_profile(c: Checker, name: str, data: Any, path: Path_) -> Profile | None:
    if not PROFILE_NAME.match(name):
        c.problem(path, f"the profile name {name!r} may only use letters, digits, '_' and '-'; rename it.")
    if not isinstance(data, Mapping):
        c.problem(path, "a profile must be a mapping of keys (hosts, consumer_key, ...).")
        return None
    before = len(c.problems)
    preset = data.get("preset")
    if preset is not None:
        if not isinstance(preset, str) or preset not in PRESETS:
            c.problem((*path, "preset"), f"{preset!r} is not a known preset; use one of {', '.join(PRESETS)}.")
            preset = None
        else:
            data = apply_preset(PRESETS[preset], data)
    for key in data:
        if key not in PROFILE_KEYS:
            c.problem((*path, key), f"unknown key; the keys a profile takes are {', '.join(PROFILE_KEYS)}.")

    hosts: list[HostPattern] = []
    raw_hosts = data.get("hosts")
    if raw_hosts is None:
        c.problem((*path, "hosts"), "is required; list the API hosts, e.g. hosts: [api.example.com].")
    elif isinstance(raw_hosts, str):
        raw_hosts = [raw_hosts]
    if raw_hosts is not None and not isinstance(raw_hosts, list):
        c.problem((*path, "hosts"), "must be a list of hosts, e.g. hosts: [api.example.com].")
    elif raw_hosts is not None:
        if not raw_hosts:
            c.problem((*path, "hosts"), "is empty; list at least one host.")
        for i, raw in enumerate(raw_hosts):
            if not isinstance(raw, str):
                c.problem((*path, "hosts", i), f"{raw!r} is not a host name; write it as a string.")
                continue
            try:
                hosts.append(parse_host(raw))
            except ValueError as e:
                c.problem((*path, "hosts", i), str(e))

    path_prefix = c.string(data, "path_prefix", path) or "/"
    if not path_prefix.startswith("/"):
        c.problem((*path, "path_prefix"), f"{path_prefix!r} must start with '/'; write /{path_prefix}.")

    method = c.choice(data, "signature_method", path, SignatureMethod, SignatureMethod.HMAC_SHA1)
    placement = c.choice(data, "placement", path, Placement, Placement.HEADER)
    consumer_key = c.string(data, "consumer_key", path, required=True, allow_empty=False)
    consumer_secret = c.string(data, "consumer_secret", path)
    for key in ("consumer_secret", "token_secret"):
        if key in data and data[key] is None:
            c.problem((*path, key), f'has no value; write {key}: "" for an empty secret, or remove the key.')
    if consumer_secret is None and not method.is_rsa and "consumer_secret" not in data:
        c.problem((*path, "consumer_secret"),
                  f"is required for {method}; add it (write consumer_secret: \"\" for an empty secret).")

    private_key_file: Path | None = None
    rsa_signer: RSASigner | None = None
    password = c.string(data, "private_key_password", path)
    key_text = c.string(data, "private_key_file", path)
    if method.is_rsa and key_text is None and data.get("private_key_file") is None:
        c.problem((*path, "private_key_file"), f"is required for {method}; give the path of a PEM private key.")
    if key_text is not None:
        if not method.is_rsa:
            c.problem((*path, "private_key_file"),
                      f"is only used with RSA-* signature methods, not {method}; remove it or change the method.")
        private_key_file = c.path(key_text)
        if c.read_file is not None and method.is_rsa:
            try:
                rsa_signer = make_rsa_signer(c.read_file(private_key_file),
                                             password.encode() if password is not None else None)
            except FileNotFoundError:
                c.problem((*path, "private_key_file"),
                          f"{str(private_key_file)!r} does not exist; fix the path (relative paths start "
                          "at the config file's folder).")
            except NotARegularFile as e:
                c.problem((*path, "private_key_file"),
                          f"{str(private_key_file)!r} cannot be read: {e.strerror}; give the path of a PEM file.")
            except OSError as e:
                c.problem((*path, "private_key_file"),
                          f"{str(private_key_file)!r} cannot be read ({e.strerror}); check its permissions.")
            except (ValueError, TypeError, UnsupportedAlgorithm):
                c.problem((*path, "private_key_file"),
                          f"{str(private_key_file)!r} is not an RSA private key in PEM (PKCS#1 or PKCS#8) or "
                          "PKCS#12, or its private_key_password is wrong; convert it with openssl pkcs8 -topk8 "
                          "-nocrypt, or check the password.")

    realm = c.string(data, "realm", path)
    token = c.string(data, "token", path, allow_empty=False)
    token_secret = c.string(data, "token_secret", path)
    if (token is None) != (token_secret is None) and not (
        "token" in data and "token_secret" in data
    ):
        missing = "token_secret" if token_secret is None else "token"
        c.problem((*path, missing), "token and token_secret go together; add the missing one or remove both.")

    urls = {k: c.url(data, k, path) for k in ("request_token_url", "authorize_url", "access_token_url")}
    given = [k for k in urls if k in data]
    if given and len(given) < 3:
        for k in urls:
            if k not in data:
                c.problem((*path, k),
                          "is missing; the token dance needs request_token_url, authorize_url and "
                          "access_token_url together.")

    callback = c.string(data, "callback", path) or "auto"
    if callback not in ("auto", "oob"):
        if not is_http_url(callback):
            c.problem((*path, "callback"), f"{callback!r} must be auto, oob or an http(s) URL.")

    authorize_params: list[tuple[str, str]] = []
    raw_params = data.get("authorize_params")
    if raw_params is not None:
        if not isinstance(raw_params, Mapping):
            c.problem((*path, "authorize_params"), "must be a mapping, e.g. authorize_params: {scope: read}.")
        else:
            for k, v in raw_params.items():
                if isinstance(v, (Mapping, list)) or v is None:
                    c.problem((*path, "authorize_params", k), "must be a single value (a string or number).")
                    continue
                text = v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
                expanded = c.expand(text, (*path, "authorize_params", k))
                if expanded is not None:
                    authorize_params.append((str(k), expanded))

    clock_skew = data.get("clock_skew", 0)
    if clock_skew is None:
        clock_skew = 0
    if isinstance(clock_skew, bool) or not isinstance(clock_skew, int) or abs(clock_skew) > 86400:
        c.problem((*path, "clock_skew"), f"{clock_skew!r} is not a number of seconds (-86400 to 86400); write e.g. "
                                         "clock_skew: 120 when the provider's clock is 2 minutes ahead.")
        clock_skew = 0
    body_hash_on_forms = data.get("body_hash") == "always"
    body_hash = body_hash_on_forms or c.boolean({k: v for k, v in data.items() if v != "always"}, "body_hash",
                                                path, False)
    realm_from = c.boolean(data, "realm_from_host", path, False)
    key_ampersand = c.boolean(data, "key_ampersand", path, True)
    excluded: list[str] = []
    raw_excluded = data.get("exclude_params")
    if raw_excluded is not None:
        if not isinstance(raw_excluded, list) or not all(isinstance(x, str) and x for x in raw_excluded):
            c.problem((*path, "exclude_params"), "must be a list of parameter names, e.g. exclude_params: [photo].")
        else:
            excluded = [x for x in raw_excluded if not x.startswith("oauth_")]
            if len(excluded) != len(raw_excluded):
                c.problem((*path, "exclude_params"), "oauth_* parameters are always signed; remove them.")
    allow_insecure = c.boolean(data, "allow_insecure", path, False)
    lifetimes = check_lifetime_keys(c, data, path)
    variants = check_dance_variants(c, data, path, urls["authorize_url"])


    accounts_and_limits = check_accounts_and_limits(c, data, path)
    if len(c.problems) > before or consumer_key is None:
        return None
    return Profile(
        name=name,
        hosts=tuple(hosts),
        path_prefix=path_prefix,
        consumer_key=consumer_key,
        consumer_secret=consumer_secret or "",
        signature_method=method,
        private_key_file=private_key_file,
        rsa_signer=rsa_signer,
        placement=placement,
        realm=realm,
        body_hash=body_hash,
        token=token,
        token_secret=token_secret if token is not None else None,
        request_token_url=urls["request_token_url"],
        authorize_url=urls["authorize_url"],
        access_token_url=urls["access_token_url"],
        callback=callback,
        authorize_params=tuple(authorize_params),
        allow_insecure=allow_insecure,
        clock_skew=clock_skew,
        body_hash_on_forms=body_hash_on_forms,
        exclude_params=frozenset(excluded),
        realm_from_host=realm_from,
        key_ampersand=key_ampersand,
        preset=preset,
        **accounts_and_limits,
        **lifetimes,
        **variants,
    )
