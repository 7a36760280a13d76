"""The HTTP/1.1 server connection: an asyncio protocol over the sans-IO parser.

One request is served at a time. Pipelined requests (RFC 9112 §9.3.2) are
parsed as they come but queued, and reading pauses while any is queued, so a
client cannot make us buffer without bound; each is answered in order.

Draining (DESIGN.md, "HTTP/1.1", RFC 9112 §9.6):

- an idle keep-alive connection is closed at once (graceful half-close); one
  that has not sent its first request yet waits ``drain_first_request_timeout``
  for it (its client may be sending it now) and answers it with close;
- a response in flight carries ``Connection: close`` (if its head is not yet
  written) and the connection closes after it is fully written;
- a request already arriving, or already queued, is answered, the last one
  with ``Connection: close``; nothing after that is processed;
- at grace expiry: 503 if the response has not started, else the connection
  is closed (a truncated chunked body is visible as such); the app sees
  ``http.disconnect`` and its task is cancelled right after.

Timers: each connection has one deadline at a time, either "idle keep-alive"
(``keep_alive_timeout``, also before the first request), "request head"
(``request_head_timeout``, from the first byte of a head until its end, so a
slowloris client that trickles a head cannot hold a connection: 408, close)
or "request body" (``request_body_timeout``: while the app waits in
``receive()``, the longest gap between two reads of body bytes; past it 408,
``http.disconnect``, close -- the slow-POST variant), or "trailers" (a
chunked body's trailer section must end within ``request_head_timeout`` of
its first byte, like a head: 408, close).
It is a ``lastcall.io.deadline.MovingDeadline``: moved on every request, with
a loop timer behind it armed about once per timeout period. It runs on the
server's clock (``ServerState.clock``: the loop's, or a test's ``FakeClock``).

Prior-knowledge HTTP/2 (the client preface) and ``Upgrade: h2c`` hand the
transport over to the HTTP/2 connection; ``Upgrade: websocket`` to the
WebSocket connection.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections import deque
from typing import Any, cast

import httptools

from lastcall.engines.http1 import (
    BodyReceived,
    Http1Parser,
    RequestEnded,
    RequestStarted,
    encode_head,
)
from lastcall.errors import RemoteProtocolError
from lastcall.io import OUTBOUND_FULL, ReadGate, WriteFlow, negotiated_protocol
from lastcall.io.deadline import MovingDeadline
from lastcall.io.tls import ALPN_H2
from lastcall.lifecycle import ConnectionInput, ConnectionPhase
from lastcall.observe import events as oe

from .asgi import ASGI_VERSION, ASGIApp
from .connection import ConnectionBase, TablePhaseConnection
from .extension import DRAIN_EXTENSION
from .http1_cycle import BODY_HIGH_WATER, RequestCycle
from .readiness import readiness_app
from .state import ServerState

__all__ = ["H2_PREFACE", "Http1Connection", "split_target"]

logger = logging.getLogger("lastcall.server")

#: The HTTP/2 client connection preface (RFC 9113 §3.4).
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: What of the preface decides that the peer speaks HTTP/2 (``_sniff_preface``).
_H2_START = H2_PREFACE[:12]
_TRAILERS_EXTENSION: dict[str, Any] = {}

#: Why reading is paused (``ReadGate`` reasons; ``OUTBOUND_FULL`` is the shared one).
_BODY_BUFFERED = "request_body"
_PIPELINED = "pipeline"
_CLOSING = "closing"

#: Every request task's name. Unnamed, Python 3.11's ``Task`` formats a
#: ``"Task-<n>"`` for each: 1.5k instructions, 2 % of a request.
_TASK_NAME = "lastcall-http1-request"

#: Reads are parsed this many bytes at a time when requests are queued (``_parse``).
_PARSE_SLICE = 4096

#: What the connection's one deadline stands for.
_KEEP_ALIVE = 1
_REQUEST_HEAD = 2
_REQUEST_BODY = 3
_TRAILERS = 4

#: ``scope["method"]`` for the common methods without a decode per request.
_METHODS = {
    m.encode("ascii"): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}


def split_target(target: bytes) -> tuple[bytes, bytes]:
    """``scope["raw_path"]`` and ``scope["query_string"]`` of a request target
    (origin-form, or absolute-form whose authority is dropped; a fragment too).
    llhttp lets through targets its URL parser then refuses (``ttp://pr@?e/``):
    those are a ``RemoteProtocolError`` (400), like any other bad request line."""
    # Int needles (``?``, ``#``): ``b"?" in target`` first tries b"?" as an
    # int and raises and clears a TypeError, a thousand instructions each.
    if target[:1] == b"/" and 0x3F not in target and 0x23 not in target:
        # Origin-form without a query (RFC 9112 §3.2.1): the common case
        # needs no URL parser.
        return target, b""
    try:
        url = httptools.parse_url(target)
    except httptools.HttpParserInvalidURLError:
        raise RemoteProtocolError("invalid request target", status_hint=400) from None
    return url.path or b"/", url.query or b""


class Http1Connection(TablePhaseConnection, asyncio.Protocol):
    """One HTTP/1.1 connection; see the module docstring."""

    protocol_name = "http/1.1"

    def __init__(self, state: ServerState, *, sniff_h2: bool | None = None) -> None:
        super().__init__(state)
        self.parser = Http1Parser(state.http1_limits)
        self.flow = WriteFlow(
            self.loop,
            self._outbound_changed,
            stall_timeout=state.config.send_timeout,
            on_stall=self._send_stalled,
        )
        self.reads = ReadGate()
        self.cycle: RequestCycle | None = None
        self.reading: RequestCycle | None = None
        self.pipeline: deque[tuple[RequestCycle, ASGIApp]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        #: The deadline's clock: the loop's, or the one a test gave ``Server(clock=...)``.
        self._clock = state.clock
        self._deadline = MovingDeadline(self._clock, self._deadline_expired)
        self._deadline_kind = _KEEP_ALIVE
        self._discard_input = False
        #: Received bytes not parsed yet: requests are queued (see ``_parse``).
        self._unparsed = b""
        self.closing_after_response = False
        self._peer_eof = False
        self._upgrade: RequestStarted | None = None
        self._sniff = state.config.http2 if sniff_h2 is None else sniff_h2
        self._sniffed = b""
        self._handed_over = False
        self._scope_base: dict[str, Any] = {}

    # -- asyncio protocol -----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing it.
        self.attach(cast(asyncio.Transport, transport))
        self.reads.attach(cast(asyncio.Transport, transport))
        # Copied per request: copying six keys costs less than building them.
        self._scope_base = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.state.root_path,
        }
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            self._sniff = False  # with TLS, ALPN decides (RFC 9113 §3.2)
            if self.state.config.http2 and negotiated_protocol(ssl_object) == ALPN_H2:
                self._hand_over_to_h2(b"")
                return
        # Also when already draining: a request may be on its way (the
        # keep-alive timeout bounds the wait for it).
        self._arm_idle()

    def start_with(self, data: bytes) -> None:
        """Continue with bytes another protocol object already read (ALPN fallback)."""
        if data:
            self.data_received(data)

    def data_received(self, data: bytes) -> None:
        if (
            self._discard_input
            or self.phase is ConnectionPhase.CLOSING
            or self.phase is ConnectionPhase.CLOSED
        ):
            return  # closing (a limit, bad bytes, lingering close): discard, never parse
        deadline_kind = self._deadline_kind
        if deadline_kind == _KEEP_ALIVE:
            self._deadline.at = None  # no longer idle
        elif deadline_kind == _REQUEST_BODY and self._deadline.at is not None:
            # Any byte is progress (chunk framing too): the gap starts again.
            self._deadline.set(self._clock.time() + self.state.config.request_body_timeout)
        if self._sniff:
            data = self._sniff_preface(data)
            if not data:
                if self._sniff and self._deadline.at is None:
                    # A partial HTTP/2 preface is a request head too (slowloris).
                    self._bound_head()
                return
        if len(data) <= _PARSE_SLICE and not self._unparsed:
            self._parse_piece(data, b"")  # the common case: one small read
        else:
            self._parse(data)

    def _parse(self, data: bytes) -> None:
        """Parse ``data`` a slice at a time; stop once requests are queued.

        A client that pipelines many small requests in one read would
        otherwise make us build every one of them at once (a 256 KiB read is
        ~9,000 requests, ~13 MiB). What is not parsed waits here as bytes and
        is parsed as the queue empties (``_start_next``); reading is paused
        meanwhile, so this is at most one read.
        """
        if self._unparsed:
            self._unparsed += data
            return
        while data:
            piece, data = data[:_PARSE_SLICE], data[_PARSE_SLICE:]
            if not self._parse_piece(piece, data):
                return
            if data and self.pipeline:
                self._unparsed = data
                self.reads.hold(_PIPELINED)
                return

    def _parse_piece(self, data: bytes, rest: bytes) -> bool:
        """Feed one piece to the parser and act on its events; False once parsing
        must stop (bad bytes, or the connection switched protocols)."""
        try:
            events = self.parser.feed(data)
        except RemoteProtocolError as exc:
            self._protocol_error(exc)
            return False
        parser = self.parser
        if parser.in_head and self._deadline.at is None and self.cycle is None:
            self._bound_head()
        elif parser.in_trailers and self._deadline_kind != _TRAILERS:
            # A trailer section is a head at the end of a body: it gets the
            # head's time limit from its first byte, not the body's moving gap.
            self._set_deadline(
                self._clock.time() + self.state.config.request_head_timeout, _TRAILERS
            )
        for event in events:
            kind = type(event)
            if kind is BodyReceived:
                assert self.reading is not None and isinstance(event, BodyReceived)
                self.reading.feed_body(event.data)
            elif kind is RequestStarted:
                assert isinstance(event, RequestStarted)
                try:
                    self._on_request(event)
                except RemoteProtocolError as exc:  # its target (split_target)
                    self._protocol_error(exc)
                    return False
            elif kind is RequestEnded:
                if self._deadline_kind == _TRAILERS:
                    self._deadline_kind = _REQUEST_BODY
                    self._deadline.at = None
                if self.reading is not None:
                    self.reading.end_body()
                if self._upgrade is None:
                    self.reading = None
            else:  # UpgradeRequested
                self._on_upgrade(getattr(event, "trailing", b"") + rest)
                return False
        error = self.parser.pending_error
        if error is not None:  # after good requests: those are answered first
            self._protocol_error(error)
            return False
        return True

    def eof_received(self) -> bool | None:
        # The client half-closed: it sends nothing more, but may still read a
        # response in flight (RFC 9112 §9.6). Keep the write side open then.
        self._peer_eof = True
        if self.reading is not None:
            self.reading.disconnect()  # its body can never complete now
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.close_from_peer()  # an app waiting on receive() hears of it
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.flow.connection_lost()
        self._deadline.stop()
        if self._handed_over:
            return
        if self.cycle is not None:
            self.cycle.disconnect()
        for queued, _ in self.pipeline:
            queued.disconnect()
        self.pipeline.clear()
        self._advance(ConnectionInput.TRANSPORT_CLOSED)
        if not self.tasks:
            self._connection_gone()

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    # -- requests ---------------------------------------------------------------------

    def _sniff_preface(self, data: bytes) -> bytes:
        """HTTP/1.1 or prior-knowledge HTTP/2? Decided on the first 12 bytes alone.

        Bytes that begin ``PRI * HTTP/2`` are a client that has clearly started
        HTTP/2 (``PRI`` is reserved for the preface, RFC 9113 §3.4): the
        HTTP/2 connection takes them and checks the rest of the preface, so a
        wrong one gets GOAWAY(PROTOCOL_ERROR) and a close, not an HTTP/1.1 400.
        Deciding on a fixed prefix makes the outcome independent of how the
        bytes were split into reads.
        """
        buffered = self._sniffed + data
        if len(buffered) < len(_H2_START) and _H2_START.startswith(buffered):
            self._sniffed = buffered
            return b""
        self._sniff = False
        self._sniffed = b""
        if buffered.startswith(_H2_START):
            self._hand_over_to_h2(buffered)
            return b""
        return buffered

    def _on_request(self, event: RequestStarted) -> None:
        if self._deadline_kind == _REQUEST_HEAD:
            self._deadline.at = None  # the head is complete
        raw_path, query = split_target(event.target)
        path = raw_path.decode("ascii", "surrogateescape")
        if "%" in path:
            path = urllib.parse.unquote(path)
        state = self.state
        method = event.method
        scope = self._scope_base.copy()
        scope["http_version"] = event.http_version
        scope["method"] = _METHODS.get(method) or method.decode("ascii")
        scope["path"] = state.root_path + path
        scope["raw_path"] = raw_path
        scope["query_string"] = query
        scope["headers"] = event.headers
        scope["state"] = state.lifespan_state.copy()
        scope["extensions"] = {
            "http.response.trailers": _TRAILERS_EXTENSION,
            DRAIN_EXTENSION: self._extension or self.drain_extension(),
        }
        if self.tls_extension is not None:
            scope["extensions"]["tls"] = self.tls_extension
        if state.proxies is not None:
            scope["client"], scope["scheme"] = state.proxies.apply(
                self.client, self.scheme, event.headers
            )
        if event.upgrade is not None and self._accepts_upgrade(event):
            scope["type"] = "websocket" if event.upgrade == b"websocket" else "http"
            self._upgrade = event
            self.reading = RequestCycle(self, scope, False, False, False, False)
            return
        app: ASGIApp = self.state.app
        if state.readiness_path is not None and path == state.readiness_path:
            app = readiness_app(state)
        cycle = RequestCycle(
            self,
            scope,
            event.keep_alive,
            event.expect_continue,
            event.http_version == "1.0",
            event.method == b"HEAD",
        )
        self.reading = cycle
        if self.cycle is None and not self.pipeline and not self.flow.is_paused:
            self._start(cycle, app)
        else:
            # Served in order, each once the one before it is written and the
            # outbound has room (_outbound_changed); meanwhile nothing more is read.
            self.pipeline.append((cycle, app))
            self.reads.hold(_PIPELINED)
        if self.max_requests:  # the last one allowed answers with Connection: close
            self.count_request()

    def _accepts_upgrade(self, event: RequestStarted) -> bool:
        if self.cycle is not None or self.pipeline or self.phase is not ConnectionPhase.OPEN:
            return False
        if event.upgrade == b"websocket":
            return event.method == b"GET"
        if event.upgrade == b"h2c" and self.state.config.http2 and not self.state.config.is_tls:
            names = {n for n, _ in event.headers}
            # RFC 9113 §3.1 deprecated this upgrade; we still honour a bodiless one.
            return (
                b"http2-settings" in names
                and b"content-length" not in names
                and b"transfer-encoding" not in names
            )
        return False

    def _start(self, cycle: RequestCycle, app: ASGIApp) -> None:
        self.cycle = cycle
        task = self.loop.create_task(cycle.run(app), name=_TASK_NAME)
        cycle.task = task
        self.tasks.add(task)

    def _start_next(self) -> None:
        nxt, app = self.pipeline.popleft()
        self._start(nxt, app)
        if not self.pipeline and self._unparsed:
            data, self._unparsed = self._unparsed, b""
            self._parse(data)
        if not self.pipeline and not self._unparsed:
            self.reads.release(_PIPELINED)

    def task_done(self, cycle: RequestCycle) -> None:
        task = cycle.task
        if task is not None:
            self.tasks.discard(task)
        if not self.tasks and self.phase is ConnectionPhase.CLOSED and not self._handed_over:
            self._connection_gone()

    def should_close_after_this(self) -> bool:
        """Called as a response head is written: must it carry ``Connection: close``?"""
        if self.closing_after_response:
            return not self.pipeline  # answer what came before the bad bytes, then close
        if self.phase is ConnectionPhase.OPEN:
            return False
        # Draining: answer what was already received or is arriving; only the
        # last of them carries close (RFC 9112 §9.6), since the server must not
        # process anything after a close it announced.
        return not self.pipeline and not self._unparsed and not self.parser.in_message

    def response_done(self, cycle: RequestCycle) -> None:
        """The response is fully handed to the transport."""
        self.requests += 1
        if self.state.is_request_observed:
            self.state.request_done(cycle.scope, cycle.status, cycle.started_at)
        if cycle is not self.cycle:
            return
        self.cycle = None
        if cycle.more_body and not cycle.disconnected:
            # The app answered without reading the whole body: the rest cannot
            # be told from the next request without reading it. Close (the
            # lingering close reads and discards it), as Go does past 256 KiB.
            cycle.keep_alive = False
            if self.reading is cycle:
                self.reading = None
        if not cycle.keep_alive or self._peer_eof:
            self.pipeline.clear()
            self.close_gracefully()
            return
        if self.pipeline:
            # A client that pipelines and never reads: the next response would
            # only pile up behind this one. It starts once the outbound drains.
            if not self.flow.is_paused:
                self._start_next()
            return
        if self.closing_after_response or (
            self.phase is not ConnectionPhase.OPEN
            and not self.parser.in_message
            and not self._unparsed
        ):
            self.close_gracefully()
            return
        # _arm_idle() inlined for the common case: one frame less per request.
        timeout = self.state.config.keep_alive_timeout
        if timeout > 0.0 and not self.parser.in_head:
            self._deadline_kind = _KEEP_ALIVE
            self._deadline.set(self._clock.time() + timeout)
        else:
            self._arm_idle()

    def response_failed(self, cycle: RequestCycle) -> None:
        """The app raised or returned early: 500 if nothing was written, else close."""
        if cycle.response_complete:
            return
        if not cycle.head_written and not cycle.disconnected and self.transport is not None:
            cycle.response_complete = True
            self._write_error(500, b"Internal Server Error")
            self.requests += 1
            if self.state.is_request_observed:
                self.state.request_done(cycle.scope, 500, cycle.started_at)
        else:
            cycle.response_complete = True
        if cycle is self.cycle:
            self.cycle = None
        self.pipeline.clear()
        self.close_gracefully()

    # -- writing and flow -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _write_error(
        self, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", b"%d" % len(body)),
            (b"connection", b"close"),
            *(extra or []),
        ]
        self.write(encode_head(status, headers) + body)

    def pause_reading_for_body(self) -> None:
        self.reads.hold(_BODY_BUFFERED)

    def resume_reading_for_body(self) -> None:
        if self.reading is None or len(self.reading.body) <= BODY_HIGH_WATER:
            self.reads.release(_BODY_BUFFERED)

    def _outbound_changed(self, is_full: bool) -> None:
        """The transport's write buffer crossed its high (or low) water mark."""
        if is_full:
            self.reads.hold(OUTBOUND_FULL)
            return
        self.reads.release(OUTBOUND_FULL)
        if self.cycle is None and self.pipeline and not self._handed_over:
            self._start_next()

    def _send_stalled(self) -> None:
        """The peer read nothing for ``send_timeout`` while our buffer was full."""
        logger.info(
            "%s: peer read nothing for %g s (send_timeout): closing",
            self.label,
            self.state.config.send_timeout,
        )
        ConnectionBase.abort(self)

    def close_gracefully(self) -> None:
        self.reads.open_for_good()  # the lingering close reads and discards
        super().close_gracefully()

    # -- the connection's one deadline (see the module docstring) --------------------

    def _arm_idle(self) -> None:
        """Nothing is being served: bound the wait for the rest of a head, or for a request."""
        config = self.state.config
        timeout = config.keep_alive_timeout
        if self.phase is ConnectionPhase.DRAINING and self.requests == 0:
            first = config.drain_first_request_timeout
            if first > 0.0:
                timeout = min(timeout, first) if timeout > 0.0 else first
        if self.parser.in_head:
            self._bound_head()
        elif timeout > 0.0:
            at = self._clock.time() + timeout
            if (
                self._deadline_kind != _KEEP_ALIVE
                or self._deadline.at is None
                or (at < self._deadline.at)
            ):
                self._set_deadline(at, _KEEP_ALIVE)
        else:
            self._deadline.at = None

    def _set_deadline(self, at: float, kind: int) -> None:
        self._deadline_kind = kind
        self._deadline.set(at)

    def _bound_head(self) -> None:
        """A request head (or HTTP/2 preface) has begun: it must end within
        ``request_head_timeout``."""
        self._set_deadline(
            self._clock.time() + self.state.config.request_head_timeout, _REQUEST_HEAD
        )

    def waiting_for_body(self, cycle: RequestCycle) -> None:
        """The app waits in ``receive()`` for body bytes not here yet: they must
        come within ``request_body_timeout`` (each gap between reads)."""
        if cycle is self.reading and cycle is self.cycle and self._deadline.at is None:
            self._set_deadline(
                self._clock.time() + self.state.config.request_body_timeout, _REQUEST_BODY
            )

    def _deadline_expired(self) -> None:
        if self._handed_over:
            return
        if self._deadline_kind == _REQUEST_BODY:
            cycle = self.cycle
            if cycle is not None and cycle is self.reading and cycle.waiter is not None:
                timeout = self.state.config.request_body_timeout
                self._protocol_error(
                    RemoteProtocolError(f"no request body bytes for {timeout:g} s", status_hint=408)
                )
            return
        if self._deadline_kind == _TRAILERS:
            if self.parser.in_trailers:
                timeout = self.state.config.request_head_timeout
                self._protocol_error(
                    RemoteProtocolError(
                        f"request trailers not complete within {timeout:g} s", status_hint=408
                    )
                )
            return
        if self.cycle is not None or self.pipeline:
            return  # serving: response_done() arms the next deadline
        if self._deadline_kind == _REQUEST_HEAD:
            if self.parser.in_head or self._sniffed:
                timeout = self.state.config.request_head_timeout
                self._protocol_error(
                    RemoteProtocolError(
                        f"request head not complete within {timeout:g} s", status_hint=408
                    )
                )
        elif not self.parser.in_message:
            self.close_gracefully()

    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        """Bad input: answer its status if we can, lose nothing already accepted.

        Requests parsed before the bad bytes are complete and accepted: they
        are answered in order, the last with ``Connection: close``. A request
        whose own body went bad can never complete: its app sees
        ``http.disconnect``, and the client gets the error status if no
        response head went out yet.
        """
        self.state.observer.emit(
            oe.RequestRejected(
                self.loop.time(), self.label, self.protocol_name, exc.status_hint, str(exc)
            )
        )
        self._deadline.stop()
        self._discard_input = True  # nothing after the bad bytes is parsed
        self.reads.hold(_CLOSING)
        broken = self.reading
        self.reading = None
        if broken is not None:
            broken.disconnect()
            if any(queued is broken for queued, _ in self.pipeline):
                self.pipeline = deque((c, a) for c, a in self.pipeline if c is not broken)
        cycle = self.cycle
        if cycle is None or (cycle is broken and not cycle.head_written):
            if cycle is not None:
                cycle.response_complete = True
                self.requests += 1
            self._write_error(exc.status_hint, str(exc).encode("utf-8", "replace"))
            self.close_gracefully()
            return
        if cycle is broken:
            # Its response is under way and can never be whole now: close
            # (the client sees it cut short); the app's sends go nowhere.
            self.cycle = None
            self.close_gracefully()
            return
        # Answer what is in flight and queued, then close.
        self.closing_after_response = True

    # -- drain (lastcall.lifecycle.Drainable) -----------------------------------------

    @property
    def active_stream_count(self) -> int:
        return len(self.tasks)

    def begin_drain(self, deadline_at: float, reason: str) -> None:
        first = self._mark_draining(deadline_at, reason)
        self._advance(ConnectionInput.DRAIN_REQUESTED)
        if self.transport is None:
            return  # accepted, not yet made: connection_made decides
        if first:
            self._report_draining()
        if (
            self.cycle is None
            and not self.parser.in_message
            and not self.pipeline
            and not self._unparsed
        ):
            if self.requests == 0 and self.state.config.drain_first_request_timeout > 0.0:
                # Accepted just before the drain and not used yet: its client
                # may be sending its first request right now, and closing
                # would lose it (it is sent, so not safely retryable). Wait a
                # little for it and answer it with Connection: close.
                if not self._sniffed:
                    self._arm_idle()
            else:
                self.close_gracefully()

    def cancel(self, reason: str) -> None:
        self._mark_draining(self.loop.time(), reason)
        cycle = self.cycle
        observer = self.state.observer
        if cycle is not None and not cycle.response_complete:
            if not cycle.head_written and not cycle.disconnected:
                how = "503"
                cycle.response_complete = True
                self._write_error(
                    503, b"Service Unavailable: server draining", [(b"retry-after", b"0")]
                )
            else:
                how = "close"
                cycle.response_complete = True
            observer.emit(oe.RequestCancelled(self.loop.time(), self.label, how))
        if cycle is not None:
            cycle.disconnect()
        for queued, _ in self.pipeline:
            queued.disconnect()
        self.pipeline.clear()
        self.cycle = None
        # Let each app task see http.disconnect first, then cancel it.
        for task in list(self.tasks):
            self.loop.call_soon(task.cancel)
        if self.phase is ConnectionPhase.CLOSED:
            return
        if self.transport is not None and not self.transport.is_closing():
            self.close_gracefully()

    def abort(self) -> None:
        super().abort()
        for task in list(self.tasks):
            task.cancel()
        if self.phase is ConnectionPhase.CLOSED:
            self.tasks.clear()
            self._connection_gone()

    # -- protocol switches ------------------------------------------------------------

    def _on_upgrade(self, trailing: bytes) -> None:
        event = self._upgrade
        cycle = self.reading
        if event is None or cycle is None:
            # An Upgrade we declined: llhttp stopped at that request's head.
            # Serve its body and what follows over HTTP/1.1.
            self.parser.decline_upgrade()
            if trailing:
                self.data_received(trailing)
            return
        self._upgrade = None
        self.reading = None
        if event.upgrade == b"websocket":
            from .websocket import WebSocketHttp1Connection

            ws = WebSocketHttp1Connection(self.state, cycle.scope, event, trailing)
            self._hand_over(ws)
            ws.start()
        else:
            from .http2 import Http2Connection

            h2 = Http2Connection(self.state)
            self._hand_over(h2)
            h2.start_upgrade(cycle.scope, event, trailing)

    def _hand_over_to_h2(self, data: bytes) -> None:
        from .http2 import Http2Connection

        h2 = Http2Connection(self.state)
        self._hand_over(h2)
        h2.start(data)

    def _hand_over(self, successor: Any) -> None:
        self._deadline.stop()
        self._handed_over = True
        self.reads.open_for_good()  # the successor decides about reading now
        successor.adopt(self)
        assert self.transport is not None
        self.transport.set_protocol(successor)
        self.transport.resume_reading()
