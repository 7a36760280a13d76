"""The one loop that drives a sans-IO engine: act, write, take events, handle, re-arm.

Every engine here (HTTP/2, HTTP/3, the drain controller) has the same shape
(aioquic's ``QuicConnection`` taught it): the caller acts on it (bytes in, a
stream opened, a drain started, a timer fired), the engine queues output and
events, and says when it next wants the time (``get_timer()``). Driving one
means, after every action:

1. handle the events the action returned;
2. write what the engine queued (``transmit``: bytes on a stream socket,
   datagrams on a UDP one);
3. take the events that handling and writing caused (``pop_events``): a reset
   sent after our GOAWAY completes a drain, a close queued by a handler... and
   go back to 1 until there are none;
4. re-arm the one timer at the engine's next deadline.

Forgetting step 3 is how a connection waits for the peer to send something
before it notices its own drain finished (issue 10, bug 2); re-arming only
when no timer is pending (instead of when the deadline changed) is how a drain
deadline that moved earlier fires late. So the loop is written once, here, and
every adapter (client and server, HTTP/2 and HTTP/3, the QUIC endpoint, the
server's drain controller, the test servers) calls it.

The clock is injected: anything with ``time()`` and ``call_at(when,
callback)`` (an asyncio loop, or ``lastcall.testing.FakeClock`` whose time moves
only when a test says so). Coalescing ("service once this loop turn is over")
always uses the event loop: it is about ordering, not time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["Clock", "DrivenEngine", "EngineDriver", "TimedEngine", "TimerHandle"]

#: Rounds of "handle, write, take events" per service before the rest waits
#: for the next one: an owner that keeps reacting to its own events must not
#: pin the loop. Three rounds cover every chain seen (a handler closes, the
#: close queues a last event); eight leave room.
MAX_SERVICE_ROUNDS = 8


class TimerHandle(Protocol):
    """What ``call_at`` returns: something that can be cancelled."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Monotonic time and timers. ``asyncio.AbstractEventLoop`` is one."""

    def time(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], object], /) -> TimerHandle: ...


class TimedEngine(Protocol):
    """The least a driven engine has: a timer it asks for, and handles."""

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> list[Any]: ...


class DrivenEngine(TimedEngine, Protocol):
    """An engine that also queues events caused by actions (the protocol engines)."""

    def pop_events(self) -> list[Any]: ...


def _no_events() -> list[Any]:
    return []


def _no_output() -> None:
    return None


class EngineDriver:
    """Drives one engine; see the module docstring.

    ``transmit()`` writes what the engine queued (None: it has no output,
    like the drain controller, whose inputs return actions); ``handle(events)``
    is the adapter's reaction. The engine's ``pop_events`` is used when it has
    one. ``is_finished()`` (optional) is asked after each service: once true
    the driver stops and calls ``on_finished()``.
    """

    __slots__ = (
        "_clock",
        "_engine",
        "_handle",
        "_is_finished",
        "_loop",
        "_on_finished",
        "_pop_events",
        "_scheduled",
        "_timer",
        "_transmit",
        "is_stopped",
        "timer_at",
    )

    def __init__(
        self,
        engine: DrivenEngine | TimedEngine,
        *,
        transmit: Callable[[], None] | None,
        handle: Callable[[list[Any]], None],
        clock: Clock | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        is_finished: Callable[[], bool] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine
        self._transmit = transmit if transmit is not None else _no_output
        pop_events = getattr(engine, "pop_events", None)
        self._pop_events: Callable[[], list[Any]] = (
            pop_events if pop_events is not None else _no_events
        )
        self._handle = handle
        self._loop = loop if loop is not None else asyncio.get_running_loop()
        self._clock: Clock = clock if clock is not None else self._loop
        self._is_finished = is_finished
        self._on_finished = on_finished
        self._scheduled = False
        self._timer: TimerHandle | None = None
        #: When the timer is armed for (the engine's deadline), or None.
        self.timer_at: float | None = None
        #: True after ``stop()``: every later call is a no-op.
        self.is_stopped = False

    @property
    def clock(self) -> Clock:
        return self._clock

    def now(self) -> float:
        return self._clock.time()

    def service(self, events: list[Any] | None = None, *, is_input: bool = False) -> None:
        """Handle ``events``; write; handle what that caused until nothing is
        left; re-arm the timer. ``is_input``: the owner hears of an input (a
        datagram that carried only ACKs, a timer) even when it caused no event,
        since writers may wait for exactly that."""
        if self.is_stopped:
            return
        engine = self._engine
        handle = self._handle
        for _ in range(MAX_SERVICE_ROUNDS):
            if events or is_input:
                is_input = False
                handle(events or [])
                if self.is_stopped:
                    return
            self._transmit()
            events = self._pop_events()
            if not events:
                break
        else:  # pragma: no cover - an owner that never stops reacting
            handle(events or [])
            self.schedule()
        if self.is_stopped:
            return
        is_finished = self._is_finished
        if is_finished is not None and is_finished():
            self.stop()
            if self._on_finished is not None:
                self._on_finished()
            return
        deadline = engine.get_timer()
        if deadline != self.timer_at:
            timer = self._timer
            if timer is not None:
                timer.cancel()
                self._timer = None
            self.timer_at = deadline
            if deadline is not None:
                self._timer = self._clock.call_at(deadline, self._fire)

    def schedule(self) -> None:
        """Service once the current loop turn is over: the actions of many
        streams in one turn leave in one write (one syscall), not one each."""
        if not self._scheduled and not self.is_stopped:
            self._scheduled = True
            self._loop.call_soon(self._scheduled_service)

    def _scheduled_service(self) -> None:
        self._scheduled = False
        self.service()

    def _fire(self) -> None:
        self._timer = None
        self.timer_at = None
        if not self.is_stopped:
            self.service(self._engine.handle_timer(self._clock.time()), is_input=True)

    def stop(self) -> None:
        """Drive no more: cancel the timer; later services do nothing. Idempotent."""
        self.is_stopped = True
        timer = self._timer
        if timer is not None:
            timer.cancel()
            self._timer = None
        self.timer_at = None
