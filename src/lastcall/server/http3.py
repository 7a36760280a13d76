"""The HTTP/3 server connection: one QUIC connection driving ``Http3Engine`` for ASGI.

The UDP endpoint (``lastcall.io.quic_endpoint``) routes datagrams, fires the
engine's timer and flushes; this adapter is the ``QuicApplication`` it hands
each connection's engine events to. Every frame-level decision is the
engine's (``lastcall.engines.http3``, docs/http3.md); here requests become
ASGI tasks (one ``Http3Stream`` each, the same ``http`` scope as HTTP/1.1 and
HTTP/2 with ``http_version`` "3"), and drain steps are reported through
``lastcall.observe``.

Draining, layered as in quic-go and RFC 9114 §5.2 (DESIGN.md "HTTP/3"):

1. ``begin_drain``: ``engine.start_drain(now)`` -- GOAWAY(2^62-4) and a QUIC
   PING; on the PING's ACK (or ``goaway_ping_timeout``) the final GOAWAY
   with the first rejected id. Later requests get RESET_STREAM +
   STOP_SENDING(H3_REQUEST_REJECTED) from the engine and never reach the
   application (reported as ``stream_refused``).
2. Accepted requests run to completion, both directions.
3. ``DrainCompleted`` (the peer has *acknowledged* every accepted response,
   the final GOAWAY and the QPACK instructions): ``engine.close()``,
   CONNECTION_CLOSE with H3_NO_ERROR (0x100), reported as
   ``quic_connection_terminated``.
4. QUIC's closing period (three PTOs, RFC 9000 §10.2) ends: the engine is
   ``Phase.CLOSED``, the endpoint forgets the connection (``quic_closed``)
   and we leave the lifecycle registry (``connection_closed``). The endpoint
   closes its UDP socket after its last connection (``quic_endpoint_closed``).

At grace expiry ``cancel`` calls ``engine.cancel_remaining()``: every open
request stream is reset with H3_REQUEST_CANCELLED (0x10C), a last GOAWAY
carries the true id, then CONNECTION_CLOSE; applications see
``http.disconnect``.

aioquic is imported here and in the endpoint only, and this module only when
``quic_bind`` is set, so ``lastcall serve`` works without it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any, cast

from aioquic.quic.configuration import QuicConfiguration

from lastcall.engines.http3 import H3_ALPN, ErrorCode, Http3Config, Phase
from lastcall.engines.http3 import events as ev
from lastcall.errors import ConfigError, LocalProtocolError
from lastcall.io.deadline import MovingDeadline
from lastcall.io.quic_endpoint import EndpointConnection, QuicEndpoint, open_quic_endpoint
from lastcall.lifecycle import ConnectionPhase
from lastcall.lifecycle.retire import IDLE_REASON
from lastcall.observe import events as oe

from .config import ServerConfig
from .http3_stream import Http3Stream
from .listeners import adopt_socket, parse_bind
from .multiplexed import Headers, MultiplexedConnection, StreamHandler
from .state import ServerState

__all__ = [
    "Http3Connection",
    "alt_svc_header",
    "http3_config",
    "open_quic_endpoints",
    "quic_configuration",
]

logger = logging.getLogger("lastcall.server")

#: Unacknowledged response bytes on one stream before ``send()`` waits for
#: ACKs. Unlike HTTP/2's measure (bytes the peer's window does not allow yet),
#: this counts bytes in flight too, so it must exceed a bandwidth-delay
#: product to keep a path busy: 1 MiB = our QUIC stream window
#: (``quic_max_stream_data``), aioquic's default; quic-go's stream window
#: grows to 6 MiB.
SEND_HIGH_WATER = 1_048_576


# -- settings ------------------------------------------------------------------------


def http3_config(config: ServerConfig) -> Http3Config:
    """The engine settings of a server configuration.

    The HTTP/3 drain deadlines reuse the server's: the settle allowance
    between first and final GOAWAY is HTTP/2's ``goaway_ping_timeout`` (the
    same step: one PING round trip), and the CONNECTION_CLOSE flush after a
    cancel is ``lingering_close_timeout`` (the same job as TCP's lingering
    close: the last frames must reach the peer before we go).
    """
    return Http3Config(
        idle_timeout=config.quic_idle_timeout,
        max_concurrent_streams=config.quic_max_concurrent_streams,
        max_data=config.quic_max_data,
        max_stream_data=config.quic_max_stream_data,
        max_field_section_size=config.max_header_size,
        goaway_settle_timeout=config.goaway_ping_timeout,
        close_flush_timeout=config.lingering_close_timeout,
        reset_burst=config.quic_reset_burst,
        reset_refill_per_second=config.quic_reset_refill_per_second,
        ignored_frame_burst=config.quic_ignored_frame_burst,
        ignored_frame_refill_per_second=config.quic_ignored_frame_refill_per_second,
    )


def quic_configuration(config: ServerConfig) -> QuicConfiguration:
    """aioquic's TLS settings for the server: ALPN ``h3`` (RFC 9114 §3.1), the
    certificate chain and key of ``certfile``/``keyfile``."""
    if config.certfile is None:
        raise ConfigError("--quic-bind needs --certfile and --keyfile")
    configuration = QuicConfiguration(is_client=False, alpn_protocols=[H3_ALPN])
    try:
        configuration.load_cert_chain(config.certfile, config.keyfile)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot load {config.certfile} / {config.keyfile} for QUIC: {exc}"
        ) from None
    return configuration


def alt_svc_header(ports: list[int], max_age: int) -> tuple[bytes, bytes]:
    """``Alt-Svc: h3=":443"; ma=86400`` (RFC 7838 §3; RFC 9114 §3.1.1), one
    alternative per distinct port, same host as the request."""
    unique = list(dict.fromkeys(ports))
    value = ", ".join(f'h3=":{port}"; ma={max_age}' for port in unique)
    return (b"alt-svc", value.encode("ascii"))


async def open_quic_endpoints(
    state: ServerState, on_closed: Callable[[QuicEndpoint], None]
) -> list[QuicEndpoint]:
    """Bind every ``quic_bind`` address; each new QUIC connection becomes an
    ``Http3Connection`` registered with the lifecycle. ``OSError`` and
    ``ConfigError`` (certificate) propagate; endpoints already open are closed."""
    config = state.config
    tls = quic_configuration(config)
    settings = http3_config(config)

    def factory(quic: EndpointConnection) -> Http3Connection:
        return Http3Connection(state, quic)

    endpoints: list[QuicEndpoint] = []
    try:
        for value in config.quic_bind:
            bind = parse_bind(value)
            sock = None if bind.fd is None else adopt_socket(bind.fd, socket.SOCK_DGRAM)
            endpoints.append(
                await open_quic_endpoint(
                    bind.host, bind.port, tls, settings, factory, on_closed=on_closed, sock=sock
                )
            )
    except BaseException:
        for endpoint in endpoints:
            endpoint.close()
        raise
    return endpoints


# -- the connection ------------------------------------------------------------------


class Http3Connection(MultiplexedConnection):
    """One HTTP/3 connection (a ``QuicApplication``); see the module docstring."""

    protocol_name = "h3"
    cancel_how = "h3_request_cancelled"

    def __init__(self, state: ServerState, quic: EndpointConnection) -> None:
        super().__init__(state)
        self.quic = quic
        self.engine = quic.engine
        self.scheme = "https"  # QUIC is always TLS (RFC 9001)
        peer = quic.peer_address
        self.client = (str(peer[0]), int(peer[1]))
        self.server = quic.endpoint.address
        host = self.client[0]
        shown = f"[{host}]:{self.client[1]}" if ":" in host else f"{host}:{self.client[1]}"
        self.label = f"{self.protocol_name}#{state.next_connection_id()} {shown}"
        self._waiting_writers: set[StreamHandler] = set()
        self._is_quic_closed = False
        # The idle drain, as HTTP/2's: QUIC's idle timeout only ends a *silent*
        # connection, so one kept alive (PINGs) but never used again would stay.
        self._idle = MovingDeadline(state.clock, self._idle_expired)
        if state.config.http3_idle_timeout > 0.0:
            # Moved by the base class each time the last stream ends.
            self.idle_deadline = self._idle
            self.idle_timeout = state.config.http3_idle_timeout
            self._idle.set_after(self.idle_timeout)  # idle from its first packet
        # Registered when the client's first Initial arrives. Unlike a TCP accept
        # there is no kernel backlog to race with: once the endpoint stops
        # accepting, no Http3Connection is made, so none is born draining.
        self.register()
        self.start_lifetime()

    # -- engine events (QuicApplication) ---------------------------------------------

    def quic_events(self, events: list[ev.Event]) -> None:
        """Handle what the engine reported; the endpoint flushes afterwards."""
        for event in events:
            kind = type(event)
            if kind is ev.DataReceived:
                dr = cast(ev.DataReceived, event)
                stream = self.streams.get(dr.stream_id)
                if stream is not None:
                    stream.feed_body(dr.data, 0, dr.end_stream)  # no credit to give back
            elif kind is ev.RequestReceived:
                rr = cast(ev.RequestReceived, event)
                self._on_request(rr.stream_id, rr.headers, rr.end_stream)
            elif kind is ev.TrailersReceived:
                s = self.streams.get(cast(ev.TrailersReceived, event).stream_id)
                if s is not None:
                    s.end_body()
            elif kind is ev.StreamReset:
                s = self.streams.get(cast(ev.StreamReset, event).stream_id)
                if s is not None:
                    s.disconnect()
            elif kind is ev.StreamRefused:
                sr = cast(ev.StreamRefused, event)
                self.state.observer.emit(
                    oe.StreamRefused(self.loop.time(), self.label, sr.stream_id, sr.reason)
                )
            elif kind is ev.GoAwaySent:
                gs = cast(ev.GoAwaySent, event)
                self.state.observer.emit(
                    oe.Http3GoAwaySent(self.loop.time(), self.label, gs.first_rejected_id, gs.final)
                )
            elif kind is ev.GoAwayReceived:
                # The client is going away (RFC 9114 §5.2); the engine drains in
                # answer. Whatever it already sent is still answered.
                self._mark_draining(None, "peer_goaway")
            elif kind is ev.DrainCompleted:
                # Every accepted response is acknowledged: nothing can be overtaken.
                self.engine.close()  # CONNECTION_CLOSE(H3_NO_ERROR)
            elif kind is ev.ConnectionTerminated:
                self._on_terminated(cast(ev.ConnectionTerminated, event))
        if self._waiting_writers:
            self._wake_writers()

    def _on_terminated(self, event: ev.ConnectionTerminated) -> None:
        self._idle.stop()
        self.state.observer.emit(
            oe.QuicConnectionTerminated(
                self.loop.time(),
                self.label,
                event.error_code,
                event.reason_phrase,
                event.remote,
                event.transport_error,
            )
        )
        for stream in self.streams.values():
            stream.disconnect()

    def quic_closed(self) -> None:
        """QUIC is over (closing period ended) or the endpoint gave up on us."""
        self._is_quic_closed = True
        self._idle.stop()
        self._transport_closed()

    def _wake_writers(self) -> None:
        engine = self.engine
        for stream in list(self._waiting_writers):
            if stream.disconnected or engine.outbound_buffered(stream.stream_id) <= SEND_HIGH_WATER:
                self._waiting_writers.discard(stream)
                stream.wake_writer()

    # -- requests ------------------------------------------------------------------------

    def _on_request(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        """RFC 9114 §4.3.1: the engine validated the pseudo-header fields."""
        self._idle.at = None  # busy until its last stream ends (task_done)
        if self.max_requests:  # the last one allowed starts the drain (GOAWAY)
            self.count_request()
        request = self.stream_request(headers, "3")
        if self.body_limit >= 0 and self.refuses_body(
            stream_id, headers, end_stream, request.scope
        ):
            if not self.tasks and self.idle_deadline is not None:  # answered 413: idle again
                self._idle.set_after(self.idle_timeout)
            return
        self.run_stream(Http3Stream(self, stream_id, request.scope, end_stream), request.app)

    # -- used by streams ------------------------------------------------------------------
    # The sends leave flushing to ``flush()``, which every stream calls after them.

    def send_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self._send(self.engine.send_headers, stream_id, headers, end_stream)

    def send_data(self, stream_id: int, data: bytes, end_stream: bool) -> None:
        self._send(self.engine.send_data, stream_id, data, end_stream)

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        if self.engine.is_stream_open(stream_id):
            try:
                self.engine.send_trailers(stream_id, headers)
            except LocalProtocolError:
                self._lost_stream(stream_id)

    def _send(
        self, action: Callable[[int, Any, bool], None], stream_id: int, arg: Any, end: bool
    ) -> None:
        if not self.engine.is_stream_open(stream_id):
            return  # reset by the peer, cancelled, or the connection closed
        try:
            action(stream_id, arg, end)
        except LocalProtocolError:
            # The peer's STOP_SENDING closed our side meanwhile (RFC 9000 §3.5).
            self._lost_stream(stream_id)

    def _lost_stream(self, stream_id: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            stream.disconnect()

    def flush(self) -> None:
        """Let the endpoint send what the engine queued, once this loop turn is over."""
        self.quic.schedule_flush()

    def outbound_buffered(self, stream_id: int) -> int:
        return self.engine.outbound_buffered(stream_id)

    def is_send_backlogged(self, stream_id: int) -> bool:
        """More than ``SEND_HIGH_WATER`` of the stream is not acknowledged yet."""
        return self.engine.outbound_buffered(stream_id) > SEND_HIGH_WATER

    def writer_waiting(self, stream: StreamHandler) -> None:
        """``stream`` waits for ACKs; woken after the next datagram that brings some."""
        self._waiting_writers.add(stream)
        self.quic.schedule_flush()

    def is_stream_open(self, stream_id: int) -> bool:
        return self.engine.is_stream_open(stream_id)

    def reset(self, stream_id: int, internal: bool) -> None:
        """RESET_STREAM + STOP_SENDING: H3_INTERNAL_ERROR when the app failed,
        else H3_REQUEST_CANCELLED (RFC 9114 §8.1)."""
        code = ErrorCode.H3_INTERNAL_ERROR if internal else ErrorCode.H3_REQUEST_CANCELLED
        try:
            self.engine.reset_stream(stream_id, code)
        except LocalProtocolError:
            pass  # the peer's STOP_SENDING closed our side already

    def refuse(self, stream_id: int) -> None:
        """RESET_STREAM + STOP_SENDING with H3_REQUEST_REJECTED: not processed,
        safe to retry (RFC 9114 §4.1.1)."""
        try:
            self.engine.reset_stream(stream_id, ErrorCode.H3_REQUEST_REJECTED)
        except LocalProtocolError:
            pass  # the peer's STOP_SENDING closed our side already

    def task_done(self, stream: StreamHandler) -> None:
        self._waiting_writers.discard(stream)
        super().task_done(stream)

    # -- drain (lastcall.lifecycle.Drainable) ----------------------------------------------

    @property
    def phase(self) -> ConnectionPhase:
        """The engine's phase, but CLOSED only once QUIC is over for us
        (``quic_closed``: the closing period ended or the endpoint gave up):
        until then the connection is CLOSING, whatever the engine says."""
        if self._is_quic_closed:
            return ConnectionPhase.CLOSED
        phase = self.engine.phase
        if phase is Phase.OPEN:
            return ConnectionPhase.OPEN
        return ConnectionPhase.DRAINING if phase is Phase.DRAINING else ConnectionPhase.CLOSING

    @property
    def active_stream_count(self) -> int:
        """Requests not finished, including responses not yet acknowledged."""
        return self.engine.active_stream_count

    def begin_drain(self, deadline_at: float, reason: str) -> None:
        """GOAWAY now, the final one after a round trip; see the module docstring."""
        first = self._mark_draining(deadline_at, reason)
        if self._is_quic_closed:
            return
        if first:
            self._report_draining()
        self.engine.start_drain(self.loop.time())
        self.quic.flush()

    def _idle_expired(self) -> None:
        """No request for ``http3_idle_timeout``: GOAWAY(2^62-4), then the final id
        after a round trip, then CONNECTION_CLOSE(H3_NO_ERROR) -- a request racing
        it is still served, and the client knows to open a new connection."""
        if self.phase is not ConnectionPhase.OPEN or self.streams or self._is_quic_closed:
            return  # busy or going: the next idle period arms it again
        self.drain_alone(IDLE_REASON, self.state.config.graceful_timeout)

    def _cancel_remaining(self, why: str) -> None:
        """H3_REQUEST_CANCELLED on what is left, a last GOAWAY, then CONNECTION_CLOSE."""
        if self._is_quic_closed:
            return
        self.engine.cancel_remaining(ErrorCode.H3_REQUEST_CANCELLED, why)
        self.quic.flush()

    def abort(self) -> None:
        """The close timeout ran out: forget the connection without waiting for
        QUIC's closing period (its CONNECTION_CLOSE normally went out already)."""
        self._is_clean = False
        for task in list(self.tasks):
            task.cancel()
        self.quic.forget()
        self.tasks.clear()
        self._connection_gone()
