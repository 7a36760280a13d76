"""Raw HTTP/2 frames for tests: builders, a parser, and a scripted peer.

Tests of the engine drive it frame by frame, with no sockets and no clock:
they build the peer's bytes with the functions here, feed them to
``Http2Engine.receive_data`` and parse what ``data_to_send()`` returns back
into :class:`Frame` objects to assert on, exactly.

Header blocks are encoded and decoded with the independent ``hpack`` package
(python-hyper), never with lastcall's own codec, so a test of our decoder
never trusts our encoder and the other way round. ``hpack`` is a dev
dependency; this module is for tests only.

Example::

    engine = Http2Engine(Role.SERVER)
    peer = ScriptedPeer(engine)
    peer.handshake()
    events = peer.send(peer.request(1))
    assert [f.summary() for f in peer.frames()] == []
    engine.send_headers(1, [(b":status", b"204")], end_stream=True)
    assert [f.summary() for f in peer.frames()] == ["HEADERS[1] END_STREAM|END_HEADERS"]
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import hpack

from lastcall.engines.http2 import Http2Engine
from lastcall.engines.http2 import events as ev
from lastcall.engines.http2.config import Http2Config
from lastcall.engines.http2.frames import (
    CONNECTION_PREFACE,
    ErrorCode,
    FrameType,
    SettingCode,
    frame,
    goaway_payload,
    settings_payload,
)
from lastcall.engines.role import Role

__all__ = [
    "DEFAULT_REQUEST",
    "DEFAULT_RESPONSE",
    "Frame",
    "PeerDecoder",
    "PeerEncoder",
    "ScriptedPeer",
    "client_peer",
    "continuation_frame",
    "data_frame",
    "event_types",
    "goaway_frame",
    "headers_frame",
    "parse_frames",
    "ping_frame",
    "priority_frame",
    "push_promise_frame",
    "raw_frame",
    "rst_stream_frame",
    "server_peer",
    "settings_frame",
    "window_update_frame",
]

Headers = list[tuple[bytes, bytes]]

DEFAULT_REQUEST: Headers = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":authority", b"example.com"),
    (b":path", b"/"),
]
DEFAULT_RESPONSE: Headers = [(b":status", b"200")]

_FLAG_NAMES: dict[int, tuple[tuple[int, str], ...]] = {
    FrameType.DATA: ((0x1, "END_STREAM"), (0x8, "PADDED")),
    FrameType.HEADERS: (
        (0x1, "END_STREAM"),
        (0x4, "END_HEADERS"),
        (0x8, "PADDED"),
        (0x20, "PRIORITY"),
    ),
    FrameType.SETTINGS: ((0x1, "ACK"),),
    FrameType.PING: ((0x1, "ACK"),),
    FrameType.PUSH_PROMISE: ((0x4, "END_HEADERS"), (0x8, "PADDED")),
    FrameType.CONTINUATION: ((0x4, "END_HEADERS"),),
}


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"0x{code:x}"


@dataclass(frozen=True, slots=True)
class Frame:
    """One parsed frame. ``headers`` is the decoded header block, set on the
    HEADERS/CONTINUATION frame that ended a block when parsed by a peer that
    decodes (:meth:`ScriptedPeer.frames`)."""

    type: int
    flags: int
    stream_id: int
    payload: bytes
    headers: Headers | None = field(default=None, compare=False)

    @property
    def type_name(self) -> str:
        try:
            return FrameType(self.type).name
        except ValueError:
            return f"UNKNOWN_0x{self.type:x}"

    def has_flag(self, flag: int) -> bool:
        return bool(self.flags & flag)

    @property
    def end_stream(self) -> bool:
        return self.type in (FrameType.DATA, FrameType.HEADERS) and bool(self.flags & 0x1)

    @property
    def ack(self) -> bool:
        return self.type in (FrameType.SETTINGS, FrameType.PING) and bool(self.flags & 0x1)

    @property
    def error_code(self) -> int:
        """RST_STREAM's or GOAWAY's error code."""
        if self.type == FrameType.RST_STREAM:
            return int(struct.unpack(">L", self.payload[:4])[0])
        if self.type == FrameType.GOAWAY:
            return int(struct.unpack(">L", self.payload[4:8])[0])
        raise AttributeError(f"{self.type_name} carries no error code")

    @property
    def last_stream_id(self) -> int:
        """GOAWAY's last-processed stream id."""
        if self.type != FrameType.GOAWAY:
            raise AttributeError(f"{self.type_name} is not GOAWAY")
        return int(struct.unpack(">L", self.payload[:4])[0]) & 0x7FFFFFFF

    @property
    def debug_data(self) -> bytes:
        """GOAWAY's debug data."""
        if self.type != FrameType.GOAWAY:
            raise AttributeError(f"{self.type_name} is not GOAWAY")
        return self.payload[8:]

    @property
    def increment(self) -> int:
        """WINDOW_UPDATE's window size increment."""
        if self.type != FrameType.WINDOW_UPDATE:
            raise AttributeError(f"{self.type_name} is not WINDOW_UPDATE")
        return int(struct.unpack(">L", self.payload)[0]) & 0x7FFFFFFF

    @property
    def settings(self) -> dict[int, int]:
        """SETTINGS values, in order (later duplicates win)."""
        if self.type != FrameType.SETTINGS:
            raise AttributeError(f"{self.type_name} is not SETTINGS")
        return {
            k: v
            for k, v in (
                struct.unpack_from(">HL", self.payload, i) for i in range(0, len(self.payload), 6)
            )
        }

    @property
    def data(self) -> bytes:
        """DATA's payload without padding."""
        if self.type != FrameType.DATA:
            raise AttributeError(f"{self.type_name} is not DATA")
        if self.flags & 0x8:
            return self.payload[1 : len(self.payload) - self.payload[0]]
        return self.payload

    def summary(self) -> str:
        """A compact, exact description for assertions, e.g. ``RST_STREAM[1] STREAM_CLOSED``,
        ``GOAWAY last=3 NO_ERROR``, ``DATA[1] 5 END_STREAM``, ``WINDOW_UPDATE[0] +100``."""
        name = self.type_name
        t = self.type
        if t == FrameType.GOAWAY:
            return f"GOAWAY last={self.last_stream_id} {_code_name(self.error_code)}"
        if t == FrameType.RST_STREAM:
            return f"RST_STREAM[{self.stream_id}] {_code_name(self.error_code)}"
        if t == FrameType.WINDOW_UPDATE:
            return f"WINDOW_UPDATE[{self.stream_id}] +{self.increment}"
        if t == FrameType.PING:
            return f"PING{' ACK' if self.ack else ''} {self.payload.hex()}"
        if t == FrameType.SETTINGS:
            if self.ack:
                return "SETTINGS ACK"
            values = ",".join(f"{_setting_name(k)}={v}" for k, v in self.settings.items())
            return f"SETTINGS {values}".rstrip()
        flags = "|".join(n for bit, n in _FLAG_NAMES.get(t, ()) if self.flags & bit)
        if t == FrameType.DATA:
            return f"DATA[{self.stream_id}] {len(self.data)}{' ' + flags if flags else ''}"
        return f"{name}[{self.stream_id}]{' ' + flags if flags else ''}"


def _setting_name(key: int) -> str:
    try:
        return SettingCode(key).name
    except ValueError:
        return f"0x{key:x}"


def parse_frames(data: bytes, *, preface: bool = False) -> list[Frame]:
    """Split ``data`` into frames. With ``preface`` the client connection
    preface must come first. Trailing bytes that are not a whole frame raise
    ``ValueError``: an engine never emits half a frame."""
    pos = 0
    if preface:
        if data[:24] != CONNECTION_PREFACE:
            raise ValueError("missing client connection preface")
        pos = 24
    out: list[Frame] = []
    while pos < len(data):
        if len(data) - pos < 9:
            raise ValueError(f"{len(data) - pos} trailing bytes are not a frame header")
        hi, lo, ftype, flags, sid = struct.unpack_from(">HBBBL", data, pos)
        length = (hi << 8) | lo
        end = pos + 9 + length
        if end > len(data):
            raise ValueError("truncated frame")
        out.append(Frame(ftype, flags, sid & 0x7FFFFFFF, data[pos + 9 : end]))
        pos = end
    return out


# -- builders ----------------------------------------------------------------------


def raw_frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Any frame, flags and stream id as given (the reserved bit too: pass it in ``stream_id``)."""
    return frame(frame_type, flags, stream_id, payload)


def _pad(flags: int, payload: bytes, pad_length: int | None) -> tuple[int, bytes]:
    if pad_length is None:
        return flags, payload
    return flags | 0x8, bytes([pad_length]) + payload + b"\0" * pad_length


def data_frame(
    stream_id: int, data: bytes = b"", *, end_stream: bool = False, pad_length: int | None = None
) -> bytes:
    """DATA (§6.1); ``pad_length`` adds the PADDED flag, the length octet and that many zeros."""
    flags, payload = _pad(0x1 if end_stream else 0, data, pad_length)
    return frame(FrameType.DATA, flags, stream_id, payload)


def headers_frame(
    stream_id: int,
    block: bytes,
    *,
    end_stream: bool = False,
    end_headers: bool = True,
    pad_length: int | None = None,
    priority: tuple[int, int, bool] | None = None,
) -> bytes:
    """HEADERS (§6.2). ``priority`` is ``(depends_on, weight, exclusive)``."""
    flags = (0x1 if end_stream else 0) | (0x4 if end_headers else 0)
    payload = block
    if priority is not None:
        depends_on, weight, exclusive = priority
        flags |= 0x20
        payload = (
            struct.pack(">LB", depends_on | (0x80000000 if exclusive else 0), weight - 1) + payload
        )
    flags, payload = _pad(flags, payload, pad_length)
    return frame(FrameType.HEADERS, flags, stream_id, payload)


def continuation_frame(stream_id: int, block: bytes, *, end_headers: bool = True) -> bytes:
    """CONTINUATION (§6.10)."""
    return frame(FrameType.CONTINUATION, 0x4 if end_headers else 0, stream_id, block)


def priority_frame(
    stream_id: int, depends_on: int = 0, weight: int = 16, exclusive: bool = False
) -> bytes:
    """PRIORITY (§6.3), deprecated but still legal to send."""
    payload = struct.pack(">LB", depends_on | (0x80000000 if exclusive else 0), weight - 1)
    return frame(FrameType.PRIORITY, 0, stream_id, payload)


def rst_stream_frame(stream_id: int, error_code: int = ErrorCode.CANCEL) -> bytes:
    """RST_STREAM (§6.4)."""
    return frame(FrameType.RST_STREAM, 0, stream_id, struct.pack(">L", error_code))


def settings_frame(values: dict[int, int] | None = None, *, ack: bool = False) -> bytes:
    """SETTINGS (§6.5); ``ack`` for the empty acknowledgement."""
    if ack:
        return frame(FrameType.SETTINGS, 0x1, 0, b"")
    return frame(FrameType.SETTINGS, 0, 0, settings_payload(values or {}))


def push_promise_frame(
    stream_id: int, promised_stream_id: int, block: bytes, *, end_headers: bool = True
) -> bytes:
    """PUSH_PROMISE (§6.6)."""
    payload = struct.pack(">L", promised_stream_id) + block
    return frame(FrameType.PUSH_PROMISE, 0x4 if end_headers else 0, stream_id, payload)


def ping_frame(payload: bytes = b"\x00" * 8, *, ack: bool = False) -> bytes:
    """PING (§6.7)."""
    return frame(FrameType.PING, 0x1 if ack else 0, 0, payload)


def goaway_frame(last_stream_id: int, error_code: int = 0, debug_data: bytes = b"") -> bytes:
    """GOAWAY (§6.8)."""
    return frame(FrameType.GOAWAY, 0, 0, goaway_payload(last_stream_id, error_code, debug_data))


def window_update_frame(stream_id: int, increment: int) -> bytes:
    """WINDOW_UPDATE (§6.9); the increment is written as given (0 and the reserved bit too)."""
    return frame(FrameType.WINDOW_UPDATE, 0, stream_id, struct.pack(">L", increment))


# -- independent HPACK -------------------------------------------------------------


class PeerEncoder:
    """The peer's HPACK encoder: python-hyper ``hpack``, not ours."""

    def __init__(self) -> None:
        self._encoder = hpack.Encoder()

    def encode(self, headers: Iterable[tuple[bytes, bytes]], *, huffman: bool = True) -> bytes:
        return bytes(self._encoder.encode(list(headers), huffman=huffman))

    def set_max_table_size(self, size: int) -> None:
        self._encoder.header_table_size = size


class PeerDecoder:
    """The peer's HPACK decoder: python-hyper ``hpack``, not ours."""

    def __init__(self, max_header_list_size: int = 1 << 24) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=max_header_list_size)

    def decode(self, block: bytes) -> Headers:
        return [(bytes(n), bytes(v)) for n, v in self._decoder.decode(block, raw=True)]


# -- a scripted peer -----------------------------------------------------------------


class ScriptedPeer:
    """The other end of one ``Http2Engine``, played frame by frame by a test.

    ``send`` feeds raw bytes to the engine (``now`` as given, else the peer's
    ``now``) and returns the engine's events; ``frames`` parses what the engine
    queued since the last call, decoding header blocks with the peer's own
    HPACK decoder so its table stays in step with the engine's encoder.
    """

    def __init__(self, engine: Http2Engine, *, now: float = 0.0) -> None:
        self.engine = engine
        self.now = now
        self.encoder = PeerEncoder()
        self.decoder = PeerDecoder()
        self.events: list[ev.Event] = []
        self._block: list[bytes] = []
        self._expect_preface = engine.role is Role.CLIENT

    @property
    def is_client(self) -> bool:
        """True when the peer plays the client (the engine is a server)."""
        return self.engine.role is Role.SERVER

    def handshake(
        self, settings: dict[int, int] | None = None, *, ack_settings: bool = True
    ) -> list[Frame]:
        """Run the preface and SETTINGS exchange; return the engine's opening frames.

        The engine sends its SETTINGS (and WINDOW_UPDATE); the peer sends its
        preface (as a client), its SETTINGS and the ACK of the engine's. The
        engine's ACK of the peer's SETTINGS is consumed and checked.
        """
        self.engine.initiate()
        opening = self.frames()
        assert opening and opening[0].type == FrameType.SETTINGS and not opening[0].ack
        data = CONNECTION_PREFACE if self.is_client else b""
        data += settings_frame(settings or {})
        if ack_settings:
            data += settings_frame(ack=True)
        self.events = self.send(data)
        reply = self.frames()
        assert [f.summary() for f in reply] == ["SETTINGS ACK"], reply
        return opening

    def send(self, *chunks: bytes, now: float | None = None) -> list[ev.Event]:
        """Feed bytes to the engine; return its events."""
        if now is not None:
            self.now = now
        return self.engine.receive_data(b"".join(chunks), self.now)

    def send_split(
        self, data: bytes, sizes: Sequence[int], now: float | None = None
    ) -> list[ev.Event]:
        """Feed ``data`` in pieces of the given sizes (the rest in one piece)."""
        if now is not None:
            self.now = now
        events: list[ev.Event] = []
        pos = 0
        for size in sizes:
            events += self.engine.receive_data(data[pos : pos + size], self.now)
            pos += size
        events += self.engine.receive_data(data[pos:], self.now)
        return events

    def frames(self) -> list[Frame]:
        """Parse (and HPACK-decode) everything the engine queued since the last call."""
        data = self.engine.data_to_send()
        preface = self._expect_preface
        self._expect_preface = False
        out: list[Frame] = []
        for f in parse_frames(data, preface=preface):
            if f.type in (FrameType.HEADERS, FrameType.CONTINUATION):
                payload = f.payload
                if f.type == FrameType.HEADERS:
                    if f.flags & 0x8:
                        payload = payload[1 : len(payload) - payload[0]]
                    if f.flags & 0x20:
                        payload = payload[5:]
                self._block.append(payload)
                if f.flags & 0x4:
                    headers = self.decoder.decode(b"".join(self._block))
                    self._block.clear()
                    f = Frame(f.type, f.flags, f.stream_id, f.payload, headers)
            out.append(f)
        return out

    def expect_connection_error(
        self, events: Sequence[ev.Event], code: int, last_stream_id: int = 0
    ) -> Frame:
        """Assert that ``events`` end the connection with ``code`` (RFC 9113 §5.4.1):
        the engine queued exactly GOAWAY(last_stream_id, code), reported
        ``GoAwaySent`` then ``ConnectionTerminated(code, remote=False)``, and is
        CLOSING. Returns the GOAWAY frame (for its debug data)."""
        frames = self.frames()
        assert [f.summary() for f in frames] == [
            f"GOAWAY last={last_stream_id} {_code_name(code)}"
        ], [f.summary() for f in frames]
        tail = [e for e in events if isinstance(e, ev.GoAwaySent | ev.ConnectionTerminated)]
        assert tail == [
            ev.GoAwaySent(last_stream_id, code, frames[0].debug_data, True),
            ev.ConnectionTerminated(code, frames[0].debug_data, False),
        ], events
        assert events[-1] is tail[-1], "nothing may follow ConnectionTerminated"
        assert self.engine.is_drained
        return frames[0]

    def expect_stream_error(self, events: Sequence[ev.Event], stream_id: int, code: int) -> None:
        """Assert that the engine answered with exactly RST_STREAM(stream_id, code)
        (RFC 9113 §5.4.2), the connection is still usable and the stream is closed."""
        assert self.summaries() == [f"RST_STREAM[{stream_id}] {_code_name(code)}"]
        assert not any(isinstance(e, ev.ConnectionTerminated | ev.GoAwaySent) for e in events)
        assert not self.engine.is_stream_open(stream_id)
        assert not self.engine.is_drained

    def summaries(self) -> list[str]:
        """``[f.summary() for f in self.frames()]``."""
        return [f.summary() for f in self.frames()]

    # -- convenience for header blocks ------------------------------------------------

    def block(self, headers: Iterable[tuple[bytes, bytes]], *, huffman: bool = True) -> bytes:
        """Encode a header block with the peer's encoder (updates its table)."""
        return self.encoder.encode(headers, huffman=huffman)

    def request(
        self,
        stream_id: int,
        headers: Headers | None = None,
        *,
        end_stream: bool = True,
        extra: Headers | None = None,
    ) -> bytes:
        """A HEADERS frame carrying a request (``DEFAULT_REQUEST`` unless given)."""
        fields = list(DEFAULT_REQUEST if headers is None else headers) + list(extra or [])
        return headers_frame(stream_id, self.block(fields), end_stream=end_stream)

    def response(
        self, stream_id: int, headers: Headers | None = None, *, end_stream: bool = True
    ) -> bytes:
        """A HEADERS frame carrying a response (``:status 200`` unless given)."""
        fields = DEFAULT_RESPONSE if headers is None else headers
        return headers_frame(stream_id, self.block(fields), end_stream=end_stream)

    def trailers(self, stream_id: int, headers: Headers) -> bytes:
        """A HEADERS frame with END_STREAM carrying trailers."""
        return headers_frame(stream_id, self.block(headers), end_stream=True)


def server_peer(
    config: Http2Config | None = None, settings: dict[int, int] | None = None
) -> ScriptedPeer:
    """A server engine past the handshake, with a scripted client (``settings``
    are the client's SETTINGS)."""
    peer = ScriptedPeer(Http2Engine(Role.SERVER, config))
    peer.handshake(settings)
    return peer


def client_peer(
    config: Http2Config | None = None, settings: dict[int, int] | None = None
) -> ScriptedPeer:
    """A client engine past the handshake, with a scripted server (``settings``
    are the server's SETTINGS)."""
    peer = ScriptedPeer(Http2Engine(Role.CLIENT, config))
    peer.handshake(settings)
    return peer


def event_types(events: Iterable[ev.Event]) -> list[str]:
    """``[type(e).__name__ for e in events]``: for asserting event sequences exactly."""
    return [type(e).__name__ for e in events]
