"""The peer's unidirectional streams: its control stream and QPACK streams.

RFC 9114 §6.2: each side opens one control stream (SETTINGS first, then
GOAWAY, MAX_PUSH_ID, CANCEL_PUSH), and RFC 9204 §4.2 one QPACK encoder and one
decoder stream. None of them may close. ``ControlStreams`` parses them and
applies what they say: SETTINGS to our QPACK encoder, encoder instructions to
our decoder (unblocking header sections that waited for them), and GOAWAY to
the drain (RFC 9114 §5.2). Request streams are ``engine.py``'s.
"""

from __future__ import annotations

import pylsqpack

from ..phases import Phase, PhaseInput
from ..protocol_errors import PeerConnectionError
from . import events as ev
from .drain import DrainInput
from .frames import (
    CONTROL_FRAME_TYPES,
    RESERVED_FRAME_TYPES,
    RESERVED_SETTINGS,
    DuplicateSetting,
    ErrorCode,
    FrameParseError,
    FrameType,
    SettingCode,
    StreamType,
    parse_settings,
    parse_single_varint,
    read_frame_header,
    read_varint,
)
from .sending import SendingSide
from .streams import UniStream

#: Largest SETTINGS frame we buffer; GOAWAY, MAX_PUSH_ID and CANCEL_PUSH hold one
#: varint (at most 8 bytes). Anything larger is H3_EXCESSIVE_LOAD / H3_FRAME_ERROR.
_MAX_SETTINGS_FRAME = 16_384


class ControlStreams(SendingSide):
    """``SendingSide`` plus the peer's control and QPACK streams."""

    def _resume_blocked(self, stream_id: int) -> None:
        """Decode a header section QPACK had blocked (request streams: ``Http3Engine``)."""
        raise NotImplementedError

    def _on_uni_data(self, stream_id: int, data: bytes, fin: bool) -> None:
        uni = self._uni.get(stream_id)
        if uni is None:
            uni = self._uni[stream_id] = UniStream()
        if uni.stream_type is None:
            uni.buffer += data
            parsed = read_varint(uni.buffer, 0)
            if parsed is None:
                return
            self._on_uni_type(stream_id, uni, parsed[0])
            del uni.buffer[: parsed[1]]
        else:
            uni.buffer += data
        stream_type = uni.stream_type
        if fin and stream_type in (
            StreamType.CONTROL,
            StreamType.QPACK_ENCODER,
            StreamType.QPACK_DECODER,
        ):
            raise PeerConnectionError(
                ErrorCode.H3_CLOSED_CRITICAL_STREAM, "critical stream closed (§6.2.1)"
            )
        if stream_type == StreamType.CONTROL:
            self._parse_control(uni)
            return
        payload = bytes(uni.buffer)
        uni.buffer.clear()
        if stream_type == StreamType.QPACK_ENCODER:
            try:
                unblocked = self._decoder.feed_encoder(payload)
            except pylsqpack.EncoderStreamError:
                raise PeerConnectionError(
                    ErrorCode.QPACK_ENCODER_STREAM_ERROR, "bad encoder stream (RFC 9204 §4.3)"
                ) from None
            for blocked_id in unblocked:
                self._resume_blocked(blocked_id)
        elif stream_type == StreamType.QPACK_DECODER:
            try:
                self._encoder.feed_decoder(payload)
            except pylsqpack.DecoderStreamError:
                raise PeerConnectionError(
                    ErrorCode.QPACK_DECODER_STREAM_ERROR, "bad decoder stream (RFC 9204 §4.4)"
                ) from None
        if fin:
            self._uni.pop(stream_id, None)

    def _on_uni_type(self, stream_id: int, uni: UniStream, stream_type: int) -> None:
        uni.stream_type = stream_type
        if stream_type == StreamType.CONTROL:
            if self._peer_control_id is not None:
                raise PeerConnectionError(
                    ErrorCode.H3_STREAM_CREATION_ERROR, "second control stream"
                )
            self._peer_control_id = stream_id
        elif stream_type == StreamType.QPACK_ENCODER:
            if self._peer_encoder_id is not None:
                raise PeerConnectionError(
                    ErrorCode.H3_STREAM_CREATION_ERROR, "second encoder stream"
                )
            self._peer_encoder_id = stream_id
        elif stream_type == StreamType.QPACK_DECODER:
            if self._peer_decoder_id is not None:
                raise PeerConnectionError(
                    ErrorCode.H3_STREAM_CREATION_ERROR, "second decoder stream"
                )
            self._peer_decoder_id = stream_id
        elif stream_type == StreamType.PUSH:
            if self._is_server:
                raise PeerConnectionError(
                    ErrorCode.H3_STREAM_CREATION_ERROR, "a client cannot push (§6.2.2)"
                )
            raise PeerConnectionError(ErrorCode.H3_ID_ERROR, "push without our MAX_PUSH_ID (§4.6)")
        else:
            # §6.2: unknown (e.g. reserved) stream types are not read; aborting
            # reading with H3_STREAM_CREATION_ERROR frees the peer's credit --
            # so a peer could churn them forever: each is paid for (§10.5).
            self._spend_ignored("flood of unknown streams")
            try:
                self._quic.stop_stream(stream_id, ErrorCode.H3_STREAM_CREATION_ERROR)
            except ValueError:  # aioquic already discarded the stream
                pass

    def _spend_ignored(self, reason: str) -> None:
        """Pay for something RFC 9114 §9 makes us ignore; when the budget is
        spent, CONNECTION_CLOSE(H3_EXCESSIVE_LOAD) as §10.5 allows. ``reason``
        is the close's reason phrase, and the metric's label."""
        if not self._ignored_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.H3_EXCESSIVE_LOAD, reason)

    def _parse_control(self, uni: UniStream) -> None:
        buf = uni.buffer
        pos = 0
        while True:
            frame_type = uni.frame_type
            if frame_type is None:
                header = read_frame_header(buf, pos)
                if header is None:
                    break
                frame_type, length, pos = header
                self._check_control_frame(frame_type, length)
                if frame_type not in CONTROL_FRAME_TYPES:  # unknown: ignored (§9), paid for
                    self._spend_ignored("flood of ignored frames")
                uni.frame_type = frame_type
                uni.frame_remaining = length
            remaining = uni.frame_remaining
            if frame_type in CONTROL_FRAME_TYPES:
                if len(buf) - pos < remaining:
                    break
                payload = bytes(buf[pos : pos + remaining])
                pos += remaining
                uni.frame_type = None
                self._on_control_frame(frame_type, payload)
                continue
            take = min(remaining, len(buf) - pos)  # unknown frame: skip it (§9)
            pos += take
            uni.frame_remaining = remaining - take
            if uni.frame_remaining:
                break
            uni.frame_type = None
        if pos:
            del buf[:pos]

    def _check_control_frame(self, frame_type: int, length: int) -> None:
        if not self._settings_received and frame_type != FrameType.SETTINGS:
            raise PeerConnectionError(
                ErrorCode.H3_MISSING_SETTINGS, "control stream must start with SETTINGS (§6.2.1)"
            )
        if frame_type == FrameType.SETTINGS:
            if self._settings_received:
                raise PeerConnectionError(ErrorCode.H3_FRAME_UNEXPECTED, "second SETTINGS (§7.2.4)")
            if length > _MAX_SETTINGS_FRAME:
                raise PeerConnectionError(ErrorCode.H3_EXCESSIVE_LOAD, "SETTINGS frame too large")
        elif frame_type in CONTROL_FRAME_TYPES:
            if length > 8:
                raise PeerConnectionError(ErrorCode.H3_FRAME_ERROR, "frame holds one varint (§7.2)")
            if frame_type == FrameType.MAX_PUSH_ID and not self._is_server:
                raise PeerConnectionError(
                    ErrorCode.H3_FRAME_UNEXPECTED, "MAX_PUSH_ID from a server (§7.2.7)"
                )
        elif frame_type in RESERVED_FRAME_TYPES or frame_type in (
            FrameType.DATA,
            FrameType.HEADERS,
            FrameType.PUSH_PROMISE,
        ):
            raise PeerConnectionError(
                ErrorCode.H3_FRAME_UNEXPECTED,
                f"frame type 0x{frame_type:x} on the control stream (§7.2)",
            )

    def _on_control_frame(self, frame_type: int, payload: bytes) -> None:
        try:
            if frame_type == FrameType.SETTINGS:
                self._apply_settings(parse_settings(payload))
                return
            value = parse_single_varint(payload)
        except DuplicateSetting as exc:
            raise PeerConnectionError(ErrorCode.H3_SETTINGS_ERROR, str(exc)) from None
        except FrameParseError as exc:
            raise PeerConnectionError(ErrorCode.H3_FRAME_ERROR, str(exc)) from None
        if frame_type == FrameType.GOAWAY:
            self._on_goaway(value)
        elif frame_type == FrameType.MAX_PUSH_ID:
            if self._peer_max_push_id is not None and value < self._peer_max_push_id:
                raise PeerConnectionError(ErrorCode.H3_ID_ERROR, "MAX_PUSH_ID reduced (§7.2.7)")
            self._peer_max_push_id = value  # we never push; kept for CANCEL_PUSH checks
        elif self._is_server:
            # CANCEL_PUSH (§7.2.3): we never pushed, so only ids the client allowed are valid.
            if self._peer_max_push_id is None or value > self._peer_max_push_id:
                raise PeerConnectionError(ErrorCode.H3_ID_ERROR, "CANCEL_PUSH for an unknown push")
        else:
            raise PeerConnectionError(ErrorCode.H3_ID_ERROR, "CANCEL_PUSH without our MAX_PUSH_ID")

    def _apply_settings(self, settings: dict[int, int]) -> None:
        """SETTINGS (RFC 9114 §7.2.4): QPACK limits go to our encoder (RFC 9204 §5)."""
        for key, value in settings.items():
            if key in RESERVED_SETTINGS:
                raise PeerConnectionError(
                    ErrorCode.H3_SETTINGS_ERROR, f"HTTP/2 setting 0x{key:x} (§7.2.4.1)"
                )
            if key == SettingCode.ENABLE_CONNECT_PROTOCOL and value > 1:
                raise PeerConnectionError(
                    ErrorCode.H3_SETTINGS_ERROR, "bad ENABLE_CONNECT_PROTOCOL"
                )
        instructions = self._encoder.apply_settings(
            max_table_capacity=settings.get(SettingCode.QPACK_MAX_TABLE_CAPACITY, 0),
            blocked_streams=settings.get(SettingCode.QPACK_BLOCKED_STREAMS, 0),
        )
        if instructions:
            self._quic.send_stream_data(self._encoder_id, instructions)
        self.remote_settings = dict(settings)
        self._settings_received = True
        self._events.append(ev.SettingsReceived(dict(settings)))

    def _on_goaway(self, identifier: int) -> None:
        """GOAWAY (RFC 9114 §5.2, §7.2.6). Client role: ``identifier`` is the first
        request stream the server will not process. Server role: a push id; the
        client is leaving, and we answer with a drain of our own."""
        if not self._is_server and identifier & 3:
            raise PeerConnectionError(
                ErrorCode.H3_ID_ERROR, "GOAWAY id is not a client bidirectional stream id"
            )
        drain = self._drain
        previous = drain.peer_first_rejected_id
        if previous is not None and identifier > previous:
            raise PeerConnectionError(ErrorCode.H3_ID_ERROR, "GOAWAY id increased (§5.2)")
        drain.peer_first_rejected_id = identifier
        unprocessed: list[int] = []
        if not self._is_server:
            for stream_id in sorted(self._streams):
                if stream_id >= identifier:
                    # Never processed: close it here, the caller retries it elsewhere.
                    self._abort_stream(self._streams.pop(stream_id), ErrorCode.H3_REQUEST_CANCELLED)
                    self._remember_closed(stream_id)
                    unprocessed.append(stream_id)
        if self._phase is Phase.OPEN:
            self._set_phase(PhaseInput.GOAWAY_RECEIVED)
        drain.advance(DrainInput.GOAWAY_RECEIVED)
        self._events.append(ev.GoAwayReceived(identifier, unprocessed))
        if self._is_server:
            self.start_drain(self._now)
        self._check_drained()
