"""Events the HTTP/2 engine returns from ``receive_data`` and ``handle_timer``.

Inbound facts are past tense (``RequestReceived``); a few events report what
the engine itself decided (``GoAwaySent``, ``StreamRefused``) so that the
adapter can report every drain step once, in one place (``lastcall.observe``).

Headers are lists of ``(name, value)`` byte pairs, names lowercase, pseudo
headers first, exactly as decoded. Events are plain slotted classes: they are
created on the hot path, so they carry no validation of their own. The ones
made per request or per frame write their ``__init__`` out (``init=False``):
compiled, the one ``dataclass`` generates at run time is an interpreted
function called with an argument tuple and dict, about 1,500 instructions per
event; a written one is a direct native call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Headers = list[tuple[bytes, bytes]]


class Event:
    """Base class of every HTTP/2 engine event."""

    __slots__ = ()


@dataclass(slots=True, init=False)
class RequestReceived(Event):
    """Server role: a peer opened a stream with a valid request header block.

    Only streams the engine has *accepted* (at or below what the final GOAWAY
    will advertise) are surfaced; refused streams never produce this event.
    """

    stream_id: int
    headers: Headers
    end_stream: bool

    def __init__(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self.stream_id = stream_id
        self.headers = headers
        self.end_stream = end_stream


@dataclass(slots=True, init=False)
class ResponseReceived(Event):
    """Client role: the final (non-1xx) response header block of a stream."""

    stream_id: int
    headers: Headers
    end_stream: bool

    def __init__(self, stream_id: int, headers: Headers, end_stream: bool) -> None:
        self.stream_id = stream_id
        self.headers = headers
        self.end_stream = end_stream


@dataclass(slots=True, init=False)
class InformationalResponseReceived(Event):
    """Client role: a 1xx response header block (RFC 9113 §8.1); more follow."""

    stream_id: int
    headers: Headers

    def __init__(self, stream_id: int, headers: Headers) -> None:
        self.stream_id = stream_id
        self.headers = headers


@dataclass(slots=True, init=False)
class TrailersReceived(Event):
    """A trailing header block; it always ends the peer's side of the stream."""

    stream_id: int
    headers: Headers

    def __init__(self, stream_id: int, headers: Headers) -> None:
        self.stream_id = stream_id
        self.headers = headers


@dataclass(slots=True, init=False)
class DataReceived(Event):
    """DATA for a stream.

    ``flow_controlled_length`` (data plus padding) is what the caller hands
    back to ``acknowledge_received_data`` once the application has consumed
    the data; that is how receive-side backpressure works.
    """

    stream_id: int
    data: bytes
    flow_controlled_length: int
    end_stream: bool

    def __init__(
        self, stream_id: int, data: bytes, flow_controlled_length: int, end_stream: bool
    ) -> None:
        self.stream_id = stream_id
        self.data = data
        self.flow_controlled_length = flow_controlled_length
        self.end_stream = end_stream


@dataclass(slots=True, init=False)
class StreamReset(Event):
    """A stream ended abnormally.

    ``remote`` is True when the peer sent RST_STREAM, False when the engine
    reset the stream itself (a stream-level protocol error by the peer, or a
    cancel at grace expiry). Either way the stream is closed.
    """

    stream_id: int
    error_code: int
    remote: bool

    def __init__(self, stream_id: int, error_code: int, remote: bool) -> None:
        self.stream_id = stream_id
        self.error_code = error_code
        self.remote = remote


@dataclass(slots=True)
class StreamRefused(Event):
    """Server role: a new stream was answered RST_STREAM(REFUSED_STREAM).

    ``reason`` is ``"draining"`` (it arrived after the final GOAWAY) or
    ``"max_concurrent_streams"``. The application never saw it; the peer may
    safely retry it.
    """

    stream_id: int
    reason: str


@dataclass(slots=True)
class RequestRejected(Event):
    """Server role: the engine answered a new stream itself with a final ``status``
    and never handed the request to the application.

    The one case: ``status`` 431 with ``reason`` ``"header_list_too_large"``, a
    request header block over ``max_header_list_size`` but within the bound up
    to which it is still decoded (RFC 9113 §10.5.1). The HEADERS(431,
    END_STREAM) is queued, followed by RST_STREAM(NO_ERROR) if the request was
    still open; the rest of the connection is unaffected. The stream counts as
    processed (it is at or below the final GOAWAY's id): it was answered.
    """

    stream_id: int
    status: int
    reason: str


@dataclass(slots=True, init=False)
class WindowUpdated(Event):
    """Send window grew (stream_id 0: the connection window) and queued DATA may flow."""

    stream_id: int
    delta: int

    def __init__(self, stream_id: int, delta: int) -> None:
        self.stream_id = stream_id
        self.delta = delta


@dataclass(slots=True)
class SettingsReceived(Event):
    """The peer's SETTINGS were applied (and acknowledged). ``changed`` maps id to value."""

    changed: dict[int, int]


@dataclass(slots=True)
class SettingsAcknowledged(Event):
    """The peer acknowledged our SETTINGS."""


@dataclass(slots=True)
class PingReceived(Event):
    """A PING arrived; the engine has already queued its ACK."""

    payload: bytes


@dataclass(slots=True)
class PingAcknowledged(Event):
    """A PING ACK arrived for ``payload``."""

    payload: bytes


@dataclass(slots=True)
class GoAwayReceived(Event):
    """The peer sent GOAWAY (RFC 9113 §6.8).

    Streams we opened above ``last_processed_id`` were not processed and are
    listed in ``unprocessed_stream_ids``: they are closed in the engine and
    safe to retry on another connection. Streams at or below it keep working.
    The engine refuses to open new streams from now on.
    """

    last_processed_id: int
    error_code: int
    debug_data: bytes
    unprocessed_stream_ids: list[int] = field(default_factory=list)


@dataclass(slots=True)
class GoAwaySent(Event):
    """The engine queued a GOAWAY: ``final`` is False for the first one of a
    graceful drain (2^31-1), True for the one carrying the real last id."""

    last_processed_id: int
    error_code: int
    debug_data: bytes
    final: bool


@dataclass(slots=True)
class DrainCompleted(Event):
    """A GOAWAY has been sent or received and no stream is left open.

    Every accepted response has been handed to ``data_to_send``; the caller
    flushes it, half-closes and closes the transport.
    """


@dataclass(slots=True)
class ConnectionTerminated(Event):
    """The connection ended with an error (ours or the peer's).

    ``remote`` is True when the peer sent an error GOAWAY, False when the
    engine detected a connection error and queued GOAWAY(error_code) itself.
    The caller flushes ``data_to_send`` and closes.
    """

    error_code: int
    debug_data: bytes
    remote: bool
