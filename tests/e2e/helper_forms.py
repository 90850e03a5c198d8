"""Driving the helper's forms the way its own page does (the same-origin token, the browser's Origin)."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import requests

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def csrf_from(page: requests.Response) -> str:
    m = CSRF.search(page.text)
    assert m, page.text
    return m.group(1)


def start_login(session: requests.Session, login_url: str, *, follow: bool = False, **extra: str) -> requests.Response:
    """Open GET /login/NAME (the page the proxy's 401 names), press its button; the answer (followed if asked)."""
    page = session.get(login_url, timeout=10)
    assert page.status_code == 200, page.text
    assert 'id="start-login"' in page.text
    return session.post(login_url, data={"csrf": csrf_from(page), **extra}, headers={"Origin": origin_of(login_url)},
                        allow_redirects=follow, timeout=30)


def log_out(session: requests.Session, index_url: str, name: str, **headers: str) -> requests.Response:
    """Press the Log out button of the helper's index page; the answer, not followed."""
    page = session.get(index_url, timeout=10)
    assert page.status_code == 200, page.text
    return session.post(urljoin(index_url, f"logout/{name}"), data={"csrf": csrf_from(page)},
                        headers={"Origin": origin_of(index_url), **headers}, allow_redirects=False, timeout=10)
