"""``Http3Engine``: QUIC events and request streams, on top of ``ControlStreams``.

QUIC events from aioquic are dispatched here, and request-stream bytes are
parsed into HTTP/3 frames (RFC 9114 §7) and QPACK header sections (RFC
9204). The peer's unidirectional streams (control, QPACK encoder and decoder)
are handled by ``ControlStreams`` in ``control.py``.

Errors are raised as ``PeerConnectionError`` (RFC 9114 §8: CONNECTION_CLOSE with
the code) or ``PeerStreamError`` (reset that request stream only, the connection
lives on); ``_dispatch`` catches them per QUIC event, so a handler can give up
at any point without leaving half-applied state. Nothing the peer sends
raises out of ``receive_datagram``.
"""

from __future__ import annotations

import pylsqpack
from aioquic.quic import events as qe
from aioquic.quic.connection import NetworkAddress, QuicConnectionState

from lastcall.errors import LocalProtocolError

from ..fields import MalformedMessage, validate_request, validate_response, validate_trailers
from ..phases import DrainInitiator, Phase, PhaseInput
from ..protocol_errors import PeerConnectionError, PeerStreamError
from . import _aioquic as seam
from . import events as ev
from .control import ControlStreams
from .drain import DRAIN_PING_UID, DrainInput, DrainPhase
from .frames import (
    CONTROL_FRAME_TYPES,
    RESERVED_FRAME_TYPES,
    ErrorCode,
    FrameType,
    read_frame_header,
)
from .streams import AFTER_HEADERS, AFTER_TRAILERS, INITIAL, RequestStream


class Http3Engine(ControlStreams):
    """One HTTP/3 connection, sans-IO: ``SendingSide`` (state, send side, drain),
    ``ControlStreams`` (control and QPACK streams) and the request streams.

    See the module docstrings of ``sending.py`` and this one, and docs/http3.md.
    """

    @property
    def drain_initiator(self) -> DrainInitiator | None:
        """Whose GOAWAY started the drain: LOCAL (ours), PEER (theirs), or
        ``None`` (no drain yet, or a close without one). Both end in the same
        phases; this is what tells them apart."""
        return self._drain.initiator

    def connect(self, addr: NetworkAddress, now: float) -> None:
        """Client role: start the QUIC handshake towards ``addr`` (RFC 9000 §7)."""
        if self._is_server:
            raise LocalProtocolError("only a client connects")
        self._now = now
        self._quic.connect(addr, now)
        self._has_path = True

    def receive_datagram(self, data: bytes, addr: NetworkAddress, now: float) -> list[ev.Event]:
        """Feed one UDP datagram from ``addr``; return the events it (and earlier
        actions) caused. Peer errors never raise: they become events."""
        self._now = now
        if self._phase is not Phase.CLOSED:
            self._has_path = True
            self._quic.receive_datagram(data, addr, now)
            self._after_quic()
        return self.pop_events()

    def handle_timer(self, now: float) -> list[ev.Event]:
        """Run what was due at ``now``: the final GOAWAY when the settle allowance
        ran out, and QUIC's own timers (loss, ACK, idle, end of closing)."""
        self._now = now
        settle_at = self._drain.settle_at
        if settle_at is not None and now >= settle_at:
            self._send_final_goaway()
        timer = self._quic.get_timer() if self._has_path else None
        if timer is not None and now >= timer:
            self._quic.handle_timer(now)
        self._after_quic()
        return self.pop_events()

    # -- QUIC events ---------------------------------------------------------------

    def _after_quic(self) -> None:
        quic = self._quic
        while (event := quic.next_event()) is not None:
            try:
                self._dispatch(event)
            except PeerConnectionError as exc:
                self._close_now(exc.code, str(exc))  # at once: nothing of ours to flush
            except PeerStreamError as exc:
                self._stream_error(exc)
        if self._drain.phase is DrainPhase.PING_ACKNOWLEDGED:
            # After the whole batch, so requests that came with the PING's ACK count.
            self._send_final_goaway()
        self._poll_deliveries()
        self._poll_quic_state()
        self._check_drained()

    def _dispatch(self, event: qe.QuicEvent) -> None:
        if isinstance(event, qe.StreamDataReceived):
            if not self._drain.is_terminated:
                self._on_stream_data(event.stream_id, event.data, event.end_stream)
        elif isinstance(event, qe.StreamReset):
            if not self._drain.is_terminated:
                self._on_stream_reset(event.stream_id, event.error_code)
        elif isinstance(event, qe.StopSendingReceived):
            if not self._drain.is_terminated:
                self._on_stop_sending(event.stream_id, event.error_code)
        elif isinstance(event, qe.PingAcknowledged):
            if event.uid == DRAIN_PING_UID and self._drain.phase is DrainPhase.AWAITING_PING_ACK:
                self._drain.advance(DrainInput.PING_ACKNOWLEDGED)
        elif isinstance(event, qe.HandshakeCompleted):
            self._events.append(ev.HandshakeCompleted(event.alpn_protocol))
        elif isinstance(event, qe.ConnectionIdIssued):
            self._events.append(ev.ConnectionIdIssued(event.connection_id))
        elif isinstance(event, qe.ConnectionIdRetired):
            self._events.append(ev.ConnectionIdRetired(event.connection_id))
        elif isinstance(event, qe.ConnectionTerminated):
            if not self._drain.is_terminated:
                self._connection_lost(event, remote=False)
            self._set_phase(PhaseInput.TRANSPORT_CLOSED)
        # ProtocolNegotiated and DatagramFrameReceived carry nothing for us.

    def _poll_quic_state(self) -> None:
        """See a close we did not ask for as soon as QUIC enters it: the peer's
        CONNECTION_CLOSE (``QuicConnectionState.DRAINING``, RFC 9000 §10.2.2) or
        aioquic's own close after a transport error of the peer's (CLOSING)."""
        if self._drain.is_terminated:
            return
        state = seam.state(self._quic)
        if state is QuicConnectionState.DRAINING or state is QuicConnectionState.CLOSING:
            close = seam.close_event(self._quic)
            if close is None:  # not reached in aioquic 1.7.2: a close always has its event
                close = qe.ConnectionTerminated(ErrorCode.H3_INTERNAL_ERROR, None, "")
            self._connection_lost(close, remote=state is QuicConnectionState.DRAINING)

    def _connection_lost(self, close: qe.ConnectionTerminated, remote: bool) -> None:
        """QUIC's close becomes ours. ``frame_type`` is set only for a transport
        close (CONNECTION_CLOSE 0x1c, RFC 9000 §19.19): its code is a QUIC one."""
        code = close.error_code
        self._drain.advance(DrainInput.CONNECTION_LOST)
        self._lose_everything(code, remote)
        self._report_terminated(
            code, close.reason_phrase, remote, transport_error=close.frame_type is not None
        )

    # -- request streams (RFC 9114 §4.1, §6.1) ----------------------------------------

    def _on_stream_data(self, stream_id: int, data: bytes, fin: bool) -> None:
        if stream_id & 2:
            self._on_uni_data(stream_id, data, fin)
            return
        if stream_id & 1:
            raise PeerConnectionError(
                ErrorCode.H3_STREAM_CREATION_ERROR,
                "server-initiated bidirectional stream (RFC 9114 §6.1)",
            )
        stream = self._streams.get(stream_id)
        if stream is None:
            if not self._is_server:
                return  # late bytes for a stream of ours that is already closed
            stream = self._accept_or_reject(stream_id)
            if stream is None:
                return
        if data:
            stream.buffer += data
            if stream.blocked and len(stream.buffer) > self.config.max_stream_data:
                # aioquic widens the stream window as it delivers, so what waits
                # behind a blocked header section would grow without bound.
                raise PeerStreamError(
                    stream_id, ErrorCode.H3_EXCESSIVE_LOAD, "too much data behind a blocked section"
                )
        if fin:
            stream.fin_received = True
        self._parse_request_stream(stream)

    def _is_new_request_id(self, stream_id: int) -> bool:
        return stream_id > self._highest_seen_id or stream_id in self._holes

    def _note_seen(self, stream_id: int) -> None:
        if stream_id > self._highest_seen_id:
            sent = self._drain.goaway_sent_id
            limit = sent if sent is not None else stream_id
            self._holes.update(range(self._highest_seen_id + 4, min(stream_id, limit), 4))
            self._highest_seen_id = stream_id
        else:
            self._holes.discard(stream_id)

    def _rejection_reason(self, stream_id: int) -> str | None:
        if self.is_drained:  # CLOSING or CLOSED: a recorded close included
            return "closing"
        sent = self._drain.goaway_sent_id
        if sent is not None and stream_id >= sent:
            return "draining"
        return None

    def _accept_or_reject(self, stream_id: int) -> RequestStream | None:
        """Server role: the first bytes of a request stream. Accept it, or reject it
        with H3_REQUEST_REJECTED if it is at or above the GOAWAY id we sent
        (RFC 9114 §5.2); either way decide once. Old ids are late bytes: dropped."""
        if not self._is_new_request_id(stream_id):
            return None
        reason = self._rejection_reason(stream_id)
        if reason is not None:
            self._spend_reset("too many refused streams")
            self._reject(stream_id, reason)
            return None
        self._note_seen(stream_id)
        stream = RequestStream(stream_id)
        self._streams[stream_id] = stream
        if stream_id > self._highest_accepted_id:
            self._highest_accepted_id = stream_id
        return stream

    def _reject(self, stream_id: int, reason: str) -> None:
        """RESET_STREAM and STOP_SENDING(H3_REQUEST_REJECTED): the request never
        reached the application, so the client may retry it anywhere (RFC 9114 §4.1.1)."""
        self._quic.reset_stream(stream_id, ErrorCode.H3_REQUEST_REJECTED)
        self._stop_reading(stream_id, ErrorCode.H3_REQUEST_REJECTED)
        if stream_id > self._highest_seen_id:
            self._highest_seen_id = stream_id
        self._holes.discard(stream_id)
        self._remember_closed(stream_id)
        self._events.append(ev.StreamRefused(stream_id, reason))

    def _parse_request_stream(self, stream: RequestStream) -> None:
        """Split the stream's bytes into frames (RFC 9114 §7.1). DATA payload is
        passed on as it arrives; a HEADERS frame is decoded once complete;
        unknown frame types are skipped unbuffered (§9)."""
        buf = stream.buffer
        pos = 0
        while not stream.blocked:
            frame_type = stream.frame_type
            if frame_type is None:
                header = read_frame_header(buf, pos)
                if header is None:
                    break
                frame_type, length, pos = header
                self._check_request_frame(stream, frame_type, length)
                if frame_type != FrameType.HEADERS and (frame_type != FrameType.DATA or not length):
                    self._on_ignored_frame(stream)
                stream.frame_type = frame_type
                stream.frame_remaining = length
            remaining = stream.frame_remaining
            if frame_type == FrameType.HEADERS:
                if len(buf) - pos < remaining:
                    break
                block = bytes(buf[pos : pos + remaining])
                pos += remaining
                stream.frame_type = None
                self._on_header_block(stream, block)
                continue
            take = min(remaining, len(buf) - pos)
            if frame_type == FrameType.DATA and take:
                self._on_data(stream, bytes(buf[pos : pos + take]))
            pos += take
            stream.frame_remaining = remaining - take
            if stream.frame_remaining:
                break
            stream.frame_type = None
        if pos:
            del buf[:pos]
        if stream.fin_received and not stream.blocked and not stream.recv_closed:
            if buf or stream.frame_type is not None:
                raise PeerConnectionError(
                    ErrorCode.H3_FRAME_ERROR, "frame truncated by the end of the stream (§7.1)"
                )
            self._on_request_stream_end(stream)

    def _on_ignored_frame(self, stream: RequestStream) -> None:
        """An unknown frame type (ignored, RFC 9114 §9) or an empty DATA frame:
        the first on a stream is free (a GREASE frame per request), the others
        are paid from the ignored-frame budget."""
        if stream.has_ignored_frame:
            self._spend_ignored("flood of ignored frames")
        stream.has_ignored_frame = True

    def _check_request_frame(self, stream: RequestStream, frame_type: int, length: int) -> None:
        if frame_type in CONTROL_FRAME_TYPES or frame_type in RESERVED_FRAME_TYPES:
            raise PeerConnectionError(
                ErrorCode.H3_FRAME_UNEXPECTED,
                f"frame type 0x{frame_type:x} on a request stream (RFC 9114 §7.2)",
            )
        if frame_type == FrameType.PUSH_PROMISE:
            if self._is_server:
                raise PeerConnectionError(
                    ErrorCode.H3_FRAME_UNEXPECTED, "PUSH_PROMISE from a client (§7.2.5)"
                )
            raise PeerConnectionError(
                ErrorCode.H3_ID_ERROR, "PUSH_PROMISE without a MAX_PUSH_ID from us (§7.2.5)"
            )
        if stream.recv_closed:
            if frame_type in (FrameType.DATA, FrameType.HEADERS):
                raise PeerConnectionError(
                    ErrorCode.H3_FRAME_UNEXPECTED, "frame after the trailers (§4.1)"
                )
        elif frame_type == FrameType.DATA:
            if stream.recv_state != AFTER_HEADERS:
                raise PeerConnectionError(
                    ErrorCode.H3_FRAME_UNEXPECTED, "DATA before the header section (§4.1)"
                )
        elif frame_type == FrameType.HEADERS and length > self.config.max_field_section_size:
            raise PeerStreamError(
                stream.id, ErrorCode.H3_EXCESSIVE_LOAD, "header section over our limit (§4.2.2)"
            )

    def _on_header_block(self, stream: RequestStream, block: bytes | None) -> None:
        """Decode a HEADERS frame (``block`` None: resume one QPACK had blocked)."""
        try:
            if block is None:
                instructions, headers = self._decoder.resume_header(stream.id)
            else:
                instructions, headers = self._decoder.feed_header(stream.id, block)
        except pylsqpack.StreamBlocked:
            stream.blocked = True
            return
        except pylsqpack.DecompressionFailed:
            raise PeerConnectionError(
                ErrorCode.QPACK_DECOMPRESSION_FAILED, "undecodable header section (RFC 9204 §6)"
            ) from None
        if instructions:
            self._quic.send_stream_data(self._decoder_id, instructions)
        size = 0
        for name, value in headers:
            size += len(name) + len(value) + 32
        if size > self.config.max_field_section_size:
            raise PeerStreamError(
                stream.id, ErrorCode.H3_EXCESSIVE_LOAD, "header section over our limit (§4.2.2)"
            )
        try:
            self._on_headers(stream, headers)
        except MalformedMessage as exc:
            raise PeerStreamError(stream.id, ErrorCode.H3_MESSAGE_ERROR, str(exc)) from None

    def _on_headers(self, stream: RequestStream, headers: ev.Headers) -> None:
        stream_id = stream.id
        if stream.recv_state == AFTER_HEADERS:
            validate_trailers(headers)
            self._check_final_length(stream)
            stream.recv_state = AFTER_TRAILERS
            stream.recv_closed = True  # trailers end the message; only a FIN may follow
            self._emit(stream, ev.TrailersReceived(stream_id, headers))
            self._maybe_finish(stream)
            return
        if self._is_server:
            stream.content_length = validate_request(headers, self._local_enable_connect)
            stream.recv_state = AFTER_HEADERS
            self._emit(stream, ev.RequestReceived(stream_id, headers, False))
            return
        status, content_length = validate_response(headers)
        if status < 200:
            if status == 101:
                raise MalformedMessage("101 does not exist in HTTP/3 (RFC 9114 §4.5)")
            self._emit(stream, ev.InformationalResponseReceived(stream_id, headers))
            return
        if stream.is_head or status == 204 or status == 304:
            content_length = -1
        stream.content_length = content_length
        stream.recv_state = AFTER_HEADERS
        self._emit(stream, ev.ResponseReceived(stream_id, headers, False))

    def _on_data(self, stream: RequestStream, data: bytes) -> None:
        stream.received_length += len(data)
        if 0 <= stream.content_length < stream.received_length:
            raise PeerStreamError(
                stream.id, ErrorCode.H3_MESSAGE_ERROR, "more DATA than content-length (§4.1.2)"
            )
        self._emit(stream, ev.DataReceived(stream.id, data, False))

    def _check_final_length(self, stream: RequestStream) -> None:
        if stream.content_length >= 0 and stream.received_length != stream.content_length:
            raise PeerStreamError(
                stream.id, ErrorCode.H3_MESSAGE_ERROR, "DATA does not match content-length"
            )

    def _on_request_stream_end(self, stream: RequestStream) -> None:
        """The FIN, after every frame was parsed: the peer's message is complete."""
        if stream.recv_state == INITIAL:
            if self._is_server:
                raise PeerStreamError(
                    stream.id, ErrorCode.H3_REQUEST_INCOMPLETE, "stream ended before a request"
                )
            raise PeerStreamError(
                stream.id, ErrorCode.H3_MESSAGE_ERROR, "stream ended before a final response"
            )
        self._check_final_length(stream)
        stream.recv_closed = True
        last = stream.last_event if stream.last_event_generation == self._generation else None
        if isinstance(last, ev.RequestReceived | ev.ResponseReceived | ev.DataReceived):
            last.end_stream = True
        else:
            self._emit(stream, ev.DataReceived(stream.id, b"", True))
        self._maybe_finish(stream)

    def _resume_blocked(self, stream_id: int) -> None:
        """QPACK encoder instructions arrived that a blocked HEADERS frame waited for."""
        stream = self._streams.get(stream_id)
        if stream is None or not stream.blocked:
            return
        stream.blocked = False
        try:
            self._on_header_block(stream, None)
            self._parse_request_stream(stream)
        except PeerStreamError as exc:
            self._stream_error(exc)

    def _spend_reset(self, reason: str) -> None:
        """Pay for one stream reset (RFC 9114 §10.5): past the budget the peer is
        cut off with CONNECTION_CLOSE(H3_EXCESSIVE_LOAD); ``reason`` is the
        close's reason phrase and the metric's label, as in HTTP/2."""
        if not self._reset_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.H3_EXCESSIVE_LOAD, reason)

    def _stream_error(self, exc: PeerStreamError) -> None:
        stream = self._streams.get(exc.stream_id)
        if stream is None:
            return
        # MadeYouReset (CVE-2025-8671): resets the peer provokes cost it like its own.
        if not self._reset_budget.spend(self._now):
            self._close_now(ErrorCode.H3_EXCESSIVE_LOAD, "too many stream errors")
            return
        self._abort_stream(stream, exc.code)
        self._events.append(ev.StreamReset(exc.stream_id, exc.code, False))
        self._forget(exc.stream_id)

    def _on_stream_reset(self, stream_id: int, code: int) -> None:
        """The peer sent RESET_STREAM (RFC 9000 §19.4)."""
        if stream_id & 2:
            if stream_id in (self._peer_control_id, self._peer_encoder_id, self._peer_decoder_id):
                raise PeerConnectionError(
                    ErrorCode.H3_CLOSED_CRITICAL_STREAM, "critical stream reset (§6.2.1)"
                )
            self._uni.pop(stream_id, None)
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._is_server and self._is_new_request_id(stream_id):
                self._spend_reset("too many stream resets")
                self._abandoned_unseen(stream_id, ErrorCode.H3_REQUEST_INCOMPLETE, False)
            return
        if self._is_server:
            self._spend_reset("too many stream resets")
        stream.fin_received = True  # nothing more will arrive
        self._abort_stream(stream, ErrorCode.H3_REQUEST_CANCELLED)
        self._events.append(ev.StreamReset(stream_id, code, True))
        self._forget(stream_id)

    def _on_stop_sending(self, stream_id: int, code: int) -> None:
        """The peer sent STOP_SENDING (RFC 9000 §19.5); aioquic has already reset
        our sending side with the same code."""
        if stream_id in (self._control_id, self._encoder_id, self._decoder_id):
            raise PeerConnectionError(
                ErrorCode.H3_CLOSED_CRITICAL_STREAM, "critical stream stopped (§6.2.1)"
            )
        stream = self._streams.get(stream_id)
        if stream is None:
            if self._is_server and self._is_new_request_id(stream_id):
                # STOP_SENDING can come before the stream's first bytes (aioquic
                # reports frames in packet order): aioquic has reset our side
                # already, so the request must never reach the application.
                self._spend_reset("too many stream resets")
                self._abandoned_unseen(stream_id, code, True)
            return
        stream.send_closed = True
        if code == ErrorCode.H3_NO_ERROR and not self._is_server:
            # RFC 9114 §4.1: the server answers without the rest of the request.
            self._maybe_finish(stream)
            return
        if self._is_server:
            self._spend_reset("too many stream resets")
        self._abort_stream(stream, code)
        self._events.append(ev.StreamReset(stream_id, code, True))
        self._forget(stream_id)

    def _abandoned_unseen(self, stream_id: int, code: int, stop_reading: bool) -> None:
        """Server: the peer reset or stopped a request stream before we saw a byte
        of it. Decide it like any new stream (a rejection is still a rejection),
        then close both directions and never surface it; bytes that arrive later
        are late bytes of a closed stream."""
        reason = self._rejection_reason(stream_id)
        if reason is not None:
            self._reject(stream_id, reason)
            return
        self._note_seen(stream_id)
        self._quic.reset_stream(stream_id, code)  # no effect if STOP_SENDING reset it
        if stop_reading:  # the peer's request is not wanted either
            self._stop_reading(stream_id, code)
        self._remember_closed(stream_id)
        self._check_drained()
