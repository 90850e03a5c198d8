"""``oauth1-proxy init [--preset NAME] [FILE]``: a first config, then the next steps (SPEC §13).

The file is created with ``O_CREAT | O_EXCL`` and mode 0600 (never over an
existing file, not even through a symlink); a missing folder is made 0700.
Default FILE: ``$OAUTH1_PROXY_CONFIG`` when set, else
``~/.config/oauth1-proxy/config.yaml`` (the user's own place, which every
verb finds; ``./oauth1-proxy.yaml`` would put the token store next to a
project's files, where it can be committed by mistake).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .discovery import ENV_VAR, find_config, user_config_path
from .errors import UsageError
from .init_templates import PRESET_PROFILES, template


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="oauth1-proxy init",
        description="Write a commented config (mode 0600) with ${VAR} placeholders for every secret, "
                    "and print the next steps. Never overwrites a file.",
    )
    p.add_argument("--preset", choices=sorted(PRESET_PROFILES), metavar="NAME", default=None,
                   help="a provider's preset: " + ", ".join(sorted(PRESET_PROFILES)))
    p.add_argument("file", nargs="?", default=None,
                   help=f"where to write it (default: ${ENV_VAR} when set, else ~/.config/oauth1-proxy/config.yaml)")
    return p


def default_path(env: dict[str, str] | os._Environ[str], home: Path) -> Path:
    named = env.get(ENV_VAR, "")
    return Path(named).expanduser() if named else user_config_path(home)


def write_new(path: Path, text: str) -> None:
    """Create ``path`` with ``text``, mode 0600; refuse when anything is already there."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists; init never overwrites a file. Edit it, or write a new one "
                         "elsewhere: oauth1-proxy init [--preset NAME] FILE") from None
    except OSError as e:
        raise UsageError(f"{path} cannot be created ({e.strerror}); pick a folder you can write to: "
                         "oauth1-proxy init FILE") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(argv)
    path = Path(args.file).expanduser() if args.file else default_path(os.environ, Path.home())
    chosen = template(args.preset)
    write_new(path, chosen.text)
    shown = str(path)
    # `--config` only when the other verbs would not find this file by themselves.
    try:
        found = find_config(None, env=os.environ, cwd=Path.cwd(), home=Path.home()).path
        needs_flag = found.resolve() != path.resolve()
    except UsageError:
        needs_flag = True
    flag = f" --config {shown}" if needs_flag else ""
    out = [f"Wrote {shown} (mode 0600): profile {chosen.profile!r}"
           + (f", preset {args.preset}" if args.preset else "") + ".", "", "Next steps:"]
    step = 1
    if args.preset is None:
        out.append(f"  {step}. Edit {shown}: the hosts and the provider's URLs.")
        step += 1
    if chosen.variables:
        out.append(f"  {step}. Set the variables it reads (secrets stay out of the file):")
        out.extend(f"       export {v}=..." for v in chosen.variables)
        step += 1
    if chosen.key_file:
        key = path.parent / chosen.key_file
        out.append(f"  {step}. Put the private key at {key} (chmod 600 {key}).")
        step += 1
    out.append(f"  {step}. Check it:  oauth1-proxy check{flag}")
    step += 1
    if chosen.logs_in:
        out.append(f"  {step}. Log in once:  oauth1-proxy login {chosen.profile}{flag}")
        step += 1
    out.append(f"  {step}. Call the API through it:  oauth1-proxy exec{flag} -- curl https://HOST/PATH")
    if needs_flag:
        out.append(f"(Or export {ENV_VAR}={path.resolve()} and leave out --config.)")
    print("\n".join(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
