"""Telling the application that a connection is closing (gRPC-Go's "ConnClosing").

Long-lived exchanges (SSE, streaming, gRPC) want to know that the connection
under them is going away *before* it is gone, so they can finish their current
message and reopen elsewhere in time. gRPC users have asked for this for years
(grpc-go issue 6830); no client library offers it.

Two ways in:

* per response: ``await response.closing`` resolves with a ``ClosingNotice``
  once that response's connection received GOAWAY (RFC 9113 §6.8), answered
  ``Connection: close`` (RFC 9112 §9.6), or is being drained by us;
  ``response.closing.is_set()`` asks without waiting;
* per client: ``Client(on_notice=callback)`` and ``async for notice in
  client.notices()`` see every notice of every connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any

#: Notices queued per subscriber of ``Client.notices()`` before the oldest are dropped.
#: A subscriber that falls this far behind is not reading; the client must never block on it.
NOTICE_QUEUE_SIZE = 1024


@dataclass(frozen=True, slots=True)
class ClosingNotice:
    """Why and how a connection is closing.

    ``source`` is ``"remote"`` (the server sent GOAWAY or ``Connection: close``)
    or ``"local"`` (our own drain: ``max_requests``, ``max_age``, ``aclose``).
    ``last_processed_id`` and ``error_code`` come from an HTTP/2 GOAWAY
    (``None`` otherwise); streams at or below it will complete, those above it
    were not processed and are being replayed. ``debug_data`` is the GOAWAY's
    opaque reason (``b"max_requests"``, ``b"shutdown"``...).

    ``first_rejected_id`` comes from an HTTP/3 GOAWAY (RFC 9114 §5.2), which
    carries no error code or reason: request streams *below* it will complete,
    those at or above it were not processed and are being replayed. The first
    GOAWAY of a graceful drain carries 2^62-4 (nothing rejected yet).

    A server that drains in two steps (lastcall, nginx, Go, h2o) sends a first
    GOAWAY that rejects nothing (2^31-1, or 2^62-4 over HTTP/3) and, about one
    round trip later, the final one with the real id. Each GOAWAY that lowers the
    id is a notice of its own: the later one has ``is_update`` set and replaces
    the first as the connection's ``ClosingSignal.notice``.
    """

    origin: tuple[str, str, int]
    http_version: str
    source: str
    reason: str
    last_processed_id: int | None = None
    error_code: int | None = None
    debug_data: bytes = b""
    connection_id: int = 0
    first_rejected_id: int | None = None
    #: True when this notice updates an earlier one of the same connection: a
    #: later GOAWAY lowered the id (the final GOAWAY of a two-step drain).
    is_update: bool = False


class ClosingSignal:
    """One connection's "closing" moment: set once, awaited by many.

    ``await signal`` returns the ``ClosingNotice``; ``is_set()`` and ``notice``
    let a caller check without waiting. Unlike a bare future it never holds an
    exception, so nobody has to retrieve one. ``notice`` is always the newest
    notice of the connection: after a two-step drain's final GOAWAY it carries
    the real id (``offer``).
    """

    __slots__ = ("_event", "notice")

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None
        self.notice: ClosingNotice | None = None

    def is_set(self) -> bool:
        """True once the connection started closing."""
        return self.notice is not None

    def set(self, notice: ClosingNotice) -> bool:
        """Record the notice (the first one wins); True if this call set it."""
        if self.notice is not None:
            return False
        self.notice = notice
        if self._event is not None:
            self._event.set()
        return True

    def offer(self, notice: ClosingNotice) -> ClosingNotice | None:
        """Record ``notice`` if it tells something new; return what to publish.

        The first notice sets the signal. A later GOAWAY from the server
        replaces an earlier GOAWAY's notice when it lowers the id (the final
        GOAWAY of a two-step drain) and is returned marked ``is_update``. A
        repeated id changes nothing; neither does the server's answer to our own
        drain (the application chose that close; what it started it knows).
        """
        previous = self.notice
        if previous is None:
            self.set(notice)
            return notice
        if notice.source != "remote" or previous.source != "remote":
            return None
        if (notice.last_processed_id, notice.first_rejected_id) == (
            previous.last_processed_id,
            previous.first_rejected_id,
        ):
            return None
        updated = replace(notice, is_update=True)
        self.notice = updated
        return updated

    async def wait(self) -> ClosingNotice:
        """Wait until the connection starts closing; return why."""
        if self.notice is None:
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()
        assert self.notice is not None
        return self.notice

    def __await__(self) -> Generator[Any, None, ClosingNotice]:
        return self.wait().__await__()


NoticeCallback = Callable[[ClosingNotice], None]


class NoticeHub:
    """Fans every notice out to the client's callback and ``notices()`` subscribers."""

    __slots__ = ("_callback", "_subscribers", "count")

    def __init__(self, callback: NoticeCallback | None = None) -> None:
        self._callback = callback
        self._subscribers: list[asyncio.Queue[ClosingNotice | None]] = []
        #: How many notices were published, for tests and metrics.
        self.count = 0

    def publish(self, notice: ClosingNotice) -> None:
        """Deliver ``notice``; a failing callback is the application's bug, not ours,
        so it is reported through the loop's exception handler and never raised here."""
        self.count += 1
        if self._callback is not None:
            try:
                self._callback(notice)
            except Exception as exc:
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "lastcall client on_notice callback failed", "exception": exc}
                )
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(notice)

    def subscribe(self) -> NoticeSubscription:
        """Every notice from now on (registered at once, not at first iteration)."""
        queue: asyncio.Queue[ClosingNotice | None] = asyncio.Queue(NOTICE_QUEUE_SIZE)
        self._subscribers.append(queue)
        return NoticeSubscription(self, queue)

    def unsubscribe(self, queue: asyncio.Queue[ClosingNotice | None]) -> None:
        """Stop delivering to ``queue``."""
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def close(self) -> None:
        """End every subscription."""
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)


class NoticeSubscription:
    """An async iterator of notices; ends when the client closes or ``aclose()`` is called."""

    __slots__ = ("_done", "_hub", "_queue")

    def __init__(self, hub: NoticeHub, queue: asyncio.Queue[ClosingNotice | None]) -> None:
        self._hub = hub
        self._queue = queue
        self._done = False

    def __aiter__(self) -> NoticeSubscription:
        return self

    async def __anext__(self) -> ClosingNotice:
        if self._done:
            raise StopAsyncIteration
        notice = await self._queue.get()
        if notice is None:
            await self.aclose()
            raise StopAsyncIteration
        return notice

    async def aclose(self) -> None:
        """Unsubscribe."""
        self._done = True
        self._hub.unsubscribe(self._queue)
