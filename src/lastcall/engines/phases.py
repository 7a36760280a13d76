"""The connection phase machine of the HTTP/2 and HTTP/3 engines, as a table.

Theory of operation
-------------------
A connection is OPEN until a GOAWAY is sent or received; it is then DRAINING:
streams at or below the advertised last id go on in both directions, and new
ones are refused (RFC 9113 §6.8). When no stream is left (and, on the server,
the final GOAWAY carrying the real last id has gone out) it is CLOSING: every
accepted byte has been queued, and the adapter flushes, half-closes and
closes. A connection error goes to CLOSING at once. CLOSED is reached when the
adapter reports the transport gone.

Every (phase, input) pair the engine can meet is in ``TRANSITIONS``; a missing
pair is a bug and raises ``KeyError`` loudly.

Both kinds of drain, ours and the peer's, end in the same phases, so each
engine's drain part also records who started it (``DrainInitiator``): the
first GOAWAY either way decides, once. An adapter asks the engine instead of
keeping a flag of its own (a client closes at once after its own drain, but
lets a draining server close first).
"""

from __future__ import annotations

import enum


class Phase(enum.Enum):
    """Where a connection is in its life; shared vocabulary with ``lastcall.lifecycle``."""

    OPEN = "open"
    DRAINING = "draining"
    CLOSING = "closing"
    CLOSED = "closed"


class DrainInitiator(enum.Enum):
    """Which side's GOAWAY started a connection's drain."""

    #: We sent the first GOAWAY (``start_drain``, or a server's grace expiry).
    LOCAL = "local"
    #: The peer's GOAWAY came before any of ours.
    PEER = "peer"


class PhaseInput(enum.Enum):
    """What moves a connection from one phase to the next."""

    GOAWAY_SENT = "goaway_sent"
    GOAWAY_RECEIVED = "goaway_received"
    LAST_STREAM_CLOSED = "last_stream_closed"
    CONNECTION_ERROR = "connection_error"
    TRANSPORT_CLOSED = "transport_closed"


_O, _D, _C, _X = Phase.OPEN, Phase.DRAINING, Phase.CLOSING, Phase.CLOSED

TRANSITIONS: dict[tuple[Phase, PhaseInput], Phase] = {
    (_O, PhaseInput.GOAWAY_SENT): _D,
    (_O, PhaseInput.GOAWAY_RECEIVED): _D,
    (_O, PhaseInput.CONNECTION_ERROR): _C,
    (_O, PhaseInput.TRANSPORT_CLOSED): _X,
    # LAST_STREAM_CLOSED only matters once draining; while open it changes nothing.
    (_O, PhaseInput.LAST_STREAM_CLOSED): _O,
    (_D, PhaseInput.GOAWAY_SENT): _D,
    (_D, PhaseInput.GOAWAY_RECEIVED): _D,
    (_D, PhaseInput.LAST_STREAM_CLOSED): _C,
    (_D, PhaseInput.CONNECTION_ERROR): _C,
    (_D, PhaseInput.TRANSPORT_CLOSED): _X,
    (_C, PhaseInput.GOAWAY_SENT): _C,
    (_C, PhaseInput.GOAWAY_RECEIVED): _C,
    (_C, PhaseInput.LAST_STREAM_CLOSED): _C,
    (_C, PhaseInput.CONNECTION_ERROR): _C,
    (_C, PhaseInput.TRANSPORT_CLOSED): _X,
    (_X, PhaseInput.GOAWAY_SENT): _X,
    (_X, PhaseInput.GOAWAY_RECEIVED): _X,
    (_X, PhaseInput.LAST_STREAM_CLOSED): _X,
    (_X, PhaseInput.CONNECTION_ERROR): _X,
    (_X, PhaseInput.TRANSPORT_CLOSED): _X,
}


def next_phase(phase: Phase, event: PhaseInput) -> Phase:
    """Look the transition up; a pair not in the table raises KeyError."""
    return TRANSITIONS[(phase, event)]
