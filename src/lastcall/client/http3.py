"""One HTTP/3 client connection over QUIC, on lastcall's own engine (RFC 9114).

Why our engine and not aioquic's ``H3Connection``: aioquic parses a server's
GOAWAY and throws it away, so a client on it cannot tell which requests the
server promised to finish and which it never processed. Here GOAWAY is a
phase, exactly as in ``http2.py``:

* the connection leaves the pool at once (``state`` becomes DRAINING) on the
  first GOAWAY, whatever its id (RFC 9114 §5.2: "the client ... MUST NOT
  initiate new requests on the connection");
* requests on streams below the GOAWAY id run to completion;
* requests at or above it (``GoAwayReceived.unprocessed_stream_ids``), and
  streams the server reset with H3_REQUEST_REJECTED (RFC 9114 §4.1.1, §8.1:
  "the request was not processed"), fail with ``UnprocessedRequest``, which
  the client replays on a new connection, POST included;
* every response on the connection sees the notice (``response.closing``),
  the same ``ClosingNotice`` as HTTP/2 with ``first_rejected_id`` set.

When the last accepted response is over, the server closes the connection
with CONNECTION_CLOSE(H3_NO_ERROR); we wait for that (at most
``SERVER_CLOSE_WAIT_TIMEOUT``) rather than close first, so the server sees
the ACKs of its last response before the connection ends. Our own drain
(``aclose``, ``max_requests``, ``max_age``) sends GOAWAY(0) and closes with
H3_NO_ERROR once our requests are done (RFC 9114 §5.2, §5.3).

I/O shape: the connection is an ``asyncio.DatagramProtocol`` on a connected
UDP socket (so an ICMP "port unreachable" surfaces as ``error_received``: a
server that is not there fails the connect at once instead of after the
connect timeout). Every input (a datagram, the timer, an action of a request)
is followed by a service of ``lastcall.io.driver.EngineDriver`` (send the
datagrams, take the events that caused, re-arm the one timer); actions of
requests are coalesced into one service per loop iteration: no sleeps, no polling.

Backpressure: a request body waits while more than ``max(stream_write_high_water,
1 MiB)`` of it is unacknowledged (that measure counts bytes in flight, so it
must cover a bandwidth-delay product). Receive side: aioquic extends QUIC
flow-control windows as it delivers data, not as the application reads it
(docs/http3.md, "Not (yet) done"), so a slow reader buffers in memory.
"""

from __future__ import annotations

import asyncio
from typing import cast

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress

from lastcall.engines.http3 import DrainInitiator, ErrorCode, Http3Config, Http3Engine, Phase, Role
from lastcall.engines.http3 import events as h3e
from lastcall.errors import ConnectError, ConnectionLost, RemoteProtocolError
from lastcall.io.driver import EngineDriver

from .config import ClientConfig
from .conn import ConnectionLimits, ConnectionOwner
from .multiplexed import MultiplexedConnection
from .pool import ConnState

#: After a server's GOAWAY, once our last request on the connection is over,
#: how long we wait for the server's CONNECTION_CLOSE before closing
#: ourselves (with H3_NO_ERROR). A draining server closes once it has our ACKs
#: of its last response, about one round trip; a server that never closes
#: (aioquic's) costs this much. 1 s like Go's ``goAwayTimeout`` and our
#: lingering close.
SERVER_CLOSE_WAIT_TIMEOUT = 1.0

#: Longest a closing connection keeps its UDP socket: the CONNECTION_CLOSE is
#: held back up to ``Http3Config.close_flush_timeout`` (1 s) and QUIC's
#: closing period is three PTOs (RFC 9000 §10.2); on a path that lost every
#: packet the PTO can grow, so the socket is closed after this in any case.
CLOSE_BOUND_TIMEOUT = 5.0

#: Request-body bytes not yet acknowledged by the server before the sender
#: waits, at least (see the module docstring): the default QUIC stream window.
_MIN_HIGH_WATER = 1_048_576


class Http3Connection(MultiplexedConnection, asyncio.DatagramProtocol):
    """An HTTP/3 connection shared by as many requests as the server's MAX_STREAMS allows."""

    _engine: Http3Engine
    http_version = "HTTP/3"
    window_wait = "the server acknowledged none of the request body"
    cancel_code = ErrorCode.H3_REQUEST_CANCELLED
    min_high_water = _MIN_HIGH_WATER

    def __init__(
        self,
        origin: tuple[str, str, int],
        owner: ConnectionOwner,
        *,
        quic_configuration: QuicConfiguration,
        engine_config: Http3Config | None = None,
        connection_id: int,
        limits: ConnectionLimits,
        config: ClientConfig,
    ) -> None:
        super().__init__(origin, owner, connection_id=connection_id, limits=limits, config=config)
        self._scheme = b"https"  # QUIC is always TLS (RFC 9001)
        self._engine = engine = Http3Engine(Role.CLIENT, engine_config, quic_configuration)
        self._driver = EngineDriver(
            engine,
            transmit=self._transmit,
            handle=self._dispatch,
            loop=self._loop,
            is_finished=lambda: engine.phase is Phase.CLOSED,
            on_finished=self._close_transport,
        )
        self._transport: asyncio.DatagramTransport | None = None
        self._last_free = 0
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._close_timer: asyncio.TimerHandle | None = None
        self._established = False
        #: ``engine.connect`` ran; before it, aioquic has no timers to ask about.
        self._engine_started = False

    @property
    def free_slots(self) -> int:
        if self._state is not ConnState.READY:
            return 0
        return max(0, self._engine.available_stream_capacity - self._unopened)

    async def wait_ready(self, connect_timeout: float | None) -> None:
        """Ready once ``connect`` returned (the handshake gave us the stream limit)."""
        if self._state is ConnState.CLOSED or not self._handshake.done():
            raise ConnectError("the HTTP/3 connection is not established")

    # -- set-up ---------------------------------------------------------------------------

    async def connect(self, family: int, addr: tuple[str, int]) -> None:
        """Open a connected UDP socket to ``addr`` and run the QUIC handshake
        (RFC 9001 §4.1); return once it completed."""
        loop = self._loop
        try:
            await loop.create_datagram_endpoint(lambda: self, remote_addr=addr, family=family)
        except OSError as exc:
            raise ConnectError(f"cannot open a UDP socket to {addr[0]}:{addr[1]}: {exc}") from exc
        assert self._transport is not None
        peer: NetworkAddress = self._transport.get_extra_info("peername")
        self._engine.connect(peer, self._driver.now())
        self._engine_started = True
        self._driver.service()
        await self._handshake
        self._established = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    # -- datagrams and the engine's events ------------------------------------------------

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        driver = self._driver
        driver.service(self._engine.receive_datagram(data, addr, driver.now()), is_input=True)
        if self._state is ConnState.READY:
            free = self.free_slots
            if free > self._last_free:  # the server's MAX_STREAMS raised our limit
                self._owner.connection_changed(self)
            self._last_free = free

    def error_received(self, exc: Exception) -> None:
        """ICMP "port unreachable" on our connected socket: nobody listens there."""
        if not isinstance(exc, ConnectionRefusedError) or self._engine.is_drained:
            return  # other errors (ENOBUFS...) are transient: QUIC retransmits
        if not self._handshake.done():
            self._handshake.set_exception(ConnectError(f"QUIC connect refused: {exc}"))
            return
        self._fail_all(ConnectionLost(f"the server's UDP port stopped answering: {exc}"))
        self._close_transport()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state is not ConnState.CLOSED:
            self._fail_all(self._abort_exc or ConnectionLost("the UDP socket closed mid-request"))
            self._mark_closed()

    def _transmit(self) -> None:
        transport = self._transport
        if self._engine_started and transport is not None and not transport.is_closing():
            for data, _addr in self._engine.datagrams_to_send(self._driver.now()):
                transport.sendto(data)

    def _dispatch(self, events: list[h3e.Event]) -> None:
        """Every input lands here, with or without events: a datagram of ACKs
        alone frees request-body buffers, so body senders are woken each time."""
        terminated = next((e for e in events if isinstance(e, h3e.ConnectionTerminated)), None)
        for event in events:
            if isinstance(event, h3e.DataReceived):
                self._on_data(event.stream_id, event.data, 0, event.end_stream)
            elif isinstance(event, h3e.ResponseReceived):
                self._on_response(event.stream_id, event.headers, event.end_stream)
            elif isinstance(event, h3e.TrailersReceived):
                self._on_trailers(event.stream_id, event.headers)
            elif isinstance(event, h3e.StreamReset):
                self._on_stream_reset(event, terminated)
            elif isinstance(event, h3e.GoAwayReceived):
                first_rejected = event.first_rejected_id
                notice = self._notice("remote", "goaway", first_rejected_id=first_rejected)
                why = f"is at or above the server's GOAWAY id {first_rejected}"
                self._on_goaway(event.unprocessed_stream_ids, notice, why)
            elif isinstance(event, h3e.HandshakeCompleted):
                if not self._handshake.done():
                    self._handshake.set_result(None)
            elif isinstance(event, h3e.DrainCompleted):
                self._on_drain_completed()
            elif isinstance(event, h3e.ConnectionTerminated):
                self._on_terminated(event)
            # SettingsReceived, informational responses and connection ids need
            # nothing from us: the engine applies SETTINGS, QUIC routes ids.
        self._wake_window_waiters()

    def _on_stream_reset(
        self, event: h3e.StreamReset, terminated: h3e.ConnectionTerminated | None
    ) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        # RFC 9114 §4.1.1: H3_REQUEST_REJECTED means the server did no processing.
        rejected = event.remote and event.error_code == ErrorCode.H3_REQUEST_REJECTED
        if terminated is not None and not (
            rejected
            and stream.headers is None
            and terminated.error_code != ErrorCode.H3_REQUEST_REJECTED
        ):
            return  # the connection ended: ``_on_terminated`` says how, for every stream
        self._on_reset(event.stream_id, event.error_code, event.remote, unprocessed=rejected)

    def _on_drain_completed(self) -> None:
        """Nothing of ours is left. Our drain: close now. The server's: let it close
        (it waits for our ACKs of its last response), bounded. Both end in the
        same drain phase; the engine records whose GOAWAY came first."""
        if self._engine.drain_initiator is DrainInitiator.LOCAL:
            self._engine.close()
        elif self._close_timer is None:
            self._close_timer = self._loop.call_later(
                SERVER_CLOSE_WAIT_TIMEOUT, self._close_after_wait
            )

    def _close_after_wait(self) -> None:
        self._close_timer = None
        self._engine.close()
        self._driver.service()

    def _on_terminated(self, event: h3e.ConnectionTerminated) -> None:
        if not self._handshake.done():
            self._handshake.set_exception(
                ConnectError(
                    f"QUIC handshake failed (code 0x{event.error_code:x}): {event.reason_phrase}"
                )
            )
        clean = event.error_code == ErrorCode.H3_NO_ERROR and not event.transport_error
        side = "the server" if event.remote else "we"
        if clean or event.transport_error:
            exc: BaseException = ConnectionLost(
                f"HTTP/3 connection closed by {side} mid-request "
                f"(code 0x{event.error_code:x}): {event.reason_phrase}"
            )
        else:
            exc = RemoteProtocolError(
                f"HTTP/3 connection ended with error 0x{event.error_code:x} by {side}: "
                f"{event.reason_phrase}",
                error_code=event.error_code,
            )
        self._fail_all(self._abort_exc or exc)
        self._enter_draining()
        self._arm_close_bound()

    # -- drain, abort, close ---------------------------------------------------------------

    def _engine_drain(self, reason: str) -> None:
        """GOAWAY(0) (RFC 9114 §5.2): we allow no pushes; CONNECTION_CLOSE(H3_NO_ERROR)
        follows once our requests are done."""
        self._engine.start_drain(self._driver.now())

    def abort(self, exc: BaseException) -> None:
        """Cancel every stream (H3_REQUEST_CANCELLED), fail them with ``exc``,
        close the connection (its socket closes after QUIC's closing period)."""
        if self._state is ConnState.CLOSED:
            return
        if self._abort_exc is None:
            self._abort_exc = exc
        if not self._handshake.done():
            self._handshake.set_exception(ConnectError("connection set-up aborted"))
            self._handshake.exception()  # retrieved: nobody may be awaiting it
        engine = self._engine
        engine.cancel_remaining(ErrorCode.H3_REQUEST_CANCELLED, "client_close")
        self._fail_all(exc)
        self._enter_draining()
        self._arm_close_bound()
        if self._engine_started:
            self._driver.service()
        if not self._established:
            # A failed set-up: nothing to finish, no closing period worth waiting for.
            self._close_transport()

    def _arm_close_bound(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_timer = self._loop.call_later(CLOSE_BOUND_TIMEOUT, self._close_transport)

    def _close_transport(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()  # connection_lost follows on the next loop iteration
        elif self._state is not ConnState.CLOSED:
            self._mark_closed()

    def _mark_closed(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        super()._mark_closed()

    def __repr__(self) -> str:
        return (
            f"<Http3Connection #{self.connection_id} {self._state.value} "
            f"streams={self._inflight} phase={self._engine.phase.value}>"
        )
