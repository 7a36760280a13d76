"""The ``Date`` header (RFC 9110 §6.6.1: an origin server with a clock MUST send it).

Formatting a date costs more than a whole small response, so the value is
cached and rebuilt only when the wall-clock second changes.
"""

from __future__ import annotations

from email.utils import formatdate
from time import time

__all__ = ["date_header"]

#: The second ``_value`` was made for, and the header value for it.
_second = 0
_value = b""


def date_header() -> bytes:
    """``Date`` value for now, e.g. ``b"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    global _second, _value
    now = int(time())
    if now != _second:
        _value = formatdate(now, usegmt=True).encode("ascii")
        _second = now
    return _value
