"""What the HTTP/2 and HTTP/3 server adapters share: many ASGI requests on one connection.

HTTP/2 (RFC 9113 §8) and HTTP/3 (RFC 9114 §4) carry each request on its own
stream of one connection, and the application sees both the same way: the
same ``http`` scope (``stream_scope.py``), the same messages, the same
``http.disconnect`` rules (ASGI spec 2.4: after the response, when the client
resets the stream, at grace expiry), trailers through the
``http.response.trailers`` extension. So that state machine is written once,
here, as two plain base classes:

- ``MultiplexedStream``: one request and its response. Receive side: body
  bytes are buffered per stream and flow-control credit is given back
  (``conn.acknowledge``) only as the app consumes them, so a slow app slows
  its client instead of filling our memory. Send side: the engine buffers
  what the peer does not take yet; ``send()`` waits while
  ``conn.is_send_backlogged(stream_id)`` and is woken by ``wake_writer()``,
  then waits for the transport's write pause (``conn.flow``).
- ``MultiplexedConnection``: the streams and their tasks, starting and
  finishing them, the common part of grace expiry (``cancel``), and the
  send-stall bound (``wait_for_room``): a stream whose peer takes nothing of
  its backlog for ``send_timeout`` -- no window, no ACKs, a transport
  that stays paused -- is reset and its handler disconnected, and so is a
  finished response whose last bytes the peer never takes.

Two Protocols say what each side uses of the other, so another kind of
stream can live on the same connection without a cast: ``StreamHandler``
(what the connection drives: ``MultiplexedStream``, and the RFC 8441
WebSocket stream in ``websocket.py``) and ``StreamOwner`` (what a handler
uses of its connection; ``MultiplexedConnection`` declares it, and the
engine calls in it are left to ``http2.py`` and ``http3.py``).

What differs stays in the protocol modules: the response head's fields
(``http2_stream.py``, ``http3_stream.py``), and in ``http2.py`` /
``http3.py`` the engine calls, what "backlogged" means (HTTP/2: bytes the
peer's window does not allow yet, woken by WINDOW_UPDATE; HTTP/3: bytes not
yet acknowledged, woken after datagrams), and how a failed stream is ended.

What an application sends is checked before it reaches the engine, since a
malformed response costs the client the stream (RFC 9113 §8.1.1, RFC 9114
§4.1.2) and a CR or LF in a field is how responses are smuggled through
proxies that translate to HTTP/1.1 (RFC 9110 §5.5): field names must be
tokens and are sent lowercase, never pseudo-headers; values carry no CR, LF
or NUL; connection-specific fields are dropped (RFC 9113 §8.2.2, RFC 9114
§4.2); the status is a final one (200-999: 1xx belong to the server); the
body matches the app's ``content-length``, and 204, 304 and HEAD carry none.
An app that breaks a rule gets ``RuntimeError`` from ``send()``; the client
gets a 500 if nothing of the response was sent yet, else a reset stream, so a
truncated body is never taken for a whole one. ``max_body_size`` applies as
for HTTP/1.1: a declared length over it is answered 413 without the app, a
body that grows past it ends the app's reading with ``http.disconnect``.

With ``state.is_request_observed`` on (access log, metrics), each response
that completes is reported (``RequestCompleted``); off, that costs one
attribute test per response.

These are base classes with methods, not callbacks: HTTP/2 streams sit on
the server's hottest path. Per DATA frame the calls are the ones the two
copies made (``feed_body``, ``conn.send_data``, ``conn.is_send_backlogged``);
the one new call is ``response_head``, once per response, and nothing
allocates or awaits more than before.
"""

from __future__ import annotations

import asyncio
import logging
from abc import abstractmethod
from collections.abc import Awaitable
from typing import Any, ClassVar, Protocol

from lastcall._mypyc import mypyc_attr
from lastcall.io import WriteFlow
from lastcall.io.deadline import MovingDeadline
from lastcall.lifecycle import ConnectionPhase
from lastcall.observe import events as oe

from .asgi import ASGIApp, Message, Scope
from .connection import ConnectionBase
from .date import date_header
from .response_cut import ResponseCut
from .response_fields import CONTENT_LENGTH, app_fields
from .state import ServerState
from .stream_scope import ScopeTemplate, StreamRequest, build_stream_scope

__all__ = ["MultiplexedConnection", "MultiplexedStream", "StreamHandler", "StreamOwner"]

logger = logging.getLogger("lastcall.server")
Headers = list[tuple[bytes, bytes]]

_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}
#: Body sends that return without waiting before ``send()`` yields to the loop once.
YIELD_EVERY_SENDS = 16
#: Responses that never carry content (RFC 9110 §15.3.5, §15.4.5); HEAD's too.
_NO_CONTENT = frozenset({204, 304})


def _bare_head(status: int) -> Headers:
    """The head of a response the server gives itself (500, 413): no content."""
    return [(b":status", b"%d" % status), (b"content-length", b"0"), (b"date", date_header())]


class StreamHandler(Protocol):
    """One stream of a multiplexed connection, as the connection drives it.

    ``MultiplexedStream`` (a request and its response) is one; the RFC 8441
    WebSocket stream (``websocket.py``) is the other. The connection feeds it
    what arrives, wakes its writer when the peer took some of the backlog,
    tells it when the connection drains, and runs its task.
    """

    stream_id: int
    task: asyncio.Task[None] | None
    #: The peer reset it, the connection is gone, or it was given up on.
    disconnected: bool
    #: Nothing more will be queued for it (the response is whole, or was cut).
    response_complete: bool
    #: More of the request body (or WebSocket input) may still come.
    more_body: bool
    #: Set while its writer waits in ``StreamOwner.wait_for_room``.
    writer_waiter: asyncio.Future[None] | None

    async def run(self, app: ASGIApp) -> None:
        """The stream's task: the application, then ``StreamOwner.task_done``."""

    def feed_body(self, data: bytes, flow_controlled_length: int, end_stream: bool) -> None:
        """Input arrived; ``flow_controlled_length`` is the credit it used."""

    def end_body(self) -> None:
        """Trailers, or the end of the stream, ended the input."""

    def disconnect(self) -> None:
        """Reset by the peer, connection gone, grace expired or given up on."""

    def wake_writer(self) -> None:
        """The backlog may have shrunk (window update, ACKs) or the stream ended."""

    def going_away(self) -> None:
        """The connection began draining: say so on the stream if its protocol
        can (a WebSocket sends Close 1001); a request has nothing to send."""


@mypyc_attr(allow_interpreted_subclasses=True)  # MultiplexedConnection's base
class StreamOwner(Protocol):
    """The connection as its stream handlers see it.

    The engine calls (``send_headers`` ... ``reset``, ``flush``,
    ``is_send_backlogged``, ``outbound_buffered``) are each protocol's own,
    written in ``http2.py`` and ``http3.py``; the rest is
    ``MultiplexedConnection``'s, shared.
    """

    loop: asyncio.AbstractEventLoop
    state: ServerState
    label: str
    #: The transport's write pause (never paused for HTTP/3).
    flow: WriteFlow
    #: ``max_body_size`` per request (-1: none).
    body_limit: int

    @property
    def phase(self) -> ConnectionPhase:
        """The connection's phase, which its engine keeps (OPEN until a GOAWAY either way)."""

    def send_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        """Queue a header section; nothing if the stream is already gone."""

    def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        """Queue body bytes; nothing if the stream is already gone."""

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        """Queue the trailer section, which ends the stream."""

    def flush(self) -> None:
        """Have what the streams queued written, once the current loop turn is over."""

    def is_send_backlogged(self, stream_id: int) -> bool:
        """Is more of this stream's output buffered than ``send()`` should add to?"""

    def outbound_buffered(self, stream_id: int) -> int:
        """Bytes of the stream's output the peer has not taken yet (HTTP/2:
        queued for window; HTTP/3: not acknowledged)."""

    def is_stream_open(self, stream_id: int) -> bool:
        """Does the engine still have the stream (neither ended nor reset)?"""

    def reset(self, stream_id: int, internal: bool) -> None:
        """Reset the stream both ways: ``internal``, the app failed
        (INTERNAL_ERROR / H3_INTERNAL_ERROR); else we stopped it (CANCEL /
        H3_REQUEST_CANCELLED)."""

    def refuse(self, stream_id: int) -> None:
        """Reset the stream both ways as never processed (REFUSED_STREAM /
        H3_REQUEST_REJECTED): the client may send it again."""

    def acknowledge(self, stream_id: int, n: int) -> None:
        """``n`` bytes of input were consumed: give their flow-control credit back."""

    def run_stream(self, handler: StreamHandler, app: ASGIApp) -> None:
        """Register a new stream's handler and start its task."""

    def task_done(self, handler: StreamHandler) -> None:
        """A stream's task ended."""

    async def wait_for_room(self, handler: StreamHandler) -> None:
        """Wait while the stream is backlogged or the transport paused, at most
        ``send_timeout`` without progress."""

    def stream_failed(self, stream: MultiplexedStream) -> None:
        """The app failed its response: a 500, or a reset."""

    def stream_cut(self, stream: MultiplexedStream, *, cancelled: bool, refused: bool) -> None:
        """The app cut its response (``ResponseCut``): a 502 or a refusal, or a reset."""

    def body_too_large(self, stream: MultiplexedStream) -> None:
        """The request body passed ``max_body_size`` while the app read it."""


class MultiplexedStream:
    """State of one request stream and its response; see the module docstring.

    A subclass supplies ``response_head`` (the fields of the response's
    HEADERS) and nothing else. It holds its connection as the concrete
    ``MultiplexedConnection``, not as a ``StreamOwner``: compiled, the calls
    of every request (``send_headers``, ``send_data``, ``flush``,
    ``task_done``...) are then direct instead of Python method lookups.
    """

    __slots__ = (
        "_body_delivered",
        "_unyielded",
        "bodiless",
        "body",
        "body_left",
        "conn",
        "content_length",
        "disconnected",
        "expect_trailers",
        "headers",
        "headers_sent",
        "is_head",
        "length_left",
        "more_body",
        "response_complete",
        "response_started",
        "scope",
        "started_at",
        "status",
        "stream_id",
        "task",
        "unacked",
        "waiter",
        "writer_waiter",
    )

    def __init__(
        self,
        conn: MultiplexedConnection,
        stream_id: int,
        scope: Scope,
        end_stream: bool,
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.scope = scope
        #: When the request's HEADERS arrived (the request metrics' latency).
        #: Only read while requests are observed: ``loop.time()`` is 0.2-0.3 us,
        #: 1 % of a request at bench rates, for a feature off by default.
        self.started_at = conn.loop.time() if conn.state.is_request_observed else 0.0
        self.body = bytearray()
        #: Flow-control credit of the buffered body, given back as the app takes it.
        self.unacked = 0
        self.more_body = not end_stream
        #: Request body bytes ``max_body_size`` still allows (-1: no limit).
        self.body_left = conn.body_limit
        self.is_head = scope.get("method") == "HEAD"
        #: No content in this response whatever the app sends: HEAD, 204, 304.
        self.bodiless = False
        self.waiter: asyncio.Future[None] | None = None
        self.writer_waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.response_started = False
        self.headers_sent = False
        self.response_complete = False
        self.expect_trailers = False
        self.status = 0
        self.headers: Headers = []
        #: The app's ``content-length`` (-1: none), and what of it is still to
        #: come (-1: not counted, for no length or no content).
        self.content_length = -1
        self.length_left = -1
        self.task: asyncio.Task[None] | None = None
        self._body_delivered = False
        self._unyielded = 0

    @abstractmethod
    def response_head(self, end_stream: bool) -> Headers:
        """``:status``, the app's fields and what the server adds, in wire order;
        ``end_stream`` when the HEADERS frame is the whole response."""

    def going_away(self) -> None:
        """A request learns of the drain through the ``lastcall.drain`` extension."""

    # -- fed by the connection --------------------------------------------------------

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wake_writer(self) -> None:
        """The backlog may have shrunk (window update, ACKs) or the stream ended."""
        waiter = self.writer_waiter
        if waiter is not None:
            self.writer_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def feed_body(self, data: bytes, flow_controlled_length: int, end_stream: bool) -> None:
        """Request body arrived; ``flow_controlled_length`` is the credit it used
        (HTTP/2 DATA with padding; 0 for HTTP/3, whose windows aioquic extends).

        Past ``max_body_size`` the connection refuses the body
        (``body_too_large``); once disconnected nobody will read what still
        comes, so its credit goes back at once.
        """
        if self.disconnected:
            if flow_controlled_length:
                self.conn.acknowledge(self.stream_id, flow_controlled_length)
            return
        self.unacked += flow_controlled_length
        left = self.body_left
        if left >= 0:
            left = self.body_left = left - len(data)
            if left < 0:
                self.conn.body_too_large(self)
                return
        self.body += data
        if end_stream:
            self.more_body = False
        self._wake()

    def end_body(self) -> None:
        """Trailers (or the end of the stream) ended the request body."""
        self.more_body = False
        self._wake()

    def disconnect(self) -> None:
        """Reset by the peer, connection gone, grace expired, or the body over
        ``max_body_size``: the app sees ``http.disconnect``, and what it sends
        from now on is dropped without error (ASGI spec 2.4)."""
        self.disconnected = True
        self._wake()
        self.wake_writer()

    # -- ASGI ---------------------------------------------------------------------------

    async def receive(self) -> Message:
        while True:
            if self.body or (not self.more_body and not self._body_delivered):
                body = bytes(self.body)
                self.body.clear()
                if not self.more_body:
                    self._body_delivered = True
                if self.unacked:
                    self.conn.acknowledge(self.stream_id, self.unacked)
                    self.unacked = 0
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            if self.disconnected or self.response_complete:
                return _DISCONNECT
            waiter = self.waiter = self.conn.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        kind = message["type"]
        conn = self.conn
        if kind == "http.response.start":
            if self.disconnected:
                return  # ASGI spec 2.4: after a disconnect, sends are no-ops
            if self.response_started:
                raise RuntimeError("http.response.start sent twice")
            status = message["status"]
            if type(status) is not int:
                status = int(status)
            if not 200 <= status <= 999:
                # 1xx are the server's to send; :status is three digits (RFC 9113 §8.3.2).
                raise RuntimeError(f"invalid response status {status} from the application")
            headers, length = app_fields(message.get("headers", ()))
            bodiless = self.is_head or status in _NO_CONTENT
            if status == 204 and length >= 0:
                # RFC 9110 §8.6: never in a 204; nghttp2 refuses any but "0".
                headers = [f for f in headers if f[0] is not CONTENT_LENGTH]
                length = -1
            self.status = status
            self.headers = headers
            self.content_length = length
            self.length_left = -1 if bodiless else length
            self.bodiless = bodiless
            self.expect_trailers = bool(message.get("trailers", False))
            self.response_started = True
            return
        if kind == "http.response.body":
            if self.disconnected:
                # Dropped (ASGI 2.4); an app that keeps writing without checking
                # for the disconnect must still let the other clients run.
                self._unyielded += 1
                if self._unyielded >= YIELD_EVERY_SENDS:
                    self._unyielded = 0
                    await asyncio.sleep(0)
                return
            if not self.response_started or self.response_complete:
                raise RuntimeError(f"unexpected ASGI message {kind!r} at this point")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.bodiless:
                body = b""  # HEAD, 204, 304: RFC 9113 §8.1.1, no DATA at all
            else:
                left = self.length_left
                if left >= 0:
                    left = self.length_left = left - len(body)
                    if left < 0 or (left and not more):
                        self._length_broken(left)
            ends = not more and not self.expect_trailers
            if not self.headers_sent:
                self.headers_sent = True
                whole = ends and not body
                conn.send_headers(self.stream_id, self.response_head(whole), whole)
                if body:
                    conn.send_data(self.stream_id, body, ends)
            elif body or ends:
                conn.send_data(self.stream_id, body, ends)
            conn.flush()
            if ends:
                self.response_complete = True
                if conn.state.is_request_observed and not self.disconnected:
                    conn.state.request_done(self.scope, self.status, self.started_at)
                return
            if conn.flow.is_paused or conn.is_send_backlogged(self.stream_id):
                await conn.wait_for_room(self)
            else:
                # Nothing made us wait: an app writing many small pieces would
                # hold the loop until its backlog filled (6,500 sends for 64 KiB
                # of 10-byte chunks: every other client waited). Yield now and then.
                self._unyielded += 1
                if self._unyielded >= YIELD_EVERY_SENDS:
                    self._unyielded = 0
                    await asyncio.sleep(0)
            return
        if kind == "http.response.trailers":
            if self.disconnected:
                return
            if not self.expect_trailers or self.response_complete or not self.headers_sent:
                raise RuntimeError("http.response.trailers without trailers=True and a body")
            if message.get("more_trailers", False):
                raise RuntimeError("more_trailers is not supported")
            if self.length_left > 0:
                self._length_broken(self.length_left)
            trailers, length = app_fields(message.get("headers", ()))
            if length >= 0:
                # A framing field: never in trailers (RFC 9110 §6.5.1).
                trailers = [f for f in trailers if f[0] is not CONTENT_LENGTH]
            conn.send_trailers(self.stream_id, trailers)
            conn.flush()
            self.response_complete = True
            if conn.state.is_request_observed and not self.disconnected:
                conn.state.request_done(self.scope, self.status, self.started_at)
            return
        raise RuntimeError(f"unexpected ASGI message {kind!r} for http")

    def _length_broken(self, left: int) -> None:
        """The body is longer than the app's ``content-length``, or ended shorter:
        malformed (RFC 9113 §8.1.1, RFC 9114 §4.1.2). Nothing more of it goes
        out: a 500 if nothing did yet, else the stream is reset, never ended
        as if complete. Then the app hears of it."""
        self.conn.stream_failed(self)
        how = "longer than" if left < 0 else "shorter than"
        raise RuntimeError(f"response body {how} its content-length {self.content_length}")

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            self.conn.stream_failed(self)
            raise
        except ResponseCut as cut:
            logger.info(
                "response cut by the application (%s stream %d): %s",
                self.conn.label,
                self.stream_id,
                cut,
            )
            self.conn.stream_cut(self, cancelled=cut.cancelled, refused=cut.refused)
        except Exception:
            logger.exception(
                "exception in ASGI application (%s stream %d)", self.conn.label, self.stream_id
            )
            self.conn.stream_failed(self)
        else:
            if not self.response_complete:
                if not self.disconnected:
                    # After http.disconnect returning is what the app should do.
                    logger.error(
                        "ASGI app returned without %s the response (%s stream %d)",
                        "completing" if self.response_started else "starting",
                        self.conn.label,
                        self.stream_id,
                    )
                self.conn.stream_failed(self)
        finally:
            unread = self.unacked
            if unread:
                # Body the app never read: nobody will, so its flow-control
                # credit goes back now. Kept, it was lost to the connection
                # window for good (16 such 1 MiB bodies stopped all uploads).
                self.unacked = 0
                self.body.clear()
                self.conn.acknowledge(self.stream_id, unread)
            self.conn.task_done(self)


@mypyc_attr(allow_interpreted_subclasses=True)  # Http3Connection is not compiled
class MultiplexedConnection(ConnectionBase, StreamOwner):
    """The streams of one HTTP/2 or HTTP/3 connection and the surface they use.

    A subclass implements the engine calls that ``StreamOwner`` declares
    (``send_headers`` ... ``reset``, ``flush``, ``is_send_backlogged``,
    ``outbound_buffered``) and ``_cancel_remaining``; ``acknowledge`` and
    ``writer_waiting`` do nothing unless its protocol needs them.
    """

    #: ``how`` of the ``request_cancelled`` events this protocol's grace expiry emits.
    cancel_how: ClassVar[str]

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.streams: dict[int, StreamHandler] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        #: The transport's write pause: TCP's for HTTP/2. The QUIC endpoint
        #: never pauses a connection (aioquic's congestion control paces what
        #: it sends), so for HTTP/3 this stays open.
        self.flow = WriteFlow(self.loop)
        self._cancelled = False
        limit = state.config.max_body_size
        #: ``max_body_size`` per request (-1: none, the config's 0).
        self.body_limit = limit if limit > 0 else -1
        #: Set by a protocol that bounds idle time itself (HTTP/2: its
        #: ``http2_idle_timeout``; QUIC has its own): moved to ``idle_timeout``
        #: from now whenever the last stream ends.
        self.idle_deadline: MovingDeadline | None = None
        self.idle_timeout = 0.0
        #: ``send_timeout`` (0: none), and the timers of finished
        #: responses whose last bytes the peer has not taken yet.
        self.send_timeout = state.config.send_timeout
        self._stall_watches: dict[int, asyncio.TimerHandle] = {}
        #: What every request's scope shares, made at the first request.
        self._scope_template: ScopeTemplate | None = None

    # -- streams ------------------------------------------------------------------------

    def stream_request(self, headers: Headers, http_version: str) -> StreamRequest:
        """The scope of a request that arrived on this connection, and its app."""
        template = self._scope_template
        if template is None:
            template = self._scope_template = ScopeTemplate(self, http_version, self.scheme)
        return build_stream_scope(template, headers)

    def run_stream(self, handler: StreamHandler, app: ASGIApp) -> None:
        """Register a new stream's handler and start its task."""
        self.streams[handler.stream_id] = handler
        task = self.loop.create_task(handler.run(app))
        handler.task = task
        self.tasks.add(task)

    def _transport_closed(self) -> None:
        """The transport is gone: every app sees ``http.disconnect``, and the
        connection leaves the registry now, or when its last task ends."""
        for stream in self.streams.values():
            stream.disconnect()
        for handle in self._stall_watches.values():
            handle.cancel()
        self._stall_watches.clear()
        if not self.tasks:
            self._connection_gone()

    def task_done(self, stream: StreamHandler) -> None:
        """A stream's task ended; the last one after the transport closed ends us."""
        # Not ``+=``: ``requests`` is ConnectionBase's (not compiled), and mypyc
        # 2.4 crashes on an augmented assignment to an attribute a compiled
        # class inherits from an interpreted one.
        self.requests = self.requests + 1
        if stream.task is not None:
            self.tasks.discard(stream.task)
        self.streams.pop(stream.stream_id, None)
        if stream.response_complete and not stream.disconnected and not self._cancelled:
            self._watch_unsent(stream)
        if not self.tasks:
            if self.phase is ConnectionPhase.CLOSED:
                self._connection_gone()
            elif self.idle_deadline is not None and self.phase is ConnectionPhase.OPEN:
                self.idle_deadline.set_after(self.idle_timeout)

    # -- used by streams ------------------------------------------------------------------

    # The engine calls, each protocol's own (``StreamOwner`` says what they do).
    # Declared here again, not only inherited from the Protocol, for the compiled
    # build: mypyc dispatches a pure-Python subclass's overrides (Http3Connection's)
    # only for methods this class defines; an inherited Protocol stub is called as is.

    @property
    def phase(self) -> ConnectionPhase:
        """The engine's phase: each protocol reads its own (``http2.py``, ``http3.py``)."""
        raise NotImplementedError

    def send_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        raise NotImplementedError

    def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        raise NotImplementedError

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        raise NotImplementedError

    def is_send_backlogged(self, stream_id: int) -> bool:
        raise NotImplementedError

    def outbound_buffered(self, stream_id: int) -> int:
        raise NotImplementedError

    def is_stream_open(self, stream_id: int) -> bool:
        raise NotImplementedError

    def reset(self, stream_id: int, internal: bool) -> None:
        raise NotImplementedError

    def refuse(self, stream_id: int) -> None:
        raise NotImplementedError

    def acknowledge(self, stream_id: int, n: int) -> None:
        """The app consumed ``n`` body bytes: give their flow-control credit back."""

    # -- send stalls ------------------------------------------------------------------------

    async def wait_for_room(self, stream: StreamHandler) -> None:
        """Wait while ``stream``'s response is backlogged, then for the transport's
        write pause; give up after ``send_timeout`` without progress.

        Progress is the stream's backlog shrinking (the peer gave window, or
        acknowledged data): each time it does the timeout starts again, as
        nginx's ``send_timeout`` counts between two successive writes, so a
        slow reader is served and only one that takes nothing is cut
        (``send_stalled``).
        """
        sid = stream.stream_id
        loop = self.loop
        stall = self.send_timeout
        mark = self.outbound_buffered(sid)
        deadline = loop.time() + stall if stall > 0.0 else None
        while not stream.disconnected:
            wait: Awaitable[None]
            if self.is_send_backlogged(sid):
                waiter = stream.writer_waiter = loop.create_future()
                self.writer_waiting(stream)
                wait = waiter
            elif self.flow.is_paused:
                wait = self.flow.drain()
            else:
                return
            try:
                async with asyncio.timeout_at(deadline):
                    await wait
            except TimeoutError:
                left = self.outbound_buffered(sid)
                if left < mark:
                    mark, deadline = left, loop.time() + stall
                    continue
                self.send_stalled(stream)
                return
            left = self.outbound_buffered(sid)
            if left < mark and stall > 0.0:
                mark, deadline = left, loop.time() + stall

    def send_stalled(self, stream: StreamHandler) -> None:
        """The peer took nothing of ``stream``'s response for ``send_timeout``:
        reset the stream (CANCEL / H3_REQUEST_CANCELLED) and tell its handler,
        which sees a disconnect. What the engine held for it is freed."""
        sid = stream.stream_id
        self.state.observer.emit(
            oe.SendStalled(self.loop.time(), self.label, sid, self.send_timeout)
        )
        stream.response_complete = True
        if self.is_stream_open(sid):
            self.reset(sid, internal=False)
            self.flush()
        stream.disconnect()

    def _watch_unsent(self, stream: StreamHandler) -> None:
        """The app finished but the engine still holds part of its response:
        reset the stream if the peer takes none of it for ``send_timeout``."""
        sid = stream.stream_id
        if self.send_timeout > 0.0 and self.is_stream_open(sid):
            mark = self.outbound_buffered(sid)
            if mark > 0:
                self._stall_watches[sid] = self.loop.call_later(
                    self.send_timeout, self._check_unsent, stream, mark
                )

    def _check_unsent(self, stream: StreamHandler, mark: int) -> None:
        sid = stream.stream_id
        self._stall_watches.pop(sid, None)
        if not self.is_stream_open(sid):
            return
        left = self.outbound_buffered(sid)
        if left <= 0:
            return
        if left < mark:
            self._stall_watches[sid] = self.loop.call_later(
                self.send_timeout, self._check_unsent, stream, left
            )
        else:
            self.send_stalled(stream)

    def writer_waiting(self, stream: StreamHandler) -> None:
        """``stream`` waits in ``send()`` until ``wake_writer()``."""

    def stream_failed(self, stream: MultiplexedStream) -> None:
        """The app raised, returned early or broke its response's framing: a 500
        if nothing was sent yet, else a reset as an internal error, so the
        client never takes a truncated body for a complete one (RFC 9113
        §8.1.1, RFC 9114 §4.1.2)."""
        self._end_early(stream, 500)

    def stream_cut(self, stream: MultiplexedStream, *, cancelled: bool, refused: bool) -> None:
        """The app cut its response (``ResponseCut``): if nothing was sent yet,
        a refused stream (``refused``) or a 502; else a reset: CANCEL
        (H3_REQUEST_CANCELLED) when ``cancelled``, else INTERNAL_ERROR
        (H3_INTERNAL_ERROR)."""
        if refused and not stream.headers_sent and not stream.response_complete:
            if stream.disconnected:
                return
            stream.response_complete = True
            sid = stream.stream_id
            if self.is_stream_open(sid):
                self.refuse(sid)
                self.flush()
            return
        self._end_early(stream, 502, cancelled=cancelled)

    def body_too_large(self, stream: MultiplexedStream) -> None:
        """The request body passed ``max_body_size`` while the app read it.

        The client gets a 413 (RFC 9110 §15.5.14) if nothing of the response
        was sent yet, else the stream is reset; either way we read no more of
        the request (after a complete 413 the engine stops the client's side:
        HTTP/2 RST_STREAM(NO_ERROR), RFC 9113 §8.1; HTTP/3 STOP_SENDING with
        H3_NO_ERROR, RFC 9114 §4.1). The app sees ``http.disconnect``; what it
        had not read is dropped and its flow-control credit given back.
        """
        unacked = stream.unacked
        if unacked:
            stream.unacked = 0
            self.acknowledge(stream.stream_id, unacked)
        stream.body.clear()
        self._end_early(stream, 413)
        stream.disconnect()

    def refuses_body(
        self, stream_id: int, headers: Headers, end_stream: bool, scope: Scope
    ) -> bool:
        """A request whose ``content-length`` is over ``max_body_size`` is answered
        413 at once and never reaches the app (as HTTP/1.1 does); its body is
        not read (see ``body_too_large``). The engines checked the value."""
        limit = self.body_limit
        if limit < 0 or end_stream:
            return False
        for name, value in headers:
            if name == b"content-length":
                if int(value) <= limit:
                    return False
                self.send_headers(stream_id, _bare_head(413), True)
                self.flush()
                if self.state.is_request_observed:
                    self.state.request_done(scope, 413, self.loop.time())
                return True
        return False

    def _end_early(
        self, stream: MultiplexedStream, status: int, *, cancelled: bool = False
    ) -> None:
        """End a response the app will not finish: ``status`` if nothing was sent, else a reset."""
        if stream.response_complete or stream.disconnected:
            return
        stream.response_complete = True
        sid = stream.stream_id
        if not self.is_stream_open(sid):
            return
        if not stream.headers_sent:
            stream.headers_sent = True
            self.send_headers(sid, _bare_head(status), True)
            if self.state.is_request_observed:
                self.state.request_done(stream.scope, status, stream.started_at)
        else:
            self.reset(sid, internal=status >= 500 and not cancelled)
        self.flush()

    # -- grace expiry -----------------------------------------------------------------------

    def cancel(self, reason: str) -> None:
        """Grace expired: every app sees ``http.disconnect`` and its task is
        cancelled on the next loop turn; then the engine resets what is left
        (``_cancel_remaining``). Idempotent."""
        self._mark_draining(self.loop.time(), reason)
        if self._cancelled:
            return
        self._cancelled = True
        now = self.loop.time()
        for stream in list(self.streams.values()):
            if not stream.response_complete:
                self.state.observer.emit(oe.RequestCancelled(now, self.label, self.cancel_how))
            stream.disconnect()
        for task in list(self.tasks):
            self.loop.call_soon(task.cancel)
        self._cancel_remaining("forced" if reason == "forced" else "grace_expired")

    @abstractmethod
    def _cancel_remaining(self, why: str) -> None:
        """Reset every open stream, send the last GOAWAY (debug data / reason ``why``), close."""
