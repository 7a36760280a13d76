"""The UDP endpoint of an HTTP/3 server: one socket, many QUIC connections.

A QUIC server has no ``accept()``: every connection shares one UDP socket,
and which connection a datagram belongs to is written in the packet itself,
as the *destination connection id* (RFC 9000 §5.2). ``QuicEndpoint`` is that
demultiplexer, and the registry of the QUIC connections it carries:

- **Routing.** Each datagram's header is parsed (``pull_quic_header``) and
  looked up by destination connection id. A connection is routed by the id
  the client chose for its first Initial (the *original* destination id,
  RFC 9000 §7.2), by ``engine.host_cid``, and by every id the engine issues
  later (``ConnectionIdIssued``; ``ConnectionIdRetired`` removes one), so a
  client that switches ids (RFC 9000 §5.1.1) stays on its connection.
- **New connections** are made only from an Initial packet carried in a
  datagram of at least 1200 bytes (RFC 9000 §14.1: a client pads its first
  Initial, so a shorter one cannot be a real client and must not make us
  allocate state), and only while the endpoint is accepting. A datagram for
  a QUIC version we do not speak gets a Version Negotiation packet
  (RFC 9000 §6). Anything else we cannot route is dropped.
- **Timers and flushing** are ``lastcall.io.driver.EngineDriver``'s, one per
  connection: after every input (a datagram, a timer) the engine's events go
  to the connection's owner (``QuicApplication``), then
  ``datagrams_to_send(now)`` goes to the socket, then ``pop_events()`` (what
  the owner's actions caused, e.g. ``DrainCompleted``) is handled, until
  nothing is left; then the one timer is moved to the engine's
  ``get_timer()`` (QUIC loss, ACK, idle and closing timers, the drain's
  settle allowance) if that changed. Nothing here sleeps or polls.
  Application writes are coalesced: ``schedule_flush`` flushes once at the
  end of the loop turn, so every stream that answered in one turn shares
  datagrams.
- **The layered close** (RFC 9114 §5.2; DESIGN.md "HTTP/3"): a connection is
  forgotten only when its engine reached ``Phase.CLOSED`` -- QUIC's closing
  or draining period (three PTOs, RFC 9000 §10.2) is over, so the peer can no
  longer need an answer from this socket. ``stop_accepting()`` keeps the
  socket open while any connection is left and closes it right after the
  last one is forgotten: the UDP socket goes last.

The endpoint knows QUIC and the engine's interface, not HTTP semantics or
the lifecycle: the server's per-connection adapter (``lastcall.server.http3``)
is the ``QuicApplication`` that turns engine events into ASGI calls.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Protocol, cast

from aioquic._buffer import Buffer  # aioquic.buffer re-exports it without __all__ (mypy)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_version_negotiation,
    pull_quic_header,
)

from lastcall.engines.http3 import Http3Config, Http3Engine, Phase, Role
from lastcall.engines.http3 import events as ev

from .driver import EngineDriver

__all__ = [
    "MIN_INITIAL_DATAGRAM_SIZE",
    "EndpointConnection",
    "QuicApplication",
    "QuicEndpoint",
    "open_quic_endpoint",
]

logger = logging.getLogger("lastcall.quic")

#: A client's first Initial is padded to at least this many bytes (RFC 9000
#: §14.1), so a shorter datagram cannot open a connection.
MIN_INITIAL_DATAGRAM_SIZE = 1200


class QuicApplication(Protocol):
    """What owns one QUIC connection's HTTP/3 events (the server's adapter)."""

    def quic_events(self, events: list[ev.Event]) -> None:
        """Handle engine events; may call engine actions (they are flushed after).

        Called after every datagram and timer, with an empty list when the
        input caused no event (e.g. only ACKs: send buffers may have drained).
        """

    def quic_closed(self) -> None:
        """The engine reached ``Phase.CLOSED`` (or the endpoint gave up on it):
        no datagram will reach or leave this connection again."""


class EndpointConnection:
    """One QUIC connection on an endpoint: its engine, its ids, its one timer."""

    __slots__ = (
        "application",
        "cids",
        "driver",
        "endpoint",
        "engine",
        "is_forgotten",
        "peer_address",
    )

    def __init__(
        self, endpoint: QuicEndpoint, engine: Http3Engine, peer_address: NetworkAddress
    ) -> None:
        self.endpoint = endpoint
        self.engine = engine
        #: The address of the datagram that opened the connection.
        self.peer_address = peer_address
        self.application: QuicApplication | None = None
        self.cids: set[bytes] = set()
        self.is_forgotten = False
        self.driver = EngineDriver(
            engine,
            transmit=self._transmit,
            handle=self._deliver,
            loop=endpoint.loop,
            is_finished=lambda: engine.phase is Phase.CLOSED,
            on_finished=self.forget,
        )

    def flush(self) -> None:
        """Send what the engine has queued, handle what that caused, re-arm the timer."""
        self.driver.service()

    def schedule_flush(self) -> None:
        """Flush once the current loop turn is over (coalesces many writes)."""
        self.driver.schedule()

    def _transmit(self) -> None:
        send = self.endpoint._send
        for datagram, addr in self.engine.datagrams_to_send(self.endpoint.loop.time()):
            send(datagram, addr)

    def _deliver(self, events: list[ev.Event]) -> None:
        self.endpoint._deliver(self, events)

    def forget(self) -> None:
        """Stop servicing this connection at once (last resort; no goodbye is sent)."""
        self.endpoint._forget(self)


Factory = Callable[[EndpointConnection], QuicApplication]


class QuicEndpoint(asyncio.DatagramProtocol):
    """One UDP socket carrying server-side HTTP/3 connections; see the module docstring."""

    def __init__(
        self,
        quic_configuration: QuicConfiguration,
        config: Http3Config,
        factory: Factory,
        *,
        on_closed: Callable[[QuicEndpoint], None] | None = None,
    ) -> None:
        self.quic_configuration = quic_configuration
        self.config = config
        self._factory = factory
        self._on_closed = on_closed
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.DatagramTransport | None = None
        self._routes: dict[bytes, EndpointConnection] = {}
        self._connections: dict[EndpointConnection, None] = {}
        self.is_accepting = True
        #: Asked before a new connection is made from an Initial; False drops
        #: the Initial (the owner's connection cap: ``max_connections``).
        self.can_admit: Callable[[], bool] | None = None
        #: Connections made over the endpoint's life (for the closing report).
        self.total_accepted = 0
        #: ``"127.0.0.1:4433/udp"`` once bound.
        self.name = ""
        self.address: tuple[str, int] = ("", 0)
        self._closed: asyncio.Future[None] = self.loop.create_future()

    # -- life ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport.
        self.transport = cast(asyncio.DatagramTransport, transport)
        sockname = transport.get_extra_info("sockname")
        self.address = (str(sockname[0]), int(sockname[1]))
        host = sockname[0]
        self.name = f"[{host}]:{sockname[1]}/udp" if ":" in host else f"{host}:{sockname[1]}/udp"

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._closed.done():
            self._closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable after a client went away, ...) say
        # nothing QUIC's own loss detection and idle timeout do not handle.
        logger.debug("UDP error on %s: %s", self.name, exc)

    @property
    def port(self) -> int:
        return self.address[1]

    def __len__(self) -> int:
        """QUIC connections not yet forgotten."""
        return len(self._connections)

    @property
    def connections(self) -> list[EndpointConnection]:
        return list(self._connections)

    @property
    def is_closed(self) -> bool:
        """True once the socket was told to close."""
        return self.transport is None or self.transport.is_closing()

    def stop_accepting(self) -> None:
        """Make no new connection; close the socket once the last one is forgotten."""
        self.is_accepting = False
        if not self._connections:
            self.close()

    def close(self) -> None:
        """Close the UDP socket now (idempotent). Connections still known are
        forgotten first; the server only does this once none is left."""
        self.is_accepting = False
        for conn in list(self._connections):
            self._forget(conn)
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
            if self._on_closed is not None:
                self._on_closed(self)

    async def wait_closed(self) -> None:
        """Wait until the socket is really closed (one loop turn after ``close``)."""
        await asyncio.shield(self._closed)

    # -- datagrams in ----------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        configuration = self.quic_configuration
        try:
            header = pull_quic_header(
                Buffer(data=data), host_cid_length=configuration.connection_id_length
            )
        except ValueError:
            return  # not QUIC, or truncated: drop (RFC 9000 §5.2)
        versions = configuration.supported_versions
        if (
            header.packet_type != QuicPacketType.VERSION_NEGOTIATION
            and header.version is not None
            and header.version not in versions
        ):
            self._send(
                encode_quic_version_negotiation(
                    source_cid=header.destination_cid,
                    destination_cid=header.source_cid,
                    supported_versions=versions,
                ),
                addr,
            )
            return
        conn = self._routes.get(header.destination_cid)
        if conn is None:
            if (
                not self.is_accepting
                or header.packet_type != QuicPacketType.INITIAL
                or len(data) < MIN_INITIAL_DATAGRAM_SIZE
                or (self.can_admit is not None and not self.can_admit())
            ):
                return
            conn = self._accept(header.destination_cid, addr)
            if conn is None:
                return
        conn.driver.service(
            conn.engine.receive_datagram(data, addr, self.loop.time()), is_input=True
        )

    def _accept(self, original_cid: bytes, addr: NetworkAddress) -> EndpointConnection | None:
        engine = Http3Engine(
            Role.SERVER,
            self.config,
            self.quic_configuration,
            original_destination_connection_id=original_cid,
        )
        conn = EndpointConnection(self, engine, addr)
        self._connections[conn] = None
        self.total_accepted += 1
        for cid in (original_cid, engine.host_cid):
            self._route(conn, cid)
        try:
            conn.application = self._factory(conn)
        except Exception:
            logger.exception("cannot set up the QUIC connection from %s", addr)
            self._forget(conn)
            return None
        return conn

    def _route(self, conn: EndpointConnection, cid: bytes) -> None:
        conn.cids.add(cid)
        self._routes[cid] = conn

    # -- servicing one connection (its driver calls these) --------------------------

    def _deliver(self, conn: EndpointConnection, events: list[ev.Event]) -> None:
        for event in events:
            if isinstance(event, ev.ConnectionIdIssued):
                self._route(conn, event.connection_id)
            elif isinstance(event, ev.ConnectionIdRetired):
                conn.cids.discard(event.connection_id)
                if self._routes.get(event.connection_id) is conn:
                    del self._routes[event.connection_id]
        if conn.application is not None:
            conn.application.quic_events(events)

    def _send(self, datagram: bytes, addr: NetworkAddress) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.sendto(datagram, addr)

    def _forget(self, conn: EndpointConnection) -> None:
        """Drop every route and the timer; tell the owner; close the socket if it
        was the last connection of an endpoint that no longer accepts."""
        if conn.is_forgotten:
            return
        conn.is_forgotten = True
        conn.driver.stop()
        for cid in conn.cids:
            if self._routes.get(cid) is conn:
                del self._routes[cid]
        self._connections.pop(conn, None)
        if conn.application is not None:
            conn.application.quic_closed()
        if not self.is_accepting and not self._connections:
            self.close()


async def open_quic_endpoint(
    host: str | None,
    port: int | None,
    quic_configuration: QuicConfiguration,
    config: Http3Config,
    factory: Factory,
    *,
    on_closed: Callable[[QuicEndpoint], None] | None = None,
    sock: socket.socket | None = None,
) -> QuicEndpoint:
    """Bind a UDP socket on ``host:port`` (0: any free port) and serve QUIC on it,
    or serve ``sock``, a UDP socket bound already (inherited from a supervisor).

    ``OSError`` (address in use, ...) propagates to the caller.
    """
    loop = asyncio.get_running_loop()
    if sock is not None:
        _, protocol = await loop.create_datagram_endpoint(
            lambda: QuicEndpoint(quic_configuration, config, factory, on_closed=on_closed),
            sock=sock,
        )
        return protocol
    assert host is not None and port is not None
    _, protocol = await loop.create_datagram_endpoint(
        lambda: QuicEndpoint(quic_configuration, config, factory, on_closed=on_closed),
        local_addr=(host, port),
    )
    return protocol
