"""One HTTP/1.1 client connection, on h11 (RFC 9112).

h11 does the framing; this module does the I/O, the timeouts, the pool
bookkeeping and the error translation (h11 and OSError become lastcall errors
here, once).

Why a failure is or is not retried (``StaleConnection``): a server may close
an idle keep-alive connection at any moment (RFC 9112 §9.3), and a request
written at that moment fails before a byte of response arrives. Whether the
server processed it cannot be known, so the client retries it only when its
method is idempotent (RFC 9110 §9.2.2), as Go's net/http and httpcore do.

Connection end: a ``Connection: close`` response, or one the server did not
delimit with Content-Length/chunked, ends reuse (h11 puts the connection in
MUST_CLOSE); our own drain (``max_requests``/``max_age``) sends ``Connection:
close`` on the last request (RFC 9112 §9.6) so the server closes in step.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import h11

from lastcall.errors import (
    ConnectionLost,
    LocalProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    RequestError,
    WriteTimeout,
)

from .config import Timeouts
from .conn import ConnectionLimits, ConnectionOwner
from .models import Headers, Request, Response
from .net import READ_CHUNK_SIZE, abort_writer
from .notices import ClosingNotice, ClosingSignal
from .pool import ConnState

#: Largest response head h11 accepts, like h11's own default (16 KiB is nginx's
#: ``large_client_header_buffers`` for requests; responses get more room).
MAX_RESPONSE_HEAD = 65_536

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: RFC 9110 §5.5: no control character in a field value but HTAB. h11 refuses
#: only NUL and the whitespace ones; the rest would reach the server as they are.
_CONTROL_CHARACTER = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def request_head(request: Request, *, close: bool) -> h11.Request:
    """The request line and header section to send for ``request``: its own
    ``Host`` or the URL's, and framing of our own when it gave none (chunked for
    a stream or trailers, else a length). A pure function, so the proxy's fuzz
    harness regenerates exactly what goes on the wire; h11 validates the fields
    (``h11.LocalProtocolError``, translated into ours by the connection), and
    we refuse the control characters it lets through: HTTP/2 allows them in
    values (RFC 9113 §8.2.1), so a proxied request can carry one.
    """
    url = request.url
    headers: list[tuple[bytes, bytes]] = [(b"host", url.authority)]
    has_length = False
    for name, value in request.headers.raw:
        if _CONTROL_CHARACTER.search(value) is not None:
            raise LocalProtocolError(f"control character in the value of {name!r}")
        if name == b"host":
            headers[0] = (b"host", value)
            continue
        if name == b"content-length" or name == b"transfer-encoding":
            has_length = True
        headers.append((name, value))
    if request.trailers.raw:
        # RFC 9112 §7.1.2: a trailer section exists only after a chunked body.
        headers = [h for h in headers if h[0] not in (b"content-length", b"transfer-encoding")]
        headers.append((b"transfer-encoding", b"chunked"))
    elif not has_length:
        if request.stream is not None:
            headers.append((b"transfer-encoding", b"chunked"))
        elif request.content:
            headers.append((b"content-length", str(len(request.content)).encode()))
        elif request.method in _BODY_METHODS:
            headers.append((b"content-length", b"0"))
    if close:
        headers.append((b"connection", b"close"))
    return h11.Request(method=request.method, target=url.target, headers=headers)


class StaleConnection(ConnectionLost):
    """A reused keep-alive connection failed before any response byte arrived.

    The server may have closed it while idle (a race) or may have processed
    the request; the client retries it only for idempotent methods.
    """


class Http1Connection:
    """An HTTP/1.1 connection: one request at a time, kept alive between them."""

    is_multiplexed: bool | None = False

    def __init__(
        self,
        origin: tuple[str, str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        owner: ConnectionOwner,
        *,
        connection_id: int,
        limits: ConnectionLimits,
    ) -> None:
        self.origin = origin
        self.connection_id = connection_id
        self._reader = reader
        self._writer = writer
        self._owner = owner
        self.limits = limits
        self._loop = asyncio.get_running_loop()
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
        self._state = ConnState.READY
        self._busy = False
        self._idle_since: float | None = self._loop.time()
        self._requests = 0
        self._drain_reason: str | None = None
        self._abort_exc: BaseException | None = None
        self._received = False
        self._closed = asyncio.Event()
        self.closing = ClosingSignal()

    # -- what the pool reads ----------------------------------------------------

    @property
    def state(self) -> ConnState:
        """READY, DRAINING or CLOSED; an idle connection the server closed is CLOSED."""
        if self._state is ConnState.READY and not self._busy and self._reader.at_eof():
            # The server closed it while idle (RFC 9112 §9.3): never reuse it.
            self._close_transport()
        return self._state

    @property
    def free_slots(self) -> int:
        return 1 if self._state is ConnState.READY and not self._busy else 0

    @property
    def used_slots(self) -> int:
        return 1 if self._busy else 0

    @property
    def idle_since(self) -> float | None:
        return None if self._busy else self._idle_since

    @property
    def has_served(self) -> bool:
        return self._requests > 0

    async def wait_ready(self, connect_timeout: float | None) -> None:
        """An HTTP/1.1 connection is ready as soon as it is connected."""

    def reserve(self) -> None:
        """Take the connection for one request."""
        self._busy = True
        self._idle_since = None

    # -- one exchange ------------------------------------------------------------

    async def handle(self, request: Request, timeouts: Timeouts) -> Response:
        """Write the request, read the response head; the body is read lazily."""
        if request.protocol is not None:
            # Nothing was written: the connection goes back to the pool as it was.
            self._busy = False
            self._idle_since = self._loop.time()
            self._owner.exchange_finished()
            self._owner.connection_changed(self)
            raise LocalProtocolError(
                "an extended CONNECT (RFC 8441) needs HTTP/2; over HTTP/1.1 a WebSocket "
                "is an Upgrade; the request was not sent"
            )
        reused = self._requests > 0
        self._requests += 1
        limits = self.limits
        last = (limits.max_requests is not None and self._requests >= limits.max_requests) or (
            limits.retire_at is not None and self._loop.time() >= limits.retire_at
        )
        if last and self._drain_reason is None:
            at_max = limits.max_requests is not None and self._requests >= limits.max_requests
            self._drain_reason = "max_requests" if at_max else "max_age"
        self._received = False
        try:
            await self._send_request(request, timeouts, close=self._drain_reason is not None)
            response = await self._receive_head(request, timeouts)
        except BaseException as exc:
            self._finish(reusable=False)
            raise self._translate(exc, reused) from exc
        return response

    async def _send_request(self, request: Request, timeouts: Timeouts, *, close: bool) -> None:
        trailers = request.trailers.raw
        data = self._h11.send(request_head(request, close=close))
        await self._write(data, timeouts.write)
        async for chunk in request.iter_body():
            await self._write(self._h11.send(h11.Data(data=chunk)), timeouts.write)
        await self._write(self._h11.send(h11.EndOfMessage(headers=trailers)), timeouts.write)

    async def _write(self, data: bytes | None, write_timeout: float | None) -> None:
        if not data:
            return
        writer = self._writer
        writer.write(data)
        if writer.transport.get_write_buffer_size() == 0:
            return
        try:
            async with asyncio.timeout(write_timeout):
                await writer.drain()
        except TimeoutError:
            raise WriteTimeout(f"write took longer than {write_timeout} s") from None

    async def _next_event(self, read_timeout: float | None) -> Any:
        conn = self._h11
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                async with asyncio.timeout(read_timeout):
                    data = await self._reader.read(READ_CHUNK_SIZE)
            except TimeoutError:
                raise ReadTimeout(f"no response bytes for {read_timeout} s") from None
            if data:
                self._received = True
            conn.receive_data(data)

    async def _receive_head(self, request: Request, timeouts: Timeouts) -> Response:
        while True:
            event = await self._next_event(timeouts.read)
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.InformationalResponse):
                continue
            raise ConnectionLost("the server closed the connection before responding")
        headers = Headers.from_raw(list(event.headers))
        if self._h11.their_state is h11.MUST_CLOSE or any(
            name == b"connection" and b"close" in value.lower() for name, value in event.headers
        ):
            self._announce("remote", "connection_close")
        elif self._drain_reason is not None:
            self._announce("local", self._drain_reason)
        body = _Http1Body(self, timeouts.read)
        return Response(
            event.status_code,
            headers,
            http_version="HTTP/1.1",
            request=request,
            body=body,
            closing=self.closing,
        )

    def _translate(self, exc: BaseException, reused: bool) -> BaseException:
        if self._abort_exc is not None and not isinstance(exc, asyncio.CancelledError):
            return self._abort_exc
        if isinstance(exc, RequestError | LocalProtocolError):
            if reused and not self._received and type(exc) is ConnectionLost:
                return StaleConnection(str(exc))
            return exc
        if isinstance(exc, h11.RemoteProtocolError | ConnectionError | OSError):
            message = f"connection lost: {exc}" if str(exc) else "connection lost"
            if reused and not self._received:
                return StaleConnection(message)
            if isinstance(exc, h11.RemoteProtocolError) and self._received:
                return RemoteProtocolError(f"invalid HTTP/1.1 response: {exc}")
            return ConnectionLost(message)
        if isinstance(exc, h11.LocalProtocolError):
            return LocalProtocolError(f"invalid HTTP/1.1 request: {exc}")
        return exc

    async def _receive_body(self, read_timeout: float | None, body: _Http1Body) -> bytes:
        try:
            event = await self._next_event(read_timeout)
        except BaseException as exc:
            self._finish(reusable=False)
            raise self._translate(exc, False) from exc
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            # RFC 9112 §7.1.2: the trailer section of a chunked body (h11 lowercases names).
            body.trailers = [(bytes(name), bytes(value)) for name, value in event.headers]
            self._finish(reusable=True)
            return b""
        self._finish(reusable=False)
        raise ConnectionLost("the server closed the connection mid-response")

    def _finish(self, *, reusable: bool) -> None:
        """The exchange is over: keep the connection alive if both sides allow it."""
        if not self._busy:
            return
        conn = self._h11
        if (
            reusable
            and self._drain_reason is None
            and self._state is ConnState.READY
            and conn.our_state is h11.DONE
            and conn.their_state is h11.DONE
        ):
            conn.start_next_cycle()
            self._busy = False
            self._idle_since = self._loop.time()
        else:
            self._busy = False
            self._close_transport()
        self._owner.exchange_finished()
        self._owner.connection_changed(self)

    # -- drain, abort, close --------------------------------------------------------

    def _announce(self, source: str, reason: str) -> None:
        notice = ClosingNotice(
            origin=self.origin,
            http_version="HTTP/1.1",
            source=source,
            reason=reason,
            connection_id=self.connection_id,
        )
        if self.closing.set(notice):
            self._owner.publish(notice)

    def start_drain(self, reason: str) -> None:
        """Idle: close now. Busy: close after the response in flight (RFC 9112 §9.6)."""
        if self._state is not ConnState.READY:
            return
        self._drain_reason = reason
        self._announce("local", reason)
        if self._busy:
            self._state = ConnState.DRAINING
            self._owner.connection_changed(self)
        else:
            self._close_transport()

    def abort(self, exc: BaseException) -> None:
        """Cancel the exchange in flight with ``exc`` (its reader sees EOF) and close."""
        if self._state is ConnState.CLOSED:
            return
        self._abort_exc = exc
        self._close_transport()

    def _close_transport(self) -> None:
        if self._state is ConnState.CLOSED:
            return
        self._state = ConnState.CLOSED
        abort_writer(self._writer)
        self._reader.feed_eof()
        self._closed.set()
        self._owner.connection_changed(self)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def __repr__(self) -> str:
        return f"<Http1Connection #{self.connection_id} {self._state.value}>"


class _Http1Body:
    """The response body of the exchange in flight; reading it to the end frees the connection."""

    __slots__ = ("_conn", "_done", "_timeout", "trailers")

    def __init__(self, conn: Http1Connection, timeout: float | None) -> None:
        self._conn = conn
        self._timeout = timeout
        self._done = False
        self.trailers: list[tuple[bytes, bytes]] = []

    async def receive(self) -> bytes:
        if self._done:
            return b""
        chunk = await self._conn._receive_body(self._timeout, self)
        if not chunk:
            self._done = True
        return chunk

    async def aclose(self) -> None:
        if not self._done:
            # An unread rest cannot be skipped on HTTP/1.1 without reading it: close.
            self._done = True
            self._conn._finish(reusable=False)
