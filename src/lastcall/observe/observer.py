"""The one place drain events are emitted, and the sinks that read them.

``Observer.emit`` hands each event to every sink in order. Sinks never raise
into the server: a broken metrics exporter must not stop a drain.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TypeVar

from .events import DrainEvent

__all__ = ["EventRecorder", "LoggingSink", "Observer", "Sink"]

Sink = Callable[[DrainEvent], None]
E = TypeVar("E", bound=DrainEvent)

logger = logging.getLogger("lastcall.drain")


class Observer:
    """Fans every drain event out to its sinks."""

    __slots__ = ("sinks",)

    def __init__(self, sinks: list[Sink] | None = None) -> None:
        self.sinks: list[Sink] = list(sinks) if sinks is not None else [LoggingSink()]

    def add_sink(self, sink: Sink) -> None:
        """Add a consumer (a recorder in tests, metrics in production)."""
        self.sinks.append(sink)

    def emit(self, event: DrainEvent) -> None:
        """Report one drain step to every sink."""
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # a sink must never break a drain
                logger.exception("drain event sink %r failed", sink)


class LoggingSink:
    """Logs each event at INFO as a readable line (with the event attached as ``extra``)."""

    __slots__ = ("logger",)

    def __init__(self, target: logging.Logger | None = None) -> None:
        self.logger = target or logger

    def __call__(self, event: DrainEvent) -> None:
        if self.logger.isEnabledFor(logging.INFO):
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
