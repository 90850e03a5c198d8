"""Accounts (SPEC §11): a profile can hold several tokens, one per account, and a request picks one.

Rules:
1. No I/O, no clock, no randomness in this module, and no mitmproxy: the
   callers pass a token lookup and the names stored for a profile.
2. One function keys the token store (``token_key``): the unnamed account
   keeps the profile's own key (a store written before accounts existed
   works unchanged); a named one is ``PROFILE@ACCOUNT``. ``@`` cannot occur
   in a profile or an account name, so no two pairs share a key.
3. Account names use the charset of profile names (letters, digits, ``_``,
   ``-``): they go into URLs, a header and a command line unquoted.

Which account signs a request (``choose_account``):
- the header ``X-OAuth1-Account: NAME`` names it;
- else the profile's ``default_account``;
- else the unnamed account (a login without ``--account``), when stored;
- else the only named account stored;
- several named accounts and none of the above: refused, naming the header.
Interpretation: the unnamed account is the profile's default unless
``default_account`` says otherwise, so a config and a store from before
accounts existed sign exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from typing import NamedTuple

ACCOUNT_HEADER = "X-OAuth1-Account"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]+\Z")
ACCOUNT_NAME_RULE = "letters, digits, '_' and '-' (at most 64)"
MAX_ACCOUNT_LENGTH = 64
KEY_SEPARATOR = "@"


def is_account_name(name: str) -> bool:
    """Tell whether ``name`` may name an account (rule 3)."""
    return len(name) <= MAX_ACCOUNT_LENGTH and ACCOUNT_NAME.match(name) is not None


def bad_account_message(name: str, where: str) -> str:
    """The message for an account name that breaks rule 3: the value, where it is, the fix."""
    return (f"{where}: the account name {name[:80]!r} may only use {ACCOUNT_NAME_RULE}; "
            "use a name such as alice or shop-2.")


def token_key(profile: str, account: str | None) -> str:
    """The token store's key of one account of a profile (rule 2)."""
    if not account:
        return profile
    return f"{profile}{KEY_SEPARATOR}{account}"


def split_key(key: str) -> tuple[str, str | None]:
    """The (profile, account) a token store key stands for; account None for the unnamed account."""
    profile, sep, account = key.partition(KEY_SEPARATOR)
    return (profile, account) if sep else (profile, None)


def accounts_in(keys: Iterable[str], profile: str) -> tuple[str, ...]:
    """The named accounts stored for ``profile`` among the store's keys, sorted."""
    prefix = profile + KEY_SEPARATOR
    return tuple(sorted(k[len(prefix):] for k in keys if k.startswith(prefix) and len(k) > len(prefix)))


def login_hint_for(login_url: str, hint: str, profile: str, account: str | None) -> tuple[str, str]:
    """A missing token's login URL and hint, made to log in ``account`` (``?account=``, ``--account``).

    ``login_url`` is the helper's ``.../login/PROFILE``; ``hint`` may name the
    direct URL (``.../login/PROFILE in a browser``) and ends with the
    ``oauth1-proxy login PROFILE --config FILE`` line.
    """
    if not account:
        return login_url, hint
    query = f"account={account}"
    url = f"{login_url}{'&' if '?' in login_url else '?'}{query}"
    page = f"/login/{profile} in a browser"
    hint = hint.replace(page, f"/login/{profile}?{query} in a browser")
    if f"oauth1-proxy login {profile}" in hint:
        hint = f"{hint} --account {account}"
    return url, hint


class AccountChoice(NamedTuple):
    """The account a request signs with: its name (None: the unnamed account) and its store key."""

    account: str | None
    key: str


class AccountRefusal(NamedTuple):
    """No account can be chosen: the client must name one (or fix the name); ``message`` says how."""

    message: str


def choose_account(
    profile: str,
    wanted: str | None,
    default_account: str | None,
    *,
    has_key: Callable[[str], bool],
    stored_accounts: Callable[[str], tuple[str, ...]],
) -> AccountChoice | AccountRefusal:
    """Pick the account a request to ``profile`` signs with (see the module docstring).

    ``wanted``: the X-OAuth1-Account header's value, or None; ``has_key``:
    whether the store holds a key; ``stored_accounts``: the named accounts
    stored for a profile (read only when nothing else decides). An account
    that is not stored is still chosen: the caller answers that it is not
    logged in, with the login URL of that account.
    """
    if wanted is not None:
        if not is_account_name(wanted):
            return AccountRefusal(bad_account_message(wanted, f"the header {ACCOUNT_HEADER}")
                                  + f" It picks which account of profile \"{profile}\" signs the request.")
        return AccountChoice(wanted, token_key(profile, wanted))
    if default_account is not None:
        return AccountChoice(default_account, token_key(profile, default_account))
    if has_key(profile):
        return AccountChoice(None, profile)
    named = stored_accounts(profile)
    if len(named) == 1:
        return AccountChoice(named[0], token_key(profile, named[0]))
    if not named:
        return AccountChoice(None, profile)  # not logged in: the login URL of the profile itself
    return AccountRefusal(
        f'profile "{profile}" holds several accounts ({", ".join(named)}) and has no default_account; name one '
        f"with the header {ACCOUNT_HEADER}: NAME (e.g. {ACCOUNT_HEADER}: {named[0]}), or set default_account "
        "in the profile. The request was not sent."
    )


def default_key(profile: str, default_account: str | None, keys: Collection[str]) -> str | None:
    """The store key a request without the header signs with (``choose_account``); None: several, no default."""
    choice = choose_account(profile, None, default_account, has_key=keys.__contains__,
                            stored_accounts=lambda name: accounts_in(keys, name))
    return choice.key if isinstance(choice, AccountChoice) else None
