"""ASGI 3.0 types, and the small helpers every protocol adapter shares."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "ASGI_VERSION",
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "headers_as_latin1",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: ``scope["asgi"]``: ASGI 3.0, HTTP/WebSocket spec 2.4 (``http.disconnect``
#: after the response, ``websocket.http.response`` denial not offered).
ASGI_VERSION: dict[str, str] = {"version": "3.0", "spec_version": "2.4"}


def headers_as_latin1(headers: Any) -> list[tuple[bytes, bytes]]:
    """Normalise app-supplied headers (iterables of byte pairs) to a list, names lowercased."""
    return [(bytes(n).lower(), bytes(v)) for n, v in headers]
