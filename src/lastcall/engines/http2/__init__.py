"""lastcall's own sans-IO HTTP/2 engine (RFC 9113), with draining as a phase.

See ``connection.py`` for the theory of operation and docs/dev/engine-api.md
for how adapters drive it.
"""

from . import events
from .config import Http2Config
from .connection import Http2Engine
from .core import DRAIN_PING_PAYLOAD, Role
from .frames import ErrorCode, FrameType, SettingCode
from .phases import Phase

__all__ = [
    "DRAIN_PING_PAYLOAD",
    "ErrorCode",
    "FrameType",
    "Http2Config",
    "Http2Engine",
    "Phase",
    "Role",
    "SettingCode",
    "events",
]
