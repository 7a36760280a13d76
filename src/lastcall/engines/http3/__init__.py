"""lastcall's sans-IO HTTP/3 layer (RFC 9114) over aioquic's QUIC, with draining as a phase.

See ``sending.py`` for the theory of operation and docs/http3.md for how
adapters drive it. The connection phases and roles are shared by every engine
(``lastcall.engines.phases``, ``lastcall.engines.role``), so lifecycle code
treats HTTP/2 and HTTP/3 alike.
"""

from ..phases import DrainInitiator, Phase
from ..role import Role
from . import events
from ._aioquic import TESTED_AIOQUIC_VERSION
from .config import H3_ALPN, MAX_CLIENT_BIDI_STREAM_ID, Http3Config
from .drain import DrainPhase
from .engine import Http3Engine
from .frames import ErrorCode, FrameType, SettingCode, StreamType

__all__ = [
    "H3_ALPN",
    "MAX_CLIENT_BIDI_STREAM_ID",
    "TESTED_AIOQUIC_VERSION",
    "DrainInitiator",
    "DrainPhase",
    "ErrorCode",
    "FrameType",
    "Http3Config",
    "Http3Engine",
    "Phase",
    "Role",
    "SettingCode",
    "StreamType",
    "events",
]
