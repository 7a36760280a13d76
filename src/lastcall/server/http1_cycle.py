"""One HTTP/1.1 request/response exchange, seen by the application through ASGI.

The response head is written lazily, with the first body message: a response
whose whole body comes in one message goes out as one write with a computed
``Content-Length`` (no chunked framing), and a drain that begins between
``http.response.start`` and the first body still gets ``Connection: close``
onto the wire (RFC 9112 §9.6).

Framing (RFC 9112 §6.3): the app's ``Content-Length`` if given; else the body
length when it came in one message; else chunked (HTTP/1.1) or
close-delimited (HTTP/1.0). HEAD, 1xx, 204 and 304 carry no body.
Trailers (the ``http.response.trailers`` extension, needed by gRPC) force
chunked framing; they go out in the last chunk (RFC 9112 §7.1.2).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final, Protocol

from lastcall.engines.http1 import CHUNKED_END, encode_chunk, encode_trailers
from lastcall.engines.http1.response import STATUS_LINES, status_line
from lastcall.io import WriteFlow
from lastcall.lifecycle.phases import ConnectionPhase

from .asgi import ASGIApp, Message, Scope
from .date import date_header
from .state import ServerState

__all__ = ["CycleOwner", "RequestCycle"]

logger = logging.getLogger("lastcall.server")

#: Request body bytes buffered before we stop reading the socket (backpressure
#: on the client until the app calls ``receive()``). 64 KiB like uvicorn.
BODY_HIGH_WATER: Final = 65_536

# Final, so that compiled code inlines them instead of a dict lookup per use.
_DISCONNECT: Final[dict[str, Any]] = {"type": "http.disconnect"}
_NO_BODY_STATUS: Final = frozenset({204, 304})
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_CR: Final = 13
_LF: Final = 10
_NUL: Final = 0


class CycleOwner(Protocol):
    """What a ``RequestCycle`` needs of its connection (``Http1Connection`` is one).

    A Protocol rather than an import of the connection: the cycle is
    understood, and tested, apart from it, and the two modules do not import
    each other.
    """

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def state(self) -> ServerState: ...
    @property
    def label(self) -> str: ...
    @property
    def flow(self) -> WriteFlow: ...
    @property
    def phase(self) -> ConnectionPhase:
        """OPEN until the connection is told to drain (or closes)."""

    @property
    def closing_after_response(self) -> bool:
        """Bad bytes came after the requests being answered: the last answer closes."""

    def write(self, data: bytes) -> None: ...
    def should_close_after_this(self) -> bool:
        """Asked as a response head is written: must it carry ``Connection: close``?"""

    def pause_reading_for_body(self) -> None: ...
    def resume_reading_for_body(self) -> None: ...
    def waiting_for_body(self, cycle: RequestCycle) -> None: ...
    def response_done(self, cycle: RequestCycle) -> None: ...
    def response_failed(self, cycle: RequestCycle) -> None: ...
    def task_done(self, cycle: RequestCycle) -> None: ...


class RequestCycle:
    """State of one request and its response on an HTTP/1.1 connection."""

    __slots__ = (
        "_body_delivered",
        "_length_left",
        "bodiless",
        "body",
        "chunked",
        "conn",
        "disconnected",
        "expect_continue",
        "expect_trailers",
        "head_written",
        "headers",
        "http10",
        "is_head",
        "keep_alive",
        "more_body",
        "peer_closed",
        "response_complete",
        "response_started",
        "scope",
        "started_at",
        "status",
        "task",
        "waiter",
    )

    def __init__(
        self,
        conn: CycleOwner,
        scope: Scope,
        keep_alive: bool,
        expect_continue: bool,
        http10: bool,
        is_head: bool,
    ) -> None:
        self.conn = conn
        self.scope = scope
        #: When the request head was parsed (the request metrics' latency).
        #: Only read while requests are observed: ``loop.time()`` is 0.2-0.3 us,
        #: 1 % of a request at bench rates, for a feature off by default.
        self.started_at = conn.loop.time() if conn.state.is_request_observed else 0.0
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.http10 = http10
        self.is_head = is_head
        self.body = bytearray()
        self.more_body = True
        self.waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.peer_closed = False
        self.bodiless = False
        self.response_started = False
        self.head_written = False
        self.response_complete = False
        self.chunked = False
        self.expect_trailers = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.task: asyncio.Task[None] | None = None
        self._body_delivered = False
        self._length_left: int | None = None

    # -- fed by the connection --------------------------------------------------------

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def feed_body(self, data: bytes) -> None:
        self.body += data
        if len(self.body) > BODY_HIGH_WATER:
            self.conn.pause_reading_for_body()
        self._wake()

    def end_body(self) -> None:
        self.more_body = False
        self._wake()

    def close_from_peer(self) -> None:
        """The client sent FIN after its whole request: receive() now says ``http.disconnect``."""
        self.peer_closed = True
        self._wake()

    def disconnect(self) -> None:
        """The client went away, or the grace period ended: the app sees ``http.disconnect``."""
        self.disconnected = True
        self._wake()

    # -- ASGI receive ----------------------------------------------------------------

    async def receive(self) -> Message:
        if self.expect_continue:
            # RFC 9110 §10.1.1: the client waits for 100 before sending the body;
            # send it only once the app actually asks for the body.
            self.expect_continue = False
            if self.more_body and not self.head_written and not self.disconnected:
                self.conn.write(_CONTINUE)
        while True:
            if self.body or (not self.more_body and not self._body_delivered):
                body = bytes(self.body)
                self.body.clear()
                more = self.more_body
                if not more:
                    self._body_delivered = True
                self.conn.resume_reading_for_body()
                return {"type": "http.request", "body": body, "more_body": more}
            if self.disconnected or self.response_complete or self.peer_closed:
                # peer_closed: the client sent FIN after its whole request. Its
                # response may still be written (a half-close), but an app that
                # waits on receive() waits for exactly this news.
                return _DISCONNECT
            waiter = self.waiter = self.conn.loop.create_future()
            if self.more_body:
                self.conn.waiting_for_body(self)
            await waiter

    # -- ASGI send -------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.response_started:
                raise RuntimeError("http.response.body before http.response.start")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.disconnected:
                # Gone, or cancelled at grace expiry: a silent no-op (ASGI 2.4),
                # so an app finishing its response logs no error for it. The
                # connection cannot carry another response after this one.
                if not more:
                    self.conn.response_failed(self)
                return
            if self.response_complete:
                raise RuntimeError("http.response.body after the response was complete")
            conn = self.conn
            if not self.head_written:
                self._write_head(body, more)
            elif body and not self.bodiless:
                left = self._length_left
                if left is not None:
                    left = self._length_left = left - len(body)
                    if left < 0:
                        raise RuntimeError("response body longer than its Content-Length")
                conn.write(encode_chunk(body) if self.chunked else body)
            if not more:
                if self._length_left and not self.bodiless:
                    # The client would wait for the missing bytes and then take
                    # the next response as their rest: never keep this connection.
                    self.keep_alive = False
                    raise RuntimeError("response body shorter than its Content-Length")
                if self.chunked and not self.expect_trailers:
                    conn.write(CHUNKED_END)
                if not self.expect_trailers:
                    self._complete()
                    return
            if conn.flow.is_paused:
                await conn.flow.drain()
        elif kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("http.response.start sent twice")
            status = int(message["status"])
            if not 200 <= status <= 999:
                # 1xx belong to the server (100 Continue, 101 for upgrades it
                # performs): an app's 101 would desynchronise the connection.
                raise RuntimeError(f"invalid response status {status} from the application")
            self.response_started = True
            self.status = status
            self.headers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
            self.expect_trailers = bool(message.get("trailers", False))
        elif kind == "http.response.trailers":
            if self.disconnected:
                self.conn.response_failed(self)
                return
            if not self.expect_trailers or self.response_complete or not self.head_written:
                raise RuntimeError("http.response.trailers without trailers=True and a body")
            if message.get("more_trailers", False):
                raise RuntimeError("more_trailers is not supported over HTTP/1.1")
            trailers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
            for name, value in trailers:
                if _CR in value or _LF in value or _NUL in value or _CR in name or _LF in name:
                    raise RuntimeError(f"invalid character (CR, LF or NUL) in trailer {name!r}")
            self.conn.write(encode_trailers(trailers) if self.chunked else b"")
            self._complete()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} for http")

    def _write_head(self, body: bytes, more_body: bool) -> None:
        """Decide framing and keep-alive, then write the head (with the first body piece)."""
        self.head_written = True
        status = self.status
        headers = self.headers
        has_length = False
        for name, value in headers:
            # A CR, LF or NUL in a field would let the app (or whoever fills
            # its headers) smuggle a second response (RFC 9110 §5.5). The
            # needles are ints on purpose: ``b"\r" in v`` first tries b"\r"
            # as an int and raises and clears a TypeError, 10x the cost.
            if _CR in value or _LF in value or _NUL in value or _CR in name or _LF in name:
                self.head_written = False
                raise RuntimeError(f"invalid character (CR, LF or NUL) in response header {name!r}")
            if name == b"content-length":
                if has_length or not value.isdigit():
                    self.head_written = False
                    raise RuntimeError(f"invalid Content-Length {value!r} from the application")
                has_length = True
                self._length_left = int(value)
            elif name == b"connection" and b"close" in value.lower():
                self.keep_alive = False
            elif name == b"transfer-encoding":
                # The app must not pick the framing: drop it and frame ourselves.
                headers = [(n, v) for n, v in headers if n != b"transfer-encoding"]
        bodiless = self.bodiless = self.is_head or status in _NO_BODY_STATUS
        if has_length and not bodiless:
            left = self._length_left = (self._length_left or 0) - len(body)
            if left < 0:
                self.head_written = False
                raise RuntimeError("response body longer than its Content-Length")
        elif not bodiless:
            if not more_body and not self.expect_trailers:
                headers.append((b"content-length", b"%d" % len(body)))
            elif not self.http10:
                self.chunked = True
                headers.append((b"transfer-encoding", b"chunked"))
            else:
                self.keep_alive = False  # close-delimited body (RFC 9112 §6.3 item 8)
        conn = self.conn
        # Only ask when it can say yes: one call less per response.
        if (
            conn.closing_after_response or conn.phase is not ConnectionPhase.OPEN
        ) and conn.should_close_after_this():
            self.keep_alive = False
        if not self.keep_alive:
            headers.append((b"connection", b"close"))
        elif self.http10:
            headers.append((b"connection", b"keep-alive"))
        headers.append((b"date", date_header()))
        extra = self.conn.state.extra_response_headers
        if extra:
            headers += extra  # Alt-Svc when HTTP/3 is bound
        parts = [STATUS_LINES.get(status) or status_line(status)]
        append = parts.append
        for name, value in headers:
            # Four appends and one join: cheaper than three concatenations per field.
            append(name)
            append(b": ")
            append(value)
            append(b"\r\n")
        append(b"\r\n")
        if body and not bodiless:
            parts.append(encode_chunk(body) if self.chunked else body)
        conn.write(b"".join(parts))

    def _complete(self) -> None:
        self.response_complete = True
        if self.waiter is not None:
            self._wake()
        self.conn.response_done(self)

    # -- running the app --------------------------------------------------------------

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            if not self.response_complete:
                self.conn.response_failed(self)
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            logger.exception("exception in ASGI application (%s)", self.conn.label)
            if not self.response_complete:
                self.conn.response_failed(self)
        else:
            if not self.response_complete:
                if self.response_started:
                    logger.error("ASGI app returned without completing the response")
                elif not self.disconnected:
                    logger.error("ASGI app returned without starting a response")
                self.conn.response_failed(self)
        finally:
            self.conn.task_done(self)
