"""When a connection is retired of its own accord, and how a whole drain is spread out.

Two decisions, both without I/O or clocks (the caller passes ``now`` and the
random numbers in, so each rule is tested exactly):

- **One connection's lifetime** (gRFC A9 ``MAX_CONNECTION_AGE``, nginx
  ``keepalive_requests`` / ``keepalive_time``, Envoy
  ``max_connection_duration`` / ``max_requests_per_connection``). Long-lived
  HTTP/2 and HTTP/3 connections pin clients to one backend: a gRPC channel
  opened before a scale-up never reaches the new pods. Retiring each
  connection after an age or a number of requests makes clients reconnect
  and rebalance. The age is jittered (±10 % in gRFC A9) so that connections
  opened together -- every client of a restarted backend -- are not all
  retired in the same instant. Retiring is the full drain contract on that
  one connection, with its own grace; after it, what is left is cancelled as
  at the server's grace expiry.
- **The spread of a whole drain** (Envoy ``--drain-strategy gradual``). With
  the ``immediate`` strategy every connection is told at once, so thousands
  of clients reconnect -- to the other backends -- in the same millisecond.
  ``gradual`` tells them one after the other over the first part of the
  grace period, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass

from lastcall.errors import ConfigError

__all__ = [
    "DEFAULT_AGE_JITTER",
    "DRAIN_STRATEGIES",
    "MAX_AGE_REASON",
    "MAX_REQUESTS_REASON",
    "ConnectionLifetime",
    "drain_schedule",
    "jittered",
]

#: ``lastcall.drain`` reason and HTTP/2 GOAWAY debug data of an age drain.
MAX_AGE_REASON = "max_age"
#: ... and of a drain after ``max_requests`` requests.
MAX_REQUESTS_REASON = "max_requests"
#: ... and of a drain after an idle period (``http2_idle_timeout``, ``http3_idle_timeout``).
IDLE_REASON = "idle"
#: The age of each connection is moved by up to this fraction either way (gRFC A9).
DEFAULT_AGE_JITTER = 0.1
#: ``immediate``: every connection is told to drain at once (the default, as
#: Envoy's); ``gradual``: spread over the first part of the grace period.
DRAIN_STRATEGIES = ("immediate", "gradual")


def jittered(value: float, jitter: float, unit_random: float) -> float:
    """``value`` moved by up to ``jitter`` of itself either way; ``unit_random`` in [0, 1).

    The caller passes the random number in, so the rule is testable (gRFC A9).
    """
    return value * (1.0 + jitter * (2.0 * unit_random - 1.0))


@dataclass(frozen=True, slots=True)
class ConnectionLifetime:
    """How long one server connection serves before it drains by itself."""

    #: Seconds from accept to the drain (jittered per connection); ``None``: never.
    max_age: float | None = None
    #: The per-connection drain's own grace: then what is left is cancelled.
    grace: float = 30.0
    #: Requests (HTTP/2, HTTP/3: streams) a connection accepts before it drains;
    #: ``None``: no limit.
    max_requests: int | None = None
    #: Fraction of ``max_age`` each connection's age is moved by, either way.
    jitter: float = DEFAULT_AGE_JITTER

    def __post_init__(self) -> None:
        if self.max_age is not None and not self.max_age > 0.0:
            raise ConfigError("max_connection_age must be > 0 seconds (or None: off)")
        if not self.grace >= 0.0:
            raise ConfigError("max_connection_age_grace must be >= 0 seconds")
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError("max_requests_per_connection must be >= 1 (or None: off)")
        if not 0.0 <= self.jitter < 1.0:
            raise ConfigError("the age jitter must be within [0, 1)")

    def retire_at(self, born_at: float, unit_random: float) -> float | None:
        """When a connection accepted at ``born_at`` starts draining, or ``None``."""
        if self.max_age is None:
            return None
        return born_at + jittered(self.max_age, self.jitter, unit_random)

    def is_spent(self, requests_accepted: int) -> bool:
        """Has a connection that accepted this many requests served its last?"""
        return self.max_requests is not None and requests_accepted >= self.max_requests


def drain_schedule(count: int, start: float, window: float) -> list[float]:
    """When each of ``count`` connections (oldest first) is told to drain.

    Evenly over ``[start, start + window)``: the first at once, the last one
    ``window / count`` before the window ends, so every client has been told
    by the end of the window and the rest of the grace period is left for
    the work they had in flight. ``window`` 0 is the ``immediate`` strategy.
    """
    if count <= 0:
        return []
    if not window > 0.0:
        return [start] * count
    step = window / count
    return [start + i * step for i in range(count)]
