"""Settings of the HTTP/2 engine: every limit and deadline, named, with its default.

Each default says where the number came from. The engine never reads a clock:
deadlines here are durations the caller's ``now`` is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lastcall.errors import ConfigError

#: RFC 9113 §6.5.2 initial values, before any SETTINGS frame is received.
DEFAULT_HEADER_TABLE_SIZE: Final = 4096
DEFAULT_INITIAL_WINDOW_SIZE: Final = 65_535
DEFAULT_MAX_FRAME_SIZE: Final = 16_384
MAX_WINDOW_SIZE: Final = 2**31 - 1
MAX_STREAM_ID: Final = 2**31 - 1

#: How far past ``max_header_list_size`` a peer's header block is still decoded
#: whole, in raw octets and in decoded §4.1 octets alike. RFC 9113 §10.5.1: a
#: block over the limit must still be processed to keep the HPACK table in
#: step, and a server may answer it with 431 on its stream alone; beyond this
#: bound decoding it is not worth the CPU and memory, and the connection ends
#: (COMPRESSION_ERROR, or ENHANCE_YOUR_CALM for raw bytes piling up). 4x keeps
#: one oversized cookie from costing the client every other stream, while a
#: block is never held or decoded past 256 KiB at the default limit
#: (CONTINUATION frames stay capped by ``max_continuation_frames`` too).
HEADER_BLOCK_DECODE_FACTOR: Final = 4


@dataclass(slots=True)
class Http2Config:
    """Every tunable of one HTTP/2 connection.

    The values we *advertise* (max_concurrent_streams, initial_window_size,
    max_frame_size, max_header_list_size, header_table_size) go out in our
    first SETTINGS frame; the others are local budgets and deadlines.
    """

    #: SETTINGS_MAX_CONCURRENT_STREAMS we advertise. 100 like h2 and the
    #: RFC's recommended minimum; nginx 128, Go 250, hyper 200.
    max_concurrent_streams: int = 100

    #: SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce. A block up to
    #: ``HEADER_BLOCK_DECODE_FACTOR`` times over it is decoded whole and its
    #: stream refused (a server answers 431, RFC 9113 §10.5.1); one further
    #: over is cut *while decoding*, so an HPACK bomb ends the connection as
    #: soon as it crosses that line. 64 KiB like h2; nginx 32 KiB per block,
    #: Envoy 60 KiB.
    max_header_list_size: int = 65_536

    #: SETTINGS_HEADER_TABLE_SIZE we advertise (our HPACK decoder's table).
    header_table_size: int = DEFAULT_HEADER_TABLE_SIZE

    #: SETTINGS_INITIAL_WINDOW_SIZE we advertise for streams. 1 MiB keeps a
    #: single stream from stalling on a fast link; Go uses 4 MiB, nginx 64 KiB.
    initial_window_size: int = 1_048_576

    #: Connection-level receive window we grow to right after the preface
    #: (RFC 9113 §6.9.2 allows only WINDOW_UPDATE to change it). 16 MiB.
    connection_window_size: int = 16_777_216

    #: SETTINGS_MAX_FRAME_SIZE we advertise (largest frame we accept).
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE

    #: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): extended CONNECT for WebSocket.
    enable_connect_protocol: bool = True

    #: CONTINUATION frames allowed after one HEADERS/PUSH_PROMISE before we
    #: call it a flood (CVE-2024-27316 class). nghttp2 8, h2 64.
    max_continuation_frames: int = 32

    #: Time between the first GOAWAY(2^31-1)+PING and the final GOAWAY if the
    #: PING ACK never comes. 1 s like h2o and Armeria; clamped to 5 s like gRPC-Go.
    goaway_ping_timeout: float = 1.0

    #: Stream resets budget (Rapid Reset, CVE-2023-44487, and resets we are
    #: provoked into sending, CVE-2025-8671): a token bucket of this burst ...
    reset_burst: int = 1000
    #: ... refilled at this many tokens per second (nghttp2: 1000 burst, 33/s).
    reset_refill_per_second: float = 33.0

    #: PING (non-ACK) and SETTINGS (non-ACK) frames: burst and refill per second.
    #: gRPC keepalive pings at most every 10 s, so 200 burst / 20 per s is generous.
    control_frame_burst: int = 200
    control_frame_refill_per_second: float = 20.0

    #: Frames that carry nothing (empty DATA without END_STREAM, empty
    #: CONTINUATION, zero-length HEADERS fragments): burst and refill per second.
    #: A gRPC stream of many *small* frames never spends from this bucket.
    empty_frame_burst: int = 1000
    empty_frame_refill_per_second: float = 100.0

    #: A non-final DATA frame carrying fewer flow-controlled bytes than this
    #: (padding included) is "tiny": flow control bounds its bytes but not
    #: the number of such frames. 256 like hyper's h2 (0.4.16, RUSTSEC-2026-0258):
    #: about what one buffered frame costs us beyond its payload. 0 turns the
    #: tiny-DATA budget off.
    tiny_data_frame_size: int = 256
    #: Each tiny frame charges this connection budget ``tiny_data_frame_size``
    #: minus its length, refunded as the application consumes the data or the
    #: stream ends (``budgets.TinyDataLedger``). Past it: ENHANCE_YOUR_CALM. 8 MiB
    #: is half the default connection window, h2's own default since 0.4.19: a
    #: peer whose frames carry 128 bytes or more can fill that window while the
    #: application reads nothing and is never cut; one-byte frames are cut after
    #: 32,896 unconsumed. A reading application's peer is never cut.
    tiny_data_budget: int = 8_388_608

    def __post_init__(self) -> None:
        self.goaway_ping_timeout = min(max(self.goaway_ping_timeout, 0.0), 5.0)
        if not 16_384 <= self.max_frame_size <= 16_777_215:
            raise ConfigError("max_frame_size must be within 16384..16777215 (RFC 9113 §6.5.2)")
        if not 0 <= self.initial_window_size <= MAX_WINDOW_SIZE:
            raise ConfigError("initial_window_size must be within 0..2^31-1")
        if not 65_535 <= self.connection_window_size <= MAX_WINDOW_SIZE:
            raise ConfigError("connection_window_size must be within 65535..2^31-1")
        if self.max_concurrent_streams < 0:
            raise ConfigError("max_concurrent_streams must be >= 0")
        if self.max_header_list_size < 1024:
            raise ConfigError("max_header_list_size must be >= 1024")
        if self.max_continuation_frames < 1:
            raise ConfigError("max_continuation_frames must be >= 1")
        if not 0 <= self.tiny_data_frame_size <= self.tiny_data_budget:
            raise ConfigError("tiny_data_frame_size must be within 0..tiny_data_budget")
        for name in ("reset_burst", "control_frame_burst", "empty_frame_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        for name in (
            "reset_refill_per_second",
            "control_frame_refill_per_second",
            "empty_frame_refill_per_second",
        ):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"{name} must be >= 0 per second")
