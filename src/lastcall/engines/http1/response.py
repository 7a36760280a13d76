"""Serialising HTTP/1.1 responses (RFC 9112 §4, §6, §7.1)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

__all__ = [
    "CHUNKED_END",
    "STATUS_LINES",
    "encode_chunk",
    "encode_head",
    "encode_trailers",
    "status_line",
]

Headers = list[tuple[bytes, bytes]]

#: The last chunk of a chunked body, without trailers (RFC 9112 §7.1).
CHUNKED_END: Final = b"0\r\n\r\n"


def status_line(status: int) -> bytes:
    """``HTTP/1.1 200 OK\\r\\n`` for ``status`` (unknown codes get an empty reason)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("ascii"))


#: Status lines precomputed for every registered code (hot path).
STATUS_LINES: Final[dict[int, bytes]] = {s.value: status_line(s.value) for s in HTTPStatus}


def encode_head(status: int, headers: Headers) -> bytes:
    """Status line and header fields, ready to write.

    Raises ``ValueError`` for a CR, LF or NUL in a name or value: writing one
    would let a header value smuggle a response (RFC 9110 §5.5).
    """
    line = STATUS_LINES.get(status) or status_line(status)
    parts = [line]
    for name, value in headers:
        if b"\r" in value or b"\n" in value or b"\0" in value or b"\r" in name or b"\n" in name:
            raise ValueError(f"invalid character in header {name!r}")
        parts.append(b"%s: %s\r\n" % (name, value))
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); empty data must not be sent this way."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def encode_trailers(trailers: Headers) -> bytes:
    """The last chunk followed by trailer fields (RFC 9112 §7.1.2)."""
    parts = [b"0\r\n"]
    parts.extend(b"%s: %s\r\n" % (n, v) for n, v in trailers)
    parts.append(b"\r\n")
    return b"".join(parts)
