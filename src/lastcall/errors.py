"""Every exception lastcall raises, under one root.

Errors say whose fault it was (ours: ``Local...``; the peer's: ``Remote...``),
carry the wire code when there is one, and say whether the request they ended
is safe to send again. A request the peer never processed (HTTP/2 stream above
a GOAWAY's last id, RST_STREAM(REFUSED_STREAM), HTTP/3 H3_REQUEST_REJECTED, a
connection refused before a byte was sent) is safe to retry whatever its
method; one cut after it started is not.

Library exceptions (h11, httptools, wsproto, aioquic, OSError) are translated
into these once, at the adapter boundary, so callers catch one tree::

    LastcallError
    ├── ProtocolError                 wire-level violation (carries error_code)
    │   ├── LocalProtocolError        we were asked to do something the protocol forbids
    │   │   └── ConnectionDraining    new stream on a connection that is draining/closing
    │   └── RemoteProtocolError       the peer broke the protocol
    │       ├── StreamProtocolError   ... on one stream only (answered by RST_STREAM)
    │       ├── HeaderListTooLarge    header block over the advertised limit
    │       ├── HpackError            undecodable header block (COMPRESSION_ERROR)
    │       └── FloodDetected         a per-connection budget ran out (ENHANCE_YOUR_CALM)
    ├── RequestError                  a client request did not complete
    │   ├── UnprocessedRequest        the server never processed it: safe to retry
    │   ├── ConnectError              could not connect (safe to retry)
    │   ├── TimeoutError              connect / read / write / pool timeouts
    │   │   ├── ConnectTimeout
    │   │   ├── ReadTimeout
    │   │   ├── WriteTimeout
    │   │   └── PoolTimeout
    │   ├── StreamReset               the peer reset a stream it had started to process
    │   ├── ConnectionLost            the connection died mid-request
    │   ├── RequestCancelled          cancelled by a drain deadline (client aclose(drain=))
    │   └── ClientClosed              the client is closed or closing; nothing was sent
    └── ConfigError                   a setting is out of range
"""

from __future__ import annotations

__all__ = [
    "ClientClosed",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionDraining",
    "ConnectionLost",
    "FloodDetected",
    "HeaderListTooLarge",
    "HpackError",
    "LastcallError",
    "LocalProtocolError",
    "PoolTimeout",
    "ProtocolError",
    "ReadTimeout",
    "RemoteProtocolError",
    "RequestCancelled",
    "RequestError",
    "StreamProtocolError",
    "StreamReset",
    "TimeoutError",
    "UnprocessedRequest",
    "WriteTimeout",
]


class LastcallError(Exception):
    """Root of every lastcall exception.

    ``is_safe_to_retry`` is True only when the peer is known not to have
    processed the request, so sending it again cannot repeat a side effect.
    """

    is_safe_to_retry: bool = False


# -- protocol -----------------------------------------------------------------


class ProtocolError(LastcallError):
    """A protocol rule was broken.

    ``error_code`` is the wire code to send or that was received (HTTP/2
    error code, HTTP/3 application code, WebSocket close code); ``status_hint``
    is the HTTP status a server would answer with, when one applies.
    """

    def __init__(self, message: str, *, error_code: int = 0x1, status_hint: int = 400) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status_hint = status_hint


class LocalProtocolError(ProtocolError):
    """We (the caller of an engine) asked for something the protocol forbids."""


class ConnectionDraining(LocalProtocolError):
    """A new stream was requested on a connection that has sent or received GOAWAY.

    Nothing was sent, so the request is safe to send on another connection.
    """

    is_safe_to_retry = True


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol. A connection-level error unless a subclass says so."""


class StreamProtocolError(RemoteProtocolError):
    """The peer broke the protocol on one stream only (RFC 9113 §5.4.2)."""

    def __init__(
        self, message: str, *, stream_id: int, error_code: int = 0x1, status_hint: int = 400
    ) -> None:
        super().__init__(message, error_code=error_code, status_hint=status_hint)
        self.stream_id = stream_id


class HeaderListTooLarge(RemoteProtocolError):
    """A header block decoded past the advertised maximum header list size."""

    def __init__(self, message: str, *, error_code: int = 0x9) -> None:
        super().__init__(message, error_code=error_code, status_hint=431)


class HpackError(RemoteProtocolError):
    """A header block could not be decoded (RFC 7541); always COMPRESSION_ERROR."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=0x9)


class FloodDetected(RemoteProtocolError):
    """A per-connection abuse budget ran out; the connection ends with ENHANCE_YOUR_CALM."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=0xB, status_hint=429)


# -- client requests ----------------------------------------------------------


class RequestError(LastcallError):
    """A client request did not complete."""


class UnprocessedRequest(RequestError):
    """The server did not process the request (GOAWAY above last id, REFUSED_STREAM,
    H3_REQUEST_REJECTED). Safe to retry, whatever the method."""

    is_safe_to_retry = True


class ConnectError(RequestError):
    """Could not establish a connection; nothing was sent."""

    is_safe_to_retry = True


class TimeoutError(RequestError):  # shadows the builtin on purpose, as httpx does
    """A named client timeout ran out."""


class ConnectTimeout(TimeoutError):
    """The connect timeout ran out; nothing was sent."""

    is_safe_to_retry = True


class ReadTimeout(TimeoutError):
    """The read timeout ran out while waiting for response bytes."""


class WriteTimeout(TimeoutError):
    """The write timeout ran out while sending the request."""


class PoolTimeout(TimeoutError):
    """No connection became available within the pool timeout; nothing was sent."""

    is_safe_to_retry = True


class StreamReset(RequestError):
    """The peer reset a stream it may have started to process."""

    def __init__(self, message: str, *, error_code: int = 0) -> None:
        super().__init__(message)
        self.error_code = error_code


class ConnectionLost(RequestError):
    """The connection closed while a request was in flight."""


class RequestCancelled(RequestError):
    """A drain deadline ran out and the request was cancelled by us."""


class ClientClosed(RequestError):
    """The client is closed or closing; the request was never sent."""

    is_safe_to_retry = True


class ConfigError(LastcallError, ValueError):
    """A setting is out of its allowed range."""
