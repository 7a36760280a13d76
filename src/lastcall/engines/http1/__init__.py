"""Sans-IO HTTP/1.1 for the server: a request parser over httptools and response encoding."""

from .limits import Http1Limits
from .parser import (
    BodyReceived,
    Http1Parser,
    RequestEnded,
    RequestStarted,
    UpgradeRequested,
)
from .response import CHUNKED_END, encode_chunk, encode_head, encode_trailers, status_line

__all__ = [
    "CHUNKED_END",
    "BodyReceived",
    "Http1Limits",
    "Http1Parser",
    "RequestEnded",
    "RequestStarted",
    "UpgradeRequested",
    "encode_chunk",
    "encode_head",
    "encode_trailers",
    "status_line",
]
