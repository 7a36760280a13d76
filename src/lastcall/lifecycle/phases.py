"""Phases of a server and of one connection, as transition tables.

Theory of operation
-------------------
A *server* starts (``STARTING``: ASGI lifespan startup), serves (``SERVING``),
and on SIGTERM or ``Server.drain()`` walks one sequence (docs/server/draining.md,
"The server sequence"): readiness fails at once; with a pre-stop delay it keeps
accepting for a while (``PRE_STOP``) so load balancers notice; then listeners
close and every connection is told to drain (``DRAINING``). When the grace
period ends, or a second signal arrives, what is left is cancelled
(``CANCELLING``). Once no connection is left the application's lifespan
shutdown runs (``STOPPING``) and the server is ``STOPPED``.

A *connection* is ``OPEN``, then ``DRAINING`` (told to finish what it accepted
and take nothing new), ``CLOSING`` (nothing left to do: flush, half-close,
linger) and ``CLOSED``. HTTP/2's engine uses the same four words.

Every ``(phase, input)`` pair that can happen is in the tables below; a pair
missing from a table is a bug and raises ``KeyError`` loudly (h11 ``_state.py``,
h2 ``connection.py`` ``_transitions``). Inputs that change nothing in a phase
map to the same phase explicitly, so "harmless" is a decision, not an accident.
"""

from __future__ import annotations

import enum

__all__ = [
    "CONNECTION_TRANSITIONS",
    "SERVER_TRANSITIONS",
    "ConnectionInput",
    "ConnectionPhase",
    "ServerInput",
    "ServerPhase",
    "next_connection_phase",
    "next_server_phase",
]


class ConnectionPhase(enum.Enum):
    """Where one connection is in its life, whatever its protocol."""

    OPEN = "open"
    DRAINING = "draining"
    CLOSING = "closing"
    CLOSED = "closed"


class ConnectionInput(enum.Enum):
    """What moves a connection between phases."""

    #: The server (or the application, via ``drain_connection()``) asked it to drain.
    DRAIN_REQUESTED = "drain_requested"
    #: Nothing accepted is left unanswered (last response written, last stream closed).
    WORK_DONE = "work_done"
    #: The grace period ended, or the peer broke the protocol: cut what is left.
    CANCELLED = "cancelled"
    #: The transport is gone.
    TRANSPORT_CLOSED = "transport_closed"


_O, _D, _C, _X = (
    ConnectionPhase.OPEN,
    ConnectionPhase.DRAINING,
    ConnectionPhase.CLOSING,
    ConnectionPhase.CLOSED,
)
_CI = ConnectionInput

CONNECTION_TRANSITIONS: dict[tuple[ConnectionPhase, ConnectionInput], ConnectionPhase] = {
    (_O, _CI.DRAIN_REQUESTED): _D,
    # Work finishing while open changes nothing: keep-alive goes on.
    (_O, _CI.WORK_DONE): _O,
    (_O, _CI.CANCELLED): _C,
    (_O, _CI.TRANSPORT_CLOSED): _X,
    (_D, _CI.DRAIN_REQUESTED): _D,
    (_D, _CI.WORK_DONE): _C,
    (_D, _CI.CANCELLED): _C,
    (_D, _CI.TRANSPORT_CLOSED): _X,
    (_C, _CI.DRAIN_REQUESTED): _C,
    (_C, _CI.WORK_DONE): _C,
    (_C, _CI.CANCELLED): _C,
    (_C, _CI.TRANSPORT_CLOSED): _X,
    (_X, _CI.DRAIN_REQUESTED): _X,
    (_X, _CI.WORK_DONE): _X,
    (_X, _CI.CANCELLED): _X,
    (_X, _CI.TRANSPORT_CLOSED): _X,
}


def next_connection_phase(phase: ConnectionPhase, event: ConnectionInput) -> ConnectionPhase:
    """Look the transition up; a pair not in the table raises ``KeyError``."""
    return CONNECTION_TRANSITIONS[(phase, event)]


class ServerPhase(enum.Enum):
    """Where the server is in its life (docs/server/draining.md, "The server sequence")."""

    STARTING = "starting"
    SERVING = "serving"
    PRE_STOP = "pre_stop"
    DRAINING = "draining"
    CANCELLING = "cancelling"
    STOPPING = "stopping"
    STOPPED = "stopped"


class ServerInput(enum.Enum):
    """What moves the server between phases."""

    STARTED = "started"
    STARTUP_FAILED = "startup_failed"
    DRAIN_REQUESTED = "drain_requested"
    #: A drain was asked for and a pre-stop delay is configured: keep accepting first.
    PRE_STOP_REQUESTED = "pre_stop_requested"
    PRE_STOP_ELAPSED = "pre_stop_elapsed"
    GRACE_EXPIRED = "grace_expired"
    #: A second SIGTERM/SIGINT/SIGHUP: skip to the cancel step at once.
    FORCED = "forced"
    CONNECTIONS_GONE = "connections_gone"
    SHUTDOWN_DONE = "shutdown_done"


_ST, _SV, _PS, _DR, _CA, _SP, _SD = (
    ServerPhase.STARTING,
    ServerPhase.SERVING,
    ServerPhase.PRE_STOP,
    ServerPhase.DRAINING,
    ServerPhase.CANCELLING,
    ServerPhase.STOPPING,
    ServerPhase.STOPPED,
)
_SI = ServerInput

SERVER_TRANSITIONS: dict[tuple[ServerPhase, ServerInput], ServerPhase] = {
    (_ST, _SI.STARTED): _SV,
    (_ST, _SI.STARTUP_FAILED): _SD,
    # A drain asked for during startup is honoured once startup is over: no
    # connection exists yet, so it goes straight to STOPPING then.
    (_ST, _SI.DRAIN_REQUESTED): _ST,
    (_ST, _SI.PRE_STOP_REQUESTED): _ST,
    (_ST, _SI.FORCED): _ST,
    (_SV, _SI.DRAIN_REQUESTED): _DR,
    (_SV, _SI.PRE_STOP_REQUESTED): _PS,
    (_SV, _SI.FORCED): _CA,
    (_SV, _SI.CONNECTIONS_GONE): _SV,
    (_PS, _SI.DRAIN_REQUESTED): _PS,
    (_PS, _SI.PRE_STOP_REQUESTED): _PS,
    (_PS, _SI.PRE_STOP_ELAPSED): _DR,
    (_PS, _SI.FORCED): _CA,
    # Still accepting during the pre-stop delay: connections coming and going is normal.
    (_PS, _SI.CONNECTIONS_GONE): _PS,
    (_DR, _SI.DRAIN_REQUESTED): _DR,
    (_DR, _SI.PRE_STOP_REQUESTED): _DR,
    (_DR, _SI.GRACE_EXPIRED): _CA,
    (_DR, _SI.FORCED): _CA,
    (_DR, _SI.CONNECTIONS_GONE): _SP,
    (_CA, _SI.DRAIN_REQUESTED): _CA,
    (_CA, _SI.PRE_STOP_REQUESTED): _CA,
    (_CA, _SI.GRACE_EXPIRED): _CA,
    (_CA, _SI.FORCED): _CA,
    (_CA, _SI.CONNECTIONS_GONE): _SP,
    (_SP, _SI.DRAIN_REQUESTED): _SP,
    (_SP, _SI.PRE_STOP_REQUESTED): _SP,
    (_SP, _SI.FORCED): _SP,
    (_SP, _SI.GRACE_EXPIRED): _SP,
    (_SP, _SI.CONNECTIONS_GONE): _SP,
    (_SP, _SI.SHUTDOWN_DONE): _SD,
    (_SD, _SI.DRAIN_REQUESTED): _SD,
    (_SD, _SI.PRE_STOP_REQUESTED): _SD,
    (_SD, _SI.FORCED): _SD,
    (_SD, _SI.CONNECTIONS_GONE): _SD,
    (_SD, _SI.GRACE_EXPIRED): _SD,
    (_SD, _SI.SHUTDOWN_DONE): _SD,
}


def next_server_phase(phase: ServerPhase, event: ServerInput) -> ServerPhase:
    """Look the transition up; a pair not in the table raises ``KeyError``."""
    return SERVER_TRANSITIONS[(phase, event)]
