"""``Http2Engine``: the receive loop and the message frames (DATA, HEADERS,
CONTINUATION; RFC 9113 §6.1, §6.2, §6.10) on top of ``ControlFrames``.

Errors are raised as ``PeerConnectionError`` (RFC 9113 §5.4.1: GOAWAY with the
code, then close) or ``PeerStreamError`` (§5.4.2: RST_STREAM on that stream
only, the connection lives on). The loop in ``receive_data`` catches them, so
a handler can give up at any point without leaving half-applied state.

Every stream error we send is provoked by the peer, so it is paid for from
the same reset budget as resets the peer sends (Rapid Reset, CVE-2023-44487,
and MadeYouReset, CVE-2025-8671).
"""

from __future__ import annotations

from lastcall.errors import HeaderListTooLarge, HpackError, LocalProtocolError

from ..fields import MalformedMessage, validate_request, validate_response, validate_trailers
from ..phases import DrainInitiator, Phase
from ..protocol_errors import PeerClosed, PeerConnectionError, PeerStreamError
from . import events as ev
from .control_frames import ControlFrames
from .drain import DrainInput, DrainPhase
from .frames import (
    CONNECTION_PREFACE,
    CONTINUATION,
    DATA,
    FLAG_ACK,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    FLAG_PRIORITY,
    FRAME_HEADER,
    GOAWAY,
    HEADERS,
    PING,
    PRIORITY,
    RST_STREAM,
    SETTINGS,
    UINT32,
    WINDOW_UPDATE,
    ErrorCode,
)
from .streams import ENDED, RECENTLY_CLOSED_MAX, RESET_BY_US, PendingHeaderBlock, Stream

Headers = list[tuple[bytes, bytes]]

#: The engine's own answer to a request header block over our limit (§10.5.1).
_HEADER_LIST_TOO_LARGE: Headers = [(b":status", b"431"), (b"content-length", b"0")]


def _unpad(flags: int, payload: bytes) -> bytes:
    """Strip padding (§6.1, §6.2): the pad length must leave room for itself."""
    if not flags & FLAG_PADDED:
        return payload
    if not payload:
        raise PeerConnectionError(ErrorCode.FRAME_SIZE_ERROR, "padded frame without pad length")
    pad = payload[0]
    if pad >= len(payload):
        raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "padding longer than the payload")
    return payload[1 : len(payload) - pad]


def _body_fits(stream: Stream, size: int, end_stream: int) -> bool:
    """Count ``size`` more body bytes against the declared content-length: False
    if the body is now longer, or ends shorter (RFC 9113 §8.1.1)."""
    received = stream.received_length = stream.received_length + size
    return received <= stream.content_length and not (
        end_stream and received != stream.content_length
    )


def _check_trailers(stream: Stream, headers: Headers, end_stream: bool) -> None:
    """Trailers must end the stream, carry no pseudo-header and close a body of
    the declared content-length (RFC 9113 §8.1, §8.1.1)."""
    if not end_stream:
        raise PeerStreamError(stream.id, ErrorCode.PROTOCOL_ERROR, "trailers without END_STREAM")
    validate_trailers(headers)
    if stream.content_length >= 0 and stream.received_length != stream.content_length:
        raise MalformedMessage("body shorter than content-length")


class Http2Engine(ControlFrames):
    """One HTTP/2 connection, sans-IO: the class adapters use.

    See the module docstrings of ``sending.py`` and this one, and docs/dev/engine-api.md.
    """

    @property
    def drain_initiator(self) -> DrainInitiator | None:
        """Whose GOAWAY started the drain: LOCAL (ours), PEER (theirs), or
        ``None`` (no drain yet, or a close without one). Both end in the same
        phases; this is what tells them apart."""
        return self._drain.initiator

    def initiate_upgrade(self, http2_settings: bytes, request_end_stream: bool = True) -> int:
        """Server role, h2c via ``Upgrade`` (RFC 7540 §3.2): apply the client's
        decoded ``HTTP2-Settings`` payload and adopt the HTTP/1.1 request as
        stream 1, half-closed (remote) when it had no body. Returns 1."""
        if not self._is_server:
            raise LocalProtocolError("only a server accepts an h2c upgrade")
        self.initiate()
        self._apply_settings(http2_settings, [])
        stream = Stream(1, self._remote_initial_window, self._local_initial_window)
        stream.headers_received = True
        stream.recv_closed = request_end_stream
        self._streams[1] = stream
        self._highest_remote_id = self._last_accepted_id = 1
        return 1

    # -- the loop ----------------------------------------------------------------

    def receive_data(self, data: bytes, now: float = 0.0) -> list[ev.Event]:
        """Feed bytes from the peer; return the events they (and earlier actions) caused.

        Peer errors never raise: they become ``ConnectionTerminated`` (after a
        GOAWAY with the right code is queued) or ``StreamReset`` events.
        """
        self._now = now
        if self._phase is Phase.CLOSED or self._drain.phase is DrainPhase.ABORTED:
            return self.pop_events()
        buf = self._inbuf
        if buf or type(data) is not bytes:
            # The rest of a frame from an earlier read: parse one joined copy.
            # Otherwise frames are cut straight out of ``data``, one copy each.
            buf += data
            data = bytes(buf)
            buf.clear()
        n = len(data)
        pos = 0
        events = self._events
        if self._awaiting_preface:
            if n < 24:
                if CONNECTION_PREFACE[:n] != data:
                    self._fail(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
                else:
                    buf += data
                return self.pop_events()
            if data[:24] != CONNECTION_PREFACE:
                self._fail(ErrorCode.PROTOCOL_ERROR, "invalid connection preface")
                return self.pop_events()
            self._awaiting_preface = False
            pos = 24
        max_frame = self._local_max_frame
        unpack = FRAME_HEADER.unpack_from
        try:
            while n - pos >= 9:
                hi, lo, ftype, flags, stream_id = unpack(data, pos)
                length = (hi << 8) | lo
                if length > max_frame:
                    raise PeerConnectionError(
                        ErrorCode.FRAME_SIZE_ERROR, f"frame of {length} bytes exceeds our limit"
                    )
                end = pos + 9 + length
                if end > n:
                    break
                payload = data[pos + 9 : end]
                pos = end
                stream_id &= 0x7FFFFFFF
                if self._awaiting_settings:
                    if ftype != SETTINGS or flags & FLAG_ACK:
                        raise PeerConnectionError(
                            ErrorCode.PROTOCOL_ERROR, "the first frame must be SETTINGS (§3.4)"
                        )
                    self._awaiting_settings = False
                elif self._header_block is not None and ftype != CONTINUATION:
                    raise PeerConnectionError(
                        ErrorCode.PROTOCOL_ERROR, "frame interleaved in a header block (§6.10)"
                    )
                if ftype <= 9:
                    try:
                        self._dispatch(ftype, flags, stream_id, payload, events)
                    except PeerStreamError as stream_error:
                        self._stream_error(stream_error.stream_id, stream_error.code)
        # Two names, not one ``exc``: mypyc gives a name one type per function,
        # so a second ``as exc`` of another class would fail its type check.
        except PeerConnectionError as connection_error:
            self._fail(connection_error.code, str(connection_error))
            return self.pop_events()
        except PeerClosed:
            return self.pop_events()
        if pos < n:
            buf += memoryview(data)[pos:]
        return self.pop_events()

    def _dispatch(
        self, ftype: int, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        """Call the handler of a known frame type (0-9), commonest first: compiled,
        each branch is a direct call, where a table of bound methods would be a
        generic Python call per frame."""
        if ftype == HEADERS:
            self._on_headers(flags, stream_id, payload, events)
        elif ftype == DATA:
            self._on_data(flags, stream_id, payload, events)
        elif ftype == WINDOW_UPDATE:
            self._on_window_update(flags, stream_id, payload, events)
        elif ftype == RST_STREAM:
            self._on_rst_stream(flags, stream_id, payload, events)
        elif ftype == SETTINGS:
            self._on_settings(flags, stream_id, payload, events)
        elif ftype == PING:
            self._on_ping(flags, stream_id, payload, events)
        elif ftype == CONTINUATION:
            self._on_continuation(flags, stream_id, payload, events)
        elif ftype == PRIORITY:
            self._on_priority(flags, stream_id, payload, events)
        elif ftype == GOAWAY:
            self._on_goaway(flags, stream_id, payload, events)
        else:
            self._on_push_promise(flags, stream_id, payload, events)

    def _fail(self, code: int, message: str) -> None:
        """A connection error: GOAWAY(last id, code, reason) and ``ConnectionTerminated``."""
        self.close(code, message.encode("utf-8", "replace")[:256])
        self._drain.advance(DrainInput.CONNECTION_ERROR)  # and read nothing more

    def _stream_error(self, stream_id: int, code: int) -> None:
        """RST_STREAM(code) for a peer's stream-level mistake, paid from the reset budget."""
        if not self._reset_budget.spend(self._now):
            self._fail(ErrorCode.ENHANCE_YOUR_CALM, "too many stream errors")
            return
        self._write_frame(RST_STREAM, 0, stream_id, UINT32.pack(code))
        if stream_id in self._streams:
            self._events.append(ev.StreamReset(stream_id, code, False))
        self._answered.pop(stream_id, None)
        # Either way, frames the peer already sent on it are dropped quietly.
        self._forget(stream_id, RESET_BY_US)

    # -- DATA (§6.1) ---------------------------------------------------------------

    def _on_data(self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]) -> None:
        if stream_id == 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0")
        flow_length = len(payload)
        if flow_length > self._conn_recv_window:
            raise PeerConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "connection window exceeded")
        self._conn_recv_window -= flow_length
        data = _unpad(flags, payload) if flags & FLAG_PADDED else payload
        stream = self._streams.get(stream_id)
        if stream is None or stream.recv_closed:
            # Nobody will consume these bytes: hand the connection window back now.
            self._return_connection_window(flow_length)
            if stream is None:
                answered = self._answered.get(stream_id)
                if answered is not None:
                    self._on_answered_data(answered, len(data), flow_length, flags)
                    return
                if self._is_idle(stream_id):
                    raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream")
                self._on_closed_stream(stream_id, "DATA")
                return
            raise PeerStreamError(stream_id, ErrorCode.STREAM_CLOSED, "DATA after END_STREAM")
        if not stream.headers_received:
            self._return_connection_window(flow_length)
            raise PeerStreamError(stream_id, ErrorCode.PROTOCOL_ERROR, "DATA before headers")
        if flow_length > stream.recv_window:
            self._return_connection_window(flow_length)
            raise PeerStreamError(stream_id, ErrorCode.FLOW_CONTROL_ERROR, "stream window exceeded")
        stream.recv_window -= flow_length
        end_stream = flags & FLAG_END_STREAM
        if flow_length < self._tiny_data_size and not end_stream:
            if not data:
                if not self._empty_budget.spend(self._now):
                    raise PeerConnectionError(
                        ErrorCode.ENHANCE_YOUR_CALM, "flood of empty DATA frames"
                    )
            else:
                self._charge_tiny_data(stream, flow_length)
        elif not data and not end_stream and not self._empty_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "flood of empty DATA frames")
        if stream.content_length >= 0 and not _body_fits(stream, len(data), end_stream):
            self._return_connection_window(flow_length)
            raise PeerStreamError(
                stream_id, ErrorCode.PROTOCOL_ERROR, "DATA does not match content-length"
            )
        events.append(ev.DataReceived(stream_id, data, flow_length, bool(end_stream)))
        if end_stream:
            stream.recv_closed = True
            if stream.send_closed:
                self._forget(stream_id, ENDED)

    # -- HEADERS and CONTINUATION (§6.2, §6.10) --------------------------------------

    def _on_headers(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        if stream_id == 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0")
        if flags & FLAG_PADDED:
            payload = _unpad(flags, payload)
        self_dependent = False
        if flags & FLAG_PRIORITY:
            if len(payload) < 5:
                raise PeerConnectionError(
                    ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for priority"
                )
            self_dependent = (UINT32.unpack_from(payload)[0] & 0x7FFFFFFF) == stream_id
            payload = payload[5:]
        if not flags & FLAG_END_HEADERS:
            if not payload and not self._empty_budget.spend(self._now):
                raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "flood of empty HEADERS")
            self._header_block = PendingHeaderBlock(stream_id, flags, payload, self_dependent)
            return
        self._on_header_block(stream_id, flags, payload, self_dependent, events)

    def _on_continuation(
        self, flags: int, stream_id: int, payload: bytes, events: list[ev.Event]
    ) -> None:
        block = self._header_block
        if block is None or block.stream_id != stream_id:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "unexpected CONTINUATION")
        block.continuations += 1
        block.size += len(payload)
        if block.continuations > self.config.max_continuation_frames:
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many CONTINUATION frames")
        if block.size > self._header_block_bound:
            # Past the bound up to which an oversized block is still decoded
            # (config.HEADER_BLOCK_DECODE_FACTOR): not worth holding on to.
            raise PeerConnectionError(
                ErrorCode.ENHANCE_YOUR_CALM, "header block over the size limit"
            )
        if not payload and not flags & FLAG_END_HEADERS and not self._empty_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "flood of empty CONTINUATION")
        block.fragments.append(payload)
        if flags & FLAG_END_HEADERS:
            self._header_block = None
            self._on_header_block(
                stream_id, block.flags, b"".join(block.fragments), block.self_dependent, events
            )

    def _decode(self, block: bytes) -> Headers:
        try:
            return self._decoder.decode(block)
        except (HpackError, HeaderListTooLarge) as exc:
            # The decoder's table may now differ from the peer's: only a
            # connection error is safe (RFC 7541 §2.2, RFC 9113 §4.3). The
            # decoder's own limit is the hard bound, several times ours.
            raise PeerConnectionError(exc.error_code, str(exc)) from None

    def _on_header_block(
        self: Http2Engine,
        stream_id: int,
        flags: int,
        block: bytes,
        self_dependent: bool,
        events: list[ev.Event],
    ) -> None:
        headers = self._decode(block)
        # Over the limit we advertised, but decoded whole: the HPACK table is
        # in step, so only this stream need suffer (RFC 9113 §10.5.1).
        oversized = self._decoder.last_size > self._header_list_limit
        end_stream = bool(flags & FLAG_END_STREAM)
        if self_dependent:
            if self._is_idle(stream_id) and (stream_id & 1) == self._remote_parity:
                # The HEADERS opened the stream before it is reset: its id is spent.
                self._highest_remote_id = stream_id
            raise PeerStreamError(stream_id, ErrorCode.PROTOCOL_ERROR, "stream depends on itself")
        stream = self._streams.get(stream_id)
        if stream is None:
            self._on_new_stream(stream_id, headers, end_stream, events, oversized)
            return
        if stream.recv_closed:
            raise PeerStreamError(stream_id, ErrorCode.STREAM_CLOSED, "HEADERS after END_STREAM")
        if oversized:
            if not self._is_server:
                # A client keeps the connection error it always had for this.
                raise PeerConnectionError(ErrorCode.COMPRESSION_ERROR, "header list over our limit")
            # Trailers: the request is already the application's, too late
            # for a 431. ENHANCE_YOUR_CALM is what H3_EXCESSIVE_LOAD maps to.
            raise PeerStreamError(
                stream_id, ErrorCode.ENHANCE_YOUR_CALM, "trailers over the header list limit"
            )
        try:
            if self._is_server or stream.response_final:
                _check_trailers(stream, headers, end_stream)
                events.append(ev.TrailersReceived(stream_id, headers))
            else:
                status, content_length = validate_response(headers)
                if status < 200:
                    if end_stream or status == 101:
                        raise MalformedMessage("1xx response ending the stream, or 101 (§8.1)")
                    events.append(ev.InformationalResponseReceived(stream_id, headers))
                    return
                stream.response_final = stream.headers_received = True
                if stream.is_head or status == 204 or status == 304:
                    content_length = -1
                elif end_stream and content_length > 0:
                    raise MalformedMessage("content-length with an empty body")
                stream.content_length = content_length
                events.append(ev.ResponseReceived(stream_id, headers, end_stream))
        except MalformedMessage as exc:
            raise PeerStreamError(stream_id, ErrorCode.PROTOCOL_ERROR, str(exc)) from None
        if end_stream:
            stream.recv_closed = True
            if stream.send_closed:
                self._forget(stream_id, ENDED)

    def _on_new_stream(
        self: Http2Engine,
        stream_id: int,
        headers: Headers,
        end_stream: bool,
        events: list[ev.Event],
        oversized: bool = False,
    ) -> None:
        if not self._is_server:
            if stream_id & 1 == 0:
                raise PeerConnectionError(
                    ErrorCode.PROTOCOL_ERROR, "server-initiated stream (push is off)"
                )
            if self._is_idle(stream_id):
                raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on an idle stream")
            self._on_closed_stream(stream_id, "HEADERS")
            return
        if stream_id & 1 == 0:
            raise PeerConnectionError(ErrorCode.PROTOCOL_ERROR, "even stream id from a client")
        if stream_id <= self._highest_remote_id:
            answered = self._answered.get(stream_id)
            if answered is not None:
                self._on_answered_headers(answered, headers, end_stream, oversized)
                return
            if stream_id not in self._recently_closed and stream_id > self._forgotten_max:
                # Never opened (we would remember it), so implicitly closed by a
                # higher id (§5.1.1): the peer reused an id it had skipped. A
                # stream we may merely have forgotten gets the stream error below.
                raise PeerConnectionError(
                    ErrorCode.PROTOCOL_ERROR, "new stream id not above the last one (§5.1.1)"
                )
            self._on_closed_stream(stream_id, "HEADERS")
            return
        self._highest_remote_id = stream_id
        if self._drain.refuses_new_streams:
            self._refuse(stream_id, "draining")
            return
        if len(self._streams) >= self._local_max_concurrent:
            self._refuse(stream_id, "max_concurrent_streams")
            return
        if oversized:
            self._reject_oversized(stream_id, end_stream)
            return
        try:
            content_length = validate_request(headers, self._local_enable_connect)
            if end_stream and content_length > 0:
                raise MalformedMessage("content-length with an empty body")
        except MalformedMessage as exc:
            raise PeerStreamError(stream_id, ErrorCode.PROTOCOL_ERROR, str(exc)) from None
        stream = Stream(stream_id, self._remote_initial_window, self._local_initial_window)
        stream.headers_received = True
        stream.content_length = content_length
        stream.recv_closed = end_stream
        self._streams[stream_id] = stream
        self._last_accepted_id = stream_id
        events.append(ev.RequestReceived(stream_id, headers, end_stream))

    # -- streams answered before their request ended (§8.1) ------------------------------
    #
    # We sent the complete response and RST_STREAM(NO_ERROR); the client may
    # still have DATA and trailers in flight. §5.1 lets us ignore them, but
    # then the same bytes would be answered (stream open when they arrived in
    # the request's read) or not (the app answered in between) depending on
    # how they were split into reads. So until the client's END_STREAM (or
    # RST_STREAM, or ``ANSWERED_MAX`` (streams.py) newer such streams) they are checked as
    # if the stream were open: flow control, content-length, trailers. Nothing
    # reaches the application, and the connection window is returned at once.

    def _on_answered_data(self, stream: Stream, size: int, flow_length: int, flags: int) -> None:
        stream_id = stream.id
        if flow_length > stream.recv_window:
            raise PeerStreamError(stream_id, ErrorCode.FLOW_CONTROL_ERROR, "stream window exceeded")
        stream.recv_window -= flow_length
        end_stream = flags & FLAG_END_STREAM
        # Nothing here reaches the application, so nothing is ever consumed:
        # tiny frames are paid, like empty ones, from the time-refilled bucket.
        if (
            not end_stream
            and (not size or flow_length < self._tiny_data_size)
            and not self._empty_budget.spend(self._now)
        ):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "flood of empty DATA frames")
        if stream.content_length >= 0 and not _body_fits(stream, size, end_stream):
            raise PeerStreamError(
                stream_id, ErrorCode.PROTOCOL_ERROR, "DATA does not match content-length"
            )
        if end_stream:
            self._answered_ended(stream_id)

    def _on_answered_headers(
        self, stream: Stream, headers: Headers, end_stream: bool, oversized: bool
    ) -> None:
        if oversized:
            raise PeerStreamError(
                stream.id, ErrorCode.ENHANCE_YOUR_CALM, "trailers over the header list limit"
            )
        try:
            _check_trailers(stream, headers, end_stream)
        except MalformedMessage as exc:
            raise PeerStreamError(stream.id, ErrorCode.PROTOCOL_ERROR, str(exc)) from None
        self._answered_ended(stream.id)

    def _answered_ended(self, stream_id: int) -> None:
        """The client ended its side too: the stream closed by END_STREAM both ways."""
        del self._answered[stream_id]
        recent = self._recently_closed
        recent[stream_id] = ENDED
        if len(recent) > RECENTLY_CLOSED_MAX:
            self._evict_oldest_closed()

    def _on_closed_stream(self, stream_id: int, frame: str) -> None:
        """DATA or HEADERS on a stream we no longer have, answered by how it
        closed (RFC 9113 §5.1; ``streams.py``): ignored if we reset it, a
        connection error if END_STREAM went both ways, else a stream error
        (the peer reset it, or we no longer remember it)."""
        how = self._recently_closed.get(stream_id)
        if how == RESET_BY_US:
            return  # the peer had this in flight when our RST_STREAM arrived
        if how == ENDED:
            raise PeerConnectionError(
                ErrorCode.STREAM_CLOSED, f"{frame} on a stream closed by END_STREAM (§5.1)"
            )
        raise PeerStreamError(stream_id, ErrorCode.STREAM_CLOSED, f"{frame} on a closed stream")

    def _refuse(self, stream_id: int, reason: str) -> None:
        """RST_STREAM(REFUSED_STREAM): the request never reached the application, so
        the client may retry it anywhere (§8.7). Paid from the reset budget."""
        if not self._reset_budget.spend(self._now):
            raise PeerConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many refused streams")
        self._write_frame(RST_STREAM, 0, stream_id, UINT32.pack(ErrorCode.REFUSED_STREAM))
        recent = self._recently_closed
        recent[stream_id] = RESET_BY_US
        if len(recent) > RECENTLY_CLOSED_MAX:
            self._evict_oldest_closed()
        self._events.append(ev.StreamRefused(stream_id, reason))

    def _reject_oversized(self, stream_id: int, end_stream: bool) -> None:
        """431 on a request whose header block was over our limit but decoded
        (RFC 9113 §10.5.1), then RST_STREAM(NO_ERROR) if the client was still
        sending (§8.1: a complete response ends the exchange). The application
        never sees it; the connection and its other streams carry on.

        Every such block made us decode up to ``HEADER_BLOCK_DECODE_FACTOR``
        times our limit, so each is paid for from the reset budget like any
        stream error the peer provokes (MadeYouReset, CVE-2025-8671).
        """
        if not self._reset_budget.spend(self._now):
            raise PeerConnectionError(
                ErrorCode.ENHANCE_YOUR_CALM, "too many oversized header blocks"
            )
        self._emit_header_block(stream_id, _HEADER_LIST_TOO_LARGE, True)
        if not end_stream:
            self._write_frame(RST_STREAM, 0, stream_id, UINT32.pack(ErrorCode.NO_ERROR))
        # Answered, so processed (§6.8: "might have taken some action on").
        self._last_accepted_id = stream_id
        recent = self._recently_closed
        # What the client still had in flight after our RST_STREAM is dropped
        # quietly; after its own END_STREAM both sides have ended the stream.
        recent[stream_id] = ENDED if end_stream else RESET_BY_US
        if len(recent) > RECENTLY_CLOSED_MAX:
            self._evict_oldest_closed()
        self._events.append(ev.RequestRejected(stream_id, 431, "header_list_too_large"))
