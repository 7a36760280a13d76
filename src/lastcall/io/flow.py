"""Write-side backpressure for asyncio protocols.

asyncio calls ``pause_writing()`` when a transport's buffer crosses its high
water mark and ``resume_writing()`` when it falls below the low one. A writer
awaits ``WriteFlow.drain()`` after each write, so a fast producer never fills
memory for a slow reader; no timer or poll is involved.
"""

from __future__ import annotations

import asyncio

__all__ = ["WriteFlow"]


class WriteFlow:
    """Tracks pause/resume of one transport and lets writers wait for room."""

    __slots__ = ("_loop", "_waiters", "is_closed", "is_paused")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiters: list[asyncio.Future[None]] = []
        self.is_paused = False
        self.is_closed = False

    def pause_writing(self) -> None:
        self.is_paused = True

    def resume_writing(self) -> None:
        self.is_paused = False
        self._wake()

    def connection_lost(self) -> None:
        """Writers blocked on a dead transport must wake (their writes go nowhere)."""
        self.is_closed = True
        self.is_paused = False
        self._wake()

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
