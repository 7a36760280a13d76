"""Protocol-agnostic lifecycle: phases, the drain controller, the connection registry.

Nothing here imports asyncio, socket, ssl or time (a test checks it): time is
passed in as ``now`` and deadlines are returned, so the whole shutdown
sequence is tested without a loop or a clock.
"""

from .drain import (
    PRE_STOP_REASON,
    AbortConnections,
    Action,
    AnnouncePreStop,
    CancelConnections,
    DrainConnections,
    DrainController,
    DrainSettings,
    FailReadiness,
    GradualDrainScheduled,
    PreStopElapsed,
    ShutdownApplication,
    StopAccepting,
)
from .phases import (
    ConnectionInput,
    ConnectionPhase,
    ServerInput,
    ServerPhase,
    next_connection_phase,
    next_server_phase,
)
from .registry import ConnectionRegistry, Drainable
from .retire import ConnectionLifetime, drain_schedule, jittered

__all__ = [
    "PRE_STOP_REASON",
    "AbortConnections",
    "Action",
    "AnnouncePreStop",
    "CancelConnections",
    "ConnectionInput",
    "ConnectionLifetime",
    "ConnectionPhase",
    "ConnectionRegistry",
    "DrainConnections",
    "DrainController",
    "DrainSettings",
    "Drainable",
    "FailReadiness",
    "GradualDrainScheduled",
    "PreStopElapsed",
    "ServerInput",
    "ServerPhase",
    "ShutdownApplication",
    "StopAccepting",
    "drain_schedule",
    "jittered",
    "next_connection_phase",
    "next_server_phase",
]
