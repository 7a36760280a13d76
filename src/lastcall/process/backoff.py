"""How long a crashed worker's slot waits before its replacement starts (pure, no clock).

A worker that crashes once is replaced at once-ish; one that crashes at every
start (a broken database, a bad deploy that passed startup) must not turn
the supervisor into a fork bomb that fills the log. So the delay doubles
with each crash in a row, up to a cap, and a worker that stayed up long
enough resets its slot's count (gunicorn restarts at once without a bound;
systemd's ``RestartSec`` is fixed; Kubernetes' CrashLoopBackOff doubles
from 10 s to 5 min and resets after 10 min up).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "RESTART_DELAY_INITIAL",
    "RESTART_DELAY_MAX",
    "STABLE_PERIOD",
    "RestartBackoff",
]

#: The first replacement's delay. 0.1 s: a one-off crash costs almost nothing.
RESTART_DELAY_INITIAL = 0.1
#: The longest delay between two starts of one slot. 10 s (Kubernetes starts
#: at 10 s; a web worker is cheaper to retry).
RESTART_DELAY_MAX = 10.0
#: A worker up this long counts as healthy: its slot's next crash starts the
#: backoff again from ``RESTART_DELAY_INITIAL``. 10 s.
STABLE_PERIOD = 10.0


@dataclass(slots=True)
class RestartBackoff:
    """One slot's crash count and the delay of its next start."""

    crashes: int = 0

    def next_delay(self, uptime: float) -> float:
        """Record a crash after ``uptime`` seconds up; return the delay before the next start."""
        if uptime >= STABLE_PERIOD:
            self.crashes = 0
        self.crashes += 1
        return min(RESTART_DELAY_MAX, RESTART_DELAY_INITIAL * 2.0 ** (self.crashes - 1))
