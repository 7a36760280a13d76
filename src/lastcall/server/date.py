"""The ``Date`` header (RFC 9110 §6.6.1: an origin server with a clock MUST send it).

Formatting a date costs more than a whole small response, so the value is
cached and rebuilt only when the wall-clock second changes.
"""

from __future__ import annotations

from email.utils import formatdate
from time import time
from typing import Final

__all__ = ["date_header"]


class _LastDate:
    """The last second formatted and its value: a class with typed attributes,
    which compiled code reads directly (a list of objects needed a type check)."""

    __slots__ = ("second", "value")

    def __init__(self) -> None:
        self.second = -1
        self.value = b""


_LAST: Final = _LastDate()


def date_header() -> bytes:
    """``Date`` value for now, e.g. ``b"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    now = int(time())
    last = _LAST
    if now != last.second:
        last.value = formatdate(now, usegmt=True).encode("ascii")
        last.second = now
    return last.value
