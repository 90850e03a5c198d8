"""``oauth1-proxy status`` and ``oauth1-proxy logout PROFILE [--account NAME]`` (SPEC §13).

status: one line per profile and stored account: its login state in
policy.login_state's words (what the proxy signs with), since when, as whom,
the expiry and last renewal in check's words (lifetimes.describe_life), an
expired token named so; exit 0. Never a secret:
only ``token`` is public, and not even that is printed.

logout: forgets one stored token through the store's own ``delete`` (the
file store's lock file, or Redis), so a running proxy and a login in progress
never see half a store. The provider is not told (RFC 5849 has no revocation): the message
says so.

Accounts (SPEC §11) are keyed ``PROFILE@ACCOUNT`` in the store, the unnamed
account keeping ``PROFILE`` (``accounts.token_key``).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Mapping, Sequence

from .accounts import KEY_SEPARATOR, token_key
from .config import Profile, ProxyConfig, load_config
from .errors import UsageError
from .lifetimes import describe_life
from .policy import LoginState, login_state
from .stores.managed import open_config_store
from .tokens import StoredToken

ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # accounts.is_account_name's rule
CONFIG_HELP = ("the YAML config file (default: $OAUTH1_PROXY_CONFIG, ./oauth1-proxy.yaml, "
               "~/.config/oauth1-proxy/config.yaml)")


def stored_accounts(tokens: Mapping[str, StoredToken], profile: str) -> list[str | None]:
    """The accounts with a token in the store: the unnamed one (None) first, then the named ones, sorted."""
    prefix = profile + KEY_SEPARATOR
    named = sorted(k[len(prefix):] for k in tokens if k.startswith(prefix) and len(k) > len(prefix))
    return ([None] if profile in tokens else []) + list(named)


def describe(profile: Profile, account: str | None, stored: StoredToken | None, config_flag: str,
             now: float) -> str:
    state = login_state(profile, stored, now)  # expiry judged, as the proxy judges it (SPEC §11)
    line = (f"account {account}: " if account else "") + str(state)
    login = f"oauth1-proxy login {profile.name}{f' --account {account}' if account else ''}{config_flag}"
    if state in (LoginState.LOGGED_IN, LoginState.EXPIRED) and stored is not None:
        extra = dict(stored.extra)
        who = extra.get("screen_name") or extra.get("user_id")
        if stored.obtained_at:
            line += f" since {stored.obtained_at}"
        if who:
            line += f" as {who}"
        line += f"; {describe_life(stored, profile.expires_daily, now)}"  # the words check uses
        if state is LoginState.EXPIRED:
            refreshable = bool(stored.session_handle) and profile.access_token_url is not None
            line += (" (the proxy refreshes it with its session handle at the next request)" if refreshable
                     else f" ({login})")
    elif state is LoginState.NOT_LOGGED_IN:
        line += f" ({login})"
    return line


def cmd_status(config_path: str, config_flag: str) -> int:
    config = load_config(config_path)
    store = open_config_store(config)  # the file or Redis store the config names (stores/managed.py)
    now = time.time()
    try:
        tokens = store.all()
    finally:
        store.close()
    print(f"config {config_path}; token store {config.token_store}")
    for p in config.profiles:
        hosts = ", ".join(str(h) for h in p.hosts)
        preset = f", preset {p.preset}" if p.preset else ""
        print(f"  {p.name}: {hosts} {p.path_prefix} ({p.signature_method}{preset})")
        accounts = stored_accounts(tokens, p.name) if p.has_dance and not p.has_static_token else []
        for account in accounts or [None]:
            print("    " + describe(p, account, tokens.get(token_key(p.name, account)), config_flag, now))
    return 0


def _profile(config: ProxyConfig, name: str, config_path: str) -> Profile:
    for p in config.profiles:
        if p.name == name:
            return p
    names = ", ".join(p.name for p in config.profiles)
    raise UsageError(f"there is no profile {name!r} in {config_path}; its profiles are: {names}.")


def cmd_logout(config_path: str, name: str, account: str | None) -> int:
    if account is not None and not ACCOUNT_NAME.fullmatch(account):
        raise UsageError(f"--account: the account name {account[:80]!r} may only use letters, digits, '_' and '-' "
                         "(at most 64); use a name such as alice or shop-2.")
    config = load_config(config_path)
    profile = _profile(config, name, config_path)
    shown = name + (f" (account {account})" if account else "")
    if profile.has_static_token:
        print(f"{shown}: signs with the static token in {config_path}; nothing is stored to forget. "
              "Remove token and token_secret from the config to stop using it.")
        return 1
    if not profile.has_dance:
        print(f"{shown}: consumer-only (two-legged); it has no token to forget.")
        return 1
    store = open_config_store(config)
    key = token_key(name, account)
    try:
        if store.get(key) is None:
            print(f"{shown}: not logged in; nothing to forget.")
            return 0
        store.delete(key)  # the store's own writer: under its lock file (or Redis's atomic delete)
    finally:
        store.close()
    print(f"{shown}: logged out; its token is forgotten from {config.token_store}. The provider was not told: "
          "revoke the app's access in the provider's account settings to end it there too.")
    return 0


def status_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="profiles and accounts: logged in or not, since, expiry",
                            description="Show each profile and stored account: logged in or not, since when, as "
                                        "whom, the expiry. Exit 0. Never a secret.")
    status.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)
    logout = sub.add_parser("logout", help="forget a stored token: logout PROFILE [--account NAME]",
                            description="Forget the stored token of a profile (or of one of its accounts).")
    logout.add_argument("profile", help="the profile to log out")
    logout.add_argument("--account", default=None, metavar="NAME",
                        help="the account (default: the profile's unnamed account)")
    logout.add_argument("--config", default=None, metavar="FILE", help=CONFIG_HELP)


def run(args: argparse.Namespace, given: Sequence[str]) -> int:
    """Dispatch ``status``/``logout`` (``args.config`` is resolved; ``given`` tells whether --config was)."""
    flag = f" --config {args.config}" if any(a == "--config" or a.startswith("--config=") for a in given) else ""
    if args.command == "status":
        return cmd_status(args.config, flag)
    return cmd_logout(args.config, args.profile, args.account)


__all__ = ["cmd_logout", "cmd_status", "run", "status_parser", "stored_accounts", "token_key"]
