"""A token bucket whose clock is the caller's: the engines' abuse budgets.

A bucket starts full (``burst`` tokens). Each counted frame or stream spends
one token; tokens come back at ``refill_per_second`` measured against the
``now`` the caller passes (an engine never reads a clock), never beyond
``burst``: a quiet hour banks one burst, not more. When a spend finds the
bucket empty the peer is cut off (HTTP/3: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD)).

Only what a budget counts (resets, ignored frames) calls ``spend``, so the
refill runs on every call: it is off the hot path. Both engines and the
WebSocket session use it; it lives at the engines' root because the HTTP/3
engine may not import from ``engines/http2`` (tests/unit/test_import_cycles.py).
"""

from __future__ import annotations


class TokenBucket:
    """A token bucket whose clock is supplied by the caller."""

    __slots__ = ("burst", "last_refill_at", "refill_per_second", "tokens")

    def __init__(self, burst: int, refill_per_second: float) -> None:
        self.burst = float(burst)
        self.refill_per_second = refill_per_second
        self.tokens = float(burst)
        self.last_refill_at: float | None = None

    def spend(self, now: float) -> bool:
        """Spend one token; return False when none is left even after refilling."""
        last = self.last_refill_at
        if last is not None and now > last:
            # Refill for the time since the last spend, capped at the burst,
            # *before* spending: credit for idle time cannot exceed one burst.
            self.tokens = min(self.burst, self.tokens + (now - last) * self.refill_per_second)
        if last is None or now > last:
            self.last_refill_at = now
        self.tokens -= 1.0
        return self.tokens >= 0.0
