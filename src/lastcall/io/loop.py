"""Event loop choice: uvloop when installed (about 2x faster I/O), asyncio otherwise."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["loop_factory", "uvloop_available"]


def uvloop_available() -> bool:
    """True when ``uvloop`` can be imported."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def loop_factory(name: str = "auto") -> Callable[[], asyncio.AbstractEventLoop]:
    """A factory for ``asyncio.Runner``: ``"auto"`` (uvloop if present), ``"uvloop"``, ``"asyncio"``."""
    if name not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"unknown loop {name!r}: use auto, uvloop or asyncio")
    if name != "asyncio" and uvloop_available():
        import uvloop

        return uvloop.new_event_loop
    if name == "uvloop":
        raise RuntimeError("uvloop was asked for but is not installed: pip install uvloop")
    return asyncio.new_event_loop
