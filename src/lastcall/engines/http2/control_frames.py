"""The handlers of the connection-level frames (RFC 9113 §6.3-§6.9): PRIORITY,
RST_STREAM, PUSH_PROMISE, SETTINGS, PING, GOAWAY and WINDOW_UPDATE.

Errors are raised as ``PeerConnectionError`` or ``PeerStreamError``
(``protocol_errors.py``) and turned into GOAWAY or RST_STREAM by the receive
loop in ``engine.py``.
"""

from __future__ import annotations

from ..phases import Phase, PhaseInput
from ..protocol_errors import PeerClosed, PeerConnectionError, PeerStreamError
from ..role import Role
from . import events as ev
from .budgets import TinyDataLedger
from .config import MAX_WINDOW_SIZE, Http2Config
from .drain import DRAIN_PING_PAYLOAD, DrainInput, DrainPhase
from .frames import (
    FLAG_ACK,
    PING,
    SETTING,
    SETTINGS,
    TWO_UINT32,
    UINT32,
    WINDOW_UPDATE,
    ErrorCode,
    SettingCode,
)
from .sending import SendingSide
from .streams import RESET_BY_PEER, RESET_BY_US, Stream


class ControlFrames(SendingSide):
    """``SendingSide`` plus the handlers of connection-level frames, and the
    receive side of flow control and SETTINGS that they drive."""

    def __init__(self, role: Role, config: Http2Config | None = None) -> None:
        super().__init__(role, config)
        # The tiny-DATA budget (budgets.TinyDataLedger): what is left of it.
        self._tiny_data_size = self.config.tiny_data_frame_size
        self._tiny_data_left = self.config.tiny_data_budget

    # -- flow control, receive side ----------------------------------------------

    def acknowledge_received_data(self, stream_id: int, n: int) -> None:
        """The application consumed ``n`` flow-controlled bytes of ``stream_id``:
        give window back, batching WINDOW_UPDATEs to half a window, and refund
        the tiny DATA frames that covered."""
        if n <= 0:
            return
        self._return_connection_window(n)
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        ledger = stream.tiny_data
        if ledger is not None:
            self._tiny_data_left += ledger.consume(n)
        if stream.recv_closed:
            return
        stream.recv_unacked += n
        if stream.recv_unacked >= self._local_initial_window >> 1:
            self._write_frame(WINDOW_UPDATE, 0, stream_id, UINT32.pack(stream.recv_unacked))
            stream.recv_window += stream.recv_unacked
            stream.recv_unacked = 0

    def _charge_tiny_data(self, stream: Stream, flow_length: int) -> None:
        """A non-final DATA frame of ``flow_length`` (> 0) bytes, under the tiny
        size, was accepted on ``stream``: charge what it falls short of that size."""
        cost = self._tiny_data_size - flow_length
        if cost > self._tiny_data_left:
            # Charges of streams closed since are not refunded one by one (that
            # would cost every stream's close a check); they are taken back here,
            # when the budget seems spent, by recounting the open streams'.
            held = 0
            for open_stream in self._streams.values():
                if open_stream.tiny_data is not None:
                    held += open_stream.tiny_data.outstanding
            self._tiny_data_left = self.config.tiny_data_budget - held
            if cost > self._tiny_data_left:
                raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "flood of tiny DATA frames")
        self._tiny_data_left -= cost
        ledger = stream.tiny_data
        if ledger is None:
            ledger = stream.tiny_data = TinyDataLedger()
        # Bytes received and not consumed, this frame's included (streams.py:
        # recv_window shrinks as DATA comes, recv_unacked holds what was
        # consumed but not yet returned in a WINDOW_UPDATE).
        unconsumed = self._local_initial_window - stream.recv_window - stream.recv_unacked
        ledger.charge(ledger.consumed + unconsumed, flow_length, cost)

    def _return_connection_window(self, n: int) -> None:
        self._conn_recv_unacked += n
        if self._conn_recv_unacked >= self._conn_recv_target >> 1:
            self._write_frame(WINDOW_UPDATE, 0, 0, UINT32.pack(self._conn_recv_unacked))
            self._conn_recv_window += self._conn_recv_unacked
            self._conn_recv_unacked = 0

    def _apply_settings(
        self,
        payload: bytes,
        events: list[ev.Event],
        changed: dict[int, int] | None = None,
    ) -> None:
        if changed is None:
            changed = {}
        for offset in range(0, len(payload) - len(payload) % 6, 6):
            key, value = SETTING.unpack_from(payload, offset)
            if key == SettingCode.INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW_SIZE:
                    raise PeerConnectionError(
                        ErrorCode.FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE too large"
                    )
                delta = value - self._remote_initial_window
                self._remote_initial_window = value
                if delta:
                    for stream in self._streams.values():
                        stream.send_window += delta
                        if stream.send_window > MAX_WINDOW_SIZE:
                            raise PeerConnectionError(
                                ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow"
                            )
                    if delta > 0:
                        self._flush_blocked()
            elif key == SettingCode.MAX_FRAME_SIZE:
                if not 16_384 <= value <= 16_777_215:
                    raise PeerConnectionError(
                        ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE out of range"
                    )
                self._remote_max_frame = value
            elif key == SettingCode.ENABLE_PUSH:
                if value > 1 or (value == 1 and not self._is_server):
                    raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "invalid ENABLE_PUSH")
            elif key == SettingCode.MAX_CONCURRENT_STREAMS:
                self._remote_max_concurrent = value
            elif key == SettingCode.HEADER_TABLE_SIZE:
                self._encoder.set_max_table_size(min(value, 4096))
            elif key == SettingCode.ENABLE_CONNECT_PROTOCOL:
                if value > 1:
                    raise PeerConnectionError(
                        ErrorCode.PROTOCOL_ERROR, "invalid ENABLE_CONNECT_PROTOCOL"
                    )
                self._remote_enable_connect = bool(value) or self._remote_enable_connect
            self.remote_settings[key] = value
            changed[key] = value

    def _is_idle(self, stream_id: int) -> bool:
        if (stream_id & 1) == self._remote_parity:
            return stream_id > self._highest_remote_id
        return stream_id >= self._next_local_id

    # -- PRIORITY (§6.3), RST_STREAM (§6.4), PUSH_PROMISE (§6.6) -----------------------

    def _on_priority(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if stream_id == 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0")
        if len(payload) != 5:
            code, message = ErrorCode.FRAME_SIZE_ERROR, "PRIORITY must be 5 bytes"
        elif (UINT32.unpack_from(payload)[0] & 0x7FFFFFFF) == stream_id:
            code, message = ErrorCode.PROTOCOL_ERROR, "stream depends on itself"
        else:
            return  # RFC 9113 §5.3.2: the priority tree is deprecated; accept and ignore.
        if self._is_idle(stream_id):
            # §5.1: RST_STREAM is never sent for an idle stream, and resetting it
            # would spend an id the client has not used; end the connection instead.
            raise PeerConnectionError(code, message)
        raise PeerStreamError(stream_id, code, message)

    def _on_rst_stream(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if stream_id == 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0")
        if len(payload) != 4:
            raise PeerConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM must be 4 bytes")
        if stream_id not in self._streams:
            if self._is_idle(stream_id):
                raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream")
            if self._answered.pop(stream_id, None) is not None:
                # The client's answer to our RST_STREAM(NO_ERROR): the stream is
                # now closed as any stream the peer reset (§5.1).
                self._recently_closed[stream_id] = RESET_BY_PEER
            return
        # Rapid Reset (CVE-2023-44487) is a client's attack on a server; a server
        # can only reset streams the client itself opened, which costs us nothing.
        if self._is_server and not self._reset_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets")
        events.append(ev.StreamReset(stream_id, UINT32.unpack(payload)[0], True))
        self._forget(stream_id, RESET_BY_PEER)

    def _on_push_promise(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        # A client never pushes; we advertise ENABLE_PUSH=0 as a client (§8.4).
        raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE is not allowed")

    # -- SETTINGS (§6.5) ----------------------------------------------------------------

    def _on_settings(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if stream_id != 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & FLAG_ACK:
            if payload:
                raise PeerConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
            events.append(ev.SettingsAcknowledged())
            return
        if len(payload) % 6:
            raise PeerConnectionError(
                ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length not a multiple of 6"
            )
        if not self._control_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "SETTINGS flood")
        changed: dict[int, int] = {}
        self._apply_settings(payload, events, changed)
        self._write_frame(SETTINGS, FLAG_ACK, 0, b"")
        events.append(ev.SettingsReceived(changed))

    # -- PING (§6.7), GOAWAY (§6.8), WINDOW_UPDATE (§6.9) ---------------------------------

    def _on_ping(self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]) -> None:
        if stream_id != 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream")
        if len(payload) != 8:
            raise PeerConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING must be 8 bytes")
        if flags & FLAG_ACK:
            events.append(ev.PingAcknowledged(payload))
            if self._drain.phase is DrainPhase.AWAITING_PING_ACK and payload == DRAIN_PING_PAYLOAD:
                self._send_final_goaway()
            return
        if not self._control_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "PING flood")
        self._write_frame(PING, FLAG_ACK, 0, payload)
        events.append(ev.PingReceived(payload))

    def _on_goaway(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if stream_id != 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream")
        if len(payload) < 8:
            raise PeerConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes")
        last_id, code = TWO_UINT32.unpack_from(payload)
        last_id &= 0x7FFFFFFF
        last_id = self._drain.goaway_received(last_id)  # §6.8: it never increases
        unprocessed: list[int] = []
        local_parity = 1 - self._remote_parity
        for sid in list(self._streams):
            if (sid & 1) == local_parity and sid > last_id:
                unprocessed.append(sid)
                self._streams.pop(sid)
                self._blocked.pop(sid, None)
                self._recently_closed[sid] = RESET_BY_US
        if self._phase is Phase.OPEN:
            self._set_phase(PhaseInput.GOAWAY_RECEIVED)
        events.append(ev.GoAwayReceived(last_id, code, payload[8:], unprocessed))
        if code == ErrorCode.NO_ERROR:
            self._drain.advance(DrainInput.GOAWAY_RECEIVED)
        else:
            # §5.4.1: after an error GOAWAY the peer closes the connection, so
            # no stream will finish; report the end and read nothing more.
            self._drop_all_streams()
            self._drain.advance(DrainInput.CONNECTION_ERROR)
            self._set_phase(PhaseInput.CONNECTION_ERROR)
            events.append(ev.ConnectionTerminated(code, payload[8:], True))
            raise PeerClosed
        if self._phase is Phase.DRAINING and not self._streams:
            self._check_drained()

    def _on_window_update(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if len(payload) != 4:
            raise PeerConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE must be 4 bytes")
        increment = UINT32.unpack(payload)[0] & 0x7FFFFFFF
        if stream_id == 0:
            if increment == 0:
                raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self._conn_send_window += increment
            if self._conn_send_window > MAX_WINDOW_SIZE:
                raise PeerConnectionError(
                    ErrorCode.FLOW_CONTROL_ERROR, "connection window overflow"
                )
            events.append(ev.WindowUpdated(0, increment))
            if self._blocked:
                self._flush_blocked()
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._is_idle(stream_id):
                raise PeerConnectionError(
                    ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream"
                )
            answered = self._answered.get(stream_id)
            if answered is not None:
                # Checked as if open (engine.py, "streams answered before ...").
                if increment == 0:
                    raise PeerStreamError(stream_id, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
                answered.send_window += increment
                if answered.send_window > MAX_WINDOW_SIZE:
                    raise PeerStreamError(
                        stream_id, ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow"
                    )
            return
        if increment == 0:
            raise PeerStreamError(stream_id, ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW_SIZE:
            raise PeerStreamError(stream_id, ErrorCode.FLOW_CONTROL_ERROR, "stream window overflow")
        events.append(ev.WindowUpdated(stream_id, increment))
        if stream.pending or stream.pending_end_stream:
            self._flush_stream(stream)
