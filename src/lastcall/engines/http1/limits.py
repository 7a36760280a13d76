"""Limits of the HTTP/1.1 request parser: each named, with its default and precedent."""

from __future__ import annotations

from dataclasses import dataclass

from lastcall.errors import ConfigError

__all__ = ["Http1Limits"]


@dataclass(frozen=True, slots=True)
class Http1Limits:
    """What one HTTP/1.1 request may weigh before we answer 4xx and close."""

    #: Request line (method, target, version) in bytes. 8 KiB like nginx's
    #: ``large_client_header_buffers`` line and Apache's ``LimitRequestLine``;
    #: over it we answer 414 (RFC 9112 §3 recommends supporting at least 8000 octets).
    max_request_line_size: int = 8192
    #: All header field lines together, in bytes. 64 KiB like the HTTP/2 header
    #: list size we advertise (DESIGN.md); nginx 32 KiB, Go 1 MiB, h11 16 KiB.
    #: Over it we answer 431 (RFC 6585 §5).
    max_header_size: int = 65_536
    #: Number of header fields. 100 like Apache ``LimitRequestFields`` and
    #: Node.js ``maxHeadersCount`` (2000); over it: 431.
    max_header_count: int = 100
    #: Request body in bytes, or ``None`` for no limit (uvicorn, hypercorn and
    #: Go do not limit; nginx ``client_max_body_size`` is 1 MiB). Over it: 413,
    #: checked against Content-Length up front and against chunked bodies as they come.
    max_body_size: int | None = None
    #: A chunk-size line (size, chunk extensions, RFC 9112 §7.1.1) in bytes,
    #: counted as it arrives. 16 KiB like Node.js since CVE-2024-22019 (an
    #: endless extension was read without limit); over it: 400 and close.
    max_chunk_extension_size: int = 16_384

    def __post_init__(self) -> None:
        for name in (
            "max_request_line_size",
            "max_header_size",
            "max_header_count",
            "max_chunk_extension_size",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.max_body_size is not None and self.max_body_size < 0:
            raise ConfigError("max_body_size must be >= 0 or None")
