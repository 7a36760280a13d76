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
is followed by a flush of ``datagrams_to_send``; actions of requests are
coalesced into one flush per loop iteration. One ``loop.call_at`` timer is
re-armed from ``engine.get_timer()`` after every flush: no sleeps, no polling.

Backpressure: a request body waits while more than ``max(stream_write_high_water,
1 MiB)`` of it is unacknowledged (that measure counts bytes in flight, so it
must cover a bandwidth-delay product). Receive side: aioquic extends QUIC
flow-control windows as it delivers data, not as the application reads it
(docs/http3.md, "Not (yet) done"), so a slow reader buffers in memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress

from lastcall.engines.http3 import ErrorCode, Http3Config, Http3Engine, Phase, Role
from lastcall.engines.http3 import events as h3e
from lastcall.errors import (
    ConnectError,
    ConnectionDraining,
    ConnectionLost,
    ReadTimeout,
    RemoteProtocolError,
    StreamReset,
    UnprocessedRequest,
    WriteTimeout,
)

from .config import ClientConfig, Timeouts
from .conn import ConnectionLimits, ConnectionOwner
from .models import Headers, Request, Response
from .notices import ClosingNotice, ClosingSignal
from .pool import ConnState

#: RFC 9114 §4.2: connection-specific header fields must not appear in HTTP/3.
_CONNECTION_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"}
)

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


class _Stream:
    """Client-side state of one request/response exchange."""

    __slots__ = ("chunks", "ended", "error", "finished", "headers", "id", "status", "waiter")

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.chunks: deque[bytes] = deque()
        self.ended = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        #: The exchange gave its slot back.
        self.finished = False

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if self.error is None and not (self.ended and self.headers is not None):
            self.error = exc
        self.wake()


class Http3Connection(asyncio.DatagramProtocol):
    """An HTTP/3 connection shared by as many requests as the server's MAX_STREAMS allows."""

    is_multiplexed: bool | None = True

    def __init__(
        self,
        origin: tuple[str, str, int],
        owner: ConnectionOwner,
        *,
        connection_id: int,
        limits: ConnectionLimits,
        config: ClientConfig,
        quic_configuration: QuicConfiguration,
        engine_config: Http3Config | None = None,
    ) -> None:
        self.origin = origin
        self.connection_id = connection_id
        self.limits = limits
        self.closing = ClosingSignal()
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self._high_water = max(config.stream_write_high_water, _MIN_HIGH_WATER)
        self._engine = Http3Engine(Role.CLIENT, engine_config, quic_configuration)
        self._transport: asyncio.DatagramTransport | None = None
        self._streams: dict[int, _Stream] = {}
        self._window_waiters: list[_Stream] = []
        self._inflight = 0
        self._unopened = 0
        self._opened = 0
        self._last_free = 0
        self._state = ConnState.READY
        self._handshake: asyncio.Future[None] = self._loop.create_future()
        self._closed = asyncio.Event()
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._abort_exc: BaseException | None = None
        self._served = False
        self._local_drain = False
        #: ``connect`` returned: the pool knows this connection (before, it does not).
        self._established = False
        #: ``engine.connect`` ran; before it, aioquic has no timers to ask about.
        self._engine_started = False

    # -- what the pool reads -------------------------------------------------------------

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def free_slots(self) -> int:
        if self._state is not ConnState.READY:
            return 0
        return max(0, self._engine.available_stream_capacity - self._unopened)

    @property
    def used_slots(self) -> int:
        return self._inflight

    @property
    def idle_since(self) -> float | None:
        return None

    @property
    def has_served(self) -> bool:
        return self._served

    async def wait_ready(self, connect_timeout: float | None) -> None:
        """Ready once ``connect`` returned (the handshake gave us the stream limit)."""
        if self._state is ConnState.CLOSED or not self._handshake.done():
            raise ConnectError("the HTTP/3 connection is not established")

    def reserve(self) -> None:
        self._inflight += 1
        self._unopened += 1

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
        self._engine.connect(peer, loop.time())
        self._engine_started = True
        self._flush()
        await self._handshake
        self._established = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    # -- one exchange -----------------------------------------------------------------------

    async def handle(self, request: Request, timeouts: Timeouts) -> Response:
        """Open a request stream, send the request, await the response head (RFC 9114 §4.1)."""
        self._unopened -= 1
        engine = self._engine
        headers = _request_headers(request)
        has_body = request.has_body
        try:
            stream_id = engine.open_stream(headers, end_stream=not has_body)
        except ConnectionDraining as exc:
            self._release_slot()
            raise UnprocessedRequest(f"connection started draining: {exc}") from exc
        stream = _Stream(stream_id)
        self._streams[stream_id] = stream
        self._served = True
        self._opened += 1
        self._schedule_flush()
        max_requests = self.limits.max_requests
        if max_requests is not None and self._opened >= max_requests:
            self.start_drain("max_requests")
        try:
            if has_body:
                await self._send_body(stream, request, timeouts.write)
            while stream.headers is None:
                if stream.error is not None:
                    raise stream.error
                await self._wait(stream, timeouts.read)
        except BaseException as exc:
            self._finish(stream)
            raise self._translate(exc) from None
        return Response(
            stream.status,
            Headers.from_raw(stream.headers),
            http_version="HTTP/3",
            request=request,
            body=_Http3Body(self, stream, timeouts.read),
            closing=self.closing,
        )

    def _translate(self, exc: BaseException) -> BaseException:
        if self._abort_exc is not None and not isinstance(exc, asyncio.CancelledError):
            return self._abort_exc
        if isinstance(exc, OSError):
            return ConnectionLost(f"connection lost: {exc}")
        return exc

    async def _wait(self, stream: _Stream, read_timeout: float | None) -> None:
        waiter = self._loop.create_future()
        stream.waiter = waiter
        try:
            async with asyncio.timeout(read_timeout):
                await waiter
        except TimeoutError:
            raise ReadTimeout(
                f"no response bytes on stream {stream.id} for {read_timeout} s"
            ) from None
        finally:
            if stream.waiter is waiter:
                stream.waiter = None

    async def _send_body(
        self, stream: _Stream, request: Request, write_timeout: float | None
    ) -> None:
        engine = self._engine
        sid = stream.id
        async for chunk in request.iter_body():
            if stream.error is not None:
                raise stream.error
            if stream.ended or not engine.is_stream_open(sid):
                return  # answered (and told to stop sending, H3_NO_ERROR) before we finished
            engine.send_data(sid, chunk)
            self._schedule_flush()
            while engine.is_stream_open(sid) and engine.outbound_buffered(sid) > self._high_water:
                await self._wait_acked(stream, write_timeout)
        if stream.error is not None:
            raise stream.error
        if engine.is_stream_open(sid) and not stream.ended:
            engine.end_stream(sid)
            self._schedule_flush()

    async def _wait_acked(self, stream: _Stream, write_timeout: float | None) -> None:
        """Wait for the next datagram from the server (ACKs free the body buffer)."""
        if stream.error is not None:
            raise stream.error
        waiter = self._loop.create_future()
        stream.waiter = waiter
        self._window_waiters.append(stream)
        try:
            async with asyncio.timeout(write_timeout):
                await waiter
        except TimeoutError:
            raise WriteTimeout(
                f"the server acknowledged none of the request body for {write_timeout} s"
            ) from None
        finally:
            if stream.waiter is waiter:
                stream.waiter = None
        if stream.error is not None:
            raise stream.error

    async def _receive(self, stream: _Stream, read_timeout: float | None) -> bytes:
        """The next body chunk of ``stream``; b"" at the end."""
        while not stream.chunks:
            if stream.error is not None:
                self._finish(stream)
                raise self._translate(stream.error)
            if stream.ended:
                self._finish(stream)
                return b""
            try:
                await self._wait(stream, read_timeout)
            except BaseException:
                self._finish(stream)
                raise
        return stream.chunks.popleft()

    def _finish(self, stream: _Stream) -> None:
        """The exchange is over: cancel the stream if still open, free the slot."""
        if stream.finished:
            return
        stream.finished = True
        sid = stream.id
        self._streams.pop(sid, None)
        stream.chunks.clear()
        engine = self._engine
        if engine.is_stream_open(sid) and self._state is not ConnState.CLOSED:
            # RFC 9114 §4.1.1: abandoning a response is H3_REQUEST_CANCELLED both ways.
            engine.reset_stream(sid, ErrorCode.H3_REQUEST_CANCELLED)
            self._schedule_flush()
        self._release_slot()
        if self._state is ConnState.DRAINING:
            self._schedule_flush()  # the engine may now report DrainCompleted

    def _release_slot(self) -> None:
        self._inflight -= 1
        owner = self._owner
        owner.exchange_finished()
        if self._state is ConnState.READY:
            owner.connection_changed(self)

    # -- datagrams, timer and the engine's events -------------------------------------------

    def datagram_received(self, data: bytes, addr: NetworkAddress) -> None:
        events = self._engine.receive_datagram(data, addr, self._loop.time())
        if events:
            self._dispatch(events)
        waiting = self._window_waiters
        if waiting:
            self._window_waiters = []
            for stream in waiting:
                stream.wake()
        self._flush()
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

    def _on_timer(self) -> None:
        self._timer = None
        events = self._engine.handle_timer(self._loop.time())
        if events:
            self._dispatch(events)
        self._flush()

    def _dispatch(self, events: list[h3e.Event]) -> None:
        streams = self._streams
        terminated = next((e for e in events if isinstance(e, h3e.ConnectionTerminated)), None)
        for event in events:
            if isinstance(event, h3e.DataReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    if event.data:
                        stream.chunks.append(event.data)
                    if event.end_stream:
                        stream.ended = True
                    stream.wake()
            elif isinstance(event, h3e.ResponseReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    self._on_response(stream, event.headers, event.end_stream)
            elif isinstance(event, h3e.TrailersReceived):
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.ended = True
                    stream.wake()
            elif isinstance(event, h3e.StreamReset):
                self._on_reset(event, terminated)
            elif isinstance(event, h3e.GoAwayReceived):
                self._on_goaway(event)
            elif isinstance(event, h3e.HandshakeCompleted):
                if not self._handshake.done():
                    self._handshake.set_result(None)
            elif isinstance(event, h3e.DrainCompleted):
                self._on_drain_completed()
            elif isinstance(event, h3e.ConnectionTerminated):
                self._on_terminated(event)
            # SettingsReceived, informational responses and connection ids need
            # nothing from us: the engine applies SETTINGS, QUIC routes ids.

    def _on_response(self, stream: _Stream, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        status = 0
        regular = []
        for name, value in headers:
            if name == b":status":
                status = int(value)
            elif name[:1] != b":":
                regular.append((name, value))
        stream.status = status
        stream.headers = regular
        if end:
            stream.ended = True
        stream.wake()

    def _on_reset(
        self, event: h3e.StreamReset, terminated: h3e.ConnectionTerminated | None
    ) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        code = event.error_code
        rejected = event.remote and code == ErrorCode.H3_REQUEST_REJECTED and stream.headers is None
        if terminated is not None and not (
            rejected and terminated.error_code != ErrorCode.H3_REQUEST_REJECTED
        ):
            return  # the connection ended: ``_on_terminated`` says how, for every stream
        if rejected:
            # RFC 9114 §4.1.1: the server did no processing; safe to replay, any method.
            stream.fail(UnprocessedRequest(f"stream {stream.id} rejected (H3_REQUEST_REJECTED)"))
        else:
            who = "the server" if event.remote else "we (peer protocol error)"
            stream.fail(
                StreamReset(
                    f"stream {stream.id} was reset by {who} with error code 0x{code:x}",
                    error_code=code,
                )
            )

    def _on_goaway(self, event: h3e.GoAwayReceived) -> None:
        first_rejected = event.first_rejected_id
        for sid in event.unprocessed_stream_ids:
            stream = self._streams.get(sid)
            if stream is not None:
                stream.fail(
                    UnprocessedRequest(
                        f"stream {sid} is at or above the server's GOAWAY id {first_rejected}"
                    )
                )
        notice = ClosingNotice(
            origin=self.origin,
            http_version="HTTP/3",
            source="remote",
            reason="goaway",
            first_rejected_id=first_rejected,
            connection_id=self.connection_id,
        )
        published = self.closing.offer(notice)
        if published is not None:
            self._owner.publish(published)
        self._enter_draining()

    def _on_drain_completed(self) -> None:
        """Nothing of ours is left. Our drain: close now. The server's: let it close
        (it waits for our ACKs of its last response), bounded."""
        if self._local_drain:
            self._engine.close()
        elif self._close_timer is None:
            self._close_timer = self._loop.call_later(
                SERVER_CLOSE_WAIT_TIMEOUT, self._close_after_wait
            )

    def _close_after_wait(self) -> None:
        self._close_timer = None
        self._engine.close()
        self._flush()

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

    def _enter_draining(self) -> None:
        if self._state is ConnState.READY:
            self._state = ConnState.DRAINING
            if self._established:
                self._owner.connection_changed(self)

    # -- writing ---------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Send what the engine has, handle what that caused, re-arm the one timer."""
        self._flush_scheduled = False
        if not self._engine_started:
            return
        engine = self._engine
        transport = self._transport
        for _ in range(3):  # an event handled here (DrainCompleted) may queue a close
            if transport is not None and not transport.is_closing():
                for data, _addr in engine.datagrams_to_send(self._loop.time()):
                    transport.sendto(data)
            events = engine.pop_events()
            if not events:
                break
            self._dispatch(events)
        if engine.phase is Phase.CLOSED:
            self._close_transport()
            return
        self._arm_timer()

    def _arm_timer(self) -> None:
        when = self._engine.get_timer()
        timer = self._timer
        if timer is not None:
            if when is not None and timer.when() == when:
                return
            timer.cancel()
            self._timer = None
        if when is not None and self._state is not ConnState.CLOSED:
            self._timer = self._loop.call_at(when, self._on_timer)

    # -- drain, abort, close ---------------------------------------------------------------

    def start_drain(self, reason: str) -> None:
        """Our own drain: GOAWAY(0) (RFC 9114 §5.2), finish our requests, then
        CONNECTION_CLOSE(H3_NO_ERROR)."""
        if self._state is not ConnState.READY:
            return
        notice = ClosingNotice(
            origin=self.origin,
            http_version="HTTP/3",
            source="local",
            reason=reason,
            connection_id=self.connection_id,
        )
        if self.closing.set(notice):
            self._owner.publish(notice)
        self._local_drain = True
        self._engine.start_drain(self._loop.time())
        self._enter_draining()
        self._schedule_flush()

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
        self._flush()
        if not self._established:
            # A failed set-up: nothing to finish, no closing period worth waiting for.
            self._close_transport()

    def _arm_close_bound(self) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        self._close_timer = self._loop.call_later(CLOSE_BOUND_TIMEOUT, self._close_transport)

    def _fail_all(self, exc: BaseException) -> None:
        for stream in list(self._streams.values()):
            stream.fail(exc)

    def _close_transport(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()  # connection_lost follows on the next loop iteration
        elif self._state is not ConnState.CLOSED:
            self._mark_closed()

    def _mark_closed(self) -> None:
        self._state = ConnState.CLOSED
        for handle in (self._timer, self._close_timer):
            if handle is not None:
                handle.cancel()
        self._timer = self._close_timer = None
        self._closed.set()
        if self._established:
            self._owner.connection_changed(self)
        waiting = self._window_waiters
        self._window_waiters = []
        for stream in waiting:
            stream.wake()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def __repr__(self) -> str:
        return (
            f"<Http3Connection #{self.connection_id} {self._state.value} "
            f"streams={self._inflight} phase={self._engine.phase.value}>"
        )


def _request_headers(request: Request) -> list[tuple[bytes, bytes]]:
    """The request's header section: pseudo-headers first (RFC 9114 §4.3.1), no
    connection-specific fields (§4.2), ``te`` only as "trailers"."""
    url = request.url
    headers = [
        (b":method", request.method.encode("ascii")),
        (b":scheme", b"https"),
        (b":authority", url.authority),
        (b":path", url.target),
    ]
    for name, value in request.headers.raw:
        if name in _CONNECTION_HEADERS:
            if name == b"host":
                headers[2] = (b":authority", value)
            continue
        if name == b"te" and value.lower() != b"trailers":
            continue
        headers.append((name, value))
    content = request.content
    if content and request.stream is None:
        headers.append((b"content-length", str(len(content)).encode()))
    return headers


class _Http3Body:
    """A response body on an HTTP/3 request stream."""

    __slots__ = ("_conn", "_stream", "_timeout")

    def __init__(self, conn: Http3Connection, stream: _Stream, timeout: float | None) -> None:
        self._conn = conn
        self._stream = stream
        self._timeout = timeout

    async def receive(self) -> bytes:
        stream = self._stream
        if stream.finished and not stream.chunks:
            return b""
        return await self._conn._receive(stream, self._timeout)

    async def aclose(self) -> None:
        self._conn._finish(self._stream)
