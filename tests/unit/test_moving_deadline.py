"""``MovingDeadline``: one loop timer per timeout period, however often the deadline moves."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from lastcall.io.deadline import MovingDeadline


class FakeLoop:
    """Just enough of a loop: a clock the test moves and the timers it armed."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[FakeTimer] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> FakeTimer:
        timer = FakeTimer(when, callback)
        self.timers.append(timer)
        return timer

    def run_due(self) -> None:
        for timer in [t for t in self.timers if not t.cancelled and t.when <= self.now]:
            self.timers.remove(timer)
            timer.callback()


class FakeTimer:
    def __init__(self, when: float, callback: Any) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


def make() -> tuple[FakeLoop, MovingDeadline, list[float]]:
    loop = FakeLoop()
    fired: list[float] = []
    deadline = MovingDeadline(cast(asyncio.AbstractEventLoop, loop), lambda: fired.append(loop.now))
    return loop, deadline, fired


def test_moving_later_arms_no_new_timer_until_the_old_one_fires() -> None:
    loop, deadline, fired = make()
    deadline.set(5.0)
    for step in range(1, 1000):  # a busy connection: the deadline moves every 1 ms
        loop.now = step / 1000
        deadline.set(loop.now + 5.0)
    assert len(loop.timers) == 1  # one timer for a thousand moves
    loop.now = 5.0
    loop.run_due()  # fires early, re-arms for the rest
    assert fired == [] and [t.when for t in loop.timers if not t.cancelled] == [5.999]
    loop.now = 5.999
    loop.run_due()
    assert fired == [5.999]


def test_moving_earlier_rearms_and_clearing_stops_it() -> None:
    loop, deadline, fired = make()
    deadline.set(10.0)
    deadline.set(2.0)
    assert [t.when for t in loop.timers if not t.cancelled] == [2.0]
    deadline.at = None  # busy: nothing due
    loop.now = 2.0
    loop.run_due()
    assert fired == [] and not deadline.is_armed
    deadline.set(3.0)
    deadline.stop()
    loop.now = 3.0
    loop.run_due()
    assert fired == []
