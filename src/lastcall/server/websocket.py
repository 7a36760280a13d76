"""WebSocket over HTTP/1.1 (RFC 6455) and over HTTP/2 (RFC 8441), for ASGI.

Framing is wsproto's frame-level ``Connection``; the opening handshake is
ours (we already parsed the request): HTTP/1.1 answers ``101`` with
``Sec-WebSocket-Accept`` (RFC 6455 §4.2.2), HTTP/2 answers ``:status 200`` on
the extended CONNECT stream (RFC 8441 §5). ``WebSocketSession`` holds what
both share; a *carrier* writes its bytes (raw transport, or DATA frames).

Draining (DESIGN.md, "WebSocket"): an accepted WebSocket is sent Close(1001,
"going away") and we wait for the peer's Close, within the grace period; the
app then gets ``websocket.disconnect`` with the peer's code (an ``int``) and
reason. At grace expiry
the connection (or stream) is cut and the app gets code 1006.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.utilities import RemoteProtocolError as WsRemoteError

from lastcall.engines.http1 import RequestStarted, encode_head
from lastcall.lifecycle import ConnectionInput, ConnectionPhase
from lastcall.observe import events as oe

from .asgi import ASGIApp, Scope
from .asgi import Message as AsgiMessage
from .connection import ConnectionBase
from .state import ServerState
from .ws_keepalive import KeepAlive

if TYPE_CHECKING:
    from .http2 import Http2Connection

__all__ = ["WebSocketHttp1Connection", "WebSocketSession", "start_h2_websocket"]

logger = logging.getLogger("lastcall.server")
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Close code sent when the server drains (RFC 6455 §7.4.1 "going away").
GOING_AWAY = 1001
#: Close code the app sees when the connection was cut (RFC 6455 §7.4.1, never sent).
ABNORMAL = 1006


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip() + _GUID).digest())


class WebSocketSession:
    """The ASGI side of one WebSocket, whatever carries it."""

    def __init__(
        self,
        scope: Scope,
        loop: asyncio.AbstractEventLoop,
        max_message_size: int,
        write: Callable[[bytes], None],
        accept: Callable[[list[tuple[bytes, bytes]]], None],
        deny: Callable[[int], None],
        finish: Callable[[], None],
        *,
        ping_interval: float = 0.0,
        ping_timeout: float = 0.0,
    ) -> None:
        self.scope = scope
        self.loop = loop
        self.max_message_size = max_message_size
        self._write, self._accept, self._deny, self._finish = write, accept, deny, finish
        self.ws = Connection(ConnectionType.SERVER)
        self.inbox: deque[AsgiMessage] = deque([{"type": "websocket.connect"}])
        self.waiter: asyncio.Future[None] | None = None
        self.accepted = False
        self.closed = False  # disconnect delivered (or we are done)
        self.close_sent = False
        self._parts: list[Any] = []
        self._size = 0
        #: Set when we failed the connection (a limit, a protocol error): input
        #: is discarded unparsed from then on.
        self.discarding = False
        self.task: asyncio.Task[None] | None = None
        #: Pings while open (ws_keepalive.py), from ``websocket.accept`` on.
        self.keepalive = KeepAlive(
            loop, ping_interval, ping_timeout, self._send_ping, self._ping_timed_out
        )

    def _send_ping(self, payload: bytes) -> None:
        if self.ws.state is ConnectionState.OPEN:
            self._write(self.ws.send(Ping(payload)))

    def _ping_timed_out(self) -> None:
        logger.info("websocket keepalive: no Pong within %g s", self.keepalive.timeout)
        self._refuse(1011, "keepalive ping timeout")

    def _push(self, message: AsgiMessage) -> None:
        self.inbox.append(message)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def disconnected(self, code: int, reason: str = "") -> None:
        """Deliver ``websocket.disconnect`` once: ``code`` a plain ``int`` (never
        wsproto's ``CloseReason`` enum, which an app comparing types or
        serialising it would trip on) and the peer's ``reason`` ("" if none),
        as the ASGI WebSocket spec has it."""
        self.keepalive.stop()
        if not self.closed:
            self.closed = True
            self._push({"type": "websocket.disconnect", "code": int(code), "reason": reason})

    def feed(self, data: bytes | None) -> None:
        """Bytes from the peer (``None``: the peer closed the carrier).

        Once the session has refused the peer (``_refuse``: a limit or a
        protocol error) or the closing handshake is over, what still comes is
        discarded unparsed: nobody will read it, and parsing it would let a
        peer that ignores our Close keep growing the message it was refused
        for through the whole lingering close (issue 15, item 3).
        """
        if not self.accepted:
            return
        if data is not None and (self.discarding or self.ws.state is ConnectionState.CLOSED):
            return
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, Message):
                    self._on_message(event)
                elif isinstance(event, Ping):
                    self._write(self.ws.send(event.response()))
                elif isinstance(event, Pong):
                    self.keepalive.pong(bytes(event.payload))
                elif isinstance(event, CloseConnection):
                    self._on_close(event)
                if self.discarding:
                    break
        except WsRemoteError as exc:
            logger.info("websocket protocol error: %s", exc)
            if exc.event_hint is not None and self.ws.state not in (
                ConnectionState.CLOSED,
                ConnectionState.LOCAL_CLOSING,
            ):
                self._write(self.ws.send(exc.event_hint))
            self.disconnected(1002)
            self._finish()

    def _on_close(self, event: CloseConnection) -> None:
        """A Close from the peer, the carrier's end, or frames wsproto could not parse.

        wsproto reports a frame it cannot parse (a continuation with no
        message started, a bad opcode, invalid UTF-8...) as a
        ``CloseConnection`` carrying the code *we* must send (1002, 1007),
        leaving its state untouched; a real Close from the peer moves the
        state to REMOTE_CLOSING (or CLOSED, answering ours), the carrier's
        end to CLOSED. So a Close event in state OPEN or LOCAL_CLOSING is a
        protocol failure: we fail the connection (RFC 6455 §7.1.7) with that
        code instead of taking it for the peer's goodbye.
        """
        state = self.ws.state
        if state is ConnectionState.REMOTE_CLOSING:
            self._write(self.ws.send(event.response()))
        elif state is not ConnectionState.CLOSED:
            logger.info("websocket protocol error: %s", event.reason)
            self._refuse(int(event.code), "protocol error")
            return
        self.disconnected(event.code, event.reason or "")
        self._finish()

    def _refuse(self, code: int, reason: str) -> None:
        """Fail the connection: Close(``code``), the app gets ``websocket.disconnect``
        with it, input is discarded from now on, and the carrier starts closing
        at once (HTTP/1.1: half-close and linger, bounded by
        ``lingering_close_timeout``; HTTP/2: END_STREAM, after which the engine
        resets the stream with NO_ERROR and drops its DATA)."""
        self.discarding = True
        self._parts, self._size = [], 0
        self.close(code, reason)
        self.disconnected(code)
        self._finish()

    def _on_message(self, event: Message[Any]) -> None:
        self._parts.append(event.data)
        self._size += len(event.data)
        if self._size > self.max_message_size:
            self._refuse(1009, "message too big")
            return
        if not event.message_finished:
            return
        if isinstance(event, TextMessage):
            self._push({"type": "websocket.receive", "text": "".join(self._parts)})
        else:
            assert isinstance(event, BytesMessage)
            self._push({"type": "websocket.receive", "bytes": b"".join(self._parts)})
        self._parts, self._size = [], 0

    def close(self, code: int, reason: str = "") -> None:
        """Send Close(code) if we have not; the peer's Close ends the session."""
        self.keepalive.stop()
        if self.accepted and not self.close_sent and self.ws.state is ConnectionState.OPEN:
            self.close_sent = True
            self._write(self.ws.send(CloseConnection(code, reason)))

    async def receive(self) -> AsgiMessage:
        while not self.inbox:
            waiter = self.waiter = self.loop.create_future()
            await waiter
        return self.inbox.popleft()

    async def send(self, message: AsgiMessage) -> None:
        kind = message["type"]
        if kind == "websocket.accept":
            if self.accepted:
                raise RuntimeError("websocket.accept sent twice")
            self.accepted = True
            headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
            if message.get("subprotocol"):
                headers.append((b"sec-websocket-protocol", message["subprotocol"].encode()))
            self._accept(headers)
            self.keepalive.start()
        elif kind == "websocket.send":
            if not self.accepted:
                raise RuntimeError("websocket.send before websocket.accept")
            if self.closed or self.ws.state is not ConnectionState.OPEN:
                return
            text = message.get("text")
            event = (
                TextMessage(text) if text is not None else BytesMessage(message.get("bytes") or b"")
            )
            self._write(self.ws.send(event))
        elif kind == "websocket.close":
            if not self.accepted:
                self.closed = True
                self._deny(403)
                return
            self.close(int(message.get("code", 1000)), message.get("reason") or "")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for websocket")

    async def run(self, app: Any, on_done: Callable[[], None]) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("exception in ASGI websocket application")
            if not self.accepted:
                self._deny(500)
            else:
                self.close(1011)
        else:
            if not self.accepted and not self.closed:
                self._deny(403)
            else:
                self.close(1000)
        finally:
            on_done()


class WebSocketHttp1Connection(ConnectionBase, asyncio.Protocol):
    """A WebSocket that took over an HTTP/1.1 connection after ``Upgrade``."""

    protocol_name = "websocket"

    def __init__(
        self, state: ServerState, scope: Scope, request: RequestStarted, trailing: bytes
    ) -> None:
        super().__init__(state)
        self.request = request
        self.pending = trailing
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope.get("scheme") in ("https", "wss") else "ws"
        scope.pop("method", None)
        scope["subprotocols"] = [
            p.strip().decode("latin-1")
            for n, v in request.headers
            if n == b"sec-websocket-protocol"
            for p in v.split(b",")
        ]
        scope["extensions"].pop("http.response.trailers", None)
        self.session = WebSocketSession(
            scope,
            self.loop,
            state.config.ws_max_message_size,
            self.write,
            self._accept,
            self._deny,
            self._done,
            ping_interval=state.config.ws_ping_interval,
            ping_timeout=state.config.ws_ping_timeout,
        )

    def write(self, data: bytes) -> None:
        """Write unless the write side is shut (``is_write_closed``: after
        ``write_eof`` a write raises, and ``is_closing()`` is still False)."""
        transport = self.transport
        if transport is not None and not self.is_write_closed and not transport.is_closing():
            transport.write(data)

    def start(self) -> None:
        key = dict(self.request.headers).get(b"sec-websocket-key")
        version = dict(self.request.headers).get(b"sec-websocket-version")
        if key is None or version != b"13":
            self.write(
                encode_head(
                    400,
                    [
                        (b"content-length", b"0"),
                        (b"connection", b"close"),
                        (b"sec-websocket-version", b"13"),
                    ],
                )
            )
            self.close_gracefully()
            return
        self.session.task = self.loop.create_task(self.session.run(self.state.app, self._task_done))

    def _accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        key = dict(self.request.headers)[b"sec-websocket-key"]
        self.write(
            encode_head(
                101,
                [
                    (b"upgrade", b"websocket"),
                    (b"connection", b"Upgrade"),
                    (b"sec-websocket-accept", accept_key(key)),
                    *headers,
                ],
            )
        )
        if self.drain_reason is not None:
            self._send_going_away()
        if self.pending:
            data, self.pending = self.pending, b""
            self.session.feed(data)

    def _deny(self, status: int) -> None:
        self.write(encode_head(status, [(b"content-length", b"0"), (b"connection", b"close")]))
        self.close_gracefully()

    def _done(self) -> None:
        self.close_gracefully()

    def _task_done(self) -> None:
        if self.session.accepted and not self.session.closed and self.session.close_sent:
            return  # waiting for the peer's Close (bounded by the grace period)
        if self.phase is ConnectionPhase.CLOSED:
            self._connection_gone()
        elif not self.session.accepted or self.session.closed:
            self.close_gracefully()

    def data_received(self, data: bytes) -> None:
        if not self.session.accepted:
            self.pending += data
            return
        self.session.feed(data)

    def eof_received(self) -> bool | None:
        self.session.feed(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.disconnected(ABNORMAL if not self.session.closed else 1000)
        self._advance(ConnectionInput.TRANSPORT_CLOSED)
        task = self.session.task
        if task is None or task.done():
            self._connection_gone()
        else:
            task.add_done_callback(lambda _: self._connection_gone())

    @property
    def active_stream_count(self) -> int:
        return 0 if self.session.closed else 1

    def _send_going_away(self) -> None:
        if self.session.accepted and not self.session.close_sent:
            self.session.close(GOING_AWAY, "going away")
            self.state.observer.emit(oe.WebSocketClosing(self.loop.time(), self.label, GOING_AWAY))

    def begin_drain(self, deadline_at: float, reason: str) -> None:
        if self._mark_draining(deadline_at, reason):
            self._report_draining()
        if self.phase is ConnectionPhase.OPEN:
            self._advance(ConnectionInput.DRAIN_REQUESTED)
        self._send_going_away()

    def cancel(self, reason: str) -> None:
        self.session.disconnected(ABNORMAL)
        task = self.session.task
        if task is not None and not task.done():
            self.loop.call_soon(task.cancel)
        if self.transport is not None and not self.transport.is_closing():
            self.state.observer.emit(oe.RequestCancelled(self.loop.time(), self.label, "close"))
            self.transport.close()


class _H2WebSocketStream:
    """An RFC 8441 WebSocket on one HTTP/2 stream; looks like an ``Http2Stream`` to the connection."""

    def __init__(self, conn: Http2Connection, stream_id: int, scope: Scope) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.response_complete = False
        self.more_body = True
        self.task: asyncio.Task[None] | None = None
        scope["type"] = "websocket"
        scope["scheme"] = "wss" if scope.get("scheme") == "https" else "ws"
        scope.pop("method", None)
        scope["subprotocols"] = [
            p.strip().decode("latin-1")
            for n, v in scope["headers"]
            if n == b"sec-websocket-protocol"
            for p in v.split(b",")
        ]
        scope["extensions"].pop("http.response.trailers", None)
        self.session = WebSocketSession(
            scope,
            conn.loop,
            conn.state.config.ws_max_message_size,
            self._write,
            self._accept,
            self._deny,
            self._finish,
            ping_interval=conn.state.config.ws_ping_interval,
            ping_timeout=conn.state.config.ws_ping_timeout,
        )

    async def run(self, app: ASGIApp) -> None:
        """The stream's task, as ``MultiplexedConnection._run_stream`` starts it."""
        try:
            await self.session.run(app, self._finish)
        finally:
            self.conn.task_done(cast(Any, self))

    def _write(self, data: bytes) -> None:
        self.conn.send_data(self.stream_id, data, False)
        self.conn.flush()

    def _accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.conn.send_headers(self.stream_id, [(b":status", b"200"), *headers], False)
        self.conn.flush()
        if self.conn.drain_reason is not None:
            self.going_away()

    def _deny(self, status: int) -> None:
        self.response_complete = True
        self.conn.send_headers(self.stream_id, [(b":status", b"%d" % status)], True)
        self.conn.flush()

    def _finish(self) -> None:
        if not self.response_complete:
            self.response_complete = True
            self.conn.send_data(self.stream_id, b"", True)
            self.conn.flush()

    def going_away(self) -> None:
        if self.session.accepted and not self.session.close_sent:
            self.session.close(GOING_AWAY, "going away")
            self.conn.state.observer.emit(
                oe.WebSocketClosing(self.conn.loop.time(), self.conn.label, GOING_AWAY)
            )

    # the Http2Stream surface used by Http2Connection
    def feed_body(self, data: bytes, flow_controlled_length: int, end_stream: bool) -> None:
        if flow_controlled_length:
            self.conn.acknowledge(self.stream_id, flow_controlled_length)
        self.session.feed(data)
        if end_stream:
            self.session.feed(None)

    def end_body(self) -> None:
        self.session.feed(None)

    def disconnect(self) -> None:
        self.session.disconnected(ABNORMAL)

    def wake_writer(self) -> None:
        return None


def start_h2_websocket(
    conn: Http2Connection, stream_id: int, scope: Scope, end_stream: bool
) -> None:
    """Serve an extended CONNECT (``:protocol websocket``) stream (RFC 8441 §4)."""
    stream = _H2WebSocketStream(conn, stream_id, scope)
    conn._run_stream(cast(Any, stream), conn.state.app)
    if end_stream:
        stream.session.disconnected(ABNORMAL)
