"""YAML config → frozen, validated values (SPEC §4).

``load_config(path)`` is the only function here that reads files (the config
itself and RSA key files). ``parse_config(data, ...)`` validates plain values
and reports every problem at once, each naming the file, the line, the key
and the fix. Raw YAML dicts never leave this module.

This is the entry point; the work is in three modules, whose names are
re-exported here so ``from oauth1_proxy.config import X`` keeps working:
config_model.py (the frozen values and the matching index), config_yaml.py
(the strict YAML reader, regular files only) and config_check.py (validation).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .config_check import ENV_NAME as ENV_NAME
from .config_check import ENV_REF as ENV_REF
from .config_check import HOST_NAME as HOST_NAME
from .config_check import PROFILE_KEYS as PROFILE_KEYS
from .config_check import PROFILE_NAME as PROFILE_NAME
from .config_check import SECRET_KEYS as SECRET_KEYS
from .config_check import Checker, check_profile
from .config_check import is_http_url as is_http_url
from .config_check import make_rsa_signer as make_rsa_signer
from .config_check import parse_host as parse_host
from .config_model import DEFAULT_PORTS as DEFAULT_PORTS
from .config_model import DEFAULT_TOKEN_STORE as DEFAULT_TOKEN_STORE
from .config_model import HostPattern as HostPattern
from .config_model import Profile as Profile
from .config_model import ProxyConfig as ProxyConfig
from .config_model import make_index as make_index
from .config_model import normalize_host as normalize_host
from .config_yaml import NotARegularFile as NotARegularFile
from .config_yaml import Path_ as Path_
from .config_yaml import StrictLoader as StrictLoader
from .config_yaml import YamlRefused as YamlRefused
from .config_yaml import describe_yaml_error as describe_yaml_error
from .config_yaml import key_on_line as key_on_line
from .config_yaml import parse_yaml as parse_yaml
from .config_yaml import quote_hint as quote_hint
from .config_yaml import read_regular_file as read_regular_file
from .config_yaml import yaml_error_line as yaml_error_line
from .config_yaml import yaml_problem as yaml_problem
from .errors import ConfigError
from .secret_refs import read_secret_file
from .stores.crypto import BadStoreKey, parse_store_key
from .stores.location import BadRedisURL, RedisLocation, is_redis_url, parse_redis_url

TOP_LEVEL_KEYS = ("token_store", "profiles", "token_store_key")


def parse_config(
    data: Any,
    source: str,
    *,
    lines: Mapping[Path_, int] | None = None,
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    read_file: Callable[[Path], bytes] | None = None,
    read_secret: Callable[[Path], str] | None = None,
) -> ProxyConfig:
    """Validate plain config values into a ProxyConfig; raise ConfigError listing every problem.

    ``read_secret`` reads ``${file:PATH}`` secrets (secret_refs.read_secret_file); without it they are a problem.
    """
    c = Checker(lines or {}, source, os.environ if env is None else env,
                 base_dir or Path(source).parent, read_file)
    c.read_secret = read_secret
    if not isinstance(data, Mapping):
        raise ConfigError([f"{source}: the config must be a mapping with a 'profiles' key; see config/example.yaml."])
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            c.problem((key,), f"unknown key; the top level takes {', '.join(TOP_LEVEL_KEYS)}.")
    store_text = c.string(data, "token_store", (), allow_empty=False) or DEFAULT_TOKEN_STORE
    token_store: Path | RedisLocation = c.path(store_text)
    if is_redis_url(store_text):
        try:
            token_store = parse_redis_url(store_text)
        except BadRedisURL as e:  # the message never holds the password
            c.problem(("token_store",), f"{e}.")
    store_key = c.string(data, "token_store_key", (), allow_empty=False)
    if store_key is not None:
        try:
            parse_store_key(store_key)
        except BadStoreKey as e:  # the message never quotes the key
            c.problem(("token_store_key",), f"{e}.")
    profiles: list[Profile] = []
    raw_profiles = data.get("profiles")
    if not isinstance(raw_profiles, Mapping) or not raw_profiles:
        c.problem(("profiles",), "is required: a mapping of profile names to profiles; see config/example.yaml.")
    else:
        for name, body in raw_profiles.items():
            profile = check_profile(c, str(name), body, ("profiles", str(name)))
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
    return ProxyConfig(source=Path(source), token_store=token_store, profiles=tuple(profiles), index=index,
                       token_store_key=store_key)


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
                              read_file=lambda f: read_regular_file(f)[0], read_secret=read_secret_file)
    except ConfigError as e:
        raise ConfigError(problems + e.problems) from None
    if problems:
        raise ConfigError(problems)
    return config
