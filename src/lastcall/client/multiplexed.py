"""What the client's HTTP/2 and HTTP/3 connections share (RFC 9113, RFC 9114).

Both protocols carry many exchanges on one connection and end it with a
GOAWAY that is a phase, not an accident. Everything above the transport is the
same for both, so it is written once here:

* the stream table and the per-exchange state (``ClientStream``);
* one exchange: open the stream, send the body with backpressure, wait for the
  response head, hand the body to the application (``handle``, ``_receive``,
  ``_finish``), and give the slot back to the pool;
* the engine's events, translated once: a response head, body chunks, the end,
  resets (REFUSED_STREAM / H3_REQUEST_REJECTED: not processed, safe to replay),
  and GOAWAY: fail what the server did not process (``UnprocessedRequest``),
  publish the notice (a later GOAWAY that lowers the id updates it), leave the
  pool (DRAINING);
* our own drain (``start_drain``: ``max_requests``, ``max_age``, ``aclose``) and
  ``abort``.

A subclass keeps only its transport: how bytes or datagrams reach the socket,
how the connection is set up, what its engine's drain and close look like, and
which of its engine's event classes mean what (``_dispatch``). The one loop
"write, take events, handle them, re-arm the timer" is ``lastcall.io.driver``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from typing import Any, ClassVar, Protocol

from lastcall.errors import (
    ConnectionDraining,
    ConnectionLost,
    LocalProtocolError,
    ReadTimeout,
    StreamReset,
    UnprocessedRequest,
    WriteTimeout,
)
from lastcall.io.driver import DrivenEngine, EngineDriver

from .config import ClientConfig, Timeouts
from .conn import ConnectionLimits, ConnectionOwner
from .models import Headers, Request, Response
from .notices import ClosingNotice, ClosingSignal
from .pool import ConnState

#: RFC 9113 §8.2.2, RFC 9114 §4.2: connection-specific header fields must not appear.
_CONNECTION_HEADERS = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"host"}
)


def request_headers(request: Request, scheme: bytes) -> list[tuple[bytes, bytes]]:
    """The request's header section: pseudo-header fields first (RFC 9113 §8.3.1,
    RFC 9114 §4.3.1), no connection-specific fields, ``te`` only as "trailers"."""
    url = request.url
    headers = [
        (b":method", request.method.encode("ascii")),
        (b":scheme", scheme),
        (b":authority", url.authority),
        (b":path", url.target),
    ]
    authority = 2
    if request.protocol is not None:
        # RFC 8441 §4: an extended CONNECT carries :protocol, :scheme and :path.
        headers.insert(1, (b":protocol", request.protocol.encode("ascii")))
        authority = 3
    for name, value in request.headers.raw:
        if name in _CONNECTION_HEADERS:
            if name == b"host":
                headers[authority] = (b":authority", value)
            continue
        if name == b"te" and value.lower() != b"trailers":
            continue
        headers.append((name, value))
    content = request.content
    if content and request.stream is None:
        headers.append((b"content-length", str(len(content)).encode()))
    return headers


class ClientEngine(DrivenEngine, Protocol):
    """What the shared part uses of an engine in the client role (both engines offer it)."""

    @property
    def available_stream_capacity(self) -> int: ...

    def open_stream(self, headers: list[tuple[bytes, bytes]], end_stream: bool = False) -> int: ...

    def is_stream_open(self, stream_id: int) -> bool: ...

    def outbound_buffered(self, stream_id: int) -> int: ...

    def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None: ...

    def end_stream(self, stream_id: int) -> None: ...

    def send_trailers(self, stream_id: int, headers: list[tuple[bytes, bytes]]) -> None: ...

    def reset_stream(self, stream_id: int, error_code: int) -> None: ...

    def acknowledge_received_data(self, stream_id: int, n: int) -> None: ...


class ClientStream:
    """Client-side state of one request/response exchange."""

    __slots__ = (
        "chunks",
        "ended",
        "error",
        "finished",
        "headers",
        "id",
        "sender",
        "status",
        "trailers",
        "waiter",
    )

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] | None = None
        self.trailers: list[tuple[bytes, bytes]] = []
        #: Body chunks not read yet, each with the flow-control credit to give
        #: back once the application took it (HTTP/2; always 0 over HTTP/3).
        self.chunks: deque[tuple[bytes, int]] = deque()
        self.ended = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        #: The exchange gave its slot back.
        self.finished = False
        #: An extended CONNECT's body, sent while the response is read.
        self.sender: asyncio.Task[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def fail(self, exc: BaseException) -> None:
        """The exchange failed, unless its whole response already arrived."""
        if self.error is None and not (self.ended and self.headers is not None):
            self.error = exc
        self.wake()


class MultiplexedConnection(ABC):
    """The protocol-independent part of a client HTTP/2 or HTTP/3 connection."""

    is_multiplexed: bool | None = True
    #: ``Response.http_version`` and the notices' ``http_version``.
    http_version: ClassVar[str]
    #: The reset code for an exchange the application abandoned (HTTP/2
    #: CANCEL, RFC 9113 §8.7; HTTP/3 H3_REQUEST_CANCELLED, RFC 9114 §4.1.1).
    cancel_code: ClassVar[int]
    #: What a request body waits for when the engine holds too much of it.
    window_wait: ClassVar[str]
    #: Request-body bytes the engine may hold before the sender waits, at least
    #: (whatever ``ClientConfig.stream_write_high_water`` says).
    min_high_water: ClassVar[int] = 0

    _driver: EngineDriver
    _engine: ClientEngine

    def __init__(
        self,
        origin: tuple[str, str, int],
        owner: ConnectionOwner,
        *,
        connection_id: int,
        limits: ConnectionLimits,
        config: ClientConfig,
    ) -> None:
        self.origin = origin
        self.connection_id = connection_id
        self.limits = limits
        self.closing = ClosingSignal()
        self._owner = owner
        self._loop = asyncio.get_running_loop()
        self._high_water = max(config.stream_write_high_water, self.min_high_water)
        self._scheme = origin[0].encode()
        self._streams: dict[int, ClientStream] = {}
        self._window_waiters: list[ClientStream] = []
        self._inflight = 0
        #: Slots reserved by the pool whose request has not opened its stream yet.
        self._unopened = 0
        self._opened = 0
        self._state = ConnState.READY
        self._closed = asyncio.Event()
        self._abort_exc: BaseException | None = None
        self._served = False
        #: The pool knows this connection (HTTP/3: only once ``connect`` returned).
        self._established = True

    # -- what the pool reads -------------------------------------------------------------

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    @abstractmethod
    def free_slots(self) -> int: ...

    @property
    def used_slots(self) -> int:
        return self._inflight

    @property
    def idle_since(self) -> float | None:
        return None

    @property
    def has_served(self) -> bool:
        return self._served

    @property
    def accepts_extended_connect(self) -> bool:
        """The server advertised extended CONNECT (RFC 8441 §3: HTTP/2
        SETTINGS_ENABLE_CONNECT_PROTOCOL); not offered over HTTP/3 yet."""
        return False

    def reserve(self) -> None:
        self._inflight += 1
        self._unopened += 1

    async def wait_closed(self) -> None:
        await self._closed.wait()

    # -- one exchange -----------------------------------------------------------------------

    async def handle(self, request: Request, timeouts: Timeouts) -> Response:
        """Open a stream, send the request (body with backpressure), await the response head."""
        self._unopened -= 1
        has_body = request.has_body
        tunnel = request.protocol is not None
        if tunnel and not self.accepts_extended_connect:
            self._release_slot()
            raise LocalProtocolError(
                f"{self.origin[1]}:{self.origin[2]} did not advertise extended CONNECT "
                "(SETTINGS_ENABLE_CONNECT_PROTOCOL, RFC 8441 §3); the request was not sent"
            )
        try:
            stream_id = self._engine.open_stream(
                request_headers(request, self._scheme), end_stream=not has_body
            )
        except ConnectionDraining as exc:
            self._release_slot()
            raise UnprocessedRequest(f"connection started draining: {exc}") from exc
        except LocalProtocolError as exc:
            self._release_slot()
            raise UnprocessedRequest(f"no stream available on this connection: {exc}") from exc
        stream = ClientStream(stream_id)
        self._streams[stream_id] = stream
        self._served = True
        self._opened += 1
        self._driver.schedule()
        max_requests = self.limits.max_requests
        if max_requests is not None and self._opened >= max_requests:
            self.start_drain("max_requests")
        try:
            if tunnel:
                # Both ways at once: the tunnel's bytes flow before the 200 arrives.
                stream.sender = self._loop.create_task(
                    self._send_tunnel(stream, request, timeouts.write)
                )
            elif has_body:
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
            http_version=self.http_version,
            request=request,
            body=StreamBody(self, stream, timeouts.read),
            closing=self.closing,
        )

    def _translate(self, exc: BaseException) -> BaseException:
        if self._abort_exc is not None and not isinstance(exc, asyncio.CancelledError):
            return self._abort_exc
        if isinstance(exc, OSError):
            return ConnectionLost(f"connection lost: {exc}")
        return exc

    async def _wait(self, stream: ClientStream, read_timeout: float | None) -> None:
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
        self, stream: ClientStream, request: Request, write_timeout: float | None
    ) -> None:
        engine = self._engine
        sid = stream.id
        high = self._high_water
        async for chunk in request.iter_body():
            if stream.error is not None:
                raise stream.error
            if stream.ended or not engine.is_stream_open(sid):
                # RFC 9113 §8.1, RFC 9114 §4.1: the server answered (and may have
                # told us to stop sending, with NO_ERROR) before reading it all.
                return
            engine.send_data(sid, chunk)
            self._driver.schedule()
            while engine.is_stream_open(sid) and engine.outbound_buffered(sid) > high:
                await self._wait_window(stream, write_timeout)
            await self._transport_backpressure(write_timeout)
        if stream.error is not None:
            raise stream.error
        if engine.is_stream_open(sid) and not stream.ended:
            trailers = request.trailers.raw
            if trailers:  # RFC 9113 §8.1, RFC 9114 §4.1: a last HEADERS ends the stream
                engine.send_trailers(sid, trailers)
            else:
                engine.end_stream(sid)
            self._driver.schedule()

    async def _send_tunnel(
        self, stream: ClientStream, request: Request, write_timeout: float | None
    ) -> None:
        """An extended CONNECT's outbound bytes, until the caller's stream ends
        (then END_STREAM); a failure ends the exchange for the reading side."""
        try:
            await self._send_body(stream, request, write_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.fail(self._translate(exc))

    async def _transport_backpressure(self, write_timeout: float | None) -> None:
        """Wait while the socket holds too much; a datagram transport has no such wait."""
        return

    async def _wait_window(self, stream: ClientStream, write_timeout: float | None) -> None:
        """Wait until the engine can take more of the body (a window update, or ACKs)."""
        if stream.error is not None:
            raise stream.error
        waiter = self._loop.create_future()
        stream.waiter = waiter
        self._window_waiters.append(stream)
        try:
            async with asyncio.timeout(write_timeout):
                await waiter
        except TimeoutError:
            raise WriteTimeout(f"{self.window_wait} for {write_timeout} s") from None
        finally:
            if stream.waiter is waiter:
                stream.waiter = None
        if stream.error is not None:
            raise stream.error

    def _wake_window_waiters(self) -> None:
        waiting = self._window_waiters
        if waiting:
            self._window_waiters = []
            for stream in waiting:
                stream.wake()

    async def _receive(self, stream: ClientStream, read_timeout: float | None) -> bytes:
        """The next body chunk of ``stream``; b"" at the end; window given back as read."""
        while True:
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
                self._driver.schedule()
            if data:
                return data

    def _finish(self, stream: ClientStream) -> None:
        """The exchange is over: reset the stream if still open, return unread
        window, free the slot; what that causes (a drain completed) is taken
        on the next service of the driver."""
        if stream.finished:
            return
        stream.finished = True
        sender = stream.sender
        if sender is not None and not sender.done():
            sender.cancel()
        engine = self._engine
        sid = stream.id
        self._streams.pop(sid, None)
        if engine.is_stream_open(sid) and self._state is not ConnState.CLOSED:
            try:
                engine.reset_stream(sid, self.cancel_code)
            except LocalProtocolError:
                pass  # the server's STOP_SENDING closed our side meanwhile
        unread = sum(flow for _, flow in stream.chunks)
        stream.chunks.clear()
        if unread:
            engine.acknowledge_received_data(sid, unread)
        self._driver.schedule()
        self._release_slot()

    def _release_slot(self) -> None:
        self._inflight -= 1
        owner = self._owner
        owner.exchange_finished()
        if self._state is ConnState.READY:
            owner.connection_changed(self)

    # -- the engine's events, translated once ------------------------------------------

    def _on_data(self, stream_id: int, data: bytes, flow: int, end: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            if flow:  # an exchange we gave up on: its credit goes back at once
                self._engine.acknowledge_received_data(stream_id, flow)
            return
        if data or flow:
            stream.chunks.append((data, flow))
        if end:
            stream.ended = True
        stream.wake()

    def _on_response(self, stream_id: int, headers: list[tuple[bytes, bytes]], end: bool) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
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

    def _on_trailers(self, stream_id: int, trailers: list[tuple[bytes, bytes]]) -> None:
        stream = self._streams.get(stream_id)
        if stream is not None:
            stream.trailers = trailers
            stream.ended = True
            stream.wake()

    def _on_reset(self, stream_id: int, code: int, remote: bool, *, unprocessed: bool) -> None:
        """A reset stream: ``unprocessed`` when the server said it did no
        processing (safe to replay, any method), else a ``StreamReset``."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if unprocessed and stream.headers is None:
            stream.fail(UnprocessedRequest(f"stream {stream_id} was not processed (code {code})"))
        else:
            who = "the server" if remote else "we (peer protocol error)"
            stream.fail(
                StreamReset(
                    f"stream {stream_id} was reset by {who} with error code 0x{code:x}",
                    error_code=code,
                )
            )

    def _on_goaway(self, unprocessed: list[int], notice: ClosingNotice, why: str) -> None:
        """GOAWAY (RFC 9113 §6.8, RFC 9114 §5.2): fail what the server did not
        process (``why`` says by which id), publish the notice, leave the pool."""
        for sid in unprocessed:
            stream = self._streams.get(sid)
            if stream is not None:
                stream.fail(UnprocessedRequest(f"stream {sid} {why}"))
        published = self.closing.offer(notice)
        if published is not None:
            self._owner.publish(published)
        self._enter_draining()

    def _notice(self, source: str, reason: str, **ids: Any) -> ClosingNotice:
        return ClosingNotice(
            origin=self.origin,
            http_version=self.http_version,
            source=source,
            reason=reason,
            connection_id=self.connection_id,
            **ids,
        )

    def _enter_draining(self) -> None:
        if self._state is ConnState.READY:
            self._state = ConnState.DRAINING
            if self._established:
                self._owner.connection_changed(self)

    # -- drain, abort, close ---------------------------------------------------------------

    def start_drain(self, reason: str) -> None:
        """Our own drain: GOAWAY (RFC 9113 §6.8, RFC 9114 §5.2), finish the
        streams in flight, then close. Idempotent."""
        if self._state is not ConnState.READY:
            return
        published = self.closing.offer(self._notice("local", reason))
        if published is not None:
            self._owner.publish(published)
        self._engine_drain(reason)
        self._enter_draining()
        self._driver.schedule()

    @abstractmethod
    async def wait_ready(self, connect_timeout: float | None) -> None:
        """Return once it can take requests (HTTP/2: the server's SETTINGS arrived)."""

    @abstractmethod
    def abort(self, exc: BaseException) -> None:
        """Fail every request in flight with ``exc`` and close now. Idempotent."""

    @abstractmethod
    def _engine_drain(self, reason: str) -> None:
        """Tell the engine to drain (its own GOAWAY)."""

    def _fail_all(self, exc: BaseException) -> None:
        for stream in list(self._streams.values()):
            stream.fail(exc)

    def _mark_closed(self) -> None:
        self._state = ConnState.CLOSED
        self._driver.stop()
        self._closed.set()
        if self._established:
            self._owner.connection_changed(self)
        self._wake_window_waiters()


class StreamBody:
    """A response body on an HTTP/2 or HTTP/3 stream."""

    __slots__ = ("_conn", "_stream", "_timeout")

    def __init__(
        self, conn: MultiplexedConnection, stream: ClientStream, timeout: float | None
    ) -> None:
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

    @property
    def trailers(self) -> list[tuple[bytes, bytes]]:
        stream = self._stream
        return stream.trailers if stream.finished else []
