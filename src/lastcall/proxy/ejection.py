"""Passive ejection (outlier detection): backends that keep failing are set aside.

Pure bookkeeping over ``now``: the forwarding path reports each attempt's
outcome, and the rules below decide whether the backend is ejected and until
when (after Envoy's outlier detection, with its defaults):

* ``consecutive_failures`` failures in a row (connection reset or lost, 502,
  503, 504 from the backend) eject it;
* a refused connection ejects it at once: nothing listens there (a backend
  restarting, or gone);
* the n-th ejection lasts ``n x base_ejection_time``, capped at
  ``MAX_EJECTION_TIME``, so a flapping backend stays out longer each time;
* at most ``max_ejection_percent`` of the group is ejected at once, and at
  least one backend may always be (Envoy ejects one "regardless");
* an ejected backend comes back when its time is up, or at once when an
  active health check passes (Envoy's ``successful_active_health_check_uneject_host``).

An ejected backend still takes requests when every backend is out
(``balancer.py``'s panic rule): ejection steers traffic, it never refuses it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import EjectionSettings

__all__ = ["MAX_EJECTION_TIME", "EjectionState", "record_failure", "record_success"]

#: Longest single ejection: 300 s, Envoy's ``max_ejection_time`` default.
MAX_EJECTION_TIME = 300.0


class EjectionState:
    """One backend's failure streak and ejection."""

    __slots__ = ("consecutive_failures", "ejected_until", "times_ejected")

    def __init__(self) -> None:
        self.consecutive_failures = 0
        #: ``now`` at which the current ejection ends; None when not ejected.
        self.ejected_until: float | None = None
        self.times_ejected = 0

    def is_ejected(self, now: float) -> bool:
        until = self.ejected_until
        return until is not None and now < until

    def uneject(self) -> None:
        """Back in service (time up, or an active check passed)."""
        self.ejected_until = None
        self.consecutive_failures = 0


def record_success(state: EjectionState) -> None:
    """An attempt succeeded: the streak ends."""
    state.consecutive_failures = 0


def record_failure(
    state: EjectionState,
    group: Sequence[EjectionState],
    settings: EjectionSettings,
    *,
    now: float,
    refused: bool,
) -> float | None:
    """Count a failure; return the end of a new ejection, or None if not ejected now."""
    state.consecutive_failures += 1
    if state.is_ejected(now):
        return None
    if not refused and state.consecutive_failures < settings.consecutive_failures:
        return None
    ejected = sum(1 for other in group if other.is_ejected(now))
    allowed = max(1, int(len(group) * settings.max_ejection_percent / 100.0))
    if ejected >= allowed:
        return None
    state.times_ejected += 1
    duration = min(settings.base_ejection_time * state.times_ejected, MAX_EJECTION_TIME)
    state.ejected_until = now + duration
    state.consecutive_failures = 0
    return state.ejected_until
