"""WebSocket keepalive: ``ws_ping_interval`` / ``ws_ping_timeout``.

A WebSocket can sit silent for hours, and a peer that vanished without a
FIN (a phone off the network, a NAT that forgot the mapping) leaves the app
holding it forever. So an open WebSocket is sent a Ping (RFC 6455 §5.5.2)
every ``interval`` seconds, one at a time: the next one ``interval`` after
the Pong. No Pong with the same payload within ``timeout`` seconds and the
session fails the connection (Close 1011, the app gets
``websocket.disconnect`` with 1011), as the ``websockets`` library does
with the same 20 s / 20 s defaults (uvicorn's ``--ws-ping-interval`` and
``--ws-ping-timeout``). A Ping also keeps NATs and proxies from dropping an
idle connection. 0 turns either off.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["KeepAlive", "Timers"]


class _Cancellable(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """What the keepalive needs of the event loop (a test passes a fake one)."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Cancellable: ...


class KeepAlive:
    """The Ping timer of one WebSocket; ``start`` once accepted, ``stop`` when it ends."""

    __slots__ = (
        "_deadline",
        "_loop",
        "_next",
        "_on_timeout",
        "_payload",
        "_send_ping",
        "_sent",
        "interval",
        "timeout",
    )

    def __init__(
        self,
        loop: Timers,
        interval: float,
        timeout: float,
        send_ping: Callable[[bytes], None],
        on_timeout: Callable[[], None],
    ) -> None:
        self._loop = loop
        self.interval = interval
        self.timeout = timeout
        self._send_ping = send_ping
        self._on_timeout = on_timeout
        self._next: _Cancellable | None = None
        self._deadline: _Cancellable | None = None
        self._payload = b""
        self._sent = 0

    def start(self) -> None:
        """Arm the first Ping (no-op with ``interval`` 0, or if already running)."""
        if self.interval > 0 and self._next is None and self._deadline is None:
            self._next = self._loop.call_later(self.interval, self._ping)

    def _ping(self) -> None:
        self._next = None
        self._sent += 1
        self._payload = b"%d" % self._sent
        self._send_ping(self._payload)
        if self.timeout > 0:
            self._deadline = self._loop.call_later(self.timeout, self._expired)
        else:
            self._next = self._loop.call_later(self.interval, self._ping)

    def pong(self, payload: bytes) -> None:
        """A Pong came: if it answers our Ping, the next one is due in ``interval``."""
        if self._deadline is not None and payload == self._payload:
            self._deadline.cancel()
            self._deadline = None
            self._next = self._loop.call_later(self.interval, self._ping)

    def _expired(self) -> None:
        self._deadline = None
        self._on_timeout()

    def stop(self) -> None:
        """No more Pings (the session is closing or closed); idempotent."""
        for handle in (self._next, self._deadline):
            if handle is not None:
                handle.cancel()
        self._next = self._deadline = None
