"""config.py: token_store as a Redis URL and token_store_key (SPEC §12), every mistake named without a secret."""

from __future__ import annotations

import re
from pathlib import Path

from cryptography.fernet import Fernet

from oauth1_proxy.config import load_config
from oauth1_proxy.stores.location import RedisLocation
from tests.test_config import GOOD_PROFILE, at, problems_of, write

KEY = Fernet.generate_key().decode()


def test_config_token_store_redis_url_is_a_redis_location_with_the_password_from_the_environment(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, GOOD_PROFILE + "token_store: redis://:${REDIS_PASSWORD}@10.0.0.5:6380/2\n")
    config = load_config(path, env={"REDIS_PASSWORD": "pw-Very-Secret"})
    assert config.token_store == RedisLocation(host="10.0.0.5", port=6380, db=2, password="pw-Very-Secret")
    assert "pw-Very-Secret" not in repr(config) and "pw-Very-Secret" not in str(config.token_store)


def test_config_token_store_rediss_url_is_tls(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD_PROFILE + "token_store: rediss://redis.internal/0\n"), env={})
    assert isinstance(config.token_store, RedisLocation) and config.token_store.tls


def test_config_token_store_bad_redis_url_names_line_and_fix_not_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "token_store: redis://:pw-Very-Secret@host:6379/zero\n")
    problems = problems_of(path)
    assert len(problems) == 1 and re.match(at(path, 6, "token_store") + ".*must be a number", problems[0])
    assert "pw-Very-Secret" not in problems[0]


def test_config_token_store_file_path_stays_a_path(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD_PROFILE + "token_store: state/tokens.yaml\n"), env={})
    assert config.token_store == tmp_path / "state" / "tokens.yaml"


def test_config_token_store_key_from_the_environment_is_kept_out_of_repr(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "token_store_key: ${STORE_KEY}\n")
    config = load_config(path, env={"STORE_KEY": KEY})
    assert config.token_store_key == KEY and KEY not in repr(config)


def test_config_token_store_key_bad_format_says_how_to_make_one_without_quoting_it(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_PROFILE + "token_store_key: ${STORE_KEY}\n")
    problems = problems_of(path, env={"STORE_KEY": "not-a-Fernet-key-Secret"})
    assert len(problems) == 1 and re.match(at(path, 6, "token_store_key") + "token_store_key is not a Fernet key",
                                           problems[0])
    assert "Fernet.generate_key().decode()" in problems[0] and "not-a-Fernet-key-Secret" not in problems[0]


def test_config_token_store_key_not_a_string_does_not_quote_it(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, GOOD_PROFILE + "token_store_key: [12345678]\n"))
    assert len(problems) == 1 and "this value is not a string" in problems[0] and "12345678" not in problems[0]
