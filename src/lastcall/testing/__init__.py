"""Public test kit: peers written for tests, independent of our engines.

Importing it needs nothing beyond lastcall's own dependencies: each name is
loaded on first use, and only the modules that talk through a library we did
not write need it -- ``RawH2Client`` and ``Frame`` (and ``lastcall.testing.frames``)
need ``hpack``; ``lastcall.testing.h3_loop`` and ``quic_certs`` need the
``http3`` extra. ``FakeClock`` is virtual time for deadlines: give it to
``Server(clock=...)`` and a test moves the graceful timeout on with
``clock.advance(30)`` instead of waiting for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lastcall._lazy import lazy_attributes

if TYPE_CHECKING:
    from .clock import FakeClock
    from .h2_raw_client import Frame, RawH2Client

__all__ = ["FakeClock", "Frame", "RawH2Client"]

if not TYPE_CHECKING:  # type checkers see the imports above, so a misspelt name is an error
    __getattr__, __dir__ = lazy_attributes(
        __name__,
        __all__,
        {
            "FakeClock": "lastcall.testing.clock",
            "Frame": "lastcall.testing.h2_raw_client",
            "RawH2Client": "lastcall.testing.h2_raw_client",
        },
    )
