"""A deadline that moves often, behind a loop timer that is armed seldom.

Keep-alive, idle and request-head timeouts move on every request. Cancelling
and re-arming a loop timer each time costs a ``call_later`` and a ``cancel``
per request (and with uvloop a libuv timer each). Instead the deadline is a
number (``at``); the timer behind it is armed only when none is pending at an
earlier time, and when it fires before the deadline it re-arms for the rest.
A busy connection so pays one timer per timeout period, not one per request.

Hot paths may set ``at`` themselves and call ``arm()`` only when
``is_armed`` is false; ``set()`` is the same in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .driver import Clock, TimerHandle

__all__ = ["MovingDeadline"]


class MovingDeadline:
    """Calls ``on_expired`` once the clock's time passes ``at`` (``None``: never).

    The clock is the event loop, or any ``lastcall.io.driver.Clock`` (a test's
    ``FakeClock``)."""

    __slots__ = ("_loop", "_on_expired", "_timer", "_timer_at", "at")

    def __init__(self, loop: Clock, on_expired: Callable[[], None]) -> None:
        self._loop = loop
        self._on_expired = on_expired
        self._timer: TimerHandle | None = None
        self._timer_at = 0.0
        #: The deadline (``loop.time()`` seconds), or ``None`` when nothing is due.
        self.at: float | None = None

    @property
    def is_armed(self) -> bool:
        return self._timer is not None

    def set_after(self, seconds: float) -> None:
        """Move the deadline to ``seconds`` from now (the clock's now)."""
        self.set(self._loop.time() + seconds)

    def set(self, at: float) -> None:
        """Move the deadline to ``at`` (earlier or later)."""
        self.at = at
        if self._timer is None or self._timer_at > at:
            self.arm(at)

    def arm(self, at: float) -> None:
        """(Re)arm the loop timer for ``at``."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._fire)

    def stop(self) -> None:
        """No deadline, and no timer left behind (the connection is gone)."""
        self.at = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        at = self.at
        if at is None:
            return
        if self._loop.time() < at:  # the deadline moved on since the timer was armed
            self.arm(at)
            return
        self.at = None
        self._on_expired()
