"""HTTP/3 wire vocabulary: codes, frame and stream types, varints, frame encoders.

Every HTTP/3 frame is ``type (varint) | length (varint) | payload`` (RFC 9114
§7.1); integers are QUIC variable-length integers (RFC 9000 §16). Parsing is
incremental and lives with the stream that owns the bytes (``connection.py``);
this module only knows the shapes.
"""

from __future__ import annotations

import enum

from .config import MAX_VARINT


class ErrorCode(enum.IntEnum):
    """HTTP/3 application error codes (RFC 9114 §8.1, RFC 9204 §6)."""

    H3_NO_ERROR = 0x100
    H3_GENERAL_PROTOCOL_ERROR = 0x101
    H3_INTERNAL_ERROR = 0x102
    H3_STREAM_CREATION_ERROR = 0x103
    H3_CLOSED_CRITICAL_STREAM = 0x104
    H3_FRAME_UNEXPECTED = 0x105
    H3_FRAME_ERROR = 0x106
    H3_EXCESSIVE_LOAD = 0x107
    H3_ID_ERROR = 0x108
    H3_SETTINGS_ERROR = 0x109
    H3_MISSING_SETTINGS = 0x10A
    H3_REQUEST_REJECTED = 0x10B
    H3_REQUEST_CANCELLED = 0x10C
    H3_REQUEST_INCOMPLETE = 0x10D
    H3_MESSAGE_ERROR = 0x10E
    H3_CONNECT_ERROR = 0x10F
    H3_VERSION_FALLBACK = 0x110
    QPACK_DECOMPRESSION_FAILED = 0x200
    QPACK_ENCODER_STREAM_ERROR = 0x201
    QPACK_DECODER_STREAM_ERROR = 0x202


class FrameType(enum.IntEnum):
    """HTTP/3 frame types (RFC 9114 §7.2)."""

    DATA = 0x0
    HEADERS = 0x1
    CANCEL_PUSH = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    GOAWAY = 0x7
    MAX_PUSH_ID = 0xD


#: HTTP/2 frame types with no HTTP/3 meaning: receiving one is
#: H3_FRAME_UNEXPECTED (RFC 9114 §7.2.8, §11.2.1).
RESERVED_FRAME_TYPES = frozenset({0x2, 0x6, 0x8, 0x9})

#: Frames that belong on the control stream only (RFC 9114 §7.2.3-§7.2.7).
CONTROL_FRAME_TYPES = frozenset(
    {FrameType.CANCEL_PUSH, FrameType.SETTINGS, FrameType.GOAWAY, FrameType.MAX_PUSH_ID}
)


class StreamType(enum.IntEnum):
    """Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2)."""

    CONTROL = 0x0
    PUSH = 0x1
    QPACK_ENCODER = 0x2
    QPACK_DECODER = 0x3


class SettingCode(enum.IntEnum):
    """HTTP/3 SETTINGS identifiers (RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3)."""

    QPACK_MAX_TABLE_CAPACITY = 0x1
    MAX_FIELD_SECTION_SIZE = 0x6
    QPACK_BLOCKED_STREAMS = 0x7
    ENABLE_CONNECT_PROTOCOL = 0x8


#: HTTP/2 settings with no HTTP/3 meaning: receiving one is H3_SETTINGS_ERROR
#: (RFC 9114 §7.2.4.1, §11.2.2).
RESERVED_SETTINGS = frozenset({0x2, 0x3, 0x4, 0x5})


class FrameParseError(Exception):
    """A frame payload is malformed (the caller answers H3_FRAME_ERROR, RFC 9114 §7.1)."""


class DuplicateSetting(FrameParseError):
    """A SETTINGS frame repeats an identifier (H3_SETTINGS_ERROR, RFC 9114 §7.2.4)."""


def encode_varint(value: int) -> bytes:
    """QUIC variable-length integer, shortest form (RFC 9000 §16)."""
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x4000_0000:
        return (value | 0x8000_0000).to_bytes(4, "big")
    if value <= MAX_VARINT:
        return (value | 0xC000_0000_0000_0000).to_bytes(8, "big")
    raise ValueError(f"{value} does not fit a QUIC varint")


def read_varint(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """Decode the varint at ``pos``: ``(value, next_pos)``, or None if it is incomplete."""
    if pos >= len(data):
        return None
    first = data[pos]
    size = 1 << (first >> 6)
    end = pos + size
    if end > len(data):
        return None
    value = first & 0x3F
    for i in range(pos + 1, end):
        value = (value << 8) | data[i]
    return value, end


def read_frame_header(data: bytes | bytearray, pos: int) -> tuple[int, int, int] | None:
    """The frame header at ``pos`` (RFC 9114 §7.1): ``(type, length, payload_pos)``,
    or None while either varint is incomplete."""
    type_field = read_varint(data, pos)
    if type_field is None:
        return None
    length_field = read_varint(data, type_field[1])
    if length_field is None:
        return None
    return type_field[0], length_field[0], length_field[1]


def encode_frame(frame_type: int, payload: bytes) -> bytes:
    """One whole frame (RFC 9114 §7.1)."""
    return encode_varint(frame_type) + encode_varint(len(payload)) + payload


def frame_header(frame_type: int, length: int) -> bytes:
    """Type and length of a frame whose payload the caller writes after it."""
    return encode_varint(frame_type) + encode_varint(length)


def encode_settings(settings: dict[int, int]) -> bytes:
    """A SETTINGS frame (RFC 9114 §7.2.4)."""
    payload = b"".join(encode_varint(k) + encode_varint(v) for k, v in settings.items())
    return encode_frame(FrameType.SETTINGS, payload)


def encode_goaway(identifier: int) -> bytes:
    """A GOAWAY frame (RFC 9114 §7.2.6): a stream id (server) or push id (client)."""
    return encode_frame(FrameType.GOAWAY, encode_varint(identifier))


def parse_settings(payload: bytes) -> dict[int, int]:
    """Decode a SETTINGS payload; a truncated entry raises FrameParseError, a
    repeated identifier DuplicateSetting."""
    settings: dict[int, int] = {}
    pos = 0
    while pos < len(payload):
        key = read_varint(payload, pos)
        if key is None:
            raise FrameParseError("truncated SETTINGS")
        value = read_varint(payload, key[1])
        if value is None:
            raise FrameParseError("truncated SETTINGS")
        if key[0] in settings:
            raise DuplicateSetting(f"setting 0x{key[0]:x} repeated")
        settings[key[0]] = value[0]
        pos = value[1]
    return settings


def parse_single_varint(payload: bytes) -> int:
    """The payload of GOAWAY, MAX_PUSH_ID or CANCEL_PUSH: exactly one varint."""
    parsed = read_varint(payload, 0)
    if parsed is None or parsed[1] != len(payload):
        raise FrameParseError("frame payload must be exactly one varint")
    return parsed[0]
