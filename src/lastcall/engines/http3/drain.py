"""The HTTP/3 drain's sub-phases, as a table (RFC 9114 §5.2, §5.3).

Theory of operation
-------------------
The connection phase (``lastcall.engines.phases``) says what a connection may
still do; the drain phase here says how far its shutdown has gone. HTTP/3
has two more steps than HTTP/2 because QUIC decides when bytes are safe: a
close must wait until what went before it has been acknowledged, or the
CONNECTION_CLOSE would overtake it.

``NOT_STARTED``
    No GOAWAY either way.
``PEER_GOAWAY_RECEIVED``
    The peer sent GOAWAY and we have sent none: no new request streams; the
    ones below its id finish (client role; a server answers with its own drain).
``AWAITING_PING_ACK``
    Server: GOAWAY(2^62-4) and a QUIC PING went out; ``settle_at`` is when
    the final GOAWAY goes without the ACK (``goaway_settle_timeout``, capped
    at two PTOs).
``PING_ACKNOWLEDGED``
    The PING's ACK arrived; the final GOAWAY goes out at the end of the batch
    of QUIC events that carried it, so requests that came with the ACK count.
``FINAL_GOAWAY_SENT``
    Our last GOAWAY is out (a client's GOAWAY(0), or the server's highest
    accepted id + 4); the rest finish.
``COMPLETE``
    Every accepted response, the final GOAWAY and the QPACK instructions they
    need were acknowledged: ``DrainCompleted``. The caller's ``close()`` next.
``CLOSE_PENDING``
    ``close()`` (or a connection error) recorded CONNECTION_CLOSE: it goes out
    once the frames queued before it are acknowledged or ``close_flush_at``
    passes. ``ConnectionTerminated`` was reported; nothing more is read.
``CLOSE_SENT``
    CONNECTION_CLOSE was handed to QUIC.
``LOST``
    QUIC ended without our close: the peer's CONNECTION_CLOSE, a transport
    error, or the idle timeout. ``ConnectionTerminated`` was reported.

Who started the drain is recorded once, by the input that leaves
``NOT_STARTED`` (``initiator``, from ``INITIATED_BY``: our GOAWAY is LOCAL,
the peer's PEER); a close or a lost connection before any GOAWAY leaves it
``None``. The client reads it when its drain completes: after its own drain it
closes at once, after the server's it lets the server close first.

A (phase, input) pair missing from ``TRANSITIONS`` cannot happen (the engine
guards every action by phase); ``advance`` raises ``KeyError`` if one does.
``IMPOSSIBLE`` lists those pairs so the table test can check every pair is
one or the other.
"""

from __future__ import annotations

import enum

from ..phases import DrainInitiator

#: uid of the QUIC PING sent with the first GOAWAY; its ACK triggers the final one.
DRAIN_PING_UID = 0x6C63_6472


class DrainPhase(enum.Enum):
    """How far an HTTP/3 connection's shutdown has gone (see the module docstring)."""

    NOT_STARTED = "not_started"
    PEER_GOAWAY_RECEIVED = "peer_goaway_received"
    AWAITING_PING_ACK = "awaiting_ping_ack"
    PING_ACKNOWLEDGED = "ping_acknowledged"
    FINAL_GOAWAY_SENT = "final_goaway_sent"
    COMPLETE = "complete"
    CLOSE_PENDING = "close_pending"
    CLOSE_SENT = "close_sent"
    LOST = "lost"


class DrainInput(enum.Enum):
    """What moves the drain from one sub-phase to the next."""

    GOAWAY_RECEIVED = "goaway_received"
    #: Server: GOAWAY(2^62-4) and the drain PING were queued.
    FIRST_GOAWAY_SENT = "first_goaway_sent"
    PING_ACKNOWLEDGED = "ping_acknowledged"
    #: Our last GOAWAY was queued.
    FINAL_GOAWAY_SENT = "final_goaway_sent"
    #: Nothing left to wait for while DRAINING (streams, holes, ACKs).
    LAST_STREAM_CLOSED = "last_stream_closed"
    #: ``close()``, ``cancel_remaining()`` or a connection error recorded the close.
    CLOSE_RECORDED = "close_recorded"
    #: CONNECTION_CLOSE was handed to QUIC.
    CLOSE_SENT = "close_sent"
    #: QUIC ended without our close.
    CONNECTION_LOST = "connection_lost"


_N = DrainPhase.NOT_STARTED
_P = DrainPhase.PEER_GOAWAY_RECEIVED
_A = DrainPhase.AWAITING_PING_ACK
_K = DrainPhase.PING_ACKNOWLEDGED
_F = DrainPhase.FINAL_GOAWAY_SENT
_C = DrainPhase.COMPLETE
_CP = DrainPhase.CLOSE_PENDING
_CS = DrainPhase.CLOSE_SENT
_L = DrainPhase.LOST
_I = DrainInput

TRANSITIONS: dict[tuple[DrainPhase, DrainInput], DrainPhase] = {
    (_N, _I.GOAWAY_RECEIVED): _P,
    (_N, _I.FIRST_GOAWAY_SENT): _A,
    (_N, _I.FINAL_GOAWAY_SENT): _F,  # a client's drain
    (_N, _I.CLOSE_RECORDED): _CP,
    (_N, _I.CONNECTION_LOST): _L,
    (_P, _I.GOAWAY_RECEIVED): _P,  # a lower id
    (_P, _I.FIRST_GOAWAY_SENT): _A,
    (_P, _I.FINAL_GOAWAY_SENT): _F,
    (_P, _I.LAST_STREAM_CLOSED): _C,
    (_P, _I.CLOSE_RECORDED): _CP,
    (_P, _I.CONNECTION_LOST): _L,
    (_A, _I.GOAWAY_RECEIVED): _A,
    (_A, _I.PING_ACKNOWLEDGED): _K,
    (_A, _I.FINAL_GOAWAY_SENT): _F,  # settle allowance over, or zero
    (_A, _I.LAST_STREAM_CLOSED): _A,  # the final GOAWAY must go out first
    (_A, _I.CLOSE_RECORDED): _CP,
    (_A, _I.CONNECTION_LOST): _L,
    (_K, _I.GOAWAY_RECEIVED): _K,
    (_K, _I.PING_ACKNOWLEDGED): _K,
    (_K, _I.FINAL_GOAWAY_SENT): _F,
    (_K, _I.LAST_STREAM_CLOSED): _K,
    (_K, _I.CLOSE_RECORDED): _CP,
    (_K, _I.CONNECTION_LOST): _L,
    (_F, _I.GOAWAY_RECEIVED): _F,
    (_F, _I.LAST_STREAM_CLOSED): _C,
    (_F, _I.CLOSE_RECORDED): _CP,
    (_F, _I.CONNECTION_LOST): _L,
    (_C, _I.GOAWAY_RECEIVED): _C,
    (_C, _I.CLOSE_RECORDED): _CP,
    (_C, _I.CONNECTION_LOST): _L,
    (_CP, _I.CLOSE_SENT): _CS,
}

#: Pairs the engine never produces: each action is guarded by the phase, and
#: nothing the peer sends is read once the connection is terminated. (The
#: random drive of real engines in the tests is what shows they never occur.)
IMPOSSIBLE: frozenset[tuple[DrainPhase, DrainInput]] = frozenset(
    (phase, event)
    for phase in DrainPhase
    for event in DrainInput
    if (phase, event) not in TRANSITIONS
)

#: The inputs that start a drain from NOT_STARTED, and whose side they are.
INITIATED_BY: dict[DrainInput, DrainInitiator] = {
    _I.GOAWAY_RECEIVED: DrainInitiator.PEER,
    _I.FIRST_GOAWAY_SENT: DrainInitiator.LOCAL,
    _I.FINAL_GOAWAY_SENT: DrainInitiator.LOCAL,
}

#: Phases in which ``ConnectionTerminated`` was reported: nothing more is read.
_TERMINATED = frozenset({_CP, _CS, _L})
#: Phases in which the settle allowance runs.
_SETTLING = frozenset({_A, _K})


class Http3Drain:
    """The drain state of one HTTP/3 connection: the sub-phase and its data.

    A part the engine holds (``engine._drain``), not a base class: the engine
    does the I/O (QUIC calls, events) and tells the part what it did.
    """

    __slots__ = (
        "close_code",
        "close_flush_at",
        "close_flush_streams",
        "close_reason",
        "goaway_sent_id",
        "initiator",
        "is_terminated",
        "peer_first_rejected_id",
        "phase",
        "settle_at",
    )

    def __init__(self) -> None:
        self.phase = DrainPhase.NOT_STARTED
        #: Whose GOAWAY started the drain; ``None`` until one did (module docstring).
        self.initiator: DrainInitiator | None = None
        #: The lowest GOAWAY id we sent (server: first rejected request stream).
        self.goaway_sent_id: int | None = None
        #: The lowest GOAWAY id the peer sent.
        self.peer_first_rejected_id: int | None = None
        #: AWAITING_PING_ACK: when the final GOAWAY goes without the ACK.
        self.settle_at: float | None = None
        #: CLOSE_PENDING: what CONNECTION_CLOSE will carry.
        self.close_code = 0
        self.close_reason = ""
        #: CLOSE_PENDING: the latest moment it goes out, acknowledged or not.
        self.close_flush_at: float | None = None
        #: CLOSE_PENDING: streams whose resets must be acknowledged first.
        self.close_flush_streams: list[int] = []
        #: ``ConnectionTerminated`` was reported: read nothing more. Kept as a
        #: plain attribute because every QUIC event checks it.
        self.is_terminated = False

    def advance(self, event: DrainInput) -> DrainPhase:
        """Take one step; a pair not in the table raises ``KeyError``."""
        before = self.phase
        phase = self.phase = TRANSITIONS[(before, event)]
        if before is _N:
            self.initiator = INITIATED_BY.get(event)
        if phase not in _SETTLING:
            self.settle_at = None
        self.is_terminated = phase in _TERMINATED
        return phase

    @property
    def has_started(self) -> bool:
        """We have sent a GOAWAY of our own, or the connection is ending."""
        return self.phase is not _N and self.phase is not _P

    @property
    def is_settling(self) -> bool:
        """Server: the first GOAWAY is out and the final one is due."""
        return self.phase in _SETTLING

    @property
    def has_sent_final_goaway(self) -> bool:
        """Our last GOAWAY is out (or the drain is over)."""
        return self.phase is _F or self.phase is _C
