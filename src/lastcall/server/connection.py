"""What every server connection shares, whatever its protocol.

The lifecycle sees each connection through the same small surface
(``lastcall.lifecycle.Drainable``): ``phase``, ``begin_drain``, ``cancel``,
``abort`` and ``active_stream_count``. This base class holds the drain notice
the application can await (``lastcall.drain`` scope extension: the reason and
deadline are data, not a phase), registration in the registry, and the
graceful close every protocol ends with.

There is one phase machine per connection, never two. HTTP/2 and HTTP/3
read their engine's phase (``MultiplexedConnection.phase``); a connection
with no engine that knows its phase (HTTP/1.1, WebSocket over HTTP/1.1) is a
``TablePhaseConnection``, whose phase moves only through the lifecycle's
table. The base tells the machine what happened through ``_advance``, which
an engine-driven connection does not need: its engine saw it first.

The graceful close:

1. every accepted byte is handed to the transport;
2. the write side is shut down (``write_eof``: a FIN after the buffered bytes);
3. we keep reading and discarding for at most ``lingering_close_timeout``, so
   the peer's late bytes never make our kernel answer with a RST that would
   destroy a response it has not read yet (RFC 9112 §9.6, Apache's
   "lingering close", Go's ``goAwayTimeout``);
4. the transport is closed when the peer closes its side or the timeout ends.

A connection may also drain by itself, with the same contract and a grace
of its own (``drain_alone``): when it reaches ``max_connection_age``
(jittered, armed at accept), when it has accepted
``max_requests_per_connection`` requests, when it sat idle (HTTP/2), or when
the application asks (``drain_connection()``). At the end of that grace what
is left is cancelled exactly as at the server's grace expiry.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from lastcall.lifecycle import ConnectionInput, ConnectionPhase, next_connection_phase
from lastcall.lifecycle.retire import MAX_AGE_REASON, MAX_REQUESTS_REASON
from lastcall.observe import events as oe

from .extension import DrainExtension
from .state import ServerState
from .tls_extension import tls_extension

if TYPE_CHECKING:
    from lastcall.io.driver import TimerHandle

__all__ = ["Address", "ConnectionBase", "ServerAddress", "TablePhaseConnection"]

logger = logging.getLogger("lastcall.server")
#: A TCP or UDP address, ours or the peer's: ``(host, port)``.
Address = tuple[str, int]
#: ``scope["server"]``: ``(host, port)``, or ``(path, None)`` on a unix socket,
#: as the ASGI HTTP spec asks (``[path, None]``: a socket has no port), so an app
#: or middleware can tell a unix-socket peer from a TCP one.
ServerAddress = tuple[str, int | None]


def _address(value: object) -> Address | None:
    if isinstance(value, tuple) and len(value) >= 2:
        return (str(value[0]), int(value[1]))
    return None


class ConnectionBase:
    """Phase, drain notice, registration and graceful close of one connection."""

    #: Label used in events: ``http/1.1``, ``h2`` or ``websocket``.
    protocol_name = "http"

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = state.loop
        self.transport: asyncio.Transport | None = None
        #: Why this connection drains, as ``lastcall.drain`` reports it (set
        #: once, by ``_mark_draining``); where it stands is ``phase``.
        self.drain_reason: str | None = None
        self.drain_deadline_at: float | None = None
        self.requests = 0
        self.label = ""
        #: The peer; ``None`` exactly when it came through a unix socket (which
        #: has no peer address): ``attach`` makes sure a TCP connection has one,
        #: and ``--proxy-headers`` relies on that to trust unix-socket peers.
        self.client: Address | None = None
        self.server: ServerAddress | None = None
        self.scheme = "https" if state.config.is_tls else "http"
        self._drain_future: asyncio.Future[str] | None = None
        self._extension: DrainExtension | None = None
        #: ``scope["extensions"]["tls"]`` on a TLS connection (tls_extension.py).
        self.tls_extension: dict[str, Any] | None = None
        self._linger_handle: asyncio.TimerHandle | None = None
        #: A drain of its own (``drain_alone``): when its grace ends, and that timer.
        self._own_grace_at: float | None = None
        self._own_cancel_handle: TimerHandle | None = None
        #: ``max_connection_age``: when this connection drains by itself (jittered).
        self.retire_at: float | None = None
        self._retire_handle: TimerHandle | None = None
        #: Requests accepted, counted only with ``max_requests_per_connection``
        #: (0 then means no limit: the hot path tests one int).
        self.requests_accepted = 0
        self.max_requests = state.lifetime.max_requests or 0
        self._is_registered = False
        self._is_clean = True
        #: True once ``write_eof()`` was called (or the transport closed): a
        #: write now would raise, and ``transport.is_closing()`` does not say so
        #: (uvloop and asyncio both report False after ``write_eof``).
        self.is_write_closed = False

    # -- registration -------------------------------------------------------------

    def attach(self, transport: asyncio.Transport) -> None:
        """Record addresses and register with the lifecycle (from ``connection_made``)."""
        self.transport = transport
        if self.scheme == "https":
            self.tls_extension = tls_extension(transport.get_extra_info("ssl_object"))
        sockname = transport.get_extra_info("sockname")
        if isinstance(sockname, str | bytes):
            # AF_UNIX: our side is the socket's path (bytes for Linux's abstract
            # namespace), and the peer has no address ASGI could carry.
            self.server = (os.fsdecode(sockname), None)
            self.client = None
            peer_is_gone = False
        else:
            self.server = _address(sockname)
            self.client = _address(transport.get_extra_info("peername"))
            # TCP without a peer address: the peer reset before the transport
            # could ask (getpeername() failed). Nobody is there to answer, and a
            # TCP ``client`` of None would pass for a unix-socket peer, which
            # ``--proxy-headers`` trusts: bytes it had already sent could carry
            # a forged X-Forwarded-For. Close it unread.
            peer_is_gone = self.client is None
        if self.client is not None:
            peer = f"{self.client[0]}:{self.client[1]}"
        else:
            peer = "gone" if peer_is_gone else "unix"
        self.label = f"{self.protocol_name}#{self.state.next_connection_id()} {peer}"
        self.register()
        self.start_lifetime()
        if peer_is_gone:
            logger.debug("%s: TCP peer address unknown (reset before accept); closing", self.label)
            transport.close()
            return
        if self.state.drain_deadline_at is not None and self.state.drain_reason is not None:
            # Accepted just as listeners closed: serve what is already on its way.
            self._mark_draining(self.state.drain_deadline_at, self.state.drain_reason)
            self._advance(ConnectionInput.DRAIN_REQUESTED)

    def register(self) -> None:
        """Join the registry of live connections (idempotent)."""
        if not self._is_registered:
            self.state.registry.add(self)
            self._is_registered = True

    def adopt(self, other: ConnectionBase) -> None:
        """Take over a transport and registration from another protocol object (h2c, ALPN)."""
        self.transport = other.transport
        self.client, self.server, self.scheme = other.client, other.server, other.scheme
        self.label = other.label.replace(other.protocol_name, self.protocol_name, 1)
        self.requests = other.requests
        self.tls_extension = other.tls_extension
        if other._is_registered:
            self.state.registry.replace(other, self)
            other._is_registered = False
        else:
            self.state.registry.add(self)
        self._is_registered = True
        if other.drain_reason is not None:
            self._mark_draining(other.drain_deadline_at, other.drain_reason)
            self._advance(ConnectionInput.DRAIN_REQUESTED)
        # Same connection, same age and count: the limits carry over.
        self.requests_accepted = other.requests_accepted
        if other._own_cancel_handle is not None and other._own_grace_at is not None:
            other._own_cancel_handle.cancel()
            other._own_cancel_handle = None
            self._own_grace_at = other._own_grace_at
            self._own_cancel_handle = self.state.clock.call_at(
                other._own_grace_at, self._own_grace_expired
            )
        if other._retire_handle is not None:
            other._retire_handle.cancel()
            other._retire_handle = None
            self._arm_retire(other.retire_at)

    def _unregister(self) -> None:
        if self._is_registered:
            self._is_registered = False
            self.state.observer.emit(
                oe.ConnectionClosed(
                    self.loop.time(), self.label, self.protocol_name, self.requests, self._is_clean
                )
            )
            self.state.registry.discard(self)

    # -- phase ----------------------------------------------------------------------

    @property
    def phase(self) -> ConnectionPhase:  # pragma: no cover
        """OPEN, DRAINING, CLOSING or CLOSED: the one phase machine's answer."""
        raise NotImplementedError

    def _advance(self, event: ConnectionInput) -> None:
        """Tell the phase machine what happened here. Nothing to do for a
        connection whose engine keeps the phase: the engine saw it first."""

    @property
    def active_stream_count(self) -> int:
        return 0

    # -- the drain notice (lastcall.drain extension) ------------------------------

    def drain_extension(self) -> DrainExtension:
        ext = self._extension
        if ext is None:
            ext = self._extension = DrainExtension(self)
        return ext

    @property
    def notice_reason(self) -> str | None:
        """What ``lastcall.drain`` reports: this connection's drain reason, else the
        server's pre-stop notice (readiness fails, this connection does not drain yet)."""
        if self.drain_reason is not None:
            return self.drain_reason
        return self.state.drain_notice

    @property
    def notice_deadline_at(self) -> float | None:
        if self.drain_reason is not None:
            return self.drain_deadline_at
        return self.state.drain_notice_deadline_at

    def drain_waiter(self) -> asyncio.Future[str]:
        if self._drain_future is None:
            waiter = self._drain_future = self.loop.create_future()
            reason = self.notice_reason
            if reason is not None:
                waiter.set_result(reason)
            else:
                self.state.notify_on_announce(waiter)
        return self._drain_future

    def _mark_draining(self, deadline_at: float | None, reason: str) -> bool:
        """Record the drain; return True the first time only."""
        if deadline_at is not None and (
            self.drain_deadline_at is None or deadline_at < self.drain_deadline_at
        ):
            self.drain_deadline_at = deadline_at
        if self.drain_reason is not None:
            return False
        self.drain_reason = reason
        if self._drain_future is not None and not self._drain_future.done():
            self._drain_future.set_result(reason)
        return True

    def request_drain(self, reason: str) -> None:
        """The application asked to drain this connection (``drain_connection()``).

        It gets the server's graceful timeout as its own budget; at the end what
        is left is cancelled exactly as at server grace expiry.
        """
        self.drain_alone(reason, self.state.config.graceful_timeout)

    def drain_alone(self, reason: str, grace: float) -> None:
        """Drain this connection only, by the contract, with ``grace`` of its own.

        ``reason`` goes to ``lastcall.drain``, the ``connection_draining``
        event and HTTP/2's GOAWAY debug data. When ``grace`` ends what is left
        is cancelled exactly as at the server's grace expiry. Nothing happens
        if the connection is draining already (the server's drain included).
        """
        if self.phase is not ConnectionPhase.OPEN:
            return
        self._stop_retire_timer()
        clock = self.state.clock
        deadline = self._own_grace_at = clock.time() + grace
        self._own_cancel_handle = clock.call_at(deadline, self._own_grace_expired)
        self.begin_drain(deadline, reason)

    def _own_grace_expired(self) -> None:
        self._own_cancel_handle = None
        if self.phase is ConnectionPhase.CLOSED:
            return
        self.state.observer.emit(
            oe.ConnectionGraceExpired(
                self.loop.time(), self.label, self.drain_reason or "", self.active_stream_count
            )
        )
        self.cancel("grace_expired")

    # -- retiring by age or by count (max_connection_age, max_requests_per_connection) --

    def start_lifetime(self) -> None:
        """Arm ``max_connection_age`` from now (at accept); nothing when it is off."""
        lifetime = self.state.lifetime
        if lifetime.max_age is not None and self.retire_at is None:
            now = self.state.clock.time()
            self._arm_retire(lifetime.retire_at(now, self.state.unit_random()))

    def _arm_retire(self, at: float | None) -> None:
        self.retire_at = at
        if at is not None:
            self._retire_handle = self.state.clock.call_at(at, self._retire)

    def _stop_retire_timer(self) -> None:
        if self._retire_handle is not None:
            self._retire_handle.cancel()
            self._retire_handle = None

    def _retire(self) -> None:
        self._retire_handle = None
        self.drain_alone(MAX_AGE_REASON, self.state.lifetime.grace)

    def count_request(self) -> None:
        """A request was accepted (called only with ``max_requests_per_connection``):
        the last one the connection may take starts its drain, so that it is
        answered (HTTP/1.1 with ``Connection: close``) and nothing after it comes."""
        self.requests_accepted += 1
        if self.requests_accepted >= self.max_requests:
            self.drain_alone(MAX_REQUESTS_REASON, self.state.lifetime.grace)

    def begin_drain(self, deadline_at: float, reason: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def cancel(self, reason: str) -> None:  # pragma: no cover
        raise NotImplementedError

    def _report_draining(self) -> None:
        self.state.observer.emit(
            oe.ConnectionDraining(
                self.loop.time(),
                self.label,
                self.protocol_name,
                self.active_stream_count,
                self.drain_reason or "",
            )
        )

    # -- closing --------------------------------------------------------------------

    def close_gracefully(self) -> None:
        """Half-close after the buffered bytes, then linger-read; idempotent."""
        transport = self.transport
        if transport is None or self._linger_handle is not None or transport.is_closing():
            return
        self._advance(
            ConnectionInput.CANCELLED
            if self.phase is ConnectionPhase.OPEN
            else ConnectionInput.WORK_DONE
        )
        linger = self.state.config.lingering_close_timeout
        self.is_write_closed = True
        if linger > 0.0 and transport.can_write_eof():
            try:
                transport.write_eof()
            except OSError:
                transport.close()
                return
            transport.resume_reading()
            self._linger_handle = self.loop.call_later(linger, transport.close)
        else:
            # TLS cannot half-close (close_notify ends both directions): close()
            # still flushes the buffer first.
            transport.close()

    def abort(self) -> None:
        """Last resort at the close timeout: drop the transport now."""
        if self.transport is not None:
            self._is_clean = False
            self.transport.abort()

    def _connection_gone(self) -> None:
        """Common part of ``connection_lost``."""
        self._advance(ConnectionInput.TRANSPORT_CLOSED)
        for handle in (self._linger_handle, self._own_cancel_handle, self._retire_handle):
            if handle is not None:
                handle.cancel()
        if self._drain_future is not None and not self._drain_future.done():
            self._drain_future.cancel()
        self._unregister()


class TablePhaseConnection(ConnectionBase):
    """A connection with no engine that knows its phase (HTTP/1.1, WebSocket
    over HTTP/1.1): its one phase machine, moved only through the lifecycle's
    table (``lastcall.lifecycle.phases``)."""

    #: A plain attribute, not the base's property: HTTP/1.1 reads it about five
    #: times per request, and a property would be a Python call each time.
    #: Only ``_advance`` moves it.
    phase: ConnectionPhase = ConnectionPhase.OPEN

    def _advance(self, event: ConnectionInput) -> None:
        self.phase = next_connection_phase(self.phase, event)
