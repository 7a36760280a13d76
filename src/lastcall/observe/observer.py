"""The one place drain events are emitted, and the sinks that read them.

``Observer.emit`` hands each event to every sink in order. Sinks never raise
into the server: a broken metrics exporter must not stop a drain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

from .events import (
    ConnectionClosed,
    ConnectionDraining,
    DrainEvent,
    DrainStarted,
    GoAwaySent,
    Http3GoAwaySent,
    ReloadFailed,
    RequestCompleted,
    ServerStarted,
    UpstreamRequest,
    WebSocketClosing,
    WorkerExited,
    WorkerKilled,
)

__all__ = ["AccessLogSink", "EventRecorder", "LoggingSink", "Observer", "Sink"]

Sink = Callable[[DrainEvent], None]
E = TypeVar("E", bound=DrainEvent)

logger = logging.getLogger("lastcall.drain")
access_logger = logging.getLogger("lastcall.access")


class Observer:
    """Fans every drain event out to its sinks."""

    __slots__ = ("sinks",)

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = list(sinks) if sinks is not None else [LoggingSink()]

    def add_sink(self, sink: Sink) -> None:
        """Add a consumer (a recorder in tests, metrics in production)."""
        self.sinks.append(sink)

    @property
    def wants_requests(self) -> bool:
        """Whether a sink reads ``RequestCompleted`` (a sink says so with a true
        ``wants_requests`` attribute): the server builds that event, one per
        request, only then."""
        return any(getattr(sink, "wants_requests", False) for sink in self.sinks)

    def emit(self, event: DrainEvent) -> None:
        """Report one drain step to every sink."""
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # a sink must never break a drain
                logger.exception("drain event sink %r failed", sink)


#: Events that put one connection into a drain of its own (``drain_connection()``,
#: max requests or age, a GOAWAY), so that its close is a drain step too.
_CONNECTION_DRAIN_STEPS = (ConnectionDraining, GoAwaySent, Http3GoAwaySent, WebSocketClosing)


class LoggingSink:
    """Logs each event as a readable line (with the event attached as ``extra``).

    Drain steps are INFO. ``connection_closed`` is the exception: it is one
    line per connection, so at production rates INFO would bury the drain
    in connection churn. It is INFO while it is part of a drain -- from the
    server's ``drain_started`` on, or for a connection that was itself told
    to drain -- and DEBUG otherwise. Only the level differs: the event is
    emitted, counted and recorded the same either way. The proxy's
    ``upstream_request`` (one per proxied request) is always DEBUG.
    """

    __slots__ = ("_draining_connections", "_is_server_draining", "logger")

    def __init__(self, target: logging.Logger | None = None) -> None:
        self.logger = target or logger
        self._is_server_draining = False
        #: Connections (by label) with a drain of their own, until they close.
        self._draining_connections: set[str] = set()

    def __call__(self, event: DrainEvent) -> None:
        if isinstance(event, RequestCompleted):
            return  # the access log's (AccessLogSink), when it is on
        level = self.level_of(event)
        if self.logger.isEnabledFor(level):
            self.logger.log(level, event.message(), extra={"drain_event": event})

    def level_of(self, event: DrainEvent) -> int:
        """The level ``event`` is logged at; follows the drain it belongs to."""
        if isinstance(event, UpstreamRequest):
            return logging.DEBUG  # one per proxied request: counted, not logged
        if isinstance(event, WorkerKilled | ReloadFailed):
            return logging.ERROR  # a worker that hung, a deploy that did not start
        if isinstance(event, WorkerExited) and not event.expected:
            return logging.WARNING  # a crash (a replacement follows)
        if isinstance(event, ConnectionClosed):
            is_draining = self._is_server_draining or event.connection in self._draining_connections
            self._draining_connections.discard(event.connection)
            return logging.INFO if is_draining else logging.DEBUG
        if isinstance(event, _CONNECTION_DRAIN_STEPS):
            self._draining_connections.add(event.connection)
        elif isinstance(event, DrainStarted):
            self._is_server_draining = True
        elif isinstance(event, ServerStarted):  # a new run of a server: no drain yet
            self._is_server_draining = False
            self._draining_connections.clear()
        return logging.INFO


class AccessLogSink:
    """Writes the access log: one INFO line per ``RequestCompleted`` on the
    ``lastcall.access`` logger (``--access-log``), the event attached as
    ``extra`` like every other event, so ``--log-format json`` writes its fields."""

    __slots__ = ("logger",)

    wants_requests = True

    def __init__(self, target: logging.Logger | None = None) -> None:
        self.logger = target or access_logger

    def __call__(self, event: DrainEvent) -> None:
        if isinstance(event, RequestCompleted) and self.logger.isEnabledFor(logging.INFO):
            self.logger.info(event.message(), extra={"drain_event": event})


class EventRecorder:
    """Keeps every event, for tests and for the closing report of a drill."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: list[DrainEvent] = []

    def __call__(self, event: DrainEvent) -> None:
        self.events.append(event)

    def __iter__(self) -> Iterator[DrainEvent]:
        return iter(self.events)

    def of_type(self, kind: type[E]) -> list[E]:
        """Every recorded event of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def names(self) -> list[str]:
        """The sequence of step names, handy for asserting order."""
        return [e.name for e in self.events]
