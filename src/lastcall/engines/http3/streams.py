"""Per-stream state of the HTTP/3 engine (RFC 9114 §4.1, §6).

A request stream is one client-initiated bidirectional QUIC stream carrying
one request and one response. QUIC already keeps each direction's transport
state (RFC 9000 §3); this record keeps what HTTP/3 adds: where the frame
parser is in the incoming bytes, how far the message has got in each
direction (header section, DATA, trailers), and the QPACK "blocked" mark of
RFC 9204 §2.1.2.

Closed streams are forgotten; late frames for them are dropped by QUIC
(aioquic discards finished streams) or by the engine's recently-closed set.
"""

from __future__ import annotations

from .events import Event

#: ``recv_state`` / ``send_state`` values: nothing yet, the final header
#: section, the trailers (after which only the FIN may follow).
INITIAL = 0
AFTER_HEADERS = 1
AFTER_TRAILERS = 2


class RequestStream:
    """One open request stream, either role."""

    __slots__ = (
        "blocked",
        "buffer",
        "content_length",
        "fin_received",
        "frame_remaining",
        "frame_type",
        "has_ignored_frame",
        "id",
        "is_head",
        "last_event",
        "last_event_generation",
        "received_length",
        "recv_closed",
        "recv_state",
        "send_closed",
        "send_state",
    )

    def __init__(self, stream_id: int) -> None:
        self.id = stream_id
        #: Incoming bytes not yet parsed into frames (a partial frame header,
        #: or a HEADERS frame still arriving, or bytes behind a blocked one).
        self.buffer = bytearray()
        #: Type and bytes left of the frame being read; None between frames.
        self.frame_type: int | None = None
        self.frame_remaining = 0
        self.recv_state = INITIAL
        self.send_state = INITIAL
        #: QUIC delivered the FIN (all the peer's bytes are in ``buffer``).
        self.fin_received = False
        #: The peer's message is over for us (FIN parsed, or we stopped reading).
        self.recv_closed = False
        #: We wrote our FIN (or reset our side).
        self.send_closed = False
        #: A HEADERS frame waits for QPACK encoder-stream instructions (RFC 9204 §2.1.2).
        self.blocked = False
        #: Declared content-length (-1: none) and DATA bytes received (RFC 9114 §4.1.2).
        self.content_length = -1
        self.received_length = 0
        #: Client role: the request was HEAD, so the response has no content (RFC 9110 §9.3.2).
        self.is_head = False
        #: An ignored frame (unknown type, empty DATA) came on this stream: the
        #: next one is paid from the ignored-frame budget (the first is free).
        self.has_ignored_frame = False
        #: The last event this stream put in the engine's pending list, so a
        #: FIN that follows in the same batch can mark it ``end_stream``
        #: instead of adding an empty DataReceived.
        self.last_event: Event | None = None
        self.last_event_generation = -1


class UniStream:
    """A unidirectional stream the peer opened (RFC 9114 §6.2): its type, once
    read, and the frame parser state of a control stream."""

    __slots__ = ("buffer", "frame_remaining", "frame_type", "stream_type")

    def __init__(self) -> None:
        self.buffer = bytearray()
        #: The stream type varint (RFC 9114 §6.2); None until it has arrived.
        self.stream_type: int | None = None
        self.frame_type: int | None = None
        self.frame_remaining = 0
