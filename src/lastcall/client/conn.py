"""The contract between the pool and one connection, whatever its protocol.

``Http1Connection``, ``Http2Connection`` and ``Http3Connection`` offer ``PooledConnection``;
the pool manager offers ``ConnectionOwner`` back. A connection reports every
change that may let a waiting request proceed (a slot freed, SETTINGS raised
the stream limit, it started draining, it closed) through ``connection_changed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .config import Timeouts
from .models import Request, Response
from .notices import ClosingNotice
from .pool import ConnState


class ConnectionOwner(Protocol):
    """The pool, as a connection sees it."""

    def connection_changed(self, conn: PooledConnection) -> None:
        """Slots, state or limits changed: wake waiters, retire it if draining/closed."""
        ...

    def exchange_finished(self) -> None:
        """One request's exchange (including its response body) is over."""
        ...

    def publish(self, notice: ClosingNotice) -> None:
        """Tell the application that a connection is closing."""
        ...


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """One connection's own lifetime, already jittered (see ``config.Lifetime``)."""

    #: Requests this connection may carry; None for no limit.
    max_requests: int | None = None
    #: Monotonic time after which it takes no new requests; None for never.
    retire_at: float | None = None


class PooledConnection(Protocol):
    """One client connection, as the pool uses it."""

    connection_id: int
    origin: tuple[str, str, int]
    limits: ConnectionLimits

    @property
    def state(self) -> ConnState: ...

    @property
    def is_multiplexed(self) -> bool | None: ...

    @property
    def free_slots(self) -> int: ...

    @property
    def used_slots(self) -> int: ...

    @property
    def idle_since(self) -> float | None: ...

    @property
    def has_served(self) -> bool:
        """True once it carried a request (a failure then may be a keep-alive race)."""
        ...

    async def wait_ready(self, connect_timeout: float | None) -> None:
        """Return once it can take requests (HTTP/2: the server's SETTINGS arrived)."""
        ...

    def reserve(self) -> None:
        """Take one slot for a request about to call ``handle``."""
        ...

    async def handle(self, request: Request, timeouts: Timeouts) -> Response:
        """Send ``request`` and return the response once its headers arrived."""
        ...

    def start_drain(self, reason: str) -> None:
        """Take no new requests; let the ones in flight finish; then close. Idempotent."""
        ...

    def abort(self, exc: BaseException) -> None:
        """Fail every request in flight with ``exc`` and close now. Idempotent."""
        ...

    async def wait_closed(self) -> None:
        """Return once the transport is closed."""
        ...
