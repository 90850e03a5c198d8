"""Which config file a verb uses when ``--config`` is left out (SPEC §13).

In this order, the first that exists wins:

1. ``$OAUTH1_PROXY_CONFIG`` (when set, it must name a file: a typo there is an
   error, never a silent fall-through to another config);
2. ``./oauth1-proxy.yaml`` (the current directory);
3. ``~/.config/oauth1-proxy/config.yaml`` (``$XDG_CONFIG_HOME`` is not
   consulted: the SPEC names this one path, and ``init`` writes it).

Every verb prints the file it used and why, on one line on stderr
(``describe``). The lookup takes the environment, the current directory and
the home directory as arguments so the tests need no real home.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

ENV_VAR = "OAUTH1_PROXY_CONFIG"
LOCAL_NAME = "oauth1-proxy.yaml"
USER_PATH = Path(".config") / "oauth1-proxy" / "config.yaml"


@dataclass(frozen=True, slots=True)
class FoundConfig:
    """A config file and the reason it was chosen ("--config", "$OAUTH1_PROXY_CONFIG", ...)."""

    path: Path
    source: str

    def describe(self) -> str:
        return f"oauth1-proxy: config {self.path} (from {self.source})"


def user_config_path(home: Path) -> Path:
    """``~/.config/oauth1-proxy/config.yaml``: the place ``init`` writes by default."""
    return home / USER_PATH


def places(home: Path) -> list[str]:
    """The three places, as a user reads them."""
    return [f"${ENV_VAR}", f"./{LOCAL_NAME}", str(user_config_path(home))]


def find_config(given: str | None, *, env: Mapping[str, str], cwd: Path, home: Path) -> FoundConfig:
    """The config file a verb uses (``given`` is ``--config``, which always wins)."""
    if given is not None:
        return FoundConfig(Path(given), "--config")
    named = env.get(ENV_VAR, "")
    if named:
        path = Path(named).expanduser()
        if not path.is_absolute():
            path = cwd / path
        if not path.is_file():
            raise UsageError(
                f"${ENV_VAR} names {named!r}, which is not a file; fix the variable, unset it to use "
                f"./{LOCAL_NAME} or {user_config_path(home)}, or create it with: oauth1-proxy init {named}"
            )
        return FoundConfig(path, f"${ENV_VAR}")
    local = cwd / LOCAL_NAME
    if local.is_file():
        return FoundConfig(local, f"./{LOCAL_NAME}")
    user = user_config_path(home)
    if user.is_file():
        return FoundConfig(user, "~/" + str(USER_PATH))
    raise UsageError(
        "no config file: --config was not given and none of these exists: " + ", ".join(places(home))
        + ". Write one with: oauth1-proxy init (or oauth1-proxy init --preset NAME), or pass --config FILE."
    )


def discover(given: str | None) -> str:
    """``find_config`` in this process's environment; says on stderr which file it used; returns its path."""
    import os
    import sys

    found = find_config(given, env=os.environ, cwd=Path.cwd(), home=Path.home())
    print(found.describe(), file=sys.stderr)
    return str(found.path)
