"""The registry of live connections: what the drain controller acts on.

Every connection, whatever its protocol, offers the same small surface: a
``phase``, ``begin_drain(deadline_at, reason)``, ``cancel(reason)`` for grace
expiry, ``abort()`` as the very last resort, and a count of active streams.
The registry is plain bookkeeping: it never waits.
The asyncio shell learns that the last connection went away through the
``on_empty`` callback, so nothing ever polls the count (uvicorn's 100 ms loop
is what we avoid).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from .phases import ConnectionPhase

__all__ = ["ConnectionRegistry", "Drainable"]


class Drainable(Protocol):
    """What every connection offers to the lifecycle, whatever its protocol."""

    @property
    def phase(self) -> ConnectionPhase:
        """OPEN, DRAINING, CLOSING or CLOSED."""

    @property
    def active_stream_count(self) -> int:
        """Requests (HTTP/1.1: 0 or 1; HTTP/2: open streams) still being served."""

    def begin_drain(self, deadline_at: float, reason: str) -> None:
        """Finish what was accepted, take nothing new. Idempotent."""

    def cancel(self, reason: str) -> None:
        """Grace expired: cut what is left cleanly, by protocol. Idempotent."""

    def abort(self) -> None:
        """Close the transport now, without any goodbye. Idempotent."""


class ConnectionRegistry:
    """The set of live connections, with a callback when it becomes empty."""

    __slots__ = ("_connections", "on_empty", "total_accepted")

    def __init__(self) -> None:
        # A dict keeps insertion order, so drains go oldest first.
        self._connections: dict[Drainable, None] = {}
        #: Called (with no argument) each time the last connection goes away.
        self.on_empty: Callable[[], None] | None = None
        #: Every connection ever added, for metrics and the closing report.
        self.total_accepted = 0

    def add(self, connection: Drainable) -> None:
        """Register a connection that was just accepted."""
        self._connections[connection] = None
        self.total_accepted += 1

    def discard(self, connection: Drainable) -> None:
        """Forget a connection whose transport is gone; harmless if unknown."""
        was_known = self._connections.pop(connection, 0) is None
        if was_known and not self._connections and self.on_empty is not None:
            self.on_empty()

    def replace(self, old: Drainable, new: Drainable) -> None:
        """``new`` took over ``old``'s transport (h2c upgrade, WebSocket): same connection."""
        self._connections.pop(old, None)
        self._connections[new] = None

    def __len__(self) -> int:
        return len(self._connections)

    def __iter__(self) -> Iterator[Drainable]:
        # A snapshot: draining a connection may remove it while we iterate.
        return iter(list(self._connections))

    def __contains__(self, connection: object) -> bool:
        return connection in self._connections

    @property
    def active_stream_count(self) -> int:
        """Streams still being served across every connection."""
        return sum(c.active_stream_count for c in self._connections)

    def count_by_phase(self) -> dict[ConnectionPhase, int]:
        """How many connections are in each phase (for events and metrics)."""
        counts = dict.fromkeys(ConnectionPhase, 0)
        for connection in self._connections:
            counts[connection.phase] += 1
        return counts
