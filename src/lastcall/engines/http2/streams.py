"""Per-stream state of the HTTP/2 engine (RFC 9113 §5.1).

A stream is kept as two half-states rather than the seven-state diagram: the
peer's side (``recv_closed``) and ours (``send_closed``), plus what has been
seen of the message. That is the same machine (idle and reserved never reach
this record: an idle stream is one we have no record of and whose id is
above the highest seen, and we never push, so no stream is ever reserved),
written in the form the hot path can test in one attribute load.

Closed streams are forgotten; the engine tells "closed" from "idle" by
comparing the id with the highest id seen in that direction, and remembers
for a while how each recent one closed, because RFC 9113 §5.1 answers a late
frame on a closed stream three different ways:

- ``RESET_BY_US``: we sent RST_STREAM. The peer may have had frames in flight
  that it cannot withdraw: they are ignored.
- ``RESET_BY_PEER``: the peer sent RST_STREAM. Any later frame but PRIORITY
  is a *stream* error of type STREAM_CLOSED.
- ``ENDED``: END_STREAM went both ways. Any later frame but PRIORITY,
  WINDOW_UPDATE or RST_STREAM is a *connection* error of type STREAM_CLOSED.

A stream no longer remembered gets the stream error: the cheaper mistake.
"""

from __future__ import annotations

from collections import deque
from typing import Final

from .budgets import TinyDataLedger

#: How a remembered stream closed (see the module docstring). Plain ints: the
#: value is stored on every stream's close.
RESET_BY_US: Final = 1
RESET_BY_PEER: Final = 2
ENDED: Final = 3

#: How many recently closed stream ids the engine remembers, with how each closed.
RECENTLY_CLOSED_MAX: Final = 256
#: Past that bound this many of the oldest are forgotten at once, so between
#: ``RECENTLY_CLOSED_MAX - CLOSED_EVICT_BATCH`` and ``RECENTLY_CLOSED_MAX`` are remembered.
CLOSED_EVICT_BATCH: Final = 32

#: Server: how many streams answered before their request ended it keeps
#: checking (RFC 9113 §8.1, ``engine.py``'s ``_on_answered_*``). Past it the
#: oldest is forgotten as reset by us, and what follows on it is ignored.
#: Each holds one ``Stream`` (no buffers: our side is done), a few hundred bytes.
ANSWERED_MAX: Final = 64

#: DATA queued for a window and smaller than this is copied into a shared
#: bytearray of at most ``COALESCED_MAX`` bytes (one object per 16 KiB instead
#: of one per chunk); larger chunks are queued as they are, without a copy.
COALESCE_BELOW: Final = 4096
COALESCED_MAX: Final = 16_384


def forget_oldest(recent: dict[int, int], forgotten_max: int) -> int:
    """Drop the ``CLOSED_EVICT_BATCH`` oldest ids from ``recent`` (how recently
    closed streams closed) in one pass; return the new highest id forgotten.

    One at a time, every ``next(iter(recent))`` walked the holes that earlier
    deletions left at the front of the dict: a tenth of a request's
    instructions in the engine benchmark.
    """
    oldest: list[int] = []
    for stream_id in recent:
        oldest.append(stream_id)
        if len(oldest) >= CLOSED_EVICT_BATCH:
            break
    for stream_id in oldest:
        del recent[stream_id]
        if stream_id > forgotten_max:
            forgotten_max = stream_id
    return forgotten_max


class Stream:
    """One open (or half-closed) stream."""

    __slots__ = (
        "content_length",
        "headers_received",
        "headers_sent",
        "id",
        "is_head",
        "pending",
        "pending_end_stream",
        "pending_size",
        "pending_trailers",
        "received_length",
        "recv_closed",
        "recv_unacked",
        "recv_window",
        "response_final",
        "send_closed",
        "send_window",
        "tiny_data",
    )

    def __init__(self, stream_id: int, send_window: int, recv_window: int) -> None:
        self.id = stream_id
        #: The peer has sent END_STREAM (half-closed remote).
        self.recv_closed = False
        #: We have *emitted* END_STREAM (half-closed local): only set once it is
        #: in the output buffer, never while DATA is still queued behind the window.
        self.send_closed = False
        self.headers_received = False
        self.headers_sent = False
        #: Client role: a final (non-1xx) response has arrived.
        self.response_final = False
        #: Client role: the request was HEAD, so the response carries no body
        #: whatever its content-length says (RFC 9110 §9.3.2).
        self.is_head = False
        self.send_window = send_window
        self.recv_window = recv_window
        #: Flow-controlled bytes the application consumed but we have not yet
        #: returned in a WINDOW_UPDATE.
        self.recv_unacked = 0
        #: Declared content-length (-1: none) and DATA received so far (§8.1.1).
        self.content_length = -1
        self.received_length = 0
        #: DATA waiting for send window, then END_STREAM or trailers; chunks
        #: under ``COALESCE_BELOW`` share bytearrays (sending.py). Made on the
        #: first DATA that has to wait: most responses never need one.
        self.pending: deque[bytes | bytearray] | None = None
        self.pending_size = 0
        self.pending_end_stream = False
        self.pending_trailers: list[tuple[bytes, bytes]] | None = None
        #: Tiny DATA frames received and not yet consumed (budgets.py); made
        #: on the first one, so a stream of ordinary frames never has one.
        self.tiny_data: TinyDataLedger | None = None


class PendingHeaderBlock:
    """A header block still waiting for its END_HEADERS CONTINUATION (§6.10)."""

    __slots__ = ("continuations", "flags", "fragments", "self_dependent", "size", "stream_id")

    def __init__(self, stream_id: int, flags: int, fragment: bytes, self_dependent: bool) -> None:
        self.stream_id = stream_id
        self.flags = flags
        self.self_dependent = self_dependent
        self.fragments = [fragment]
        self.continuations = 0
        self.size = len(fragment)
