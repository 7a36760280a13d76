"""One HTTP/3 request stream seen by the application through ASGI (RFC 9114 §4).

The ASGI side is the HTTP/2 stream's (``http2_stream.py``): the same
messages, the same ``http.disconnect`` rules (ASGI spec 2.4: after the
response, when the client resets the stream, at grace expiry), trailers
through the ``http.response.trailers`` extension. What differs is the
transport underneath:

- **Send side.** QUIC flow and congestion control are aioquic's, and it
  buffers whatever they do not allow yet. The backpressure measure is
  ``engine.outbound_buffered(stream_id)``: bytes written that the peer has not
  *acknowledged*. ``send()`` waits while it is above ``SEND_HIGH_WATER``; the
  connection wakes waiting writers after each datagram it receives (that is
  when ACKs arrive). There is no WINDOW_UPDATE event to wait for in QUIC.
- **Receive side.** aioquic extends the QUIC windows as it delivers data, so
  there is no credit to give back (docs/http3.md, "Not (yet) done").
- **Field rules.** Connection-specific fields are not allowed in HTTP/3
  (RFC 9114 §4.2): they are dropped from the app's headers, as in HTTP/2.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .asgi import ASGIApp, Message, Scope
from .date import date_header

if TYPE_CHECKING:
    from .http3 import Http3Connection

__all__ = ["SEND_HIGH_WATER", "Http3Stream"]

logger = logging.getLogger("lastcall.server")

#: Unacknowledged response bytes on one stream before ``send()`` waits for
#: ACKs. Unlike HTTP/2's measure (bytes the peer's window does not allow yet),
#: this counts bytes in flight too, so it must exceed a bandwidth-delay
#: product to keep a path busy: 1 MiB = our QUIC stream window
#: (``quic_max_stream_data``), aioquic's default; quic-go's stream window
#: grows to 6 MiB.
SEND_HIGH_WATER = 1_048_576

#: Connection-specific fields, malformed in HTTP/3 (RFC 9114 §4.2).
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}


class Http3Stream:
    """State of one request stream and its response."""

    __slots__ = (
        "_body_delivered",
        "body",
        "conn",
        "disconnected",
        "expect_trailers",
        "headers",
        "headers_sent",
        "is_head",
        "more_body",
        "response_complete",
        "response_started",
        "scope",
        "status",
        "stream_id",
        "task",
        "waiter",
        "writer_waiter",
    )

    def __init__(
        self, conn: Http3Connection, stream_id: int, scope: Scope, end_stream: bool
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.scope = scope
        self.body = bytearray()
        self.more_body = not end_stream
        self.is_head = scope.get("method") == "HEAD"
        self.waiter: asyncio.Future[None] | None = None
        self.writer_waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.response_started = False
        self.headers_sent = False
        self.response_complete = False
        self.expect_trailers = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.task: asyncio.Task[None] | None = None
        self._body_delivered = False

    # -- fed by the connection ----------------------------------------------------

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wake_writer(self) -> None:
        """Acknowledgements arrived (or the stream ended): ``send()`` may go on."""
        waiter = self.writer_waiter
        if waiter is not None:
            self.writer_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def feed_body(self, data: bytes, end_stream: bool) -> None:
        self.body += data
        if end_stream:
            self.more_body = False
        self._wake()

    def end_body(self) -> None:
        """Trailers (or the FIN) ended the request body."""
        self.more_body = False
        self._wake()

    def disconnect(self) -> None:
        """Reset by the peer, connection gone, or grace expired: ``http.disconnect``."""
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
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            if self.disconnected or self.response_complete:
                return _DISCONNECT
            waiter = self.waiter = self.conn.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        kind = message["type"]
        conn = self.conn
        if kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("http.response.start sent twice")
            self.response_started = True
            self.status = int(message["status"])
            self.headers = [
                (bytes(n).lower(), bytes(v))
                for n, v in message.get("headers", ())
                if bytes(n).lower() not in _CONNECTION_SPECIFIC
            ]
            self.expect_trailers = bool(message.get("trailers", False))
            return
        if kind == "http.response.body":
            if not self.response_started or self.response_complete:
                raise RuntimeError(f"unexpected ASGI message {kind!r} at this point")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self.is_head:
                body = b""
            ends = not more and not self.expect_trailers
            if self.disconnected:
                if not more:
                    self.response_complete = True
                return
            if not self.headers_sent:
                self.headers_sent = True
                head = [(b":status", b"%d" % self.status), *self.headers]
                if ends and not body and not any(n == b"content-length" for n, _ in self.headers):
                    head.append((b"content-length", b"0"))
                head.append((b"date", date_header()))
                conn.send_headers(self.stream_id, head, ends and not body)
                if body:
                    conn.send_data(self.stream_id, body, ends)
            elif body or ends:
                conn.send_data(self.stream_id, body, ends)
            if ends:
                self.response_complete = True
                return
            while (
                not self.disconnected and conn.outbound_buffered(self.stream_id) > SEND_HIGH_WATER
            ):
                waiter = self.writer_waiter = conn.loop.create_future()
                conn.writer_waiting(self)
                await waiter
            return
        if kind == "http.response.trailers":
            if not self.expect_trailers or self.response_complete or not self.headers_sent:
                raise RuntimeError("http.response.trailers without trailers=True and a body")
            if message.get("more_trailers", False):
                raise RuntimeError("more_trailers is not supported")
            if not self.disconnected:
                trailers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
                conn.send_trailers(self.stream_id, trailers)
            self.response_complete = True
            return
        raise RuntimeError(f"unexpected ASGI message {kind!r} for http")

    async def run(self, app: ASGIApp) -> None:
        try:
            await app(self.scope, self.receive, self.send)
        except asyncio.CancelledError:
            self.conn.stream_failed(self)
            raise
        except Exception:
            logger.exception(
                "exception in ASGI application (%s stream %d)", self.conn.label, self.stream_id
            )
            self.conn.stream_failed(self)
        else:
            if not self.response_complete:
                logger.error("ASGI app returned without completing the response")
                self.conn.stream_failed(self)
        finally:
            self.conn.task_done(self)
