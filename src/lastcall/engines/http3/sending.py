"""The sans-IO HTTP/3 engine over aioquic's QUIC, in which GOAWAY is a phase.

Theory of operation
-------------------
``Http3Engine`` is one QUIC connection carrying HTTP/3, client or server
side. It owns an ``aioquic.quic.connection.QuicConnection`` (the transport,
RFC 9000/9001/9002) and speaks HTTP/3 framing (RFC 9114 §7) and QPACK
(RFC 9204, via ``pylsqpack``) over its streams itself. Datagrams from the
peer go into ``receive_datagram(data, addr, now)``, which returns events;
datagrams for the peer come from ``datagrams_to_send(now)``. The engine never
reads a clock: ``get_timer()`` says when ``handle_timer(now)`` is next due
(QUIC's loss, ACK, idle and closing timers, and the drain's settle allowance).

Draining (RFC 9114 §5.2) is a phase, not an end. A server's ``start_drain``
sends GOAWAY(2^62-4) on the control stream with a QUIC PING; once that PING
is acknowledged (or the settle allowance passes) the final GOAWAY carries the
real first rejected id: the highest accepted request stream id + 4. The id
never increases. Requests on streams at or above it are answered with
RESET_STREAM and STOP_SENDING(H3_REQUEST_REJECTED) and never surfaced;
streams below it run to completion in both directions, including late ones
that QUIC reordering delivers after the GOAWAY. ``DrainCompleted`` comes only
when every accepted response, the final GOAWAY and the QPACK instructions
they need have been *acknowledged* by the peer: the caller's ``close()``
(CONNECTION_CLOSE with H3_NO_ERROR) can then overtake nothing (the layered
close: application, then QUIC, then the UDP socket). The client role honours
a received GOAWAY: streams at or above the id are reported unprocessed (safe
to retry), the rest complete, and no new stream is opened.

The engine is three layers, each a module with one job: ``sending.py``
(``SendingSide``: state, the send side, drain and close), ``control.py``
(``ControlStreams``: the peer's control and QPACK streams) and ``engine.py``
(``Http3Engine``: QUIC events and request streams). ``Http3Engine`` is the
class to use.
"""

from __future__ import annotations

import pylsqpack
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import NetworkAddress, QuicConnection

from lastcall.errors import ConfigError, ConnectionDraining, LocalProtocolError

from ..fields import is_head_request
from ..phases import Phase, PhaseInput, next_phase
from ..role import Role
from ..token_bucket import TokenBucket
from . import _aioquic as seam
from . import events as ev
from .config import MAX_CLIENT_BIDI_STREAM_ID, Http3Config
from .drain import DRAIN_PING_UID, DrainInput, DrainPhase, Http3Drain
from .frames import (
    ErrorCode,
    FrameType,
    SettingCode,
    StreamType,
    encode_goaway,
    encode_settings,
    encode_varint,
    frame_header,
)
from .streams import AFTER_HEADERS, AFTER_TRAILERS, INITIAL, RequestStream, UniStream

Headers = list[tuple[bytes, bytes]]


#: Recently closed request stream ids remembered so late frames are dropped quietly.
_RECENTLY_CLOSED_MAX = 256


class SendingSide:
    """State, send side, drain and close of one HTTP/3 connection; ``Http3Engine``
    adds the receive side."""

    def __init__(
        self,
        role: Role,
        config: Http3Config | None = None,
        quic_configuration: QuicConfiguration | None = None,
        *,
        original_destination_connection_id: bytes | None = None,
        retry_source_connection_id: bytes | None = None,
    ) -> None:
        self.role = role
        self.config = config = config if config is not None else Http3Config()
        self._is_server = role is Role.SERVER
        configuration = config.quic_configuration(role, quic_configuration)
        try:
            self._quic = QuicConnection(
                configuration=configuration,
                original_destination_connection_id=original_destination_connection_id,
                retry_source_connection_id=retry_source_connection_id,
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        # A client accepts no bidirectional streams (RFC 9114 §6.1: no server push of requests).
        seam.set_initial_max_streams_bidi(
            self._quic, config.max_concurrent_streams if self._is_server else 0
        )
        self._phase = Phase.OPEN
        self._has_path = False
        self._now = 0.0
        self._events: list[ev.Event] = []
        #: Bumped by ``pop_events``: tells a stream's ``last_event`` is still pending.
        self._generation = 0
        self._streams: dict[int, RequestStream] = {}
        #: Server role: streams done at the HTTP/3 level whose response bytes the
        #: peer has not acknowledged yet. They still count as active.
        self._delivering: dict[int, None] = {}
        self._recently_closed: dict[int, None] = {}
        #: Server role: request stream ids below the highest one seen that have
        #: not arrived yet (QUIC does not order streams). The client may think
        #: them processed, so the drain waits for them.
        self._holes: set[int] = set()
        self._highest_seen_id = -4
        self._highest_accepted_id = -4
        self._uni: dict[int, UniStream] = {}
        self._peer_control_id: int | None = None
        self._peer_encoder_id: int | None = None
        self._peer_decoder_id: int | None = None
        self._settings_received = False
        self._peer_max_push_id: int | None = None
        self.remote_settings: dict[int, int] = {}
        self._encoder = pylsqpack.Encoder()
        self._decoder = pylsqpack.Decoder(
            config.qpack_max_table_capacity, config.qpack_blocked_streams
        )
        self._local_enable_connect = self._is_server and config.enable_connect_protocol
        # Abuse budgets (RFC 9114 §10.5): Rapid Reset and MadeYouReset, ignored frames.
        self._reset_budget = TokenBucket(config.reset_burst, config.reset_refill_per_second)
        self._ignored_budget = TokenBucket(
            config.ignored_frame_burst, config.ignored_frame_refill_per_second
        )
        # Drain and close sub-phases and their data (drain.py).
        self._drain = Http3Drain()
        # Our three unidirectional streams (RFC 9114 §6.2.1, RFC 9204 §4.2).
        self._control_id = self._open_uni(StreamType.CONTROL)
        self.local_settings: dict[int, int] = {
            SettingCode.QPACK_MAX_TABLE_CAPACITY: config.qpack_max_table_capacity,
            SettingCode.QPACK_BLOCKED_STREAMS: config.qpack_blocked_streams,
            SettingCode.MAX_FIELD_SECTION_SIZE: config.max_field_section_size,
        }
        if self._local_enable_connect:
            self.local_settings[SettingCode.ENABLE_CONNECT_PROTOCOL] = 1
        self._quic.send_stream_data(self._control_id, encode_settings(self.local_settings))
        self._encoder_id = self._open_uni(StreamType.QPACK_ENCODER)
        self._decoder_id = self._open_uni(StreamType.QPACK_DECODER)

    def _open_uni(self, stream_type: int) -> int:
        stream_id = self._quic.get_next_available_stream_id(is_unidirectional=True)
        self._quic.send_stream_data(stream_id, encode_varint(stream_type))
        return stream_id

    # -- properties ------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """OPEN, DRAINING (a GOAWAY went either way), CLOSING (nothing left but the
        QUIC close) or CLOSED (QUIC terminated: the endpoint may forget us)."""
        return self._phase

    @property
    def active_stream_count(self) -> int:
        """Request streams not finished, including responses still awaiting ACKs."""
        return len(self._streams) + len(self._delivering)

    @property
    def available_stream_capacity(self) -> int:
        """Client role: request streams the peer's MAX_STREAMS lets us open now.

        Zero before the handshake has delivered the peer's transport parameters;
        ``open_stream`` still works then (aioquic queues the stream).
        """
        if self._phase is not Phase.OPEN or self._drain.peer_first_rejected_id is not None:
            return 0
        opened = self._quic.get_next_available_stream_id() // 4
        return max(0, seam.remote_max_streams_bidi(self._quic) - opened)

    @property
    def is_drained(self) -> bool:
        """True once nothing is left to do but the QUIC close."""
        return self._phase is Phase.CLOSING or self._phase is Phase.CLOSED

    @property
    def first_rejected_id(self) -> int | None:
        """Server role: the lowest GOAWAY id we sent (streams at or above it are rejected)."""
        return self._drain.goaway_sent_id if self._is_server else None

    @property
    def peer_first_rejected_id(self) -> int | None:
        """The lowest id the peer has sent in a GOAWAY, if any (client role: request
        streams at or above it were not processed, RFC 9114 §5.2)."""
        return self._drain.peer_first_rejected_id

    @property
    def drain_phase(self) -> DrainPhase:
        """How far the shutdown has gone (``drain.py``): NOT_STARTED,
        PEER_GOAWAY_RECEIVED, AWAITING_PING_ACK, PING_ACKNOWLEDGED,
        FINAL_GOAWAY_SENT, COMPLETE, CLOSE_PENDING, CLOSE_SENT or LOST.
        Read-only; adapters read it instead of keeping their own."""
        return self._drain.phase

    @property
    def host_cid(self) -> bytes:
        """Our current connection id (the endpoint routes datagrams by it)."""
        return self._quic.host_cid

    @property
    def original_destination_connection_id(self) -> bytes:
        """The connection id the client's first Initial was sent to (RFC 9000 §7.3)."""
        return self._quic.original_destination_connection_id

    @property
    def peer_address(self) -> NetworkAddress | None:
        """Where datagrams currently go (it may change with migration, RFC 9000 §9)."""
        return self._quic.get_peer_address()

    def outbound_buffered(self, stream_id: int) -> int:
        """Bytes written on ``stream_id`` that the peer has not acknowledged yet
        (the adapter's backpressure measure; QUIC sends what flow control allows)."""
        return seam.unacknowledged_bytes(self._quic, stream_id)

    def is_stream_open(self, stream_id: int) -> bool:
        """True while the request stream has a record (not finished, not reset)."""
        return stream_id in self._streams

    # -- output ----------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, NetworkAddress]]:
        """Everything due for the peer now, as ``(datagram, address)`` pairs.

        A close recorded by ``close``/``cancel_remaining`` goes out here once the
        frames queued before it (resets, the last GOAWAY) are acknowledged or
        ``close_flush_timeout`` has passed: aioquic sends nothing but the
        CONNECTION_CLOSE once a close is pending.
        """
        self._now = now
        if not self._has_path:
            return []
        quic = self._quic
        out = quic.datagrams_to_send(now)
        drain = self._drain
        if drain.phase is DrainPhase.CLOSE_PENDING and self._is_close_due(now):
            drain.advance(DrainInput.CLOSE_SENT)
            drain.close_flush_at = None
            quic.close(error_code=drain.close_code, reason_phrase=drain.close_reason)
            out += quic.datagrams_to_send(now)
        return out

    def _is_close_due(self, now: float) -> bool:
        deadline = self._drain.close_flush_at
        if deadline is None or now >= deadline:
            return True
        quic = self._quic
        if seam.unacknowledged_bytes(quic, self._control_id):
            return False
        return all(seam.is_send_side_finished(quic, sid) for sid in self._drain.close_flush_streams)

    def pop_events(self) -> list[ev.Event]:
        """Events caused by actions (and not yet returned) since the last call."""
        events = self._events
        self._generation += 1
        if events:
            self._events = []
        return events

    def _emit(self, stream: RequestStream, event: ev.Event) -> None:
        self._events.append(event)
        stream.last_event = event
        stream.last_event_generation = self._generation

    # -- sending messages --------------------------------------------------------

    def open_stream(self, headers: Headers, end_stream: bool = False) -> int:
        """Client role: open the next request stream with ``headers``; returns its id.

        Raises ``ConnectionDraining`` (safe to retry elsewhere: nothing was sent)
        once a GOAWAY was sent or received (RFC 9114 §5.2).
        """
        if self._is_server:
            raise LocalProtocolError("a server does not open request streams")
        if self._phase is not Phase.OPEN or self._drain.peer_first_rejected_id is not None:
            raise ConnectionDraining("connection is draining; open a new one")
        stream_id = self._quic.get_next_available_stream_id()
        if stream_id > MAX_CLIENT_BIDI_STREAM_ID:
            raise ConnectionDraining("stream ids exhausted; open a new connection")
        stream = RequestStream(stream_id)
        stream.is_head = is_head_request(headers)
        self._streams[stream_id] = stream
        stream.send_state = AFTER_HEADERS
        self._write_headers(stream_id, headers, end_stream)
        if end_stream:
            stream.send_closed = True
        return stream_id

    def _stream_for_send(self, stream_id: int) -> RequestStream:
        stream = self._streams.get(stream_id)
        if stream is None or stream.send_closed:
            raise LocalProtocolError(f"stream {stream_id} is not open for sending")
        return stream

    def _write_headers(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        instructions, block = self._encoder.encode(stream_id, headers)
        if instructions:
            self._quic.send_stream_data(self._encoder_id, instructions)
        self._quic.send_stream_data(
            stream_id, frame_header(FrameType.HEADERS, len(block)) + block, end_stream
        )

    def send_headers(self, stream_id: int, headers: Headers, end_stream: bool = False) -> None:
        """Send a header section: a response (1xx ones first if wanted) or, once the
        final one went out, trailers (which must end the stream)."""
        stream = self._stream_for_send(stream_id)
        if stream.send_state != INITIAL:
            if not end_stream:
                raise LocalProtocolError("trailers must end the stream")
            self.send_trailers(stream_id, headers)
            return
        interim = bool(
            self._is_server
            and headers
            and headers[0][0] == b":status"
            and headers[0][1][:1] == b"1"
        )
        if interim and end_stream:
            raise LocalProtocolError("a 1xx response cannot end the stream (RFC 9114 §4.1)")
        if not interim:
            stream.send_state = AFTER_HEADERS
        self._write_headers(stream_id, headers, end_stream)
        if end_stream:
            self._on_send_closed(stream)

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        """Send trailers after the DATA; they end our side of the stream (RFC 9114 §4.1)."""
        stream = self._stream_for_send(stream_id)
        if stream.send_state != AFTER_HEADERS:
            raise LocalProtocolError("trailers need the final header section first")
        stream.send_state = AFTER_TRAILERS
        self._write_headers(stream_id, headers, True)
        self._on_send_closed(stream)

    def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        """Send a DATA frame. QUIC buffers what flow control does not allow yet;
        ``outbound_buffered`` says how much the peer has not acknowledged."""
        stream = self._stream_for_send(stream_id)
        if stream.send_state != AFTER_HEADERS:
            raise LocalProtocolError("DATA needs the final header section first (RFC 9114 §4.1)")
        quic = self._quic
        if data:
            quic.send_stream_data(stream_id, frame_header(FrameType.DATA, len(data)))
            quic.send_stream_data(stream_id, data, end_stream)
        elif end_stream:
            quic.send_stream_data(stream_id, b"", True)
        if end_stream:
            self._on_send_closed(stream)

    def end_stream(self, stream_id: int) -> None:
        """End our side of the stream (a FIN with no more data)."""
        self.send_data(stream_id, b"", end_stream=True)

    def acknowledge_received_data(self, stream_id: int, n: int) -> None:
        """Nothing to do: aioquic extends QUIC flow-control windows as it delivers
        data. Kept so that adapters drive HTTP/2 and HTTP/3 engines alike."""

    def reset_stream(
        self, stream_id: int, error_code: int = ErrorCode.H3_REQUEST_CANCELLED
    ) -> None:
        """RESET_STREAM and STOP_SENDING with ``error_code``: the stream is closed at once."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        self._abort_stream(stream, error_code)
        self._forget(stream_id)

    def _on_send_closed(self, stream: RequestStream) -> None:
        stream.send_closed = True
        if self._is_server and not stream.recv_closed:
            # RFC 9114 §4.1: a complete response ends the exchange; ask the client
            # to stop sending the rest of the request, without error.
            self._stop_reading(stream.id, ErrorCode.H3_NO_ERROR, stream.fin_received)
            stream.recv_closed = True
        self._maybe_finish(stream)

    def _maybe_finish(self, stream: RequestStream) -> None:
        if not (stream.recv_closed and stream.send_closed):
            return
        del self._streams[stream.id]
        if self._is_server and not seam.is_send_side_finished(self._quic, stream.id):
            self._delivering[stream.id] = None
        else:
            self._remember_closed(stream.id)
        self._check_drained()

    def _abort_stream(self, stream: RequestStream, code: int) -> None:
        """Reset whatever of the stream is still open, in both directions (RFC 9000 §3.5)."""
        if not stream.send_closed:
            self._quic.reset_stream(stream.id, code)
            stream.send_closed = True
        if not stream.recv_closed:
            self._stop_reading(stream.id, code, stream.fin_received)
            stream.recv_closed = True

    def _stop_reading(self, stream_id: int, code: int, fin_received: bool = False) -> None:
        """STOP_SENDING, plus a QPACK Stream Cancellation since header sections on
        the stream will no longer be decoded (RFC 9204 §4.4.2)."""
        if not fin_received:
            try:
                self._quic.stop_stream(stream_id, code)
            except ValueError:  # aioquic already discarded the stream
                pass
        self._cancel_decoding(stream_id)

    def _cancel_decoding(self, stream_id: int) -> None:
        instructions = self._decoder.cancel_stream(stream_id)
        if instructions:
            self._quic.send_stream_data(self._decoder_id, instructions)

    def _forget(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)
        self._delivering.pop(stream_id, None)
        self._remember_closed(stream_id)
        self._check_drained()

    def _remember_closed(self, stream_id: int) -> None:
        recent = self._recently_closed
        recent[stream_id] = None
        if len(recent) > _RECENTLY_CLOSED_MAX:
            del recent[next(iter(recent))]

    def _poll_deliveries(self) -> None:
        """Move streams whose response the peer fully acknowledged out of ``_delivering``."""
        if not self._delivering:
            return
        for stream_id in list(self._delivering):
            if seam.is_send_side_finished(self._quic, stream_id):
                del self._delivering[stream_id]
                self._remember_closed(stream_id)

    def _set_phase(self, event: PhaseInput) -> None:
        self._phase = next_phase(self._phase, event)

    # -- drain -----------------------------------------------------------------------

    def start_drain(self, now: float) -> None:
        """Begin a graceful shutdown (RFC 9114 §5.2). Idempotent.

        Server: GOAWAY(2^62-4) and a QUIC PING now; the final GOAWAY (highest
        accepted id + 4) follows the PING's ACK, or the settle allowance
        (``goaway_settle_timeout``, capped at two PTOs once an RTT is known).
        Client: GOAWAY(0), a push id: we never allow pushes.
        """
        self._now = now
        drain = self._drain
        if drain.has_started or self._phase is Phase.CLOSING or self._phase is Phase.CLOSED:
            return
        self._set_phase(PhaseInput.GOAWAY_SENT)
        if not self._is_server:
            drain.advance(DrainInput.FINAL_GOAWAY_SENT)
            self._send_goaway(0, final=True)
            self._check_drained()
            return
        drain.advance(DrainInput.FIRST_GOAWAY_SENT)
        self._send_goaway(MAX_CLIENT_BIDI_STREAM_ID, final=False)
        allowance = self._allowance(self.config.goaway_settle_timeout, 2)
        if allowance <= 0:
            self._send_final_goaway()
        else:
            drain.settle_at = now + allowance
            self._quic.send_ping(DRAIN_PING_UID)

    def _send_goaway(self, identifier: int, final: bool) -> None:
        self._quic.send_stream_data(self._control_id, encode_goaway(identifier))
        self._drain.goaway_sent_id = identifier
        if self._is_server:
            self._holes = {h for h in self._holes if h < identifier}
        self._events.append(ev.GoAwaySent(identifier, final))

    def _send_final_goaway(self) -> None:
        """Server: the PING was acknowledged or the settle allowance ran out."""
        drain = self._drain
        if not drain.is_settling:
            return
        drain.advance(DrainInput.FINAL_GOAWAY_SENT)
        self._send_lower_goaway(self._highest_accepted_id + 4)
        self._check_drained()

    def _send_lower_goaway(self, first_rejected: int) -> None:
        """Send GOAWAY(``first_rejected``) unless one at or below it went out:
        the id never increases (RFC 9114 §5.2)."""
        sent = self._drain.goaway_sent_id
        if sent is None or first_rejected < sent:
            self._send_goaway(first_rejected, final=True)

    def _check_drained(self) -> None:
        if self._phase is not Phase.DRAINING or self._streams or self._delivering:
            return
        if self._is_server:
            if self._holes:
                return
            # The final GOAWAY and the QPACK instructions the responses refer to
            # must be acknowledged too, or the close could overtake them.
            quic = self._quic
            if seam.unacknowledged_bytes(quic, self._control_id) or seam.unacknowledged_bytes(
                quic, self._encoder_id
            ):
                return
        # The table says whether this completes the drain: not while the
        # server's final GOAWAY is still due (AWAITING_PING_ACK, PING_ACKNOWLEDGED).
        if self._drain.advance(DrainInput.LAST_STREAM_CLOSED) is DrainPhase.COMPLETE:
            self._set_phase(PhaseInput.LAST_STREAM_CLOSED)
            self._events.append(ev.DrainCompleted())

    def get_timer(self) -> float | None:
        """When ``handle_timer`` is next due, or None."""
        # Before a client's connect() aioquic has no timers to give (asking it
        # raises TypeError): only our own deadlines count.
        timer = self._quic.get_timer() if self._has_path else None
        for own in (self._drain.settle_at, self._drain.close_flush_at):
            if own is not None and (timer is None or own < timer):
                timer = own
        return timer

    def _allowance(self, timeout: float, ptos: int) -> float:
        """``timeout``, capped at ``ptos`` probe timeouts once an RTT is known."""
        pto = seam.probe_timeout(self._quic)
        return timeout if pto is None else min(timeout, ptos * pto)

    def cancel_remaining(
        self,
        error_code: int = ErrorCode.H3_REQUEST_CANCELLED,
        reason_phrase: str = "grace_expired",
    ) -> None:
        """Grace expiry: RESET_STREAM/STOP_SENDING(H3_REQUEST_CANCELLED) on every
        stream left, a last GOAWAY with the true first rejected id (server), then
        CONNECTION_CLOSE with ``error_code`` (H3_NO_ERROR if nothing was left),
        once those are acknowledged or ``close_flush_timeout`` has passed.
        Responses already complete but not yet acknowledged are not waited for.
        """
        if self._drain.is_terminated:
            return
        cancelled = list(self._streams.items())
        for stream_id, stream in cancelled:
            self._abort_stream(stream, ErrorCode.H3_REQUEST_CANCELLED)
            self._events.append(ev.StreamReset(stream_id, ErrorCode.H3_REQUEST_CANCELLED, False))
            self._remember_closed(stream_id)
        self._streams.clear()
        self._drain.close_flush_streams = [stream_id for stream_id, _ in cancelled]
        self.close(error_code if cancelled else ErrorCode.H3_NO_ERROR, reason_phrase)

    def close(self, error_code: int = ErrorCode.H3_NO_ERROR, reason_phrase: str = "") -> None:
        """Close the connection with CONNECTION_CLOSE (application, ``error_code``).

        Records intent; the frame goes out from ``datagrams_to_send``. A server
        that had not finished a drain first queues a last GOAWAY with the true
        first rejected id (RFC 9114 §5.3), so the client knows what is safe to
        retry, and the close waits (at most ``close_flush_timeout``) for it to
        be acknowledged. After ``DrainCompleted`` nothing is left to wait for.
        Streams still open are reported reset. Reports ``ConnectionTerminated``
        (remote=False). Idempotent.
        """
        drain = self._drain
        if drain.is_terminated:
            return
        if self._is_server and not drain.has_sent_final_goaway:
            self._send_lower_goaway(self._highest_accepted_id + 4)
        if self._has_path:  # a client that never connected has nothing to flush
            drain.close_flush_at = self._now + self._allowance(self.config.close_flush_timeout, 3)
        self._close_now(int(error_code), reason_phrase)

    def _close_now(self, error_code: int, reason_phrase: str) -> None:
        """Record the close (no flush wait unless ``close`` set one) and report it."""
        drain = self._drain
        if drain.is_terminated:
            return
        drain.advance(DrainInput.CLOSE_RECORDED)
        drain.close_code, drain.close_reason = error_code, reason_phrase
        stream_code = (
            error_code if error_code != ErrorCode.H3_NO_ERROR else ErrorCode.H3_REQUEST_CANCELLED
        )
        self._lose_everything(int(stream_code), remote=False)
        self._report_terminated(error_code, reason_phrase, remote=False)

    def _lose_everything(self, stream_code: int, remote: bool) -> None:
        for stream_id in list(self._streams):
            self._events.append(ev.StreamReset(stream_id, stream_code, remote))
        self._streams.clear()
        self._delivering.clear()
        self._holes.clear()

    def _report_terminated(
        self, error_code: int, reason_phrase: str, remote: bool, transport_error: bool = False
    ) -> None:
        self._set_phase(PhaseInput.CONNECTION_ERROR)
        self._events.append(
            ev.ConnectionTerminated(error_code, reason_phrase, remote, transport_error)
        )
