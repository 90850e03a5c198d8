"""config.py: YAML → validated ProxyConfig, every mistake named with file, line, key and fix (SPEC §4, §5)."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from oauth1_proxy.config import ProxyConfig, load_config, parse_config
from oauth1_proxy.errors import ConfigError
from oauth1_proxy.signing import SignatureMethod

EXAMPLES = Path(__file__).resolve().parent.parent / "config"
CONSUMER_SECRET = "cs-Very-Secret-1"
TOKEN_SECRET = "ts-Very-Secret-2"

# A valid profile body; tests add or change one line each.
GOOD_PROFILE = """\
profiles:
  api:
    hosts: [api.example.com]
    consumer_key: ck
    consumer_secret: cs
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value.problems


def at(path: Path, line: int, key: str) -> str:
    """The start of a message: file, line and dotted key, as a regex."""
    return f"{re.escape(str(path))}:{line}: {re.escape(key)}: "


def rsa_key(fmt: serialization.PrivateFormat) -> tuple[bytes, rsa.RSAPublicKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    return pem, key.public_key()


def simple_config(*profiles: dict[str, object]) -> ProxyConfig:
    """Profiles for matching tests, validated by parse_config (no file)."""
    data = {"profiles": {p["name"]: {k: v for k, v in p.items() if k != "name"} for p in profiles}}
    return parse_config(data, "test.yaml", env={})


def profile(name: str, hosts: list[str], path_prefix: str = "/") -> dict[str, object]:
    return {"name": name, "hosts": hosts, "path_prefix": path_prefix,
            "consumer_key": "ck", "consumer_secret": "cs"}


# --- one message per mistake: file, line, key, fix -------------------------------------


def test_load_config_unknown_top_level_key_names_line_and_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "tokens_store: t.yaml\n")
    with pytest.raises(ConfigError, match=at(path, 6, "tokens_store") + "unknown key; the top level takes "
                       "token_store, profiles"):
        load_config(path, env={})


def test_load_config_misspelt_profile_key_names_line_and_the_right_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ck
            consumer_secert: cs
        """)
    with pytest.raises(ConfigError, match=at(path, 5, "profiles.api.consumer_secert") + "unknown key; "
                       "the keys a profile takes are .*consumer_secret"):
        load_config(path, env={})


def test_load_config_unsupported_signature_method_lists_supported_ones(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    signature_method: HMAC-MD5\n")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.api.signature_method") + re.escape(
            "'HMAC-MD5' is not supported; use one of HMAC-SHA1, HMAC-SHA256, HMAC-SHA512, RSA-SHA1, "
            "RSA-SHA256, RSA-SHA512, PLAINTEXT.")):
        load_config(path, env={})


def test_load_config_unknown_placement_lists_header_body_query(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    placement: cookie\n")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.api.placement") + re.escape(
            "'cookie' is not supported; use one of header, body, query.")):
        load_config(path, env={})


def test_load_config_missing_consumer_key_says_it_is_required(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_secret: cs
        """)
    # A missing key has no line of its own: the message points at its profile.
    with pytest.raises(ConfigError, match=at(path, 2, "profiles.api.consumer_key") + "is required; add it"):
        load_config(path, env={})


def test_load_config_hmac_without_consumer_secret_explains_empty_secret(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ck
        """)
    with pytest.raises(ConfigError, match=at(path, 2, "profiles.api.consumer_secret") + re.escape(
            'is required for HMAC-SHA1; add it (write consumer_secret: "" for an empty secret).')):
        load_config(path, env={})


def test_load_config_explicit_empty_consumer_secret_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ck
            consumer_secret: ""
        """)
    assert load_config(path, env={}).profiles[0].consumer_secret == ""


def test_load_config_unset_variable_names_it_and_says_export(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ${API_KEY}
            consumer_secret: cs
        """)
    with pytest.raises(ConfigError, match=at(path, 4, "profiles.api.consumer_key") + re.escape(
            "the environment variable API_KEY is not set; export API_KEY=... before starting")):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("https://api.example.com/",
         "is not a host; write only the host name (and :port), without scheme or path."),
        ("api.example.com/v1", "is not a host; write only the host name"),
        ("api..example.com", "is not a valid host name; write a name such as api.example.com."),
    ],
    ids=["url", "host-and-path", "empty-label"],
)
def test_load_config_bad_host_names_entry_and_fix(tmp_path: Path, host: str, message: str) -> None:
    path = write(tmp_path, f"""\
        profiles:
          api:
            hosts: ["{host}"]
            consumer_key: ck
            consumer_secret: cs
        """)
    expected = at(path, 3, "profiles.api.hosts[0]") + re.escape(f"{host!r} {message}")
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


@pytest.mark.parametrize("host", ["api.example.com:0", "api.example.com:65536", "api.example.com:https"],
                         ids=["zero", "too-big", "not-a-number"])
def test_load_config_bad_port_asks_for_1_to_65535(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, f"""\
        profiles:
          api:
            hosts: [api.example.com, "{host}"]
            consumer_key: ck
            consumer_secret: cs
        """)
    with pytest.raises(ConfigError, match=at(path, 3, "profiles.api.hosts[1]") + re.escape(
            f"{host!r} has no valid port; write host:port with a port from 1 to 65535.")):
        load_config(path, env={})


def test_load_config_path_prefix_without_slash_suggests_the_fix(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    path_prefix: v1/\n")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.api.path_prefix") + re.escape(
            "'v1/' must start with '/'; write /v1/.")):
        load_config(path, env={})


def test_load_config_token_without_token_secret_says_they_go_together(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    token: tok\n")
    with pytest.raises(ConfigError, match=at(path, 2, "profiles.api.token_secret") + re.escape(
            "token and token_secret go together; add the missing one or remove both.")):
        load_config(path, env={})


def test_load_config_token_secret_without_token_says_they_go_together(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    token_secret: ts\n")
    expected = at(path, 2, "profiles.api.token") + "token and token_secret go together"
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


def test_load_config_some_dance_urls_names_each_missing_one(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    request_token_url: https://api.example.com/oauth/request_token\n")
    problems = problems_of(path)
    assert len(problems) == 2
    for key, problem in zip(("authorize_url", "access_token_url"), problems, strict=True):
        assert re.match(at(path, 2, f"profiles.api.{key}") + re.escape(
            "is missing; the token dance needs request_token_url, authorize_url and "
            "access_token_url together."), problem)


DANCE = """\
    request_token_url: https://api.example.com/oauth/request_token
    authorize_url: https://api.example.com/oauth/authorize
    access_token_url: https://api.example.com/oauth/access_token
"""


@pytest.mark.parametrize(
    "url",
    ["api.example.com/oauth/authorize", "ftp://api.example.com/authorize", "https://api.example.com:99999/authorize",
     "https://api.example.com:x/authorize", "https://[api.example.com/authorize"],
    ids=["no-scheme", "ftp", "port-too-big", "port-not-a-number", "unclosed-bracket"],
)
def test_load_config_bad_dance_url_asks_for_an_http_url(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, GOOD_PROFILE + DANCE.replace("https://api.example.com/oauth/authorize", url))
    with pytest.raises(ConfigError, match=at(path, 7, "profiles.api.authorize_url") + re.escape(
            f"{url!r} is not an http(s) URL; write it as https://host/path.")):
        load_config(path, env={})


@pytest.mark.parametrize("callback", ["https://[localhost/cb", "https://localhost:0/cb", "somewhere"],
                         ids=["unclosed-bracket", "port-zero", "not-a-url"])
def test_load_config_bad_callback_says_auto_oob_or_url(tmp_path: Path, callback: str) -> None:
    path = write(tmp_path, GOOD_PROFILE + DANCE + f'    callback: "{callback}"\n')
    with pytest.raises(ConfigError, match=at(path, 9, "profiles.api.callback") + re.escape(
            f"{callback!r} must be auto, oob or an http(s) URL.")):
        load_config(path, env={})


def test_load_config_rsa_without_private_key_file_asks_for_a_pem(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          jira:
            hosts: [jira.example.com]
            consumer_key: ck
            signature_method: RSA-SHA1
        """)
    with pytest.raises(ConfigError, match=at(path, 2, "profiles.jira.private_key_file") + re.escape(
            "is required for RSA-SHA1; give the path of a PEM private key.")):
        load_config(path, env={})


def test_load_config_rsa_with_empty_private_key_file_asks_for_a_pem(tmp_path: Path) -> None:
    # `private_key_file:` with nothing after it is no key at all: accepting it
    # would fail every request at signing time instead of at start.
    path = write(tmp_path, """\
        profiles:
          jira:
            hosts: [jira.example.com]
            consumer_key: ck
            signature_method: RSA-SHA1
            private_key_file:
        """)
    expected = re.escape("profiles.jira.private_key_file: is required for RSA-SHA1")
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


def test_load_config_missing_key_file_names_the_resolved_path(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          jira:
            hosts: [jira.example.com]
            consumer_key: ck
            signature_method: RSA-SHA256
            private_key_file: keys/missing.pem
        """)
    expected = str(tmp_path.resolve() / "keys" / "missing.pem")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.jira.private_key_file") + re.escape(
            f"{expected!r} does not exist; fix the path (relative paths start at the config "
            "file's folder).")):
        load_config(path, env={})


@pytest.mark.parametrize(
    "content",
    [
        b"this is not a key\n",
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    ],
    ids=["text", "ec-key"],
)
def test_load_config_key_file_not_an_rsa_key_says_how_to_convert(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "key.pem").write_bytes(content)
    path = write(tmp_path, """\
        profiles:
          jira:
            hosts: [jira.example.com]
            consumer_key: ck
            signature_method: RSA-SHA1
            private_key_file: key.pem
        """)
    key = str(tmp_path.resolve() / "key.pem")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.jira.private_key_file") + re.escape(
            f"{key!r} is not an RSA private key in PEM (PKCS#1 or PKCS#8) or PKCS#12, or its "
            "private_key_password is wrong; convert it with openssl pkcs8 -topk8 -nocrypt, or check the password.")):
        load_config(path, env={})


def test_load_config_duplicate_key_names_the_second_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    consumer_key: other\n")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.api.consumer_key") + re.escape(
            "the key appears twice; keep one of them.")):
        load_config(path, env={})


def test_load_config_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: a: b
        """)
    expected = re.escape(f"{path}:4: consumer_key: this is not valid YAML (mapping values are not allowed here); "
                         "fix the syntax there")
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


def test_load_config_impossible_date_is_a_config_error_on_its_line(tmp_path: Path) -> None:
    # Unquoted 2024-13-45 looks like a YAML date; PyYAML raises ValueError building it.
    path = write(tmp_path, GOOD_PROFILE + "    realm: 2024-13-45\n")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.api.realm") + re.escape(
            'this value cannot be read (not a valid timestamp); write it as a quoted string (realm: "...").')):
        load_config(path, env={})


def test_load_config_unknown_tag_is_a_config_error_on_its_line_without_the_tag(tmp_path: Path) -> None:
    # The tag is not shown: an unquoted secret starting with "!" is read as one (issue 12).
    path = write(tmp_path, GOOD_PROFILE + "    realm: !vault abc\n")
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.api.realm") + re.escape(
            "this value cannot be read (could not determine a constructor for the tag …); write it as a quoted "
            'string (realm: "...").')) as info:
        load_config(path, env={})
    assert "vault" not in str(info.value)


def test_load_config_two_profiles_tying_on_host_and_prefix_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          first:
            hosts: [api.example.com]
            consumer_key: ck
            consumer_secret: cs
          second:
            hosts: [API.example.com]
            consumer_key: ck2
            consumer_secret: cs2
        """)
    # The tie holds for http on 80 and https on 443; either may be named.
    with pytest.raises(ConfigError, match=at(path, 6, "profiles.second.path_prefix") + re.escape(
            "profiles 'first' and 'second' both sign ") + r"https?://api\.example\.com:(80|443)" + re.escape(
            " with path_prefix '/'; give one of them a longer path_prefix or other hosts.")):
        load_config(path, env={})


def test_load_config_tie_is_reported_once_for_http_and_https(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          first:
            hosts: [api.example.com]
            consumer_key: ck
            consumer_secret: cs
          second:
            hosts: [api.example.com]
            consumer_key: ck2
            consumer_secret: cs2
        """)
    assert len(problems_of(path)) == 1


def test_load_config_several_problems_are_all_reported(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        colour: blue
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ${MISSING}
            consumer_secret: cs
            signature_method: HMAC-MD5
            path_prefix: v1
        """)
    problems = problems_of(path)
    assert sorted(p.split(": ")[1] for p in problems) == [
        "colour", "profiles.api.consumer_key", "profiles.api.path_prefix", "profiles.api.signature_method",
    ]


def test_config_error_message_has_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    placement: cookie\n    signature_method: MD5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).splitlines() == info.value.problems
    assert len(info.value.problems) == 2


def test_load_config_missing_file_says_check_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    expected = re.escape(f"{path}: the config file does not exist; check the path")
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


def test_load_config_empty_file_asks_for_profiles(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    expected = re.escape(f"{path}: the config must be a mapping with a 'profiles' key")
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env={})


def test_load_config_bad_profile_name_says_which_characters(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE.replace("  api:", "  my api:"))
    with pytest.raises(ConfigError, match=at(path, 2, "profiles.my api") + re.escape(
            "the profile name 'my api' may only use letters, digits, '_' and '-'; rename it.")):
        load_config(path, env={})


# --- secrets never in messages nor in reprs ------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        f"    consumer_secret: {CONSUMER_SECRET}\n    token_secert: {TOKEN_SECRET}\n",
        f"    consumer_secret: [{CONSUMER_SECRET}]\n    token: t\n    token_secret: [{TOKEN_SECRET}]\n",
        f"    consumer_secret: {CONSUMER_SECRET}\n    consumer_secret: {TOKEN_SECRET}\n",
        f"    consumer_secret: !secret {CONSUMER_SECRET}\n"
        f"    token: t\n    token_secret: !!int {TOKEN_SECRET}\n",
        f"    consumer_secret: {CONSUMER_SECRET}\n    token: t\n    token_secret: {TOKEN_SECRET}\n"
        "    signature_method: HMAC-MD5\n",
    ],
    ids=["misspelt-key", "not-a-string", "duplicate", "bad-tag", "other-error"],
)
def test_load_config_error_messages_never_show_a_secret(tmp_path: Path, extra: str) -> None:
    path = write(tmp_path, "profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n" + extra)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert CONSUMER_SECRET not in str(info.value)
    assert TOKEN_SECRET not in str(info.value)


def test_profile_and_config_repr_never_show_a_secret(tmp_path: Path) -> None:
    pem, _ = rsa_key(serialization.PrivateFormat.PKCS8)
    (tmp_path / "key.pem").write_bytes(pem)
    path = write(tmp_path, f"""\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ck
            consumer_secret: {CONSUMER_SECRET}
            token: tok
            token_secret: {TOKEN_SECRET}
          jira:
            hosts: [jira.example.com]
            consumer_key: ck
            signature_method: RSA-SHA1
            private_key_file: key.pem
        """)
    config = load_config(path, env={})
    shown = repr(config) + "".join(repr(p) + repr(p.client) for p in config.profiles)
    assert CONSUMER_SECRET not in shown
    assert TOKEN_SECRET not in shown
    assert "PRIVATE KEY" not in shown


# --- values ----------------------------------------------------------------------------------


def test_load_config_expands_variables_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: key-${SUFFIX}
            consumer_secret: ${SECRET}
        """)
    p = load_config(path, env={"SUFFIX": "one", "SECRET": "s&2"}).profiles[0]
    assert (p.consumer_key, p.consumer_secret) == ("key-one", "s&2")


def test_load_config_without_env_reads_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTH1_TEST_KEY", "from-environ")
    path = write(tmp_path, GOOD_PROFILE.replace("consumer_key: ck", "consumer_key: ${OAUTH1_TEST_KEY}"))
    assert load_config(path).profiles[0].consumer_key == "from-environ"


def test_load_config_relative_token_store_is_next_to_the_config(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "token_store: state/tokens.yaml\n" + GOOD_PROFILE, name="conf/config.yaml")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/config.yaml"), env={})
    assert config.token_store == tmp_path.resolve() / "conf" / "state" / "tokens.yaml"


def test_load_config_default_token_store_is_in_home_config(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, GOOD_PROFILE)
    expected = tmp_path / "home" / ".config" / "oauth1-proxy" / "tokens.yaml"
    assert load_config(path, env={}).token_store == expected


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8],
    ids=["pkcs1", "pkcs8"],
)
def test_load_config_rsa_key_relative_to_config_signs_verifiably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: serialization.PrivateFormat
) -> None:
    pem, public_key = rsa_key(fmt)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "key.pem").write_bytes(pem)
    write(tmp_path, """\
        profiles:
          jira:
            hosts: [jira.example.com]
            consumer_key: ck
            signature_method: RSA-SHA256
            private_key_file: key.pem
        """, name="conf/config.yaml")
    monkeypatch.chdir(tmp_path)
    p = load_config(Path("conf/config.yaml"), env={}).profiles[0]
    assert p.private_key_file == tmp_path.resolve() / "conf" / "key.pem"
    assert p.rsa_signer is not None
    signature = p.rsa_signer(b"base string", "sha256")
    public_key.verify(signature, b"base string", padding.PKCS1v15(), hashes.SHA256())  # raises if wrong


def test_load_config_explicit_empty_token_secret_is_valid(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + '    token: tok\n    token_secret: ""\n')
    p = load_config(path, env={}).profiles[0]
    assert (p.token, p.token_secret) == ("tok", "")


def test_load_config_signature_method_is_case_insensitive(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "    signature_method: hmac-sha256\n")
    assert load_config(path, env={}).profiles[0].signature_method is SignatureMethod.HMAC_SHA256


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_load_config_every_example_config_loads(tmp_path: Path, example: Path) -> None:
    text = example.read_text(encoding="utf-8")
    copy = tmp_path / example.name
    shutil.copy(example, copy)
    for body in (yaml.safe_load(text).get("profiles") or {}).values():
        if "private_key_file" in body:
            pem, _ = rsa_key(serialization.PrivateFormat.TraditionalOpenSSL)
            (tmp_path / body["private_key_file"]).write_bytes(pem)
    env = {name: f"value-of-{name}" for name in re.findall(r"\$\{(\w+)\}", text)}
    config = load_config(copy, env=env)
    assert config.profiles


# --- matching: the real destination, exactly (SPEC §5) -------------------------------------


@pytest.mark.parametrize("host", ["API.Example.COM", "api.example.com.", "Api.Example.Com."],
                         ids=["upper-case", "trailing-dot", "both"])
def test_profile_for_host_compares_case_insensitively_and_ignores_trailing_dot(host: str) -> None:
    config = simple_config(profile("api", ["api.example.com"]))
    assert config.profile_for("https", host, 443, "/x") is config.profiles[0]


def test_profile_for_configured_host_with_upper_case_and_dot_matches_plain_host() -> None:
    config = simple_config(profile("api", ["API.Example.com."]))
    assert config.profile_for("https", "api.example.com", 443, "/") is config.profiles[0]


@pytest.mark.parametrize(
    ("scheme", "port", "matches"),
    [("https", 443, True), ("http", 80, True), ("https", 8443, False), ("http", 443, False),
     ("https", 80, False), ("http", 8080, False)],
    ids=["https-443", "http-80", "https-8443", "http-443", "https-80", "http-8080"],
)
def test_profile_for_bare_host_means_the_schemes_default_port(scheme: str, port: int, matches: bool) -> None:
    config = simple_config(profile("api", ["api.example.com"]))
    assert (config.profile_for(scheme, "api.example.com", port, "/") is not None) == matches


@pytest.mark.parametrize(("port", "matches"), [(8443, True), (443, False), (80, False)],
                         ids=["that-port", "https-default", "http-default"])
def test_profile_for_host_with_port_matches_only_that_port(port: int, matches: bool) -> None:
    config = simple_config(profile("api", ["api.example.com:8443"]))
    assert (config.profile_for("https", "api.example.com", port, "/") is not None) == matches


@pytest.mark.parametrize("host", ["evil.api.example.com", "api.example.com.evil.test", "evilapi.example.com",
                                  "example.com"],
                         ids=["subdomain", "suffix", "prefix", "parent"])
def test_profile_for_other_hosts_never_match(host: str) -> None:
    config = simple_config(profile("api", ["api.example.com"]))
    assert config.profile_for("https", host, 443, "/") is None


@pytest.mark.parametrize(("path", "expected"), [("/v2/items", "v2"), ("/v1/items", "root"), ("/", "root")],
                         ids=["longer-prefix", "other-path", "root"])
def test_profile_for_longest_path_prefix_wins(path: str, expected: str) -> None:
    config = simple_config(profile("root", ["api.example.com"]), profile("v2", ["api.example.com"], "/v2/"))
    found = config.profile_for("https", "api.example.com", 443, path)
    assert found is not None and found.name == expected


def test_profile_for_path_outside_prefix_does_not_match() -> None:
    config = simple_config(profile("v1", ["api.example.com"], "/v1/"))
    assert config.profile_for("https", "api.example.com", 443, "/v2/items") is None


def test_profiles_for_lists_every_match_longest_prefix_first() -> None:
    config = simple_config(profile("root", ["api.example.com"]), profile("v2", ["api.example.com"], "/v2/"))
    assert [p.name for p in config.profiles_for("https", "api.example.com", 443, "/v2/x")] == ["v2", "root"]


def test_parse_config_reports_problems_without_a_file() -> None:
    with pytest.raises(ConfigError, match=re.escape("test.yaml: profiles.api.hosts: is required")):
        parse_config({"profiles": {"api": {"consumer_key": "ck", "consumer_secret": "cs"}}}, "test.yaml",
                     env={})


# --- issue 12: no YAML aliases, no secret in a YAML error, only regular files -----------------------------

SECRET_BODY = "Zq8RVery-Secret-Value"
# The first characters that make an unquoted value YAML syntax instead of a string.
SPECIAL_STARTS = ["!", "*", "&", "%", "@", "`", "|", ">", "\t"]


def profile_with_secret(key: str, first: str) -> str:
    body = {"consumer_secret": "cs", "token": "tok", "token_secret": "ts"}
    body[key] = first + SECRET_BODY
    return ("profiles:\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n"
            + "".join(f"    {k}: {v}\n" for k, v in body.items()))


@pytest.mark.parametrize("key", ["consumer_secret", "token_secret"])
@pytest.mark.parametrize("first", SPECIAL_STARTS, ids=[repr(c) for c in SPECIAL_STARTS])
def test_load_config_unquoted_secret_starting_with_yaml_syntax_is_an_error_that_never_shows_it(
    tmp_path: Path, key: str, first: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(profile_with_secret(key, first), encoding="utf-8")
    line = 5 if key == "consumer_secret" else 7
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ")  # the file and the line
    assert key in message and '"..."' in message and "quote" in message  # the key and the fix
    for shown in (SECRET_BODY, SECRET_BODY[:4], first + SECRET_BODY[:1], repr(first)[1:-1] + SECRET_BODY[:1]):
        assert shown not in message


ALIASED_CONFIGS = {
    "recursive": "profiles: &p\n  api:\n    hosts: [api.example.com]\n    consumer_key: ck\n    consumer_secret: cs\n"
                 "    loop: *p\n",
    "billion-laughs": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
        + GOOD_PROFILE,
    "merge-key": "base: &base {consumer_key: ck, consumer_secret: cs}\n"
                 "profiles:\n  api:\n    <<: *base\n    hosts: [api.example.com]\n",
}


@pytest.mark.parametrize("text", list(ALIASED_CONFIGS.values()), ids=list(ALIASED_CONFIGS))
def test_load_config_anchors_and_aliases_are_refused_with_file_line_and_key(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    assert len(text) < 1024
    with pytest.raises(ConfigError, match=re.escape(f"{path}:1: ") + r"\w+: " + re.escape(
            "this is not valid YAML (YAML anchors and aliases (&name, *name) are not accepted)")) as info:
        load_config(path, env={})
    assert len(str(info.value)) < 600


def test_load_config_deep_nesting_is_an_error_not_a_recursion_traceback(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("profiles: " + "[" * 20000, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: the YAML is nested too deeply to read")):
        load_config(path, env={})


def test_yaml_problem_hides_everything_pyyaml_quotes() -> None:
    import yaml

    from oauth1_proxy.config import yaml_problem

    error = yaml.YAMLError()
    error.problem = "found undefined alias 'ab\"c'd' here"  # type: ignore[attr-defined]
    assert yaml_problem(error) == "found undefined alias … here"


def test_load_config_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    from tests.test_tokens import within

    path = tmp_path / "config.yaml"
    os.mkfifo(path)
    error = within(5, lambda: load_config(path, env={}))
    assert isinstance(error, ConfigError)
    assert str(error) == (f"{path}: the config file cannot be read: it is a named pipe (FIFO), not a regular file; "
                          "give the path of a YAML file (a pipe or device is refused: reading it could wait forever).")


def test_load_config_device_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="it is a character device, not a regular file"):
        load_config("/dev/zero", env={})


def test_load_config_fifo_as_private_key_file_is_refused_without_waiting(tmp_path: Path) -> None:
    from tests.test_tokens import within

    os.mkfifo(tmp_path / "key.pem")
    path = write(tmp_path, """\
        profiles:
          api:
            hosts: [api.example.com]
            consumer_key: ck
            signature_method: RSA-SHA1
            private_key_file: key.pem
        """)
    error = within(5, lambda: load_config(path, env={}))
    assert isinstance(error, ConfigError)
    assert "private_key_file: " in str(error) and "it is a named pipe (FIFO), not a regular file" in str(error)
