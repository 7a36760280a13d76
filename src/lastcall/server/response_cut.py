"""``ResponseCut``: how an application ends a response it began without finishing it.

An application that raises any exception after its response began gets its
stream reset (HTTP/2 INTERNAL_ERROR, HTTP/3 H3_INTERNAL_ERROR) or, over
HTTP/1.1, its connection closed before the body's end, and the exception is
logged as an application error. A reverse proxy cuts responses as a matter
of course -- a backend reset its stream, or lost its connection, in the
middle of a body -- and must tell its client how: a backend that gave up on
the stream (CANCEL) is passed on as a cancel (HTTP/2 CANCEL, HTTP/3
H3_REQUEST_CANCELLED), anything else as an internal error. ``ResponseCut``
says which, and is logged at INFO, since it is not a bug in the application.

Raised before the response began, it is answered 502 (the application had
nothing to send: a gateway's failure) -- or, with ``refused``, over HTTP/2
and HTTP/3 the stream is refused (REFUSED_STREAM, H3_REQUEST_REJECTED): the
request was processed nowhere, so the client may send it again, whatever
its method (RFC 9113 §8.7, RFC 9114 §4.1.1), as a proxy says when every
backend it tried refused the request. HTTP/1.1 has no such signal: there an
application answers itself (a proxy: 502).
"""

from __future__ import annotations

__all__ = ["ResponseCut"]


class ResponseCut(Exception):
    """End the response in progress as cut: ``cancelled`` resets with CANCEL, else
    INTERNAL_ERROR; before it began, ``refused`` refuses the stream, else 502."""

    def __init__(self, message: str, *, cancelled: bool = False, refused: bool = False) -> None:
        super().__init__(message)
        self.cancelled = cancelled
        self.refused = refused
