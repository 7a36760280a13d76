"""The sans-IO HTTP/2 engine, in which GOAWAY is a phase and not an end.

Theory of operation
-------------------
``Http2Engine`` is one connection, client or server side. Bytes from the
peer go into ``receive_data(data, now)``, which returns events; bytes for the
peer accumulate and are taken with ``data_to_send()``. Actions (send headers,
data, resets, drain) queue bytes at once and may queue events, which come out
of the next ``receive_data``/``handle_timer`` or ``pop_events()``.

The engine never reads a clock: ``now`` comes in with input and timers, and
``get_timer()`` says when ``handle_timer(now)`` is next due (only the drain's
PING-ACK allowance needs one).

Draining (RFC 9113 §6.8) is a phase, not an end: after a GOAWAY is sent or
received the engine keeps serving streams at or below the advertised last id
in both directions (HEADERS, DATA, trailers, WINDOW_UPDATE, RST_STREAM) until
each ends, refuses newer ones with RST_STREAM(REFUSED_STREAM) (server) or
reports them unprocessed (client), and only then reports ``DrainCompleted``.
This is the behaviour python-hyper ``h2`` cannot offer, because it moves the
whole connection to CLOSED on the first GOAWAY (h2 issue 1181).

The engine is three layers, each a module with one job: ``sending.py``
(``SendingSide``: the connection's state, everything it sends, flow control,
drain and close), ``control_frames.py`` (the handlers of the connection-level
frames: SETTINGS, PING, GOAWAY, WINDOW_UPDATE, PRIORITY, RST_STREAM) and
``engine.py`` (``Http2Engine``: the receive loop and the message frames,
DATA, HEADERS and CONTINUATION). ``Http2Engine`` is the class to use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from lastcall.errors import ConnectionDraining, LocalProtocolError

from ..fields import is_head_request
from ..phases import Phase, PhaseInput, next_phase
from ..role import Role
from ..token_bucket import TokenBucket
from . import events as ev
from .config import (
    DEFAULT_INITIAL_WINDOW_SIZE,
    DEFAULT_MAX_FRAME_SIZE,
    HEADER_BLOCK_DECODE_FACTOR,
    MAX_STREAM_ID,
    Http2Config,
)
from .drain import DRAIN_PING_PAYLOAD, DrainInput, DrainPhase, Http2Drain
from .frames import (
    CONNECTION_PREFACE,
    CONTINUATION,
    DATA,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FRAME_HEADER,
    GOAWAY,
    HEADERS,
    PING,
    RST_STREAM,
    SETTINGS,
    UINT32,
    WINDOW_UPDATE,
    ErrorCode,
    SettingCode,
    goaway_payload,
    settings_payload,
)
from .hpack import HeaderDecoder, HeaderEncoder
from .streams import (
    ANSWERED_MAX,
    COALESCE_BELOW,
    COALESCED_MAX,
    ENDED,
    RECENTLY_CLOSED_MAX,
    RESET_BY_US,
    PendingHeaderBlock,
    Stream,
    forget_oldest,
)

Headers = list[tuple[bytes, bytes]]


class SendingSide:
    """State, send side, drain and close of one HTTP/2 connection; ``ControlFrames``
    and ``Http2Engine`` add the receive side."""

    def __init__(self, role: Role, config: Http2Config | None = None) -> None:
        self.role = role
        self.config = config = config if config is not None else Http2Config()
        self._is_server = role is Role.SERVER
        self._phase = Phase.OPEN
        self._inbuf = bytearray()
        self._out = bytearray()
        self._events: list[ev.Event] = []
        self._awaiting_preface = self._is_server
        self._awaiting_settings = True
        self._streams: dict[int, Stream] = {}
        self._blocked: dict[int, None] = {}
        # stream id -> how it closed: RESET_BY_US, RESET_BY_PEER or ENDED
        # (streams.py), which decides what a late frame on it gets (§5.1).
        self._recently_closed: dict[int, int] = {}
        # Server: streams we answered and reset with NO_ERROR before the request
        # ended; their incoming frames are still checked (engine.py).
        self._answered: dict[int, Stream] = {}
        # Highest id ever dropped from that memory: a closed stream at or below
        # it may have been forgotten; one above it is known never to have opened.
        self._forgotten_max = 0
        # Parity of the ids the peer opens: clients use odd ids (§5.1.1).
        self._remote_parity = 1 if self._is_server else 0
        self._highest_remote_id = 0
        self._next_local_id = 2 if self._is_server else 1
        self._last_accepted_id = 0
        self._header_block: PendingHeaderBlock | None = None
        # Flow control (§5.2, §6.9).
        self._conn_send_window = DEFAULT_INITIAL_WINDOW_SIZE
        self._conn_recv_window = DEFAULT_INITIAL_WINDOW_SIZE
        self._conn_recv_unacked = 0
        self._conn_recv_target = DEFAULT_INITIAL_WINDOW_SIZE
        self._local_initial_window = config.initial_window_size
        self._local_max_frame = config.max_frame_size
        self._local_max_concurrent = config.max_concurrent_streams
        self._local_enable_connect = self._is_server and config.enable_connect_protocol
        self._remote_initial_window = DEFAULT_INITIAL_WINDOW_SIZE
        self._remote_max_frame = DEFAULT_MAX_FRAME_SIZE
        self._remote_max_concurrent = 2**31 - 1
        self._remote_enable_connect = False
        self.local_settings: dict[int, int] = {}
        self.remote_settings: dict[int, int] = {}
        self._encoder = HeaderEncoder()
        # The decoder cuts a block only past the hard bound; the advertised
        # limit is applied to the decoded list (RFC 9113 §10.5.1, config.py).
        self._header_list_limit = config.max_header_list_size
        self._header_block_bound = HEADER_BLOCK_DECODE_FACTOR * config.max_header_list_size
        self._decoder = HeaderDecoder(
            max_table_size=config.header_table_size,
            max_header_list_size=self._header_block_bound,
        )
        # Drain sub-phases and their data (drain.py).
        self._drain = Http2Drain()
        # Budgets (Rapid Reset, MadeYouReset, control and empty-frame floods).
        self._now = 0.0
        self._reset_budget = TokenBucket(config.reset_burst, config.reset_refill_per_second)
        self._control_budget = TokenBucket(
            config.control_frame_burst, config.control_frame_refill_per_second
        )
        self._empty_budget = TokenBucket(
            config.empty_frame_burst, config.empty_frame_refill_per_second
        )

    # -- properties ------------------------------------------------------------

    @property
    def phase(self) -> Phase:
        """OPEN, DRAINING (a GOAWAY went either way), CLOSING (flush and close) or CLOSED."""
        return self._phase

    @property
    def active_stream_count(self) -> int:
        """Streams open or half-closed, in either direction."""
        return len(self._streams)

    @property
    def available_stream_capacity(self) -> int:
        """Client role: how many more streams the peer's MAX_CONCURRENT_STREAMS allows now."""
        if self._phase is not Phase.OPEN:
            return 0
        return max(0, self._remote_max_concurrent - len(self._streams))

    @property
    def last_processed_id(self) -> int:
        """Server role: highest stream id accepted and handed to the application
        (or answered by the engine itself: ``RequestRejected``)."""
        return self._last_accepted_id if self._is_server else self._highest_remote_id

    @property
    def is_drained(self) -> bool:
        """True once nothing is left to do but flush and close."""
        return self._phase is Phase.CLOSING or self._phase is Phase.CLOSED

    @property
    def peer_last_processed_id(self) -> int | None:
        """The lowest last-processed id the peer has sent in a GOAWAY, if any
        (streams at or below it may have been processed, RFC 9113 §6.8)."""
        last_id = self._drain.peer_last_processed_id
        return None if last_id < 0 else last_id

    @property
    def drain_phase(self) -> DrainPhase:
        """How far our side of the drain has gone (``drain.py``): NOT_STARTED,
        PEER_GOAWAY_RECEIVED, AWAITING_PING_ACK, FINAL_GOAWAY_SENT, COMPLETE or
        ABORTED. Read-only; adapters read it instead of keeping their own."""
        return self._drain.phase

    def outbound_buffered(self, stream_id: int) -> int:
        """Bytes of DATA queued for ``stream_id`` waiting for flow-control window."""
        stream = self._streams.get(stream_id)
        return 0 if stream is None else stream.pending_size

    def is_stream_open(self, stream_id: int) -> bool:
        """True while the stream has a record (open or half-closed)."""
        return stream_id in self._streams

    # -- output ----------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call."""
        out = self._out
        if not out:
            return b""
        data = bytes(out)
        out.clear()
        return data

    def pop_events(self) -> list[ev.Event]:
        """Events caused by actions since the last call."""
        # Always hand over a list the engine no longer holds: a caller that
        # extends what it got (``events += engine.receive_data(...)``) must not
        # be writing into the engine's own queue.
        events = self._events
        self._events = []
        return events

    def _write_frame(
        self, frame_type: int, flags: int, stream_id: int, payload: bytes | bytearray
    ) -> None:
        n = len(payload)
        out = self._out
        out += FRAME_HEADER.pack(n >> 8, n & 0xFF, frame_type, flags, stream_id)
        out += payload

    # -- start -----------------------------------------------------------------

    def initiate(self) -> None:
        """Queue the client preface (client role) and our SETTINGS, then grow the
        connection window to ``connection_window_size`` (§6.9.2)."""
        config = self.config
        values: dict[int, int] = {
            SettingCode.MAX_CONCURRENT_STREAMS: config.max_concurrent_streams,
            SettingCode.INITIAL_WINDOW_SIZE: config.initial_window_size,
            SettingCode.MAX_HEADER_LIST_SIZE: config.max_header_list_size,
        }
        if config.max_frame_size != DEFAULT_MAX_FRAME_SIZE:
            values[SettingCode.MAX_FRAME_SIZE] = config.max_frame_size
        if config.header_table_size != 4096:
            values[SettingCode.HEADER_TABLE_SIZE] = config.header_table_size
        if self._is_server:
            if config.enable_connect_protocol:
                values[SettingCode.ENABLE_CONNECT_PROTOCOL] = 1
        else:
            values[SettingCode.ENABLE_PUSH] = 0
            self._out += CONNECTION_PREFACE
        self.local_settings = {int(k): v for k, v in values.items()}
        self._write_frame(SETTINGS, 0, 0, settings_payload(values))
        grow = config.connection_window_size - DEFAULT_INITIAL_WINDOW_SIZE
        if grow > 0:
            self._write_frame(WINDOW_UPDATE, 0, 0, UINT32.pack(grow))
            self._conn_recv_window += grow
        self._conn_recv_target = config.connection_window_size

    # -- sending messages --------------------------------------------------------

    def open_stream(self, headers: Headers, end_stream: bool = False) -> int:
        """Client role: open the next stream with a request header block."""
        if self._phase is not Phase.OPEN:
            raise ConnectionDraining("connection is draining; open a new one")
        if self._is_server:
            raise LocalProtocolError("a server does not open streams (no push)")
        if len(self._streams) >= self._remote_max_concurrent:
            raise LocalProtocolError("peer's MAX_CONCURRENT_STREAMS reached")
        stream_id = self._next_local_id
        if stream_id > MAX_STREAM_ID:
            raise ConnectionDraining("stream ids exhausted; open a new connection")
        self._next_local_id = stream_id + 2
        stream = Stream(stream_id, self._remote_initial_window, self._local_initial_window)
        stream.is_head = is_head_request(headers)
        self._streams[stream_id] = stream
        stream.headers_sent = True
        self._emit_header_block(stream_id, headers, end_stream)
        if end_stream:
            stream.send_closed = True
        return stream_id

    def _stream_for_send(self, stream_id: int) -> Stream:
        stream = self._streams.get(stream_id)
        if stream is None or stream.send_closed or stream.pending_end_stream:
            raise LocalProtocolError(f"stream {stream_id} is not open for sending")
        return stream

    def send_headers(self, stream_id: int, headers: Headers, end_stream: bool = False) -> None:
        """Send a header block: a response (1xx first if wanted) or, once the final
        headers went out, trailers (which must end the stream)."""
        stream = self._stream_for_send(stream_id)
        if stream.headers_sent:
            if not end_stream:
                raise LocalProtocolError("trailers must end the stream")
            self.send_trailers(stream_id, headers)
            return
        if not (self._is_server and headers and headers[0][1][:1] == b"1"):
            stream.headers_sent = True
        self._emit_header_block(stream_id, headers, end_stream)
        if end_stream:
            stream.send_closed = True
            self._on_send_closed(stream)

    def send_trailers(self, stream_id: int, headers: Headers) -> None:
        """Send trailers after any queued DATA; they end our side of the stream."""
        stream = self._stream_for_send(stream_id)
        if stream.pending:
            stream.pending_trailers = headers
            stream.pending_end_stream = True
            return
        self._emit_header_block(stream_id, headers, True)
        stream.send_closed = True
        self._on_send_closed(stream)

    def _emit_header_block(
        self, stream_id: int, headers: Iterable[tuple[bytes, bytes]], end_stream: bool
    ) -> None:
        block = self._encoder.encode(headers)
        max_frame = self._remote_max_frame
        flags = FLAG_END_STREAM if end_stream else 0
        if len(block) <= max_frame:
            self._write_frame(HEADERS, flags | FLAG_END_HEADERS, stream_id, block)
            return
        # RFC 9113 §6.10: the rest of the block goes in CONTINUATION frames,
        # with nothing else in between.
        self._write_frame(HEADERS, flags, stream_id, block[:max_frame])
        pos = max_frame
        while pos < len(block):
            chunk = block[pos : pos + max_frame]
            pos += max_frame
            last = pos >= len(block)
            self._write_frame(CONTINUATION, FLAG_END_HEADERS if last else 0, stream_id, chunk)

    def send_data(self, stream_id: int, data: bytes, end_stream: bool = False) -> None:
        """Send DATA. What the flow-control windows do not allow now is queued and
        goes out as WINDOW_UPDATEs arrive; ``outbound_buffered`` reports it."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.send_closed or stream.pending_end_stream:
            raise LocalProtocolError(f"stream {stream_id} is not open for sending")
        n = len(data)
        if (
            not stream.pending
            and n <= stream.send_window
            and n <= self._conn_send_window
            and n <= self._remote_max_frame
        ):
            # Fast path: it all fits; no queue involved.
            if n == 0 and not end_stream:
                return
            stream.send_window -= n
            self._conn_send_window -= n
            out = self._out
            out += FRAME_HEADER.pack(n >> 8, n & 0xFF, DATA, 1 if end_stream else 0, stream_id)
            out += data
            if end_stream:
                stream.send_closed = True
                self._on_send_closed(stream)
            return
        if n:
            pending = stream.pending
            if pending is None:
                pending = stream.pending = deque()
            if n < COALESCE_BELOW:
                # A queued bytes object costs ~50 bytes beyond its payload: ten-byte
                # chunks held 5x what ``outbound_buffered`` said. Small ones are
                # copied into a shared tail instead, so the queue costs its payload.
                tail = pending[-1] if pending else None
                if type(tail) is bytearray and len(tail) + n <= COALESCED_MAX:
                    tail += data
                else:
                    pending.append(bytearray(data))
            else:
                pending.append(data)
            stream.pending_size += n
        if end_stream:
            stream.pending_end_stream = True
        self._flush_stream(stream)
        if stream.pending:
            self._blocked[stream_id] = None

    def end_stream(self, stream_id: int) -> None:
        """End our side of the stream, after any queued DATA."""
        self.send_data(stream_id, b"", end_stream=True)

    def _flush_stream(self, stream: Stream) -> None:
        """Send as much queued DATA of ``stream`` as the windows allow."""
        pending = stream.pending
        while pending:
            allowed = min(stream.send_window, self._conn_send_window, self._remote_max_frame)
            if allowed <= 0:
                return
            chunk = pending[0]
            if len(chunk) <= allowed:
                pending.popleft()
            else:
                pending[0] = chunk[allowed:]
                chunk = chunk[:allowed]
            n = len(chunk)
            stream.send_window -= n
            self._conn_send_window -= n
            stream.pending_size -= n
            last = not pending and stream.pending_end_stream and stream.pending_trailers is None
            self._write_frame(DATA, FLAG_END_STREAM if last else 0, stream.id, chunk)
            if last:
                stream.send_closed = True
        if self._blocked:
            self._blocked.pop(stream.id, None)
        if not stream.send_closed and stream.pending_end_stream:
            if stream.pending_trailers is not None:
                self._emit_header_block(stream.id, stream.pending_trailers, True)
                stream.pending_trailers = None
            else:
                self._write_frame(DATA, FLAG_END_STREAM, stream.id, b"")
            stream.send_closed = True
        if stream.send_closed:
            self._on_send_closed(stream)

    def _flush_blocked(self) -> None:
        for stream_id in list(self._blocked):
            if self._conn_send_window <= 0:
                return
            stream = self._streams.get(stream_id)
            if stream is None:
                self._blocked.pop(stream_id, None)
            else:
                self._flush_stream(stream)

    def _on_send_closed(self, stream: Stream) -> None:
        if stream.recv_closed:
            self._forget(stream.id, ENDED)
        elif self._is_server:
            # RFC 9113 §8.1: a complete response ends the exchange; ask the
            # client to stop sending the rest of the request, without error.
            self._write_frame(RST_STREAM, 0, stream.id, UINT32.pack(ErrorCode.NO_ERROR))
            self._forget(stream.id, RESET_BY_US)
            # What the client still sends on it is checked as if it were open
            # (engine.py, "streams answered before their request ended").
            answered = self._answered
            answered[stream.id] = stream
            if len(answered) > ANSWERED_MAX:
                del answered[next(iter(answered))]

    def _forget(self, stream_id: int, how: int) -> None:
        """Drop a closed stream, remember its id briefly and how it closed
        (``streams.py``), and see whether the drain is done."""
        streams = self._streams
        if stream_id in streams:  # compiled, ``pop`` would be looked up by name
            del streams[stream_id]
        if self._blocked:
            self._blocked.pop(stream_id, None)
        recent = self._recently_closed
        recent[stream_id] = how
        if len(recent) > RECENTLY_CLOSED_MAX:
            self._evict_oldest_closed()
        if self._phase is Phase.DRAINING and not streams:
            self._check_drained()

    def _evict_oldest_closed(self) -> None:
        self._forgotten_max = forget_oldest(self._recently_closed, self._forgotten_max)

    def reset_stream(self, stream_id: int, error_code: int = ErrorCode.CANCEL) -> None:
        """RST_STREAM: the stream is closed at once and its queued DATA dropped."""
        if stream_id not in self._streams:
            return
        self._write_frame(RST_STREAM, 0, stream_id, UINT32.pack(error_code))
        self._forget(stream_id, RESET_BY_US)

    # -- control -------------------------------------------------------------------

    def send_ping(self, payload: bytes) -> None:
        """Send a PING with an 8-byte payload."""
        if len(payload) != 8:
            raise LocalProtocolError("PING payload must be 8 bytes")
        self._write_frame(PING, 0, 0, payload)

    def _send_goaway(self, last_id: int, error_code: int, debug: bytes, final: bool) -> None:
        self._write_frame(GOAWAY, 0, 0, goaway_payload(last_id, error_code, debug))
        self._events.append(ev.GoAwaySent(last_id, error_code, debug, final))

    def _set_phase(self, event: PhaseInput) -> None:
        self._phase = next_phase(self._phase, event)

    # -- drain -----------------------------------------------------------------------

    def start_drain(self, now: float, debug_data: bytes = b"shutdown") -> None:
        """Begin a graceful shutdown (RFC 9113 §6.8). Idempotent.

        Server: GOAWAY(2^31-1, NO_ERROR) and a PING; the final GOAWAY with the
        highest accepted id follows the PING ACK, or ``goaway_ping_timeout``
        after ``now`` if no ACK comes. Client: GOAWAY(0), since it accepts no
        streams from the server.
        """
        drain = self._drain
        if drain.has_started or self._phase is Phase.CLOSED:
            return
        drain.debug = debug_data
        self._set_phase(PhaseInput.GOAWAY_SENT)
        if self._is_server:
            drain.advance(DrainInput.FIRST_GOAWAY_SENT)
            self._send_goaway(MAX_STREAM_ID, ErrorCode.NO_ERROR, debug_data, False)
            self._write_frame(PING, 0, 0, DRAIN_PING_PAYLOAD)
            timeout = self.config.goaway_ping_timeout
            if timeout <= 0:
                self._send_final_goaway()
            else:
                drain.deadline = now + timeout
        else:
            drain.advance(DrainInput.FINAL_GOAWAY_SENT)
            self._send_goaway(self._highest_remote_id, ErrorCode.NO_ERROR, debug_data, True)
            self._check_drained()

    def _send_final_goaway(self) -> None:
        """Server: the PING was acknowledged or its deadline passed."""
        drain = self._drain
        if drain.phase is not DrainPhase.AWAITING_PING_ACK or self._phase is Phase.CLOSED:
            return
        drain.advance(DrainInput.FINAL_GOAWAY_SENT)
        self._send_goaway(self._last_accepted_id, ErrorCode.NO_ERROR, drain.debug, True)
        self._check_drained()

    def _check_drained(self) -> None:
        if self._phase is not Phase.DRAINING or self._streams:
            return
        # The table says whether this completes the drain: not before the
        # server's final GOAWAY has gone out (AWAITING_PING_ACK stays put).
        if self._drain.advance(DrainInput.LAST_STREAM_CLOSED) is DrainPhase.COMPLETE:
            self._set_phase(PhaseInput.LAST_STREAM_CLOSED)
            self._events.append(ev.DrainCompleted())

    def get_timer(self) -> float | None:
        """When ``handle_timer`` is next due, or None."""
        return self._drain.deadline

    def handle_timer(self, now: float) -> list[ev.Event]:
        """Run what was due at ``now``: the final GOAWAY if the drain PING was never acknowledged."""
        deadline = self._drain.deadline
        if deadline is not None and now >= deadline:
            self._send_final_goaway()
        return self.pop_events()

    def cancel_remaining(self, debug_data: bytes = b"grace_expired") -> None:
        """Grace expiry: RST_STREAM(CANCEL) on every open stream, a last GOAWAY with
        the true last id, then ``DrainCompleted``."""
        if self._phase is Phase.CLOSING or self._phase is Phase.CLOSED:
            return
        events = self._events
        for stream_id in list(self._streams):
            self._write_frame(RST_STREAM, 0, stream_id, UINT32.pack(ErrorCode.CANCEL))
            events.append(ev.StreamReset(stream_id, ErrorCode.CANCEL, False))
        self._drop_all_streams()
        self._drain.advance(DrainInput.FINAL_GOAWAY_SENT)
        self._send_goaway(self.last_processed_id, ErrorCode.NO_ERROR, debug_data, True)
        if self._phase is Phase.OPEN:
            self._set_phase(PhaseInput.GOAWAY_SENT)
        self._check_drained()

    def close(self, error_code: int = ErrorCode.NO_ERROR, debug_data: bytes = b"") -> None:
        """Close now: GOAWAY(last id, error_code); every stream is closed.

        Reports ``ConnectionTerminated`` (remote=False) for an error code and
        ``DrainCompleted`` for NO_ERROR. Idempotent.
        """
        if self._phase is Phase.CLOSING or self._phase is Phase.CLOSED:
            return
        events = self._events
        for stream_id in list(self._streams):
            events.append(ev.StreamReset(stream_id, error_code or ErrorCode.CANCEL, False))
        self._drop_all_streams()
        self._drain.advance(DrainInput.CLOSED)
        self._send_goaway(self.last_processed_id, error_code, debug_data, True)
        self._set_phase(PhaseInput.CONNECTION_ERROR)
        if error_code == ErrorCode.NO_ERROR:
            events.append(ev.DrainCompleted())
        else:
            events.append(ev.ConnectionTerminated(error_code, debug_data, False))

    def _drop_all_streams(self) -> None:
        """Forget every stream as reset by us: what the peer still had in flight
        for them is ignored rather than answered with STREAM_CLOSED (§5.1)."""
        recent = self._recently_closed
        for stream_id in self._streams:
            recent[stream_id] = RESET_BY_US
        while len(recent) > RECENTLY_CLOSED_MAX:
            self._evict_oldest_closed()
        self._streams.clear()
        self._blocked.clear()
        self._answered.clear()

    def transport_closed(self) -> None:
        """The adapter reports the transport gone: the phase becomes CLOSED."""
        self._set_phase(PhaseInput.TRANSPORT_CLOSED)
        self._streams.clear()
        self._blocked.clear()
        self._answered.clear()
        self._drain.deadline = None
