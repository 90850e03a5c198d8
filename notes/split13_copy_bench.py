"""Figures for notes/split13.md: a message copy, and a frozen dataclass against a NamedTuple (µs per call)."""

import timeit
from dataclasses import dataclass
from typing import NamedTuple

from mitmproxy.test import tutils  # noqa: TID251 (a measurement script, not the package)

from oauth1_proxy.shell.capture import _copy_message


@dataclass(frozen=True, slots=True)
class Frozen:
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int
    g: int
    h: int


class Tuple(NamedTuple):
    a: int
    b: int
    c: int
    d: int
    e: int
    f: int
    g: int
    h: int


def best_us(fn: object, number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]


request = tutils.treq()
print(f"Message.copy(): {best_us(request.copy, 20000):.1f} us; "
      f"_copy_message: {best_us(lambda: _copy_message(request), 20000):.1f} us")
print(f"frozen slots dataclass of 8 fields: {best_us(lambda: Frozen(1, 2, 3, 4, 5, 6, 7, 8), 200000):.2f} us; "
      f"NamedTuple: {best_us(lambda: Tuple(1, 2, 3, 4, 5, 6, 7, 8), 200000):.2f} us")
