"""The HTTP/2 drain's sub-phases, as a table (RFC 9113 §6.8).

Theory of operation
-------------------
The connection phase (``lastcall.engines.phases``: OPEN, DRAINING, CLOSING,
CLOSED) says what a connection may still do; the drain phase here says how far
*our* side of the shutdown has gone, one step per frame that makes it:

``NOT_STARTED``
    No GOAWAY either way.
``PEER_GOAWAY_RECEIVED``
    The peer sent GOAWAY(NO_ERROR) and we have sent none: we open and accept
    no new streams, the ones at or below its id finish.
``AWAITING_PING_ACK``
    Server: GOAWAY(2^31-1) and a PING went out. Streams that raced the GOAWAY
    are still accepted; the final GOAWAY follows the PING's ACK, or
    ``deadline`` (``goaway_ping_timeout``) if no ACK comes.
``FINAL_GOAWAY_SENT``
    Our last GOAWAY is out (a client's only one, GOAWAY(0) or its highest
    stream id): new streams are refused, the rest finish.
``COMPLETE``
    Every stream is done and ``DrainCompleted`` was reported (or ``close()``
    ended the connection): the adapter flushes and closes. Frames are still
    read, so a late PING ACK or WINDOW_UPDATE is harmless.
``ABORTED``
    A connection error, ours or the peer's (§5.4.1): a GOAWAY with an error
    code went one way, and nothing more is read.

Who started the drain is data too (``initiator``, ``lastcall.engines.phases.
DrainInitiator``): the input that leaves ``NOT_STARTED`` sets it once, from
``INITIATED_BY`` (a GOAWAY of ours: LOCAL, the peer's: PEER). A ``close()``
or a connection error before any GOAWAY is no drain and leaves it ``None``.

The peer's GOAWAY is data as well as an input: ``peer_last_processed_id``
only ever decreases (§6.8), and whichever phase we are in, a GOAWAY from the
peer means no new streams. ``refuses_new_streams`` folds both into the one
flag the hot path reads.

A (phase, input) pair missing from ``TRANSITIONS`` cannot happen (the engine
guards every action by phase); ``advance`` raises ``KeyError`` if one does.
The pairs that cannot happen are listed in ``IMPOSSIBLE`` so the table test
can check that every pair is one or the other.
"""

from __future__ import annotations

import enum
from typing import Final

from ..phases import DrainInitiator

#: Payload of the PING that follows the first GOAWAY; its ACK triggers the final one.
DRAIN_PING_PAYLOAD: Final = b"lc\x00drain"


class DrainPhase(enum.Enum):
    """How far our side of an HTTP/2 drain has gone (see the module docstring)."""

    NOT_STARTED = "not_started"
    PEER_GOAWAY_RECEIVED = "peer_goaway_received"
    AWAITING_PING_ACK = "awaiting_ping_ack"
    FINAL_GOAWAY_SENT = "final_goaway_sent"
    COMPLETE = "complete"
    ABORTED = "aborted"


class DrainInput(enum.Enum):
    """What moves the drain from one sub-phase to the next."""

    #: The peer's GOAWAY with NO_ERROR (an error GOAWAY is ``CONNECTION_ERROR``).
    GOAWAY_RECEIVED = "goaway_received"
    #: Server: GOAWAY(2^31-1) and the drain PING were queued.
    FIRST_GOAWAY_SENT = "first_goaway_sent"
    #: The GOAWAY with the real last id was queued (also at grace expiry).
    FINAL_GOAWAY_SENT = "final_goaway_sent"
    #: No stream is left while the connection is DRAINING.
    LAST_STREAM_CLOSED = "last_stream_closed"
    #: ``close()``: GOAWAY(code) queued, every stream dropped, input still read.
    CLOSED = "closed"
    #: A connection error of ours (GOAWAY(code) sent) or the peer's error GOAWAY.
    CONNECTION_ERROR = "connection_error"


_N = DrainPhase.NOT_STARTED
_P = DrainPhase.PEER_GOAWAY_RECEIVED
_A = DrainPhase.AWAITING_PING_ACK
_F = DrainPhase.FINAL_GOAWAY_SENT
_C = DrainPhase.COMPLETE
_X = DrainPhase.ABORTED
_I = DrainInput

TRANSITIONS: dict[tuple[DrainPhase, DrainInput], DrainPhase] = {
    (_N, _I.GOAWAY_RECEIVED): _P,
    (_N, _I.FIRST_GOAWAY_SENT): _A,
    (_N, _I.FINAL_GOAWAY_SENT): _F,  # a client's drain, grace expiry, a zero PING timeout
    (_N, _I.LAST_STREAM_CLOSED): _N,  # streams ending while open change nothing
    (_N, _I.CLOSED): _C,
    (_N, _I.CONNECTION_ERROR): _X,
    (_P, _I.GOAWAY_RECEIVED): _P,  # a lower id (or the same again)
    (_P, _I.FIRST_GOAWAY_SENT): _A,
    (_P, _I.FINAL_GOAWAY_SENT): _F,
    (_P, _I.LAST_STREAM_CLOSED): _C,
    (_P, _I.CLOSED): _C,
    (_P, _I.CONNECTION_ERROR): _X,
    (_A, _I.GOAWAY_RECEIVED): _A,
    (_A, _I.FINAL_GOAWAY_SENT): _F,
    (_A, _I.LAST_STREAM_CLOSED): _A,  # the final GOAWAY must go out before the close
    (_A, _I.CLOSED): _C,
    (_A, _I.CONNECTION_ERROR): _X,
    (_F, _I.GOAWAY_RECEIVED): _F,
    (_F, _I.FINAL_GOAWAY_SENT): _F,  # grace expiry repeats the last id
    (_F, _I.LAST_STREAM_CLOSED): _C,
    (_F, _I.CLOSED): _C,
    (_F, _I.CONNECTION_ERROR): _X,
    (_C, _I.GOAWAY_RECEIVED): _C,  # input is still read once complete
    (_C, _I.CONNECTION_ERROR): _X,  # ... so a malformed late frame still ends it
    (_X, _I.GOAWAY_RECEIVED): _X,  # frames already in the buffer being read
    (_X, _I.CONNECTION_ERROR): _X,
}

#: Pairs the engine never produces: each action is guarded by the phase.
IMPOSSIBLE: frozenset[tuple[DrainPhase, DrainInput]] = frozenset(
    {
        (_A, _I.FIRST_GOAWAY_SENT),  # start_drain is idempotent
        (_F, _I.FIRST_GOAWAY_SENT),
        (_C, _I.FIRST_GOAWAY_SENT),
        (_C, _I.FINAL_GOAWAY_SENT),
        (_C, _I.LAST_STREAM_CLOSED),  # the connection is no longer DRAINING
        (_C, _I.CLOSED),  # close() is idempotent
        (_X, _I.FIRST_GOAWAY_SENT),
        (_X, _I.FINAL_GOAWAY_SENT),
        (_X, _I.LAST_STREAM_CLOSED),
        (_X, _I.CLOSED),
    }
)

#: The inputs that start a drain from NOT_STARTED, and whose side they are.
INITIATED_BY: dict[DrainInput, DrainInitiator] = {
    _I.GOAWAY_RECEIVED: DrainInitiator.PEER,
    _I.FIRST_GOAWAY_SENT: DrainInitiator.LOCAL,
    _I.FINAL_GOAWAY_SENT: DrainInitiator.LOCAL,
}

#: Our own steps that end the acceptance of new streams.
_REFUSING = frozenset({_F, _C, _X})


class Http2Drain:
    """The drain state of one HTTP/2 connection: the sub-phase and its data.

    A part the engine holds (``engine._drain``), not a base class: the engine
    does the I/O (frames, events) and tells the part what it did.
    """

    __slots__ = (
        "deadline",
        "debug",
        "initiator",
        "peer_last_processed_id",
        "phase",
        "refuses_new_streams",
    )

    def __init__(self) -> None:
        self.phase = DrainPhase.NOT_STARTED
        #: Whose GOAWAY started the drain; ``None`` until one did (see the module docstring).
        self.initiator: DrainInitiator | None = None
        #: Server, AWAITING_PING_ACK: when the final GOAWAY goes out without an ACK.
        self.deadline: float | None = None
        #: Debug data of our GOAWAYs (why we drain: ``shutdown``, ``max_age``...).
        self.debug = b""
        #: The lowest last id the peer has sent in a GOAWAY; -1: none yet.
        self.peer_last_processed_id = -1
        #: A new stream from the peer is refused (our final GOAWAY, or theirs).
        self.refuses_new_streams = False

    def advance(self, event: DrainInput) -> DrainPhase:
        """Take one step; a pair not in the table raises ``KeyError``."""
        before = self.phase
        phase = self.phase = TRANSITIONS[(before, event)]
        if before is _N:
            self.initiator = INITIATED_BY.get(event)
        if phase is not _A:
            self.deadline = None
        self.refuses_new_streams = phase in _REFUSING or self.peer_last_processed_id >= 0
        return phase

    def goaway_received(self, last_id: int) -> int:
        """Record the peer's GOAWAY(NO_ERROR or not) id; return the effective one,
        which never increases (§6.8). The caller then advances the phase."""
        if 0 <= self.peer_last_processed_id < last_id:
            last_id = self.peer_last_processed_id
        self.peer_last_processed_id = last_id
        return last_id

    @property
    def has_started(self) -> bool:
        """We have sent a GOAWAY of our own (or the connection ended)."""
        return self.phase is not _N and self.phase is not _P

    @property
    def is_input_closed(self) -> bool:
        """Nothing more is read from the peer."""
        return self.phase is _X
