"""Events the HTTP/3 engine returns from ``receive_datagram`` and ``handle_timer``.

Names and fields follow the HTTP/2 engine's events (``lastcall.engines.http2.events``)
so that adapters handle both alike. Where HTTP/3 differs the name says so:
its GOAWAY carries the *first rejected* stream id (exclusive: streams at or
above it were not processed, RFC 9114 §5.2), where HTTP/2's carries the last
processed one (inclusive), hence ``first_rejected_id``.

Headers are lists of ``(name, value)`` byte pairs, names lowercase, pseudo
headers first, exactly as QPACK decoded them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[bytes, bytes]]


class Event:
    """Base class of every HTTP/3 engine event."""

    __slots__ = ()


@dataclass(slots=True)
class HandshakeCompleted(Event):
    """The QUIC handshake (RFC 9001 §4.1.1) finished; ``alpn_protocol`` is "h3"."""

    alpn_protocol: str | None


@dataclass(slots=True)
class ConnectionIdIssued(Event):
    """We issued a new connection id: the UDP endpoint routes datagrams for it here."""

    connection_id: bytes


@dataclass(slots=True)
class ConnectionIdRetired(Event):
    """A connection id of ours was retired: the endpoint stops routing it here."""

    connection_id: bytes


@dataclass(slots=True)
class SettingsReceived(Event):
    """The peer's SETTINGS frame (RFC 9114 §7.2.4) was applied; ``changed`` maps id to value."""

    changed: dict[int, int]


@dataclass(slots=True)
class RequestReceived(Event):
    """Server role: a client opened a request stream with a valid header section.

    Only *accepted* streams (below the GOAWAY id we advertise) are surfaced;
    rejected ones produce ``StreamRefused`` and never this event.
    """

    stream_id: int
    headers: Headers
    end_stream: bool


@dataclass(slots=True)
class ResponseReceived(Event):
    """Client role: the final (non-1xx) response header section of a stream."""

    stream_id: int
    headers: Headers
    end_stream: bool


@dataclass(slots=True)
class InformationalResponseReceived(Event):
    """Client role: a 1xx response (RFC 9114 §4.1); the final one follows."""

    stream_id: int
    headers: Headers


@dataclass(slots=True)
class TrailersReceived(Event):
    """A trailing header section; it ends the peer's side of the message."""

    stream_id: int
    headers: Headers


@dataclass(slots=True)
class DataReceived(Event):
    """Payload of DATA frames on a stream, as it arrives.

    QUIC flow control (RFC 9000 §4) is aioquic's: it extends the windows as
    data is delivered to the engine, so there is nothing to acknowledge.
    """

    stream_id: int
    data: bytes
    end_stream: bool


@dataclass(slots=True)
class StreamReset(Event):
    """A request stream ended abnormally.

    ``remote`` is True when the peer reset it (RESET_STREAM or STOP_SENDING),
    False when the engine did (a malformed message, a cancel at grace expiry,
    a connection close). ``error_code`` H3_REQUEST_REJECTED (0x10B) from the
    peer means the request was never processed: safe to retry whatever its
    method (RFC 9114 §4.1.1).
    """

    stream_id: int
    error_code: int
    remote: bool


@dataclass(slots=True)
class StreamRefused(Event):
    """Server role: a request stream was rejected with H3_REQUEST_REJECTED
    (RESET_STREAM and STOP_SENDING, RFC 9114 §5.2) and never reached the
    application. ``reason`` is ``"draining"`` (at or above the GOAWAY id we
    sent) or ``"closing"`` (after the drain completed or the connection closed).
    """

    stream_id: int
    reason: str


@dataclass(slots=True)
class GoAwayReceived(Event):
    """The peer sent GOAWAY (RFC 9114 §5.2, §7.2.6).

    Client role: requests we opened on streams at or above ``first_rejected_id``
    were not processed; they are listed in ``unprocessed_stream_ids``, already
    closed in the engine, and safe to retry on another connection. Streams
    below it go on to completion; ``open_stream`` raises ``ConnectionDraining``.
    Server role: ``first_rejected_id`` is a push id (we never push); the
    engine answers with a drain of its own.
    """

    first_rejected_id: int
    unprocessed_stream_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class GoAwaySent(Event):
    """The engine queued a GOAWAY on its control stream.

    ``final`` is False for the first one of a server drain (2^62-4: nothing is
    rejected yet) and True for the one carrying the real first rejected id.
    """

    first_rejected_id: int
    final: bool


@dataclass(slots=True)
class DrainCompleted(Event):
    """A GOAWAY went either way and nothing accepted is left.

    Server role: every accepted response, the final GOAWAY and the QPACK
    instructions they need have been *acknowledged* by the peer, so a
    CONNECTION_CLOSE can no longer overtake them. The caller now calls
    ``close()`` (H3_NO_ERROR) and keeps flushing until the phase is CLOSED.
    """


@dataclass(slots=True)
class ConnectionTerminated(Event):
    """The connection is over for HTTP/3: no stream will make progress.

    ``remote`` is True when the peer sent CONNECTION_CLOSE (QUIC is now in
    ``QuicConnectionState.DRAINING``); False when we closed (``close()``,
    ``cancel_remaining()``, a protocol error of the peer's) or QUIC did (the
    idle timeout, a failed handshake). ``error_code`` 0x100 (H3_NO_ERROR) with
    ``transport_error`` False is a clean close. ``transport_error`` True means
    a QUIC transport CONNECTION_CLOSE (RFC 9000 §20.1): ``error_code`` is a
    QUIC code, not an HTTP/3 one (0x100-0x1ff are TLS alerts there), and
    ``reason_phrase`` says why. QUIC's closing period (or its
    ``QuicConnectionState.DRAINING`` period), three PTOs (RFC 9000 §10.2),
    still runs: keep calling ``datagrams_to_send``/``handle_timer`` until the
    engine's phase is CLOSED.
    """

    error_code: int
    reason_phrase: str
    remote: bool
    transport_error: bool = False
