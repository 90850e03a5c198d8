"""Helpers of the security suite: private namespaces, raw HTTP over sockets, every encoding of a secret.

Traffic goes only to loopback and to the addresses of a network namespace
these helpers create (and delete) themselves.
"""

from __future__ import annotations

import base64
import html
import http.client
import json
import random
import secrets
import shlex
import socket
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

# --- processes in a private mount namespace ------------------------------------------------------


def isolated(command: list[str], workdir: Path, *, names: Iterable[str] = (), setup: Iterable[str] = ()) -> list[str]:
    """Wrap a command to run in a private mount namespace: ``names`` resolve to 127.0.0.1, ``setup`` runs first.

    The namespace's mounts (a hosts file bound over /etc/hosts, tmpfs
    folders) are seen by that process alone and vanish with it.
    """
    steps = list(setup)
    names = list(names)
    if names:
        hosts = workdir / f"hosts-{secrets.token_hex(4)}"
        hosts.write_text("127.0.0.1 localhost\n::1 localhost\n" + "".join(f"127.0.0.1 {n}\n" for n in names))
        steps.append(f"mount --bind {shlex.quote(str(hosts))} /etc/hosts")
    script = " && ".join([*steps, 'exec "$@"'])
    return ["unshare", "--mount", "sh", "-c", script, "sh", *command]


def tmpfs(folder: Path, *, size: str = "64k", copy: Iterable[Path] = (), full: bool = False,
          read_only: bool = False) -> list[str]:
    """Setup steps for ``isolated``: a small tmpfs on ``folder`` holding copies of ``copy``, then full or read-only."""
    f = shlex.quote(str(folder))
    steps = [f"mkdir -p {f}", f"mount -t tmpfs -o size={size},mode=0700 tmpfs {f}"]
    steps += [f"cp -p {shlex.quote(str(p))} {f}/" for p in copy]
    if full:
        steps.append(f"(head -c 16M /dev/zero > {f}/filler 2>/dev/null || true)")
    if read_only:
        steps.append(f"mount -o remount,ro {f}")
    return steps


# --- a second host: a network namespace joined by a veth pair -------------------------------------


@dataclass(frozen=True)
class NetworkNamespace:
    """A namespace we made: ``host_address`` is our side of the veth pair, ``address`` the namespace's."""

    name: str
    host_address: str
    address: str

    def run(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["ip", "netns", "exec", self.name, *command], capture_output=True, timeout=timeout)


@contextmanager
def network_namespace() -> Iterator[NetworkNamespace]:
    """Create a namespace and a veth pair on a /24 of 10.213.x.0 (nothing else is routed there); delete both after."""
    tag = secrets.token_hex(3)
    name, outside, inside = f"o1p-{tag}", f"o1h{tag}", f"o1c{tag}"
    subnet = f"10.213.{random.randint(1, 254)}"
    host_address, address = f"{subnet}.1", f"{subnet}.2"
    steps = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
        ["ip", "link", "set", inside, "netns", name],
        ["ip", "addr", "add", f"{host_address}/24", "dev", outside],
        ["ip", "link", "set", outside, "up"],
        ["ip", "-n", name, "addr", "add", f"{address}/24", "dev", inside],
        ["ip", "-n", name, "link", "set", inside, "up"],
        ["ip", "-n", name, "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True, timeout=10)
        yield NetworkNamespace(name=name, host_address=host_address, address=address)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=10)  # gone with the namespace


# --- raw HTTP ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(port: int, data: bytes, *, host: str = "127.0.0.1", timeout: float = 20) -> RawResponse:
    """Send bytes exactly as given to host:port and read one HTTP/1.1 response."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, body)


# --- secrets in every encoding --------------------------------------------------------------------


def secret_forms(secret: str) -> set[bytes]:
    """A secret as it could appear in any output: raw, percent-encoded once and twice, form-, JSON- and HTML-escaped."""
    once = quote(secret, safe="")
    forms = {
        secret,
        once,
        quote(once, safe=""),
        quote_plus(secret),
        quote(secret, safe="/"),
        once.lower(),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(once),
    }
    out = {f.encode("utf-8") for f in forms if f}
    out.add(secret.encode("latin-1", "replace"))
    return out


def plaintext_signature_forms(consumer_secret: str, token_secret: str) -> set[bytes]:
    """A PLAINTEXT signature (RFC 5849 §3.4.4), as sent and once more encoded (the Authorization header)."""
    signature = f"{quote(consumer_secret, safe='~')}&{quote(token_secret, safe='~')}"
    return secret_forms(signature)


def base64_payloads(data: bytes) -> Iterator[bytes]:
    """Every base64 body of a HAR file, decoded (a secret in a binary body would hide there)."""
    try:
        har = json.loads(data)
    except ValueError:
        return
    stack: list[Any] = [har]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("encoding") == "base64" and isinstance(item.get("text"), str):
                yield base64.b64decode(item["text"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def leaks(data: bytes, secrets_: Iterable[str], extra_forms: Iterable[bytes] = ()) -> list[str]:
    """The secrets (by name of form) found in data; [] when clean."""
    found = []
    haystacks = [data, *base64_payloads(data)]
    for secret in secrets_:
        for form in secret_forms(secret):
            if any(form in h for h in haystacks):
                found.append(f"{secret!r} as {form!r}")
    for form in extra_forms:
        if any(form in h for h in haystacks):
            found.append(f"{form!r}")
    return found
