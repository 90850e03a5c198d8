"""The provider's switch for several resource owners (SPEC §11 accounts): approve as user A or B.

With ``Provider(users=[("1001", "alice"), ("1002", "bob")])`` the authorize
page offers one button per user; the request token remembers who approved
it, the access-token answer carries that user's ``user_id`` and
``screen_name``, and the access token it issues stays that user's. So two
accounts of one profile hold different tokens, and ``user_of(token)`` says
as whom each recorded request came (``/api/me`` and ``/api/slow`` answer it).
Without the switch there is one user (the Provider's ``user_id`` and
``screen_name``), as before.

Rule: no secret here; tokens are public identifiers, never their secrets.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from typing import NamedTuple
from urllib.parse import parse_qsl


class ProviderUser(NamedTuple):
    """A resource owner who can approve requests at the provider."""

    user_id: str
    screen_name: str


class Users:
    """Who approved each request token, and whose each access token is."""

    def __init__(self, users: Sequence[tuple[str, str]], default: ProviderUser) -> None:
        self.users = tuple(ProviderUser(*u) for u in users)
        self.default = default
        self._lock = threading.Lock()
        self._approver: dict[str, ProviderUser] = {}  # request token -> who approved it
        self._owner: dict[str, ProviderUser] = {}  # access token -> whose it is

    @property
    def several(self) -> bool:
        return bool(self.users)

    def find(self, user_id: str | None) -> ProviderUser | None:
        """The user with this id (several users), or the one default user."""
        if not self.users:
            return self.default
        return next((u for u in self.users if u.user_id == user_id), None)

    def approve_as(self, request_token: str, user_id: str | None) -> bool:
        """Record who approves a request token; False for an unknown user (the page refuses)."""
        user = self.find(user_id if user_id is not None or not self.users else self.users[0].user_id)
        if user is None:
            return False
        with self._lock:
            self._approver[request_token] = user
        return True

    def credentials_for(self, request_token: str | None) -> dict[str, str]:
        """The extra fields of the access-token answer: who approved the request token."""
        with self._lock:
            user = self._approver.get(request_token or "", self.default)
        return {"user_id": user.user_id, "screen_name": user.screen_name}

    def issued(self, request_token: str | None, answer: str) -> None:
        """Remember whose the access token in an access-token answer (form-encoded) is."""
        token = dict(parse_qsl(answer)).get("oauth_token")
        if not token:
            return
        with self._lock:
            self._owner[token] = self._approver.pop(request_token or "", self.default)

    def user_of(self, token: str | None) -> ProviderUser:
        """As whom a request with this access token comes (a pre-seeded token: the default user)."""
        with self._lock:
            return self._owner.get(token or "", self.default)

    def buttons(self) -> str:
        """The authorize form's approve buttons: one per user (several), else the one Approve button."""
        if not self.users:
            return '<button type="submit" name="approve" value="1" id="approve">Approve</button>'
        return "".join(
            f'<button type="submit" name="user" value="{html.escape(u.user_id, quote=True)}" '
            f'id="approve-{html.escape(u.screen_name, quote=True)}">Approve as {html.escape(u.screen_name)}</button> '
            for u in self.users
        )
