"""``lastcall.io.driver.EngineDriver`` on a ``FakeClock``: no sockets, no real time.

The engine here is a scripted one (a queue of events and a deadline the test
sets), so each rule of the loop is checked on its own: events caused by the
handling are taken in the same service, the timer follows the engine's
deadline both ways, a stopped driver does nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from lastcall.io.driver import EngineDriver
from lastcall.testing.clock import FakeClock


class ScriptedEngine:
    def __init__(self) -> None:
        self.queued: list[Any] = []
        self.deadline: float | None = None
        self.out: list[str] = []
        self.timer_calls: list[float] = []

    def pop_events(self) -> list[Any]:
        events, self.queued = self.queued, []
        return events

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> list[Any]:
        self.timer_calls.append(now)
        self.deadline = None
        return ["timer"]


def make(engine: ScriptedEngine, clock: FakeClock, log: list[Any], **kw: Any) -> EngineDriver:
    def handle(events: list[Any]) -> None:
        log.append(list(events))
        if "close" in events:
            engine.queued.append("closed")  # a reaction that causes one more event

    return EngineDriver(
        engine,
        transmit=lambda: engine.out.append("write"),
        handle=handle,
        clock=clock,
        loop=asyncio.get_running_loop(),
        **kw,
    )


async def test_events_caused_by_the_handling_are_taken_in_the_same_service() -> None:
    engine, clock, log = ScriptedEngine(), FakeClock(), []
    driver = make(engine, clock, log)
    driver.service(["close"])
    assert log == [["close"], ["closed"]]
    assert engine.out == ["write", "write"]


async def test_events_queued_by_an_action_are_taken_without_input() -> None:
    """Issue 10, bug 2: an action (a reset after our GOAWAY) queued an event;
    a service with no input must still take it."""
    engine, clock, log = ScriptedEngine(), FakeClock(), []
    driver = make(engine, clock, log)
    engine.queued.append("drain_completed")
    driver.service()
    assert log == [["drain_completed"]]


async def test_timer_follows_the_deadline_earlier_and_later() -> None:
    engine, clock, log = ScriptedEngine(), FakeClock(start=0.0), []
    driver = make(engine, clock, log)
    engine.deadline = 10.0
    driver.service()
    engine.deadline = 2.0  # moved earlier: the timer must move too
    driver.service()
    assert driver.timer_at == 2.0
    clock.advance(1.9)
    assert engine.timer_calls == []
    clock.advance(0.1)
    assert engine.timer_calls == [2.0]
    assert log[-1] == ["timer"]
    assert driver.timer_at is None and clock.next_deadline is None


async def test_finished_engine_stops_the_driver() -> None:
    engine, clock, log = ScriptedEngine(), FakeClock(), []
    finished: list[bool] = []
    driver = make(
        engine, clock, log, is_finished=lambda: True, on_finished=lambda: finished.append(True)
    )
    engine.deadline = clock.time() + 1
    driver.service()
    assert finished == [True] and driver.is_stopped
    assert clock.next_deadline is None  # no timer left behind
    driver.service(["ignored"])
    assert log == []


async def test_schedule_coalesces_into_one_service_per_loop_turn() -> None:
    engine, clock, log = ScriptedEngine(), FakeClock(), []
    driver = make(engine, clock, log)
    for _ in range(5):
        driver.schedule()
    await asyncio.sleep(0)  # one loop turn: the scheduled service runs
    assert engine.out == ["write"]


def test_fake_clock_fires_timers_in_order_at_their_own_time() -> None:
    clock = FakeClock(start=0.0)
    seen: list[tuple[str, float]] = []
    clock.call_at(3.0, lambda: seen.append(("b", clock.time())))
    clock.call_at(1.0, lambda: clock.call_later(1.0, lambda: seen.append(("a2", clock.time()))))
    cancelled = clock.call_at(2.5, lambda: seen.append(("x", clock.time())))
    cancelled.cancel()
    clock.advance(5.0)
    assert seen == [("a2", 2.0), ("b", 3.0)]
    assert clock.time() == 5.0
