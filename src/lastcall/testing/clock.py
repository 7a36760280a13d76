"""A virtual clock: time moves only when a test says so (trio's ``MockClock``).

Give it to what takes a ``lastcall.io.driver.Clock`` (``Server(clock=...)``,
``EngineDriver(clock=...)``); then a test of "the grace period ends after
30 s" calls ``clock.advance(30)`` and the deadline fires right then, at once
and in order, whatever the machine's load. Sockets, the event loop and
everything not given the clock keep real time; only the deadlines driven by
this clock are virtual.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

__all__ = ["FakeClock", "FakeTimer"]


class FakeTimer:
    """A callback due at ``when`` on a ``FakeClock``; ``cancel()`` drops it."""

    __slots__ = ("_callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], object]) -> None:
        self.when = when
        self._callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def _run(self) -> None:
        if not self.cancelled:
            self.cancelled = True  # a timer fires once
            self._callback()


class FakeClock:
    """Monotonic seconds starting at ``start``; timers fire during ``advance``."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object], /) -> FakeTimer:
        timer = FakeTimer(when, callback)
        heapq.heappush(self._timers, (when, next(self._order), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], object], /) -> FakeTimer:
        return self.call_at(self._now + delay, callback)

    @property
    def next_deadline(self) -> float | None:
        """When the earliest live timer is due, or None."""
        timers = self._timers
        while timers and timers[0][2].cancelled:
            heapq.heappop(timers)
        return timers[0][0] if timers else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer due on the way,
        each at its own time and in order (a timer armed by a callback fires
        too if it falls within the step)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.advance_to(self._now + seconds)

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when`` (see ``advance``)."""
        timers = self._timers
        while True:
            due = self.next_deadline
            if due is None or due > when:
                break
            _, _, timer = heapq.heappop(timers)
            self._now = max(self._now, due)
            timer._run()
        self._now = max(self._now, when)
