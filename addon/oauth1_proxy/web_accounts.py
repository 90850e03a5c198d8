"""What the helper shows of a profile's accounts (SPEC §11): Flask-free, never a secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .accounts import accounts_in, default_key, token_key
from .config import Profile
from .tokens import StoredToken
from .web_support import esc


def uses_accounts(profile: Profile) -> bool:
    """Tell whether the profile's tokens come from the store (the dance), so it can hold accounts."""
    return profile.has_dance and not profile.has_static_token


def profile_key(profile: Profile, tokens: Mapping[str, StoredToken]) -> str | None:
    """The store key a request without X-OAuth1-Account signs with; None when several and no default."""
    if not uses_accounts(profile):
        return profile.name
    return default_key(profile.name, profile.default_account, tokens)


def accounts_state(profile: Profile, tokens: Mapping[str, StoredToken]) -> list[dict[str, Any]]:
    """Each named account of a profile (and its default_account, logged in or not): name, since, who."""
    if not uses_accounts(profile):
        return []
    names = list(accounts_in(tokens, profile.name))
    if profile.default_account is not None and profile.default_account not in names:
        names.append(profile.default_account)
    out: list[dict[str, Any]] = []
    for name in names:
        stored = tokens.get(token_key(profile.name, name))
        state: dict[str, Any] = {"name": name, "default": name == profile.default_account,
                                 "logged_in": stored is not None}
        if stored is not None:
            extra = dict(stored.extra)
            state.update(since=stored.obtained_at, user_id=extra.get("user_id"), screen_name=extra.get("screen_name"))
        out.append(state)
    return out


def account_row(base: str, csrf: str, name: str, a: Mapping[str, Any]) -> str:
    """One account of a profile on the helper's index page: its state and its buttons (``csrf``: the form field)."""
    hidden = f'<input type="hidden" name="account" value="{esc(a["name"])}">'
    who = a.get("screen_name") or a.get("user_id")
    state = (('<span class="ok">logged in</span>' + (f" as {esc(who)}" if who else "")
              + f" since {esc(a.get('since', ''))}") if a["logged_in"] else '<span class="no">not logged in</span>')
    actions = (f'<form method="post" action="{base}/login/{esc(name)}" style="display:inline">{csrf}'
               f'{hidden}<button id="login-{esc(name)}-{esc(a["name"])}" type="submit">'
               f'{"Log in again" if a["logged_in"] else "Log in"}</button></form> ')
    if a["logged_in"]:
        actions += (f'<form method="post" action="{base}/logout/{esc(name)}" style="display:inline">'
                    f'{csrf}{hidden}<button id="logout-{esc(name)}-{esc(a["name"])}" type="submit">'
                    "Log out</button></form>")
    default = " (default_account)" if a["default"] else ""
    return (f'<tr id="account-{esc(name)}-{esc(a["name"])}"><td>&nbsp;&nbsp;account <b>{esc(a["name"])}</b>'
            f'{default}</td><td></td><td></td><td class="state">{state}</td><td>{actions}</td></tr>')
