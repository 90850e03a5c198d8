"""The shipped deploy/ files, read as data for the tests (tests/test_deploy.py, tests/e2e/test_deploy_*.py)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
ENTRYPOINT = DEPLOY / "entrypoint.sh"
HAPROXY_CFG = DEPLOY / "haproxy.cfg"
KUBERNETES = DEPLOY / "kubernetes"
# Where the Dockerfile copies deploy/entrypoint.sh in the image.
IMAGE_ENTRYPOINT = "oauth1-proxy-entrypoint"


@dataclass
class Dockerfile:
    """What the Dockerfile says, instruction by instruction (continuation lines joined)."""

    base: str = ""
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    volumes: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    healthcheck: list[str] = field(default_factory=list)
    copies: list[str] = field(default_factory=list)


def _exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list), f"not the exec (JSON) form: {text}"
    return [str(v) for v in value]


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#") and not pending:
            continue
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    result = Dockerfile()
    for line in filter(str.strip, lines):
        instruction, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        match instruction.upper():
            case "FROM":
                result.base = rest
            case "ENV":
                result.env.update(dict(item.split("=", 1) for item in shlex.split(rest)))
            case "USER":
                result.user = rest
            case "VOLUME":
                result.volumes.extend(_exec_form(rest))
            case "ENTRYPOINT":
                result.entrypoint = _exec_form(rest)
            case "CMD":
                result.cmd = _exec_form(rest)
            case "HEALTHCHECK":
                result.healthcheck = _exec_form(re.sub(r"^(--\S+\s+)*CMD\s+", "", rest))
            case "COPY":
                result.copies.append(rest)
    return result


def kubernetes_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every resource in deploy/kubernetes/, with its file."""
    found = []
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path, doc))
    return found


def resource(kind: str, name: str) -> dict[str, Any]:
    for _, doc in kubernetes_documents():
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in {KUBERNETES}")
