"""Crash restarts back off (pure: uptimes are passed in)."""

from __future__ import annotations

from lastcall.process.backoff import (
    RESTART_DELAY_INITIAL,
    RESTART_DELAY_MAX,
    STABLE_PERIOD,
    RestartBackoff,
)


def test_delay_doubles_up_to_the_cap() -> None:
    backoff = RestartBackoff()
    delays = [backoff.next_delay(uptime=0.5) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[0] == RESTART_DELAY_INITIAL
    assert max(delays) == RESTART_DELAY_MAX == delays[-1]
    assert backoff.crashes == 12


def test_a_worker_that_stayed_up_resets_its_slot() -> None:
    backoff = RestartBackoff()
    for _ in range(5):
        backoff.next_delay(uptime=1.0)
    assert backoff.next_delay(uptime=STABLE_PERIOD) == RESTART_DELAY_INITIAL
    assert backoff.crashes == 1
