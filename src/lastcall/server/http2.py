"""The HTTP/2 server connection: an asyncio protocol driving ``Http2Engine``.

Entered three ways: the client preface on a cleartext connection (prior
knowledge), ``Upgrade: h2c`` (the HTTP/1.1 request becomes stream 1), and TLS
ALPN ``h2``. Every frame-level decision is the engine's; this adapter moves
bytes, runs one ASGI task per stream, sets one ``loop.call_at`` timer for the
engine's next deadline, and reports drain steps through ``lastcall.observe``.

Draining (RFC 9113 §6.8; DESIGN.md "HTTP/2"): ``begin_drain`` calls
``engine.start_drain(now)`` (GOAWAY 2^31-1 + PING, the final GOAWAY after the
PING ACK or ``goaway_ping_timeout``); streams at or below the final id run to
their end; later ones are refused by the engine (REFUSED_STREAM). When the
engine reports ``DrainCompleted`` every accepted response is in
``data_to_send``: we write it, half-close after it (``write_eof`` flushes
first) and linger-read. At grace expiry ``cancel`` calls
``engine.cancel_remaining()``: RST_STREAM(CANCEL) on what is left and a last
GOAWAY; the apps see ``http.disconnect``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import cast

from lastcall.engines.http1 import RequestStarted, encode_head
from lastcall.engines.http2 import ErrorCode, Http2Engine, Phase, Role
from lastcall.engines.http2 import events as h2e
from lastcall.io.deadline import MovingDeadline
from lastcall.io.driver import EngineDriver
from lastcall.lifecycle import ConnectionPhase
from lastcall.lifecycle.retire import IDLE_REASON, MAX_AGE_REASON, MAX_REQUESTS_REASON
from lastcall.observe import events as oe

from .asgi import Scope
from .http2_stream import Http2Stream
from .multiplexed import Headers, MultiplexedConnection
from .readiness import readiness_app
from .state import ServerState

__all__ = ["Http2Connection"]

logger = logging.getLogger("lastcall.server")

#: Bytes queued in the engine for one stream before ``send()`` waits for a
#: WINDOW_UPDATE. 64 KiB = the default initial window (RFC 9113 §6.9.2).
SEND_HIGH_WATER = 65_536
#: A connection's own drain reasons that its GOAWAY debug data names as they are.
_OWN_REASONS = frozenset({IDLE_REASON, MAX_AGE_REASON, MAX_REQUESTS_REASON})


class Http2Connection(MultiplexedConnection, asyncio.Protocol):
    """One HTTP/2 connection; see the module docstring."""

    protocol_name = "h2"
    cancel_how = "rst_stream_cancel"

    def __init__(self, state: ServerState) -> None:
        super().__init__(state)
        self.engine = Http2Engine(Role.SERVER, state.http2_config)
        self._driver = EngineDriver(
            self.engine, transmit=self._transmit, handle=self._handle, loop=self.loop
        )
        # Idle and preface deadlines: one moving deadline (see _idle_expired).
        self._idle = MovingDeadline(state.clock, self._idle_expired)
        if state.config.http2_idle_timeout > 0.0:
            # Moved by the base class each time the last stream ends.
            self.idle_deadline = self._idle
            self.idle_timeout = state.config.http2_idle_timeout
        self._awaiting_settings = False

    # -- entry points -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Direct use (tests, or a listener that only speaks h2)."""
        self.attach(cast(asyncio.Transport, transport))
        self.start(b"")

    def start(self, data: bytes) -> None:
        """Send our SETTINGS; then process what was already read (the preface)."""
        self.engine.initiate()
        self.flush_now()
        # Until the client's SETTINGS arrive, request_head_timeout bounds the
        # wait, as it bounds an HTTP/1.1 head (a preface that never completes).
        self._awaiting_settings = True
        self._idle.set_after(self.state.config.request_head_timeout)
        if self.drain_reason is not None:
            self._start_engine_drain()
        if data:
            self.data_received(data)

    def start_upgrade(self, scope: Scope, request: RequestStarted, trailing: bytes) -> None:
        """h2c via ``Upgrade`` (RFC 7540 §3.2): 101, then the request is stream 1."""
        settings = b""
        for name, value in request.headers:
            if name == b"http2-settings":
                settings = value
        try:
            payload = base64.urlsafe_b64decode(settings + b"=" * (-len(settings) % 4))
        except (binascii.Error, ValueError):
            payload = b"\x00"  # not a multiple of 6: the engine reports a connection error
        self.write(encode_head(101, [(b"connection", b"Upgrade"), (b"upgrade", b"h2c")]))
        stream_id = self.engine.initiate_upgrade(payload, request_end_stream=True)
        self.flush_now()
        scope["http_version"] = "2"
        app = self.state.app
        if self.state.readiness_path is not None and scope["path"] == self.state.readiness_path:
            app = readiness_app(self.state)
        self.run_stream(Http2Stream(self, stream_id, scope, end_stream=True), app)
        if self.drain_reason is not None:
            self._start_engine_drain()
        if trailing:
            self.data_received(trailing)

    # -- asyncio protocol ---------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.is_write_closed:
            return  # lingering close: read and discard
        self._driver.service(self.engine.receive_data(data, self.loop.time()))

    def eof_received(self) -> bool | None:
        # The peer will send nothing more; streams still waiting for body never get it.
        for stream in self.streams.values():
            if stream.more_body:
                stream.disconnect()
        return None if not self.streams else True

    def connection_lost(self, exc: Exception | None) -> None:
        self.flow.connection_lost()
        self._driver.stop()
        self._idle.stop()
        self.engine.transport_closed()
        self._transport_closed()

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()

    # -- engine events ------------------------------------------------------------------

    def _handle(self, events: list[h2e.Event]) -> None:
        for event in events:
            kind = type(event)
            if kind is h2e.DataReceived:
                ev = cast(h2e.DataReceived, event)
                stream = self.streams.get(ev.stream_id)
                if stream is not None:
                    stream.feed_body(ev.data, ev.flow_controlled_length, ev.end_stream)
                elif ev.flow_controlled_length:
                    self.engine.acknowledge_received_data(ev.stream_id, ev.flow_controlled_length)
            elif kind is h2e.RequestReceived:
                rr = cast(h2e.RequestReceived, event)
                self._on_request(rr.stream_id, rr.headers, rr.end_stream)
            elif kind is h2e.WindowUpdated:
                wu = cast(h2e.WindowUpdated, event)
                if wu.stream_id == 0:
                    for stream in self.streams.values():
                        stream.wake_writer()
                else:
                    s = self.streams.get(wu.stream_id)
                    if s is not None:
                        s.wake_writer()
            elif kind is h2e.TrailersReceived:
                tr = cast(h2e.TrailersReceived, event)
                s = self.streams.get(tr.stream_id)
                if s is not None:
                    s.end_body()
            elif kind is h2e.StreamReset:
                rs = cast(h2e.StreamReset, event)
                s = self.streams.get(rs.stream_id)
                if s is not None:
                    s.disconnect()
            elif kind is h2e.StreamRefused:
                sr = cast(h2e.StreamRefused, event)
                self.state.observer.emit(
                    oe.StreamRefused(self.loop.time(), self.label, sr.stream_id, sr.reason)
                )
            elif kind is h2e.GoAwaySent:
                gs = cast(h2e.GoAwaySent, event)
                self.state.observer.emit(
                    oe.GoAwaySent(
                        self.loop.time(),
                        self.label,
                        gs.last_processed_id,
                        int(gs.error_code),
                        gs.debug_data.decode("latin-1"),
                        gs.final,
                    )
                )
            elif kind is h2e.DrainCompleted or kind is h2e.ConnectionTerminated:
                self._finish()
            elif kind is h2e.GoAwayReceived:
                # The client is going away: whatever it sent is still answered.
                self._mark_draining(None, "peer_goaway")
            elif kind is h2e.SettingsReceived and self._awaiting_settings:
                self._awaiting_settings = False
                if not self.streams:
                    self._arm_idle()

    def _on_request(
        self, stream_id: int, headers: list[tuple[bytes, bytes]], end_stream: bool
    ) -> None:
        self._idle.at = None  # busy until its last stream ends (task_done)
        if self.max_requests:  # the last one allowed starts the drain (GOAWAY)
            self.count_request()
        request = self.stream_request(headers, "2")
        if request.method == b"CONNECT" and request.protocol == b"websocket":
            from .websocket import start_h2_websocket

            start_h2_websocket(self, stream_id, request.scope, end_stream)
            return
        if self.body_limit >= 0 and self.refuses_body(
            stream_id, headers, end_stream, request.scope
        ):
            if not self.tasks:  # answered 413 without a task: idle again
                self._arm_idle()
            return
        self.run_stream(Http2Stream(self, stream_id, request.scope, end_stream), request.app)

    # -- used by streams ------------------------------------------------------------------

    def send_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        if self.engine.is_stream_open(stream_id):
            self.engine.send_headers(stream_id, headers, end_stream)

    def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        if self.engine.is_stream_open(stream_id):
            self.engine.send_data(stream_id, data, end_stream)

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        if self.engine.is_stream_open(stream_id):
            self.engine.send_trailers(stream_id, headers)

    def is_send_backlogged(self, stream_id: int) -> bool:
        """More than ``SEND_HIGH_WATER`` of the stream waits for the peer's window."""
        engine = self.engine
        return (
            engine.is_stream_open(stream_id)
            and engine.outbound_buffered(stream_id) > SEND_HIGH_WATER
        )

    def outbound_buffered(self, stream_id: int) -> int:
        return self.engine.outbound_buffered(stream_id)

    def acknowledge(self, stream_id: int, n: int) -> None:
        self.engine.acknowledge_received_data(stream_id, n)
        self.flush()

    def is_stream_open(self, stream_id: int) -> bool:
        return self.engine.is_stream_open(stream_id)

    def reset(self, stream_id: int, internal: bool) -> None:
        """RST_STREAM: INTERNAL_ERROR when the app failed, else CANCEL (RFC 9113 §7)."""
        self.engine.reset_stream(
            stream_id, ErrorCode.INTERNAL_ERROR if internal else ErrorCode.CANCEL
        )

    def refuse(self, stream_id: int) -> None:
        """RST_STREAM(REFUSED_STREAM): not processed, safe to retry (RFC 9113 §8.7)."""
        self.engine.reset_stream(stream_id, ErrorCode.REFUSED_STREAM)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def flush(self) -> None:
        """Flush once the current loop turn is over.

        Stream tasks call this after every send; coalescing them means the
        responses of every stream that ran in one loop turn leave in one
        ``transport.write`` (one syscall) instead of one each. Profiled: the
        per-response write was the largest single cost under h2load.
        """
        self._driver.schedule()

    def flush_now(self) -> None:
        """Write what the engine queued, handle what that caused, follow its timer."""
        self._driver.service()

    def _transmit(self) -> None:
        if self.is_write_closed:
            return  # half-closed after the last byte (``_finish``): nothing more goes out
        data = self.engine.data_to_send()
        if data:
            self.write(data)

    # -- drain (lastcall.lifecycle.Drainable) ----------------------------------------------

    @property
    def phase(self) -> ConnectionPhase:
        """The engine's phase: OPEN until a GOAWAY either way, DRAINING, CLOSING
        once everything accepted is queued (or a connection error), CLOSED once
        the transport is gone. Our side shut without the engine's word (no
        SETTINGS in time) is CLOSING too."""
        phase = self.engine.phase
        if phase is Phase.OPEN:
            return ConnectionPhase.CLOSING if self.is_write_closed else ConnectionPhase.OPEN
        if phase is Phase.DRAINING:
            return ConnectionPhase.CLOSING if self.is_write_closed else ConnectionPhase.DRAINING
        return ConnectionPhase.CLOSING if phase is Phase.CLOSING else ConnectionPhase.CLOSED

    @property
    def active_stream_count(self) -> int:
        return self.engine.active_stream_count

    def begin_drain(self, deadline_at: float, reason: str) -> None:
        first = self._mark_draining(deadline_at, reason)
        if first and self.transport is not None:
            self._report_draining()
        self._start_engine_drain()
        for stream in list(self.streams.values()):
            stream.going_away()  # an RFC 8441 WebSocket sends Close 1001

    def _start_engine_drain(self) -> None:
        reason = self.drain_reason or ""
        if reason.startswith("shutdown"):
            debug = b"shutdown"
        elif reason in _OWN_REASONS:  # max_age, max_requests, idle: said as is
            debug = reason.encode("ascii")
        else:
            debug = b"drain"
        self.engine.start_drain(self.loop.time(), debug)
        self._driver.service()

    def _cancel_remaining(self, why: str) -> None:
        """RST_STREAM(CANCEL) on every open stream and a last GOAWAY (debug data ``why``)."""
        if self.phase is ConnectionPhase.CLOSED:
            return
        self.engine.cancel_remaining(why.encode("ascii"))
        self._driver.service()
        self._finish()

    def abort(self) -> None:
        super().abort()
        for task in list(self.tasks):
            task.cancel()
        if self.phase is ConnectionPhase.CLOSED:
            self.tasks.clear()
            self._connection_gone()

    # -- idle and preface deadlines ------------------------------------------------------

    def _arm_idle(self) -> None:
        """No stream is open from now: drain after ``http2_idle_timeout`` of that."""
        timeout = self.state.config.http2_idle_timeout
        if timeout > 0.0:
            self._idle.set_after(timeout)
        else:
            self._idle.at = None

    def _idle_expired(self) -> None:
        if self.phase is not ConnectionPhase.OPEN:
            return
        if self._awaiting_settings:
            logger.info("%s: no HTTP/2 SETTINGS from the client in time", self.label)
            self._is_clean = False
            self.close_gracefully()
            return
        if self.streams:
            return  # busy: the next idle period arms it again
        # GOAWAY(2^31-1)+PING, then the final id: a request racing it is still
        # served, and the client knows to open a new connection for the next.
        self.drain_alone(IDLE_REASON, self.state.config.graceful_timeout)

    def _finish(self) -> None:
        """``DrainCompleted``: everything accepted is queued; write it, half-close, linger."""
        if self.is_write_closed:
            return
        data = self.engine.data_to_send()
        if data:
            self.write(data)
        self.close_gracefully()
