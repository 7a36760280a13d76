"""The two ways a peer's mistake ends (RFC 9114 §8), as exceptions the stream
handlers raise and ``Http3Engine._dispatch`` catches per QUIC event, so a
handler can give up at any point without leaving half-applied state. They
never leave the engine.
"""

from __future__ import annotations


class PeerConnectionError(Exception):
    """A connection error (RFC 9114 §8): CONNECTION_CLOSE with ``code``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class PeerStreamError(Exception):
    """A stream error (RFC 9114 §8): reset this request stream only."""

    def __init__(self, stream_id: int, code: int, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code
