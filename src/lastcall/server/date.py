"""The ``Date`` header (RFC 9110 §6.6.1: an origin server with a clock MUST send it).

Formatting a date costs more than a whole small response, so the value is
cached and rebuilt only when the wall-clock second changes.
"""

from __future__ import annotations

import time
from email.utils import formatdate

__all__ = ["date_header"]

_cache: list[object] = [0, b""]


def date_header() -> bytes:
    """``Date`` value for now, e.g. ``b"Sun, 06 Nov 1994 08:49:37 GMT"``."""
    now = int(time.time())
    if now != _cache[0]:
        _cache[0] = now
        _cache[1] = formatdate(now, usegmt=True).encode("ascii")
    value = _cache[1]
    assert isinstance(value, bytes)
    return value
