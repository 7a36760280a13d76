"""One HTTP/2 client connection on lastcall's own engine (RFC 9113).

Why our engine and not python-hyper ``h2``: h2 moves the whole connection to
CLOSED when a GOAWAY arrives (h2 issue 1181), so the responses a server
promised to finish (streams at or below the GOAWAY's last id) are lost; that is
httpx's failure against nginx (httpcore issue 46). Here GOAWAY is a phase:

* the connection leaves the pool at once (``state`` becomes DRAINING);
* streams at or below the last id run to completion, in both directions;
* streams above it (``GoAwayReceived.unprocessed_stream_ids``) and streams
  reset with REFUSED_STREAM fail with ``UnprocessedRequest``, which the client
  replays on another connection (RFC 9113 §6.8, §8.7), POST included;
* every response on the connection sees the notice (``response.closing``).

I/O shape: one reader task per connection feeds the engine and dispatches its
events to per-stream state; writes are coalesced (one ``write`` per loop
iteration however many streams queued frames), which is what keeps 50
concurrent streams cheap. Backpressure: a request body waits while the engine
holds more than ``stream_write_high_water`` bytes of it for want of window
(and while the socket buffer is full); a response body's window is given back
only as the application reads it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from lastcall.engines.http2 import ErrorCode, Http2Config, Http2Engine, Phase, Role, SettingCode
from lastcall.engines.http2 import events as h2e
from lastcall.errors import (
    ConnectError,
    ConnectionDraining,
    ConnectionLost,
    ConnectTimeout,
    LocalProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    StreamReset,
    UnprocessedRequest,
    WriteTimeout,
)

from .config import ClientConfig, Timeouts
from .conn import ConnectionLimits, ConnectionOwner
from .models import Headers, Request, Response
from .net import READ_CHUNK_SIZE
from .notices import ClosingNotice, ClosingSignal
from .pool import ConnState

#: RFC 9113 §8.2.2: connection-specific header fields must not appear in HTTP/2.
_CONNECTION_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"}
)

#: Until the server's SETTINGS say otherwise, RFC 9113 §6.5.2 sets no stream limit;
#: we wait for the server's first SETTINGS before using the connection anyway.
_UNLIMITED = 2**31 - 1

#: Bytes waiting in the socket's write buffer before a request body sender waits
#: for it to drain: 256 KiB.
_SOCKET_HIGH_WATER = 262_144


class _Stream:
    """Client-side state of one request/response exchange."""

    __slots__ = (
        "chunks",
        "ended",
        "error",
        "finished",
        "headers",
        "id",
        "status",
        "waiter",
    )

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.chunks: deque[tuple[bytes, int]] = deque()
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


class Http2Connection:
    """An HTTP/2 connection shared by up to the server's MAX_CONCURRENT_STREAMS requests."""

    is_multiplexed: bool | None = True

    def __init__(
        self,
        origin: tuple[str, str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        owner: ConnectionOwner,
        *,
        connection_id: int,
        limits: ConnectionLimits,
        config: ClientConfig,
        engine_config: Http2Config | None = None,
    ) -> None:
        self.origin = origin
        self.connection_id = connection_id
        self.limits = limits
        self.closing = ClosingSignal()
        self._scheme = origin[0].encode()
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._owner = owner
        self._loop = loop = asyncio.get_running_loop()
        self._high_water = config.stream_write_high_water
        self._engine = engine = Http2Engine(Role.CLIENT, engine_config)
        self._streams: dict[int, _Stream] = {}
        self._window_waiters: list[_Stream] = []
        self._inflight = 0
        self._opened = 0
        self._limit = _UNLIMITED
        self._state = ConnState.READY
        self._ready = asyncio.Event()
        self._closed = asyncio.Event()
        self._flush_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._abort_exc: BaseException | None = None
        self._served = False
        engine.initiate()
        self._flush()
        self._reader_task = loop.create_task(self._read_loop())

    # -- what the pool reads -------------------------------------------------------------

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def free_slots(self) -> int:
        if self._state is not ConnState.READY:
            return 0
        return max(0, min(self._limit - self._inflight, self._engine.available_stream_capacity))

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
        """Wait for the server's first SETTINGS (its stream limit), within the connect timeout."""
        if not self._ready.is_set():
            try:
                async with asyncio.timeout(connect_timeout):
                    await self._ready.wait()
            except TimeoutError:
                raise ConnectTimeout(
                    f"no HTTP/2 SETTINGS from the server within {connect_timeout} s"
                ) from None
        if self._state is ConnState.CLOSED:
            raise ConnectError("the server closed the HTTP/2 connection during set-up")

    def reserve(self) -> None:
        self._inflight += 1

    # -- one exchange -----------------------------------------------------------------------

    async def handle(self, request: Request, timeouts: Timeouts) -> Response:
        """Open a stream, send the request (body with backpressure), await the response head."""
        engine = self._engine
        url = request.url
        headers = [
            (b":method", request.method.encode("ascii")),
            (b":scheme", self._scheme),
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
        has_body = request.has_body
        try:
            stream_id = engine.open_stream(headers, end_stream=not has_body)
        except ConnectionDraining as exc:
            self._release_slot()
            raise UnprocessedRequest(f"connection started draining: {exc}") from exc
        except LocalProtocolError as exc:
            self._release_slot()
            raise UnprocessedRequest(f"no stream available on this connection: {exc}") from exc
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
        response_headers = Headers.from_raw(stream.headers)
        return Response(
            stream.status,
            response_headers,
            http_version="HTTP/2",
            request=request,
            body=_Http2Body(self, stream, timeouts.read),
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
        high = self._high_water
        async for chunk in request.iter_body():
            if stream.error is not None:
                raise stream.error
            if stream.ended or not engine.is_stream_open(sid):
                return  # the server answered (and maybe reset NO_ERROR) before reading it all
            engine.send_data(sid, chunk)
            self._schedule_flush()
            while engine.outbound_buffered(sid) > high:
                await self._wait_window(stream, write_timeout)
            if self._transport.get_write_buffer_size() > _SOCKET_HIGH_WATER:
                self._flush()
                try:
                    async with asyncio.timeout(write_timeout):
                        await self._writer.drain()
                except TimeoutError:
                    raise WriteTimeout(
                        f"socket took no request bytes for {write_timeout} s"
                    ) from None
        if stream.error is not None:
            raise stream.error
        if engine.is_stream_open(sid) and not stream.ended:
            engine.end_stream(sid)
            self._schedule_flush()

    async def _wait_window(self, stream: _Stream, write_timeout: float | None) -> None:
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
                f"the server's flow-control window stayed closed for {write_timeout} s"
            ) from None
        finally:
            if stream.waiter is waiter:
                stream.waiter = None
        if stream.error is not None:
            raise stream.error

    async def _receive(self, stream: _Stream, read_timeout: float | None) -> bytes:
        """The next body chunk of ``stream``; b"" at the end; window given back as read."""
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
        data, flow = stream.chunks.popleft()
        if flow:
            self._engine.acknowledge_received_data(stream.id, flow)
            self._schedule_flush()
        if not data:
            return await self._receive(stream, read_timeout)
        return data

    def _finish(self, stream: _Stream) -> None:
        """The exchange is over: reset the stream if still open, return window, free the slot."""
        if stream.finished:
            return
        stream.finished = True
        engine = self._engine
        sid = stream.id
        self._streams.pop(sid, None)
        if engine.is_stream_open(sid) and self._state is not ConnState.CLOSED:
            engine.reset_stream(sid, ErrorCode.CANCEL)
        unread = sum(flow for _, flow in stream.chunks)
        stream.chunks.clear()
        if unread:
            engine.acknowledge_received_data(sid, unread)
        self._schedule_flush()
        self._release_slot()

    def _release_slot(self) -> None:
        self._inflight -= 1
        owner = self._owner
        owner.exchange_finished()
        if self._state is ConnState.READY:
            owner.connection_changed(self)

    # -- the reader and the engine's events ------------------------------------------------------

    async def _read_loop(self) -> None:
        reader = self._reader
        engine = self._engine
        loop = self._loop
        error: BaseException | None = None
        try:
            while self._state is not ConnState.CLOSED:
                data = await reader.read(READ_CHUNK_SIZE)
                if not data:
                    break
                events = engine.receive_data(data, loop.time())
                if events:
                    self._dispatch(events)
                self._flush()
        except OSError as exc:
            error = exc
        finally:
            self._transport_lost(error)

    def _dispatch(self, events: list[h2e.Event]) -> None:
        streams = self._streams
        for event in events:
            kind = type(event)
            if kind is h2e.DataReceived:
                assert isinstance(event, h2e.DataReceived)
                stream = streams.get(event.stream_id)
                if stream is None:
                    if event.flow_controlled_length:
                        self._engine.acknowledge_received_data(
                            event.stream_id, event.flow_controlled_length
                        )
                    continue
                stream.chunks.append((event.data, event.flow_controlled_length))
                if event.end_stream:
                    stream.ended = True
                stream.wake()
            elif kind is h2e.ResponseReceived:
                assert isinstance(event, h2e.ResponseReceived)
                stream = streams.get(event.stream_id)
                if stream is not None:
                    self._on_response(stream, event.headers, event.end_stream)
            elif kind is h2e.TrailersReceived:
                assert isinstance(event, h2e.TrailersReceived)
                stream = streams.get(event.stream_id)
                if stream is not None:
                    stream.ended = True
                    stream.wake()
            elif kind is h2e.WindowUpdated:
                waiting = self._window_waiters
                if waiting:
                    self._window_waiters = []
                    for stream in waiting:
                        stream.wake()
            elif kind is h2e.StreamReset:
                assert isinstance(event, h2e.StreamReset)
                self._on_reset(event)
            elif kind is h2e.GoAwayReceived:
                assert isinstance(event, h2e.GoAwayReceived)
                self._on_goaway(event)
            elif kind is h2e.SettingsReceived:
                self._limit = self._engine.remote_settings.get(
                    SettingCode.MAX_CONCURRENT_STREAMS, _UNLIMITED
                )
                self._ready.set()
                if self._state is ConnState.READY:
                    self._owner.connection_changed(self)
            elif kind is h2e.DrainCompleted:
                self._close_transport()
            elif kind is h2e.ConnectionTerminated:
                assert isinstance(event, h2e.ConnectionTerminated)
                reason = event.debug_data.decode("utf-8", "replace")
                side = "the server" if event.remote else "we"
                exc = RemoteProtocolError(
                    f"HTTP/2 connection ended with error {event.error_code} by {side}: {reason}",
                    error_code=event.error_code,
                )
                self._fail_all(exc)
                self._close_transport()
            # Pings are answered by the engine; informational responses and
            # SETTINGS ACKs need nothing from us.

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

    def _on_reset(self, event: h2e.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        code = event.error_code
        if code == ErrorCode.REFUSED_STREAM and stream.headers is None:
            # RFC 9113 §8.7: the server did no processing; safe to replay.
            stream.fail(UnprocessedRequest(f"stream {stream.id} refused (REFUSED_STREAM)"))
        elif code == ErrorCode.NO_ERROR and stream.ended:
            stream.wake()  # §8.1: the response was complete; the server just stopped our body
        else:
            who = "the server" if event.remote else "we (peer protocol error)"
            stream.fail(
                StreamReset(
                    f"stream {stream.id} was reset by {who} with error code {code}",
                    error_code=code,
                )
            )

    def _on_goaway(self, event: h2e.GoAwayReceived) -> None:
        last = event.last_processed_id
        for sid in event.unprocessed_stream_ids:
            stream = self._streams.get(sid)
            if stream is not None:
                stream.fail(
                    UnprocessedRequest(f"stream {sid} is above the server's GOAWAY last id {last}")
                )
        notice = ClosingNotice(
            origin=self.origin,
            http_version="HTTP/2",
            source="remote",
            reason="goaway",
            last_processed_id=last,
            error_code=event.error_code,
            debug_data=event.debug_data,
            connection_id=self.connection_id,
        )
        published = self.closing.offer(notice)
        if published is not None:
            self._owner.publish(published)
        self._enter_draining()

    def _enter_draining(self) -> None:
        if self._state is ConnState.READY:
            self._state = ConnState.DRAINING
            self._owner.connection_changed(self)
        if self._engine.is_drained:
            self._close_transport()

    # -- writing -------------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        """Write what the engine has; take the events our own actions caused
        (a reset after our GOAWAY completes the drain: ``DrainCompleted``) now,
        not at the next read; re-arm the timer."""
        self._flush_scheduled = False
        engine = self._engine
        events = engine.pop_events()
        if events:
            self._dispatch(events)
            if self._state is ConnState.CLOSED:
                return
        data = engine.data_to_send()
        if data and not self._transport.is_closing():
            self._transport.write(data)
        timer_at = engine.get_timer()
        if timer_at is not None and self._timer is None:
            self._timer = self._loop.call_at(timer_at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        events = self._engine.handle_timer(self._loop.time())
        if events:
            self._dispatch(events)
        self._flush()

    # -- drain, abort, close ---------------------------------------------------------------------

    def start_drain(self, reason: str) -> None:
        """Our own drain: GOAWAY (RFC 9113 §6.8), finish the streams in flight, then close."""
        if self._state is not ConnState.READY:
            return
        notice = ClosingNotice(
            origin=self.origin,
            http_version="HTTP/2",
            source="local",
            reason=reason,
            connection_id=self.connection_id,
        )
        if self.closing.set(notice):
            self._owner.publish(notice)
        self._engine.start_drain(self._loop.time(), reason.encode())
        self._enter_draining()
        self._schedule_flush()

    def abort(self, exc: BaseException) -> None:
        """Cancel every stream (RST_STREAM(CANCEL), then GOAWAY), fail them with ``exc``, close."""
        if self._state is ConnState.CLOSED:
            return
        self._abort_exc = exc
        self._engine.cancel_remaining(b"client_close")
        self._engine.pop_events()
        self._fail_all(exc)
        self._close_transport()

    def _fail_all(self, exc: BaseException) -> None:
        for stream in list(self._streams.values()):
            stream.fail(exc)

    def _close_transport(self) -> None:
        """Flush what the engine queued (the last GOAWAY, resets) and close the socket."""
        if self._state is ConnState.CLOSED:
            return
        data = self._engine.data_to_send()
        transport = self._transport
        if data and not transport.is_closing():
            transport.write(data)
        transport.close()
        self._mark_closed()

    def _transport_lost(self, error: BaseException | None) -> None:
        if self._state is not ConnState.CLOSED:
            if not self._transport.is_closing():
                self._transport.close()
            self._mark_closed()
        lost = ConnectionLost(
            f"the HTTP/2 connection closed mid-request{': ' + str(error) if error else ''}"
        )
        self._fail_all(self._abort_exc or lost)

    def _mark_closed(self) -> None:
        self._state = ConnState.CLOSED
        if self._engine.phase is not Phase.CLOSED:
            self._engine.transport_closed()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ready.set()
        self._closed.set()
        self._owner.connection_changed(self)
        waiting = self._window_waiters
        self._window_waiters = []
        for stream in waiting:
            stream.wake()

    async def wait_closed(self) -> None:
        await self._closed.wait()
        if not self._reader_task.done():
            await asyncio.wait({self._reader_task})

    def __repr__(self) -> str:
        return (
            f"<Http2Connection #{self.connection_id} {self._state.value} "
            f"streams={self._inflight}/{self._limit}>"
        )


class _Http2Body:
    """A response body on an HTTP/2 stream."""

    __slots__ = ("_conn", "_stream", "_timeout")

    def __init__(self, conn: Http2Connection, stream: _Stream, timeout: float | None) -> None:
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
