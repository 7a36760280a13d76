"""lastcall's sans-IO HTTP/3 layer (RFC 9114) over aioquic's QUIC, with draining as a phase.

See ``core.py`` for the theory of operation and docs/http3.md for how
adapters drive it. The connection phases and roles are the HTTP/2 engine's
(``lastcall.engines.http2``), so lifecycle code treats both alike.
"""

from lastcall.engines.http2.core import Role
from lastcall.engines.http2.phases import Phase

from . import events
from ._aioquic import TESTED_AIOQUIC_VERSION
from .config import H3_ALPN, MAX_CLIENT_BIDI_STREAM_ID, Http3Config
from .connection import Http3Engine
from .frames import ErrorCode, FrameType, SettingCode, StreamType

__all__ = [
    "H3_ALPN",
    "MAX_CLIENT_BIDI_STREAM_ID",
    "TESTED_AIOQUIC_VERSION",
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
