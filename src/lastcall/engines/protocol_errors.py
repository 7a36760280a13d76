"""The two ways a peer's mistake ends, in HTTP/2 (RFC 9113 §5.4) and HTTP/3
(RFC 9114 §8) alike: exceptions the frame and stream handlers raise and each
engine's receive loop catches (``http2/engine.py``'s ``receive_data``,
``http3/engine.py``'s ``_dispatch``), so a handler can give up at any point
without leaving half-applied state. They never leave the engine; the code is
the protocol's own (an HTTP/2 ``ErrorCode`` or an HTTP/3 one).
"""

from __future__ import annotations


class PeerConnectionError(Exception):
    """A connection error: GOAWAY with ``code``, then close (HTTP/2, §5.4.1), or
    CONNECTION_CLOSE with ``code`` (HTTP/3)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class PeerStreamError(Exception):
    """A stream error: RST_STREAM (HTTP/2, §5.4.2) or RESET_STREAM and
    STOP_SENDING (HTTP/3) with ``code`` on that stream only."""

    def __init__(self, stream_id: int, code: int, message: str) -> None:
        super().__init__(message)
        self.stream_id = stream_id
        self.code = code


class PeerClosed(Exception):
    """HTTP/2: the peer sent an error GOAWAY; it closes the connection (§5.4.1),
    so stop reading."""
