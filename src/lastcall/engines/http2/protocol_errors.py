"""The two ways a peer's mistake ends (RFC 9113 §5.4), as exceptions the frame
handlers raise and the receive loop in ``engine.py`` catches: a handler can give
up at any point without leaving half-applied state. They never leave the engine.
"""

from __future__ import annotations


class PeerConnectionError(Exception):
    """A connection error (§5.4.1): GOAWAY with ``code``, then close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class PeerStreamError(Exception):
    """A stream error (§5.4.2): RST_STREAM with ``code`` on that stream only."""

    def __init__(self, stream_id: int, code: int, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code


class PeerClosed(Exception):
    """The peer sent an error GOAWAY: it closes the connection (§5.4.1), stop reading."""
