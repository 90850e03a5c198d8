"""The strict YAML reader shared by the config and the token store (SPEC §4).

Anchors and aliases are refused, every key path is mapped to its line, and no
message ever quotes a value from the file (it may be a secret). Regular files
only: a FIFO or a device is refused before any read.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

import yaml

from .errors import ConfigError

Path_ = tuple[str | int, ...]


class Located:
    """Plain values from YAML plus the line each key path starts on."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}
        self.problems: list[str] = []

    def where(self, path: Path_) -> str:
        line = None
        for i in range(len(path), -1, -1):
            line = self.lines.get(path[:i])
            if line is not None:
                break
        return f"{self.source}:{line}" if line is not None else self.source


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _construct(node: yaml.Node, path: Path_, loc: Located, constructor: yaml.SafeLoader) -> Any:
    """Build one scalar; a value YAML cannot build (a bad tag, 2024-13-45) is a problem on its line."""
    try:
        return constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as e:
        # Never str(e), nor the tag: PyYAML's message quotes the line (and an
        # unquoted "!..." secret is read as a tag).
        problem = yaml_problem(e) if isinstance(e, yaml.YAMLError) else f"not a valid {node.tag.rpartition(':')[2]}"
        loc.problems.append(
            f"{loc.source}:{node.start_mark.line + 1}: {dotted(path)}: this value cannot be read "
            f"({problem}); write it as a quoted string ({dotted(path).rpartition('.')[2]}: \"...\")."
        )
        return None


def _to_plain(node: yaml.Node, path: Path_, loc: Located, constructor: yaml.SafeLoader) -> Any:
    loc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _construct(key_node, path, loc, constructor)
            key = str(key)
            child = (*path, key)
            if key in out:
                loc.problems.append(
                    f"{loc.source}:{key_node.start_mark.line + 1}: {dotted(child)}: the key appears twice; "
                    "keep one of them."
                )
                continue
            loc.lines[child] = key_node.start_mark.line + 1
            out[key] = _to_plain(value_node, child, loc, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_plain(v, (*path, i), loc, constructor) for i, v in enumerate(node.value)]
    return _construct(node, path, loc, constructor)


class YamlRefused(ValueError):
    """A YAML construct we do not accept (an anchor or alias), at a line and key; the message quotes no value."""

    def __init__(self, line: int, key: str | None, what: str) -> None:
        self.line, self.key, self.what = line, key, what
        super().__init__(what)


class StrictLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader without anchors and aliases (``&name``, ``*name``).

    Interpretation: our files (config and token store) have no use for them,
    and they are how YAML attacks a reader: a recursive alias is a
    RecursionError, a 1 KB "billion laughs" a MemoryError. An unquoted secret
    starting with ``&`` or ``*`` is read as one too, so the message says to
    quote it, and never shows the value.
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            key = index.value if isinstance(index, yaml.ScalarNode) and isinstance(index.value, str) else None
            raise YamlRefused(event.start_mark.line + 1, key,
                              "YAML anchors and aliases (&name, *name) are not accepted")
        node = super().compose_node(parent, index)
        assert node is not None
        return node


# PyYAML quotes what it found (a tag, an alias, a character of the line): it may be a secret.
_QUOTED = re.compile(r"['\"].*['\"]|['\"].*")
_KEY_ON_LINE = re.compile(r"\s*(?:-\s+)*([A-Za-z0-9_.-]+)\s*:")


def quote_hint(key: str | None) -> str:
    """The fix for a value YAML reads as syntax: quote it."""
    return (f'if the value starts with one of ! * & % @ ` | > or a tab (a secret may), quote it: '
            f'{key or "key"}: "..."')


def yaml_problem(e: BaseException) -> str:
    """What PyYAML says is wrong, without anything it quotes from the file (never str(e): it shows the line)."""
    problem = getattr(e, "problem", None)
    if not isinstance(problem, str) or not problem:
        return "a syntax error"
    return _QUOTED.sub("…", problem).strip()


def yaml_error_line(e: BaseException) -> int | None:
    """The 1-based line PyYAML's error points at, if it says."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def key_on_line(text: str, line: int | None) -> str | None:
    """The mapping key written at the start of a 1-based line, if any (only the key: never the value)."""
    if line is None:
        return None
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    m = _KEY_ON_LINE.match(lines[line - 1])
    return m.group(1) if m else None


def describe_yaml_error(e: BaseException, text: str, source: str) -> str:
    """One message for YAML we cannot read: file, line and key, what is wrong, the fix; never a value."""
    if isinstance(e, YamlRefused):
        line: int | None = e.line
        key = e.key or key_on_line(text, e.line)
        problem = e.what
    elif isinstance(e, RecursionError):
        return f"{source}: the YAML is nested too deeply to read; write it flat (a mapping of mappings)."
    else:
        line, problem = yaml_error_line(e), yaml_problem(e)
        key = key_on_line(text, line)
    where = f"{source}:{line}" if line is not None else source
    at = f" {key}:" if key else ""
    return f"{where}:{at} this is not valid YAML ({problem}); fix the syntax there ({quote_hint(key)})."


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int], list[str]]:
    """Parse YAML text into plain values and a map from key path to line number (no anchors or aliases)."""
    loc = Located(source)
    try:
        node = yaml.compose(text, Loader=StrictLoader)
    except (yaml.YAMLError, YamlRefused, RecursionError) as e:
        raise ConfigError([describe_yaml_error(e, text, source)]) from None
    if node is None:
        return None, {}, []
    constructor = yaml.SafeLoader("")
    try:
        data = _to_plain(node, (), loc, constructor)
    except (yaml.YAMLError, RecursionError) as e:
        raise ConfigError([describe_yaml_error(e, text, source)]) from None
    return data, loc.lines, loc.problems


class NotARegularFile(OSError):
    """A path that names a FIFO, a device, a folder or a socket: reading it could block, or never end."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str | os.PathLike[str]) -> tuple[bytes, os.stat_result]:
    """Read a regular file and return its bytes and fstat; raise NotARegularFile for anything else.

    Opened with O_NONBLOCK, then fstat on the open descriptor (no race with a
    swap between a stat and the open): opening a FIFO this way never waits
    for a writer, and it is refused before any read.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotARegularFile(0, f"it is {_kind(st.st_mode)}, not a regular file", str(path))
        chunks: list[bytes] = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), st
    finally:
        os.close(fd)


# --- validation ----------------------------------------------------------------------
