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
from typing import Any, Protocol

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage
from wsproto.utilities import RemoteProtocolError as WsRemoteError

from lastcall.engines.http1 import RequestStarted, encode_head
from lastcall.engines.token_bucket import TokenBucket
from lastcall.io import OUTBOUND_FULL, ReadGate, WriteFlow
from lastcall.lifecycle import ConnectionInput, ConnectionPhase
from lastcall.observe import events as oe

from .asgi import ASGIApp, Scope
from .asgi import Message as AsgiMessage
from .config import ServerConfig
from .connection import TablePhaseConnection
from .multiplexed import StreamOwner
from .state import ServerState
from .ws_keepalive import KeepAlive

__all__ = ["WebSocketHttp1Connection", "WebSocketSession", "start_h2_websocket"]

logger = logging.getLogger("lastcall.server")
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: Close code sent when the server drains (RFC 6455 §7.4.1 "going away").
GOING_AWAY = 1001
#: Close code the app sees when the connection was cut (RFC 6455 §7.4.1, never sent).
ABNORMAL = 1006
#: Bytes of peer input parsed per loop turn; the rest of a larger read waits
#: for the next turn with reading paused. A 256 KiB read of 6-byte frames is
#: ~40,000 frames: parsed at once, it held the loop (and every other client)
#: for 20-300 ms.
FEED_SLICE = 16_384
#: The ``ReadGate`` reason held while input of a large read waits its turn.
_BACKLOG = "backlog"


def accept_key(key: bytes) -> bytes:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.strip() + _GUID).digest())


class WebSocketCarrier(Protocol):
    """What carries one WebSocket: an HTTP/1.1 connection, or an HTTP/2 stream.

    ``is_outbound_full`` is the carrier's one notion of "the peer is not
    taking what we write": the transport's write buffer over its high-water
    mark, or (HTTP/2) the stream's queue over what its window lets out. While
    it holds, the carrier itself stops taking input from the peer (HTTP/1.1
    pauses reading; HTTP/2 withholds the stream's flow-control credit), so a
    peer that never reads meets backpressure instead of our memory; when it
    clears, the carrier calls ``WebSocketSession.writable()``.
    """

    def write(self, data: bytes) -> None:
        """Send frame bytes (nothing once the carrier's write side is shut)."""

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        """Answer the opening handshake: 101 (HTTP/1.1) or ``:status 200`` (HTTP/2)."""

    def deny(self, status: int) -> None:
        """Refuse the opening handshake with an HTTP response."""

    def finish(self) -> None:
        """The session is over: close the connection, or end the stream."""

    @property
    def is_outbound_full(self) -> bool:
        """Is what we wrote piling up because the peer does not read it?"""

    async def wait_writable(self) -> None:
        """Return once ``is_outbound_full`` is False (or the carrier is gone)."""


class WebSocketSession:
    """The ASGI side of one WebSocket, whatever carries it.

    What one peer can make it hold or do is bounded (issue 15):

    - a message: ``ws_max_message_size`` bytes and ``ws_max_message_fragments``
      frames, empty ones included (else Close 1009);
    - control frames (PING, PONG): a token bucket of
      ``ws_control_frame_burst`` refilled at ``ws_control_frame_refill_per_second``
      (else Close 1008, policy violation), so a PING flood costs a bounded
      amount of work;
    - PONGs while the carrier's outbound is full: none is written; only the
      latest PING is remembered and answered once the peer reads again (RFC
      6455 §5.5.3 allows answering only the most recent), so a peer that
      sends PINGs and never reads grows nothing;
    - the app's own ``websocket.send`` waits while the outbound is full.

    After a limit or a protocol error the connection is failed (``_refuse``)
    and what still arrives is discarded unparsed.
    """

    def __init__(
        self,
        scope: Scope,
        loop: asyncio.AbstractEventLoop,
        config: ServerConfig,
        carrier: WebSocketCarrier,
    ) -> None:
        self.scope = scope
        self.loop = loop
        self.max_message_size = config.ws_max_message_size
        self.max_message_fragments = config.ws_max_message_fragments
        self._carrier = carrier
        self._control_budget = TokenBucket(
            config.ws_control_frame_burst, config.ws_control_frame_refill_per_second
        )
        self.ws = Connection(ConnectionType.SERVER)
        self.inbox: deque[AsgiMessage] = deque([{"type": "websocket.connect"}])
        self.waiter: asyncio.Future[None] | None = None
        self.accepted = False
        self.closed = False  # disconnect delivered (or we are done)
        self.close_sent = False
        self._parts: list[Any] = []
        self._size = 0
        self._fragments = 0
        #: The payload of the latest PING not answered yet (the outbound was full).
        self._pending_pong: bytes | None = None
        #: Set when we failed the connection (a limit, a protocol error): input
        #: is discarded unparsed from then on.
        self.discarding = False
        self.task: asyncio.Task[None] | None = None
        #: Pings while open (ws_keepalive.py), from ``websocket.accept`` on.
        self.keepalive = KeepAlive(
            loop,
            config.ws_ping_interval,
            config.ws_ping_timeout,
            self._send_ping,
            self._ping_timed_out,
        )

    def _send_ping(self, payload: bytes) -> None:
        if self.ws.state is ConnectionState.OPEN:
            self._carrier.write(self.ws.send(Ping(payload)))

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
                elif isinstance(event, Ping | Pong):
                    self._on_control(event)
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
                self._carrier.write(self.ws.send(exc.event_hint))
            self.disconnected(1002)
            self._carrier.finish()

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
            self._carrier.write(self.ws.send(event.response()))
        elif state is not ConnectionState.CLOSED:
            logger.info("websocket protocol error: %s", event.reason)
            self._refuse(int(event.code), "protocol error")
            return
        self.disconnected(event.code, event.reason or "")
        self._carrier.finish()

    def _on_control(self, event: Ping | Pong) -> None:
        """A PING or PONG: spend the control budget; answer a PING now, or later
        if the peer is not reading (only the latest then, RFC 6455 §5.5.3)."""
        if not self._control_budget.spend(self.loop.time()):
            logger.info("websocket: control frame budget exhausted; closing with 1008")
            self._refuse(1008, "too many control frames")
            return
        if isinstance(event, Ping):
            if self._carrier.is_outbound_full:
                self._pending_pong = bytes(event.payload)
            else:
                self._carrier.write(self.ws.send(event.response()))
        else:
            self.keepalive.pong(bytes(event.payload))

    def writable(self) -> None:
        """The carrier's outbound has room again: answer the PING we held back."""
        payload = self._pending_pong
        if payload is not None:
            self._pending_pong = None
            if self.ws.state is ConnectionState.OPEN and not self.discarding:
                self._carrier.write(self.ws.send(Pong(payload)))

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
        self._carrier.finish()

    def _on_message(self, event: Message[Any]) -> None:
        self._parts.append(event.data)
        self._size += len(event.data)
        # wsproto reports a frame in pieces as it arrives: count whole frames.
        self._fragments += event.frame_finished
        if self._size > self.max_message_size or self._fragments > self.max_message_fragments:
            self._refuse(1009, "message too big")
            return
        if not event.message_finished:
            return
        if isinstance(event, TextMessage):
            self._push({"type": "websocket.receive", "text": "".join(self._parts)})
        else:
            assert isinstance(event, BytesMessage)
            self._push({"type": "websocket.receive", "bytes": b"".join(self._parts)})
        self._parts, self._size, self._fragments = [], 0, 0

    def close(self, code: int, reason: str = "") -> None:
        """Send Close(code) if we have not; the peer's Close ends the session."""
        self.keepalive.stop()
        if self.accepted and not self.close_sent and self.ws.state is ConnectionState.OPEN:
            self.close_sent = True
            self._carrier.write(self.ws.send(CloseConnection(code, reason)))

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
            self._carrier.accept(headers)
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
            carrier = self._carrier
            carrier.write(self.ws.send(event))
            if carrier.is_outbound_full:
                await carrier.wait_writable()
        elif kind == "websocket.close":
            if not self.accepted:
                self.closed = True
                self._carrier.deny(403)
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
                self._carrier.deny(500)
            else:
                self.close(1011)
        else:
            if not self.accepted and not self.closed:
                self._carrier.deny(403)
            else:
                self.close(1000)
        finally:
            on_done()


class WebSocketHttp1Connection(TablePhaseConnection, asyncio.Protocol):
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
        #: The transport's write pause: while it holds, reading is paused too
        #: (``_outbound_changed``), so a peer that never reads cannot make us
        #: buffer; ``send_timeout`` of it and the connection is aborted.
        self.flow = WriteFlow(
            self.loop,
            self._outbound_changed,
            stall_timeout=state.config.send_timeout,
            on_stall=self._send_stalled,
        )
        #: Reading is paused while the outbound is full (``OUTBOUND_FULL``) or
        #: input from a large read waits for the next loop turns (``_BACKLOG``).
        self.reads = ReadGate()
        self._backlog = bytearray()
        self._backlog_handle: asyncio.Handle | None = None
        self.session = WebSocketSession(scope, self.loop, state.config, self)

    # -- WebSocketCarrier ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write unless the write side is shut (``is_write_closed``: after
        ``write_eof`` a write raises, and ``is_closing()`` is still False)."""
        transport = self.transport
        if transport is not None and not self.is_write_closed and not transport.is_closing():
            transport.write(data)

    def start(self) -> None:
        if self.transport is not None:
            self.reads.attach(self.transport)
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

    @property
    def is_outbound_full(self) -> bool:
        return self.flow.is_paused

    async def wait_writable(self) -> None:
        await self.flow.drain()

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
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
        if self.phase is not ConnectionPhase.OPEN:
            self._send_going_away()
        if self.pending:
            data, self.pending = self.pending, b""
            self.session.feed(data)

    def deny(self, status: int) -> None:
        self.write(encode_head(status, [(b"content-length", b"0"), (b"connection", b"close")]))
        self.close_gracefully()

    def finish(self) -> None:
        self.close_gracefully()

    # -- asyncio protocol ----------------------------------------------------------------

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    def _outbound_changed(self, is_full: bool) -> None:
        """The peer is not reading what we write: stop reading what it sends
        (PINGs it floods us with wait in its own socket buffer, not our
        memory); once it reads again, answer the PING we held back."""
        if is_full:
            self.reads.hold(OUTBOUND_FULL)
            return
        self.reads.release(OUTBOUND_FULL)
        self.session.writable()

    def _send_stalled(self) -> None:
        """The peer read nothing for ``send_timeout``: no Close can reach it,
        so the connection is aborted, which frees what we buffered."""
        self.state.observer.emit(
            oe.SendStalled(self.loop.time(), self.label, 0, self.state.config.send_timeout)
        )
        self.session.disconnected(ABNORMAL)
        self.abort()

    def close_gracefully(self) -> None:
        self.reads.open_for_good()  # the lingering close reads and discards
        super().close_gracefully()

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
        if self.session.discarding:
            return
        if len(data) <= FEED_SLICE and not self._backlog:
            self.session.feed(data)
            return
        self._backlog += data
        if self._backlog_handle is None:
            self.reads.hold(_BACKLOG)
            self._feed_backlog()

    def _feed_backlog(self) -> None:
        """Parse one ``FEED_SLICE`` of the backlog; the rest on the next loop turn."""
        self._backlog_handle = None
        backlog = self._backlog
        data = bytes(backlog[:FEED_SLICE])
        del backlog[:FEED_SLICE]
        self.session.feed(data)
        if backlog and not self.session.discarding:
            self._backlog_handle = self.loop.call_soon(self._feed_backlog)
        else:
            backlog.clear()
            self.reads.release(_BACKLOG)

    def eof_received(self) -> bool | None:
        if self._backlog_handle is not None:
            self._backlog_handle.cancel()
            self._backlog_handle = None
            self.session.feed(bytes(self._backlog))
            self._backlog.clear()
        self.session.feed(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.flow.connection_lost()
        if self._backlog_handle is not None:
            self._backlog_handle.cancel()
            self._backlog_handle = None
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
    """An RFC 8441 WebSocket on one HTTP/2 stream; looks like an ``Http2Stream`` to the connection.

    As a ``WebSocketCarrier`` its outbound is full while the connection's
    transport is paused or the stream's queue is over what the peer's window
    lets out (``StreamOwner.is_send_backlogged``). Meanwhile the
    flow-control credit of what the peer sends is withheld, so the peer can
    send at most one stream window more; the credit goes back, and a held
    PING is answered, once the outbound has room (``_unblock``).
    """

    def __init__(self, conn: StreamOwner, stream_id: int, scope: Scope) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.response_complete = False
        self.more_body = True
        self.disconnected = False
        self.task: asyncio.Task[None] | None = None
        self.writer_waiter: asyncio.Future[None] | None = None
        #: Flow-control credit held back while the outbound is full.
        self._withheld = 0
        self._unblocking: asyncio.Task[None] | None = None
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
        self.session = WebSocketSession(scope, conn.loop, conn.state.config, self)

    async def run(self, app: ASGIApp) -> None:
        """The stream's task, as ``MultiplexedConnection._run_stream`` starts it."""
        try:
            await self.session.run(app, self.finish)
        finally:
            self.conn.task_done(self)

    # -- WebSocketCarrier ----------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.conn.send_data(self.stream_id, data, False)
        self.conn.flush()

    def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.conn.send_headers(self.stream_id, [(b":status", b"200"), *headers], False)
        self.conn.flush()
        if self.conn.phase is not ConnectionPhase.OPEN:
            self.going_away()

    def deny(self, status: int) -> None:
        self.response_complete = True
        self.conn.send_headers(self.stream_id, [(b":status", b"%d" % status)], True)
        self.conn.flush()

    def finish(self) -> None:
        if not self.response_complete:
            self.response_complete = True
            self.conn.send_data(self.stream_id, b"", True)
            self.conn.flush()

    @property
    def is_outbound_full(self) -> bool:
        conn = self.conn
        return conn.flow.is_paused or conn.is_send_backlogged(self.stream_id)

    async def wait_writable(self) -> None:
        """Bounded by ``send_timeout``: then the stream is reset (``send_stalled``)."""
        await self.conn.wait_for_room(self)

    async def _unblock(self) -> None:
        """Give back the withheld credit and answer a held PING once there is room."""
        await self.wait_writable()
        withheld, self._withheld = self._withheld, 0
        if withheld:
            self.conn.acknowledge(self.stream_id, withheld)
        if not self.disconnected:
            self.session.writable()

    def going_away(self) -> None:
        if self.session.accepted and not self.session.close_sent:
            self.session.close(GOING_AWAY, "going away")
            self.conn.state.observer.emit(
                oe.WebSocketClosing(self.conn.loop.time(), self.conn.label, GOING_AWAY)
            )

    # -- StreamHandler: what the connection drives ------------------------------------
    def feed_body(self, data: bytes, flow_controlled_length: int, end_stream: bool) -> None:
        if flow_controlled_length:
            if self.disconnected or self.session.discarding or not self.is_outbound_full:
                self.conn.acknowledge(self.stream_id, flow_controlled_length)
            else:
                self._withheld += flow_controlled_length
                if self._unblocking is None or self._unblocking.done():
                    self._unblocking = self.conn.loop.create_task(self._unblock())
        self.session.feed(data)
        if end_stream:
            self.session.feed(None)

    def end_body(self) -> None:
        self.session.feed(None)

    def disconnect(self) -> None:
        self.disconnected = True
        self.session.disconnected(ABNORMAL)
        self.wake_writer()

    def wake_writer(self) -> None:
        waiter = self.writer_waiter
        if waiter is not None:
            self.writer_waiter = None
            if not waiter.done():
                waiter.set_result(None)


def start_h2_websocket(conn: StreamOwner, stream_id: int, scope: Scope, end_stream: bool) -> None:
    """Serve an extended CONNECT (``:protocol websocket``) stream (RFC 8441 §4)."""
    stream = _H2WebSocketStream(conn, stream_id, scope)
    conn.run_stream(stream, conn.state.app)
    if end_stream:
        stream.session.disconnected(ABNORMAL)
