"""HTTP/2 frame constants and the serialisers the engine writes with (RFC 9113 §4, §6).

Parsing lives in ``engine.py`` and ``control_frames.py`` beside the handlers,
because splitting a frame off the input buffer and dispatching it is the hot
loop; what is here is
the vocabulary both directions share.
"""

from __future__ import annotations

import enum
import struct
from typing import Final

#: RFC 9113 §3.4: what a client sends first.
CONNECTION_PREFACE: Final = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

FRAME_HEADER: Final = struct.Struct(">HBBBL")
"""length (24 bits, split 16+8), type, flags, R+stream id: 9 octets (§4.1)."""

UINT32: Final = struct.Struct(">L")
TWO_UINT32: Final = struct.Struct(">LL")
SETTING: Final = struct.Struct(">HL")


class FrameType(enum.IntEnum):
    """Frame types of RFC 9113 §6. Others are ignored (§4.1, §5.5)."""

    DATA = 0x0
    HEADERS = 0x1
    PRIORITY = 0x2
    RST_STREAM = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    PING = 0x6
    GOAWAY = 0x7
    WINDOW_UPDATE = 0x8
    CONTINUATION = 0x9


class Flag(enum.IntFlag):
    """Frame flags; the meaning of a bit depends on the frame type."""

    END_STREAM = 0x1
    ACK = 0x1
    END_HEADERS = 0x4
    PADDED = 0x8
    PRIORITY = 0x20


# Plain ints for the hot path (IntEnum attribute access costs).
DATA: Final = 0x0
HEADERS: Final = 0x1
PRIORITY: Final = 0x2
RST_STREAM: Final = 0x3
SETTINGS: Final = 0x4
PUSH_PROMISE: Final = 0x5
PING: Final = 0x6
GOAWAY: Final = 0x7
WINDOW_UPDATE: Final = 0x8
CONTINUATION: Final = 0x9
FLAG_END_STREAM: Final = 0x1
FLAG_ACK: Final = 0x1
FLAG_END_HEADERS: Final = 0x4
FLAG_PADDED: Final = 0x8
FLAG_PRIORITY: Final = 0x20


class ErrorCode(enum.IntEnum):
    """Error codes of RFC 9113 §7."""

    NO_ERROR = 0x0
    PROTOCOL_ERROR = 0x1
    INTERNAL_ERROR = 0x2
    FLOW_CONTROL_ERROR = 0x3
    SETTINGS_TIMEOUT = 0x4
    STREAM_CLOSED = 0x5
    FRAME_SIZE_ERROR = 0x6
    REFUSED_STREAM = 0x7
    CANCEL = 0x8
    COMPRESSION_ERROR = 0x9
    CONNECT_ERROR = 0xA
    ENHANCE_YOUR_CALM = 0xB
    INADEQUATE_SECURITY = 0xC
    HTTP_1_1_REQUIRED = 0xD


class SettingCode(enum.IntEnum):
    """SETTINGS identifiers (RFC 9113 §6.5.2, RFC 8441 §3)."""

    HEADER_TABLE_SIZE = 0x1
    ENABLE_PUSH = 0x2
    MAX_CONCURRENT_STREAMS = 0x3
    INITIAL_WINDOW_SIZE = 0x4
    MAX_FRAME_SIZE = 0x5
    MAX_HEADER_LIST_SIZE = 0x6
    ENABLE_CONNECT_PROTOCOL = 0x8


def frame(frame_type: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Serialise one frame. Used by tests and cold paths; the engine inlines it."""
    length = len(payload)
    return FRAME_HEADER.pack(length >> 8, length & 0xFF, frame_type, flags, stream_id) + payload


def settings_payload(values: dict[int, int]) -> bytes:
    """The payload of a SETTINGS frame carrying ``values`` (§6.5.1)."""
    return b"".join(SETTING.pack(k, v) for k, v in values.items())


def goaway_payload(last_processed_id: int, error_code: int, debug_data: bytes = b"") -> bytes:
    """The payload of a GOAWAY frame (§6.8)."""
    return TWO_UINT32.pack(last_processed_id & 0x7FFFFFFF, error_code) + debug_data
