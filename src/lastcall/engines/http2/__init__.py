"""lastcall's own sans-IO HTTP/2 engine (RFC 9113), with draining as a phase.

See ``sending.py`` for the theory of operation and docs/dev/engine-api.md
for how adapters drive it.
"""

from ..phases import DrainInitiator, Phase
from ..role import Role
from . import events
from .config import Http2Config
from .drain import DRAIN_PING_PAYLOAD, DrainPhase
from .engine import Http2Engine
from .frames import ErrorCode, FrameType, SettingCode

__all__ = [
    "DRAIN_PING_PAYLOAD",
    "DrainInitiator",
    "DrainPhase",
    "ErrorCode",
    "FrameType",
    "Http2Config",
    "Http2Engine",
    "Phase",
    "Role",
    "SettingCode",
    "events",
]
