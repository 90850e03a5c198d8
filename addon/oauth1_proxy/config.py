"""YAML config → frozen, validated values (SPEC §4).

``load_config(path)`` is the only function here that reads files (the config
itself and RSA key files). ``parse_config(data, ...)`` validates plain values
and reports every problem at once, each naming the file, the line, the key
and the fix. Raw YAML dicts never leave this module.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .errors import ConfigError
from .presets import PRESETS, apply_preset, realm_from_host
from .signing import ClientCredentials, Placement, RSASigner, SignatureMethod

DEFAULT_TOKEN_STORE = "~/.config/oauth1-proxy/tokens.yaml"
DEFAULT_PORTS = {"http": 80, "https": 443}
PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]+\Z")
# A host name (RFC 1123 labels) or an IPv4 address; IPv6 in brackets.
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z)({_LABEL})(\.{_LABEL})*\Z")
ENV_REF = re.compile(r"\$\{([^}]*)\}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

TOP_LEVEL_KEYS = ("token_store", "profiles")
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
)
SECRET_KEYS = frozenset({"consumer_secret", "token_secret", "private_key_password"})

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha512": hashes.SHA512,
}


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
    # Derived once, here, instead of for every request (issue 5).
    _client: ClientCredentials = field(init=False, repr=False, compare=False)
    _options: dict[str, Any] = field(init=False, repr=False, compare=False)
    _authorize_page: tuple[str, str, int, str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: derived values are set once, at construction
        set_(self, "_client", ClientCredentials(key=self.consumer_key, secret=self.consumer_secret,
                                                 rsa_signer=self.rsa_signer))
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
    token_store: Path
    profiles: tuple[Profile, ...]
    # (scheme, host, port) -> profiles, longest path_prefix first.
    index: Mapping[tuple[str, str, int], tuple[Profile, ...]] = field(repr=False)

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


# --- locating values in the YAML -------------------------------------------------

Path_ = tuple[str | int, ...]


class _Located:
    """Plain values from YAML plus the line each key path starts on."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}
        self.problems: list[str] = []

    def where(self, path: Path_) -> str:
        line = None
        for i in range(len(path), -1, -1):
            line = self.lines.get(path[:i])
            if line is not None:
                break
        return f"{self.source}:{line}" if line is not None else self.source


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _construct(node: yaml.Node, path: Path_, loc: _Located, constructor: yaml.SafeLoader) -> Any:
    """Build one scalar; a value YAML cannot build (a bad tag, 2024-13-45) is a problem on its line."""
    try:
        return constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as e:
        # Never str(e), nor the tag: PyYAML's message quotes the line (and an
        # unquoted "!..." secret is read as a tag).
        problem = yaml_problem(e) if isinstance(e, yaml.YAMLError) else f"not a valid {node.tag.rpartition(':')[2]}"
        loc.problems.append(
            f"{loc.source}:{node.start_mark.line + 1}: {_dotted(path)}: this value cannot be read "
            f"({problem}); write it as a quoted string ({_dotted(path).rpartition('.')[2]}: \"...\")."
        )
        return None


def _to_plain(node: yaml.Node, path: Path_, loc: _Located, constructor: yaml.SafeLoader) -> Any:
    loc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, path, loc, constructor)
            key = str(key)
            child = (*path, key)
            if key in out:
                loc.problems.append(
                    f"{loc.source}:{key_node.start_mark.line + 1}: {_dotted(child)}: the key appears twice; "
                    "keep one of them."
                )
                continue
            loc.lines[child] = key_node.start_mark.line + 1
            out[key] = _to_plain(value_node, child, loc, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_plain(v, (*path, i), loc, constructor) for i, v in enumerate(node.value)]
    return _construct(node, path, loc, constructor)


class YamlRefused(ValueError):
    """A YAML construct we do not accept (an anchor or alias), at a line and key; the message quotes no value."""

    def __init__(self, line: int, key: str | None, what: str) -> None:
        self.line, self.key, self.what = line, key, what
        super().__init__(what)


class StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without anchors and aliases (``&name``, ``*name``).

    Interpretation: our files (config and token store) have no use for them,
    and they are how YAML attacks a reader: a recursive alias is a
    RecursionError, a 1 KB "billion laughs" a MemoryError. An unquoted secret
    starting with ``&`` or ``*`` is read as one too, so the message says to
    quote it, and never shows the value.
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            key = index.value if isinstance(index, yaml.ScalarNode) and isinstance(index.value, str) else None
            raise YamlRefused(event.start_mark.line + 1, key,
                              "YAML anchors and aliases (&name, *name) are not accepted")
        node = super().compose_node(parent, index)
        assert node is not None
        return node


# PyYAML quotes what it found (a tag, an alias, a character of the line): it may be a secret.
_QUOTED = re.compile(r"['\"].*['\"]|['\"].*")
_KEY_ON_LINE = re.compile(r"\s*(?:-\s+)*([A-Za-z0-9_.-]+)\s*:")


def quote_hint(key: str | None) -> str:
    """The fix for a value YAML reads as syntax: quote it."""
    return (f'if the value starts with one of ! * & % @ ` | > or a tab (a secret may), quote it: '
            f'{key or "key"}: "..."')


def yaml_problem(e: BaseException) -> str:
    """What PyYAML says is wrong, without anything it quotes from the file (never str(e): it shows the line)."""
    problem = getattr(e, "problem", None)
    if not isinstance(problem, str) or not problem:
        return "a syntax error"
    return _QUOTED.sub("…", problem).strip()


def yaml_error_line(e: BaseException) -> int | None:
    """The 1-based line PyYAML's error points at, if it says."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def key_on_line(text: str, line: int | None) -> str | None:
    """The mapping key written at the start of a 1-based line, if any (only the key: never the value)."""
    if line is None:
        return None
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    m = _KEY_ON_LINE.match(lines[line - 1])
    return m.group(1) if m else None


def describe_yaml_error(e: BaseException, text: str, source: str) -> str:
    """One message for YAML we cannot read: file, line and key, what is wrong, the fix; never a value."""
    if isinstance(e, YamlRefused):
        line: int | None = e.line
        key = e.key or key_on_line(text, e.line)
        problem = e.what
    elif isinstance(e, RecursionError):
        return f"{source}: the YAML is nested too deeply to read; write it flat (a mapping of mappings)."
    else:
        line, problem = yaml_error_line(e), yaml_problem(e)
        key = key_on_line(text, line)
    where = f"{source}:{line}" if line is not None else source
    at = f" {key}:" if key else ""
    return f"{where}:{at} this is not valid YAML ({problem}); fix the syntax there ({quote_hint(key)})."


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int], list[str]]:
    """Parse YAML text into plain values and a map from key path to line number (no anchors or aliases)."""
    loc = _Located(source)
    try:
        node = yaml.compose(text, Loader=StrictLoader)
    except (yaml.YAMLError, YamlRefused, RecursionError) as e:
        raise ConfigError([describe_yaml_error(e, text, source)]) from None
    if node is None:
        return None, {}, []
    constructor = yaml.SafeLoader("")
    try:
        data = _to_plain(node, (), loc, constructor)
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError([describe_yaml_error(e, text, source)]) from None
    return data, loc.lines, loc.problems


class NotARegularFile(OSError):
    """A path that names a FIFO, a device, a folder or a socket: reading it could block, or never end."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str | os.PathLike[str]) -> tuple[bytes, os.stat_result]:
    """Read a regular file and return its bytes and fstat; raise NotARegularFile for anything else.

    Opened with O_NONBLOCK, then fstat on the open descriptor (no race with a
    swap between a stat and the open): opening a FIFO this way never waits
    for a writer, and it is refused before any read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(0, f"it is {_kind(st.st_mode)}, not a regular file", str(path))
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


# --- validation ----------------------------------------------------------------------


class _Checker:
    def __init__(
        self,
        lines: Mapping[Path_, int],
        source: str,
        env: Mapping[str, str],
        base_dir: Path,
        read_file: Callable[[Path], bytes] | None,
    ) -> None:
        self.loc = _Located(source)
        self.loc.lines.update(lines)
        self.env = env
        self.base_dir = base_dir
        self.read_file = read_file
        self.problems: list[str] = []

    def problem(self, path: Path_, message: str) -> None:
        self.problems.append(f"{self.loc.where(path)}: {_dotted(path)}: {message}")

    def expand(self, value: str, path: Path_) -> str | None:
        """Replace ``${VAR}`` with the environment's value; report unset variables."""
        ok = True

        def sub(m: re.Match[str]) -> str:
            nonlocal ok
            name = m.group(1)
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


def _check_profile(c: _Checker, name: str, data: Any, path: Path_) -> Profile | None:
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
    )


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


def parse_config(
    data: Any,
    source: str,
    *,
    lines: Mapping[Path_, int] | None = None,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    read_file: Callable[[Path], bytes] | None = None,
) -> ProxyConfig:
    """Validate plain config values into a ProxyConfig; raise ConfigError listing every problem."""
    c = _Checker(lines or {}, source, os.environ if env is None else env,
                 base_dir or Path(source).parent, read_file)
    if not isinstance(data, Mapping):
        raise ConfigError([f"{source}: the config must be a mapping with a 'profiles' key; see config/example.yaml."])
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            c.problem((key,), f"unknown key; the top level takes {', '.join(TOP_LEVEL_KEYS)}.")
    store_text = c.string(data, "token_store", (), allow_empty=False) or DEFAULT_TOKEN_STORE
    token_store = c.path(store_text)
    profiles: list[Profile] = []
    raw_profiles = data.get("profiles")
    if not isinstance(raw_profiles, Mapping) or not raw_profiles:
        c.problem(("profiles",), "is required: a mapping of profile names to profiles; see config/example.yaml.")
    else:
        for name, body in raw_profiles.items():
            profile = _check_profile(c, str(name), body, ("profiles", str(name)))
            if profile is not None:
                profiles.append(profile)
    index = make_index(profiles)
    seen: set[tuple[str, str, str]] = set()
    for (scheme, host, port), bucket in index.items():
        for i, a in enumerate(bucket):
            for b in bucket[i + 1:]:
                tie = (a.name, b.name, a.path_prefix)
                if a.path_prefix == b.path_prefix and tie not in seen:
                    seen.add(tie)
                    c.problem(
                        ("profiles", b.name, "path_prefix"),
                        f"profiles {a.name!r} and {b.name!r} both sign {scheme}://{host}:{port} with "
                        f"path_prefix {a.path_prefix!r}; give one of them a longer path_prefix or other hosts.",
                    )
    if c.problems:
        raise ConfigError(c.problems)
    return ProxyConfig(source=Path(source), token_store=token_store, profiles=tuple(profiles), index=index)


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> ProxyConfig:
    """Read and validate a config file (and the key files it names); only regular files are read."""
    p = Path(path).expanduser()
    source = str(path)
    try:
        raw, _ = read_regular_file(p)
        text = raw.decode("utf-8")
    except FileNotFoundError as e:
        raise ConfigError([f"{source}: the config file does not exist; check the path, or start from "
                           "config/example.yaml."]) from e
    except NotARegularFile as e:
        raise ConfigError([f"{source}: the config file cannot be read: {e.strerror}; give the path of a YAML "
                           "file (a pipe or device is refused: reading it could wait forever)."]) from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
        raise ConfigError([f"{source}: the config file cannot be read ({reason}); check the file."]) from e
    data, lines, problems = parse_yaml(text, source)
    try:
        config = parse_config(data, source, lines=lines, env=env, base_dir=p.resolve().parent,
                              read_file=lambda f: read_regular_file(f)[0])
    except ConfigError as e:
        raise ConfigError(problems + e.problems) from None
    if problems:
        raise ConfigError(problems)
    return config
