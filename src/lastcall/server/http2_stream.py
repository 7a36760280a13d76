"""One HTTP/2 stream seen by the application through ASGI (RFC 9113 §8).

Receive side: DATA is buffered per stream and its flow-control credit is given
back (``acknowledge_received_data``) only as the app consumes it, so a slow
app slows its client instead of filling our memory.

Send side: the engine queues what the peer's window does not allow; the
stream waits while ``outbound_buffered`` is above ``SEND_HIGH_WATER`` and is
woken by ``WindowUpdated`` (or by the stream ending).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .asgi import ASGIApp, Message, Scope
from .date import date_header

if TYPE_CHECKING:
    from .http2 import Http2Connection

__all__ = ["Http2Stream"]

logger = logging.getLogger("lastcall.server")

#: Bytes queued in the engine for one stream before ``send()`` waits for a
#: WINDOW_UPDATE. 64 KiB = the default initial window (RFC 9113 §6.9.2).
SEND_HIGH_WATER = 65_536

#: Hop-by-hop fields that must not appear in HTTP/2 (RFC 9113 §8.2.2).
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_DISCONNECT: dict[str, Any] = {"type": "http.disconnect"}


class Http2Stream:
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
        "unacked",
        "waiter",
        "window_waiter",
    )

    def __init__(
        self, conn: Http2Connection, stream_id: int, scope: Scope, end_stream: bool
    ) -> None:
        self.conn = conn
        self.stream_id = stream_id
        self.scope = scope
        self.body = bytearray()
        self.unacked = 0
        self.more_body = not end_stream
        self.is_head = scope.get("method") == "HEAD"
        self.waiter: asyncio.Future[None] | None = None
        self.window_waiter: asyncio.Future[None] | None = None
        self.disconnected = False
        self.response_started = False
        self.headers_sent = False
        self.response_complete = False
        self.expect_trailers = False
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.task: asyncio.Task[None] | None = None
        self._body_delivered = False

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def wake_writer(self) -> None:
        waiter = self.window_waiter
        if waiter is not None:
            self.window_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def feed_body(self, data: bytes, flow_controlled_length: int, end_stream: bool) -> None:
        self.body += data
        self.unacked += flow_controlled_length
        if end_stream:
            self.more_body = False
        self._wake()

    def end_body(self) -> None:
        self.more_body = False
        self._wake()

    def disconnect(self) -> None:
        """Reset by the peer, connection lost, or grace expired: the app sees ``http.disconnect``."""
        self.disconnected = True
        self.response_complete = self.response_complete or False
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
                head = [
                    (b":status", b"%d" % self.status),
                    *self.headers,
                    *conn.state.extra_response_headers,  # Alt-Svc when QUIC is bound
                    (b"date", date_header()),  # RFC 9110 §6.6.1, as HTTP/1.1 and HTTP/3 send
                ]
                if ends and not body and not any(n == b"content-length" for n, _ in self.headers):
                    head.append((b"content-length", b"0"))
                conn.send_headers(self.stream_id, head, ends and not body)
                if body:
                    conn.send_data(self.stream_id, body, ends)
            elif body or ends:
                conn.send_data(self.stream_id, body, ends)
            if ends:
                self.response_complete = True
                conn.flush()
                return
            conn.flush()
            while (
                not self.disconnected and conn.outbound_buffered(self.stream_id) > SEND_HIGH_WATER
            ):
                waiter = self.window_waiter = conn.loop.create_future()
                await waiter
            if conn.flow.is_paused:
                await conn.flow.drain()
            return
        if kind == "http.response.trailers":
            if not self.expect_trailers or self.response_complete or not self.headers_sent:
                raise RuntimeError("http.response.trailers without trailers=True and a body")
            if message.get("more_trailers", False):
                raise RuntimeError("more_trailers is not supported")
            if not self.disconnected:
                trailers = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", ())]
                conn.send_trailers(self.stream_id, trailers)
                conn.flush()
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
