"""Backpressure for asyncio protocols: one notion of "this connection's outbound is full".

asyncio calls ``pause_writing()`` when a transport's write buffer crosses its
high-water mark and ``resume_writing()`` when it falls below the low one.
That single signal is what every protocol must obey, or a peer that never
reads makes the server buffer without bound (HTTP/1.1 pipelining, PING or
PONG floods, a stream at a zero window): while the outbound is full,

- writers wait (``WriteFlow.drain()`` after each write);
- no new work starts: an adapter that would dispatch a request, answer a
  control frame or start a stream looks at ``WriteFlow.is_paused`` and defers
  it to its ``on_change(False)`` callback;
- reading stops: the adapter holds its ``ReadGate`` with ``OUTBOUND_FULL``, so
  the peer meets TCP backpressure instead of our memory;
- and if it stays full for ``stall_timeout`` (the peer reads nothing at all),
  ``on_stall`` is called and the adapter closes the connection (nginx's
  ``send_timeout``).

No timer or poll is involved while bytes flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["OUTBOUND_FULL", "ReadGate", "WriteFlow"]

#: The ``ReadGate`` reason an adapter holds while its ``WriteFlow`` is paused.
OUTBOUND_FULL = "outbound_full"


class WriteFlow:
    """Tracks pause/resume of one transport's write side; see the module docstring.

    ``on_change(is_paused)`` is called on every transition (never twice in a
    row with the same value); ``on_stall()`` once the write side has stayed
    paused for ``stall_timeout`` seconds (0: never).
    """

    __slots__ = (
        "_loop",
        "_on_change",
        "_on_stall",
        "_stall_handle",
        "_stall_timeout",
        "_waiters",
        "is_closed",
        "is_paused",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_change: Callable[[bool], None] | None = None,
        *,
        stall_timeout: float = 0.0,
        on_stall: Callable[[], None] | None = None,
    ) -> None:
        self._loop = loop
        self._waiters: list[asyncio.Future[None]] = []
        self._on_change = on_change
        self._stall_timeout = stall_timeout
        self._on_stall = on_stall
        self._stall_handle: asyncio.TimerHandle | None = None
        self.is_paused = False
        self.is_closed = False

    def pause_writing(self) -> None:
        if self.is_paused or self.is_closed:
            return
        self.is_paused = True
        if self._on_stall is not None and self._stall_timeout > 0.0:
            self._stall_handle = self._loop.call_later(self._stall_timeout, self._stalled)
        if self._on_change is not None:
            self._on_change(True)

    def resume_writing(self) -> None:
        if not self.is_paused:
            return
        self.is_paused = False
        self._cancel_stall()
        if self._on_change is not None:
            self._on_change(False)
        self._wake()

    def connection_lost(self) -> None:
        """Writers blocked on a dead transport must wake (their writes go nowhere)."""
        self.is_closed = True
        self.is_paused = False
        self._cancel_stall()
        self._wake()

    def _cancel_stall(self) -> None:
        if self._stall_handle is not None:
            self._stall_handle.cancel()
            self._stall_handle = None

    def _stalled(self) -> None:
        self._stall_handle = None
        if self.is_paused and self._on_stall is not None:
            self._on_stall()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def drain(self) -> None:
        """Return at once unless the transport asked us to stop writing."""
        if not self.is_paused:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


class ReadGate:
    """Reading from one transport, paused while any reason holds it.

    Several independent reasons stop reading (the outbound is full, a request
    body waits for the app, requests are queued, a limit closed the
    connection); each holds and releases its own name, so one reason ending
    never resumes reading that another still needs paused. ``open_for_good()``
    is for the lingering close: from then on reading is never paused again
    (what comes is discarded, so the kernel never answers it with a reset).
    """

    __slots__ = ("_held", "_is_open_for_good", "_transport")

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._transport: asyncio.Transport | None = None
        self._is_open_for_good = False

    def attach(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._apply()

    def hold(self, reason: str) -> None:
        if reason not in self._held:
            self._held.add(reason)
            if len(self._held) == 1:
                self._apply()

    def release(self, reason: str) -> None:
        if reason in self._held:
            self._held.discard(reason)
            if not self._held:
                self._apply()

    def holds(self, reason: str) -> bool:
        return reason in self._held

    @property
    def is_held(self) -> bool:
        return bool(self._held) and not self._is_open_for_good

    def open_for_good(self) -> None:
        self._is_open_for_good = True
        self._apply()

    def _apply(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._held and not self._is_open_for_good:
            transport.pause_reading()
        else:
            transport.resume_reading()
