"""The ``lastcall.drain`` ASGI scope extension: tell the application about drains.

Shape (documented in docs/server/draining.md)::

    drain = scope["extensions"].get("lastcall.drain")
    if drain is not None:
        drain.is_draining        # bool: this connection (or the whole server) is draining
        drain.reason             # str | None: "pre_stop", "shutdown (SIGTERM)", "drain",
                                 # "application", "max_age", "max_requests",
                                 # "idle", "peer_goaway", ...
        drain.deadline_at        # float | None: loop.time() when what is left is cancelled
        await drain.wait()       # returns the reason once a drain begins (at once if it has)
        drain.drain_connection() # drain *this* connection (Armeria's initiateConnectionShutdown):
                                 # HTTP/1.1 answers this response with Connection: close,
                                 # HTTP/2 sends GOAWAY; the in-flight work finishes.

The application learns of a server drain when the load balancer does: with a
``pre_stop_delay``, readiness fails at once and the extension reports
``pre_stop`` (``wait()`` returns it) while the connection still serves as
before; when the delay ends and the connection itself drains, ``reason``
becomes the drain's own (``shutdown (SIGTERM)``, ``drain``...).

The object is per connection and created lazily, so requests that never look
at it pay only for one dict entry. Long-lived handlers (SSE, streaming, gRPC,
WebSocket) await ``wait()`` next to their work to end cleanly and tell their
clients -- without polling a global.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["DRAIN_EXTENSION", "DrainExtension", "DrainSource"]

#: Key in ``scope["extensions"]``.
DRAIN_EXTENSION = "lastcall.drain"


class DrainSource(Protocol):
    """What a connection offers to its drain extension."""

    @property
    def notice_reason(self) -> str | None:
        """Why it drains, or ``"pre_stop"`` while the server's pre-stop delay runs."""

    @property
    def notice_deadline_at(self) -> float | None:
        """When what is left will be cancelled, as far as it is known yet."""

    def drain_waiter(self) -> asyncio.Future[str]: ...

    def request_drain(self, reason: str) -> None: ...


class DrainExtension:
    """``scope["extensions"]["lastcall.drain"]``: await or trigger a drain."""

    __slots__ = ("_source",)

    def __init__(self, source: DrainSource) -> None:
        self._source = source

    @property
    def is_draining(self) -> bool:
        """True once this connection (or the server it belongs to) began draining."""
        return self._source.notice_reason is not None

    @property
    def reason(self) -> str | None:
        """Why it is draining (``None`` while not draining)."""
        return self._source.notice_reason

    @property
    def deadline_at(self) -> float | None:
        """``loop.time()`` at which what is left will be cancelled, when known."""
        return self._source.notice_deadline_at

    async def wait(self) -> str:
        """Wait until a drain begins; return its reason. Returns at once if one has."""
        reason = self._source.notice_reason
        if reason is not None:
            return reason
        return await asyncio.shield(self._source.drain_waiter())

    def drain_connection(self, reason: str = "application") -> None:
        """Drain the connection this request came on; in-flight work finishes. Idempotent."""
        self._source.request_drain(reason)
