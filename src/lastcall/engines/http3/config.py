"""Settings of the HTTP/3 engine: every QUIC and HTTP/3 limit and deadline, named.

Each default says where the number came from. The engine never reads a clock:
deadlines here are durations the caller's ``now`` is measured against.

TLS material (certificate, private key, CA bundle, server name, verification)
stays in aioquic's ``QuicConfiguration``, which the caller builds; the
transport limits below are copied onto it per connection by
``Http3Config.quic_configuration`` so that one place names them all.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aioquic.quic.configuration import QuicConfiguration

from lastcall.errors import ConfigError

from ..role import Role

#: ALPN token of HTTP/3 (RFC 9114 §3.1).
H3_ALPN = "h3"

#: Largest client-initiated bidirectional stream id (RFC 9000 §2.1: ids are
#: below 2^62 and client bidi ids are multiples of 4). The first GOAWAY of a
#: drain carries it: "every request may still be processed" (RFC 9114 §5.2).
MAX_CLIENT_BIDI_STREAM_ID = 2**62 - 4

#: Largest value a QUIC variable-length integer can hold (RFC 9000 §16).
MAX_VARINT = 2**62 - 1


@dataclass(slots=True)
class Http3Config:
    """Every tunable of one HTTP/3 connection (QUIC transport and HTTP/3 layer).

    Values *advertised* to the peer: ``idle_timeout`` (max_idle_timeout
    transport parameter), ``max_concurrent_streams`` (initial_max_streams_bidi),
    ``max_data`` / ``max_stream_data`` (flow-control windows), and the HTTP/3
    SETTINGS ``max_field_section_size``, ``qpack_max_table_capacity``,
    ``qpack_blocked_streams``, ``enable_connect_protocol``. The rest are local
    deadlines.
    """

    #: QUIC max_idle_timeout (RFC 9000 §10.1), seconds. The connection closes
    #: silently after this long without a packet. 30 s like quic-go and Chrome;
    #: aioquic's own default is 60 s, nginx ``quic`` keepalive 60 s.
    idle_timeout: float = 30.0

    #: Request streams a client may have open at once (initial_max_streams_bidi,
    #: RFC 9000 §4.6; aioquic raises the limit by one as each stream closes).
    #: 100 like our HTTP/2 engine, quic-go ``MaxIncomingStreams`` and the RFC
    #: 9114 §6.1 recommended minimum; aioquic hard-codes 128.
    max_concurrent_streams: int = 100

    #: Connection-level flow-control window (initial_max_data, RFC 9000 §4.1).
    #: 16 MiB like our HTTP/2 connection window; quic-go grows to 15 MiB,
    #: aioquic starts at 1 MiB. aioquic doubles it as it is used.
    max_data: int = 16_777_216

    #: Per-stream flow-control window (initial_max_stream_data_*, RFC 9000
    #: §4.1). 1 MiB like our HTTP/2 streams and aioquic; quic-go starts at 512 KiB.
    max_stream_data: int = 1_048_576

    #: SETTINGS_MAX_FIELD_SECTION_SIZE we advertise and enforce (RFC 9114
    #: §4.2.2, §7.2.4.1). 64 KiB like our HTTP/2 header list limit and h2.
    max_field_section_size: int = 65_536

    #: SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 §5): our decoder's dynamic
    #: table. 4096 like aioquic and the HTTP/2 default table size.
    qpack_max_table_capacity: int = 4096

    #: SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 §5): streams that may wait for
    #: encoder-stream instructions at once. 16 like aioquic.
    qpack_blocked_streams: int = 16

    #: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 9220, extended CONNECT for
    #: WebSocket over HTTP/3), server role only. Off until the server adapter
    #: speaks WebSocket over HTTP/3.
    enable_connect_protocol: bool = False

    #: Time between the first GOAWAY(2^62-4) and the final GOAWAY carrying the
    #: real first rejected id, when the QUIC PING sent with the first one is
    #: never acknowledged (RFC 9114 §5.2: "in-flight requests ... settle").
    #: Once aioquic has an RTT sample the wait is also capped at two probe
    #: timeouts (RFC 9002 §6.2). 1 s like h2o, Armeria and our HTTP/2
    #: ``goaway_ping_timeout``; clamped to 5 s like gRPC-Go.
    goaway_settle_timeout: float = 1.0

    #: How long ``close()`` / ``cancel_remaining()`` hold the CONNECTION_CLOSE
    #: back so that the frames queued just before it (the stream resets, the
    #: last GOAWAY) are acknowledged first: aioquic sends nothing but the close
    #: once one is pending, and a pacer may not have sent them yet. Capped at
    #: three PTOs once an RTT is known. 1 s like Go's ``goAwayTimeout`` and our
    #: lingering close; 0 closes at once.
    close_flush_timeout: float = 1.0

    #: Stream resets budget (RFC 9114 §10.5; the Rapid Reset attack,
    #: CVE-2023-44487, and resets we are provoked into, CVE-2025-8671): a token
    #: bucket of this burst, spent by every request stream the peer resets or
    #: stops (RESET_STREAM or STOP_SENDING, once per stream), every stream we
    #: reset for the peer's mistake and every stream refused while draining.
    #: QUIC's MAX_STREAMS bounds how many streams are open at once, not how
    #: fast they churn. Empty: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD). 1000 like
    #: our HTTP/2 engine and nghttp2.
    reset_burst: int = 1000
    #: ... refilled at this many tokens per second (nghttp2 and our HTTP/2: 33/s).
    reset_refill_per_second: float = 33.0

    #: What RFC 9114 §9 makes us ignore, and so costs the peer nothing: frames
    #: of unknown or reserved types (control and request streams), empty DATA
    #: frames, and unidirectional streams of unknown types. The first such
    #: frame on each request stream is free (a GREASE frame per request, as
    #: browsers send, never spends). Empty: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD)
    #: (§10.5). Burst and refill like our HTTP/2 empty-frame budget.
    ignored_frame_burst: int = 1000
    ignored_frame_refill_per_second: float = 100.0

    def __post_init__(self) -> None:
        self.goaway_settle_timeout = min(max(self.goaway_settle_timeout, 0.0), 5.0)
        self.close_flush_timeout = min(max(self.close_flush_timeout, 0.0), 5.0)
        if self.idle_timeout <= 0:
            raise ConfigError("idle_timeout must be > 0 seconds")
        if not 0 <= self.max_concurrent_streams <= 2**60:
            raise ConfigError("max_concurrent_streams must be within 0..2^60 (RFC 9000 §4.6)")
        if not 0 <= self.max_data <= MAX_VARINT:
            raise ConfigError("max_data must be within 0..2^62-1")
        if not 0 <= self.max_stream_data <= MAX_VARINT:
            raise ConfigError("max_stream_data must be within 0..2^62-1")
        if self.max_field_section_size < 1024:
            raise ConfigError("max_field_section_size must be >= 1024")
        if not 0 <= self.qpack_max_table_capacity <= 2**30:
            raise ConfigError("qpack_max_table_capacity must be within 0..2^30")
        if not 0 <= self.qpack_blocked_streams <= 65_535:
            raise ConfigError("qpack_blocked_streams must be within 0..65535")
        for name in ("reset_burst", "ignored_frame_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        for name in ("reset_refill_per_second", "ignored_frame_refill_per_second"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")

    def quic_configuration(
        self, role: Role, base: QuicConfiguration | None = None
    ) -> QuicConfiguration:
        """A copy of ``base`` (TLS settings) with our transport limits and ALPN "h3".

        A server needs ``base`` with a certificate and private key loaded; a
        client may pass None for aioquic's defaults (system CA, verification on).
        """
        is_client = role is Role.CLIENT
        if base is None:
            if not is_client:
                raise ConfigError("an HTTP/3 server needs a QuicConfiguration with a certificate")
            base = QuicConfiguration(is_client=True)
        if base.is_client != is_client:
            raise ConfigError(f"QuicConfiguration.is_client does not match role {role.value}")
        alpn = list(base.alpn_protocols) if base.alpn_protocols else [H3_ALPN]
        if H3_ALPN not in alpn:
            raise ConfigError('QuicConfiguration.alpn_protocols must include "h3" (RFC 9114 §3.1)')
        return dataclasses.replace(
            base,
            alpn_protocols=alpn,
            idle_timeout=self.idle_timeout,
            max_data=self.max_data,
            max_stream_data=self.max_stream_data,
        )
