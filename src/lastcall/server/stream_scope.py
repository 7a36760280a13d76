"""The ASGI ``http`` scope of a request that arrives as a field list (HTTP/2, HTTP/3).

HTTP/2 and HTTP/3 carry the request line as pseudo-header fields
(RFC 9113 §8.3.1, RFC 9114 §4.3.1); the engines have already validated them.
Both adapters turn them into the same scope, so they share this one function:
``:authority`` becomes ``host`` when the request has none (RFC 9113 §8.3.1),
the path is percent-decoded for ``path`` and kept raw in ``raw_path``, and the
proxy-header and readiness rules apply exactly as for HTTP/1.1.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from .asgi import ASGI_VERSION, ASGIApp
from .connection import ConnectionBase
from .extension import DRAIN_EXTENSION
from .readiness import readiness_app

#: ``http.response.trailers`` is advertised with an empty dict (ASGI spec).
TRAILERS_EXTENSION: dict[str, Any] = {}


@dataclass(slots=True)
class StreamRequest:
    """A request ready to run: its scope, the app that serves it, and what
    the adapter needs to route it (CONNECT with ``:protocol`` is WebSocket)."""

    scope: dict[str, Any]
    app: ASGIApp
    method: bytes
    protocol: bytes | None


def build_stream_scope(
    conn: ConnectionBase,
    headers: list[tuple[bytes, bytes]],
    *,
    http_version: str,
    default_scheme: bytes,
) -> StreamRequest:
    """Build the scope for one HTTP/2 or HTTP/3 request on ``conn``."""
    state = conn.state
    method = path = b""
    scheme = default_scheme
    authority: bytes | None = None
    protocol: bytes | None = None
    regular: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name[:1] != b":":
            regular.append((name, value))
        elif name == b":method":
            method = value
        elif name == b":path":
            path = value
        elif name == b":scheme":
            scheme = value
        elif name == b":authority":
            authority = value
        elif name == b":protocol":
            protocol = value
    if authority is not None and not any(n == b"host" for n, _ in regular):
        regular.insert(0, (b"host", authority))
    raw_path, _, query = path.partition(b"?")
    text_path = raw_path.decode("ascii", "surrogateescape")
    if "%" in text_path:
        text_path = urllib.parse.unquote(text_path)
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": ASGI_VERSION,
        "http_version": http_version,
        "method": method.decode("ascii"),
        "scheme": scheme.decode("ascii"),
        "path": state.root_path + text_path,
        "raw_path": raw_path,
        "query_string": query,
        "root_path": state.root_path,
        "headers": regular,
        "client": conn.client,
        "server": conn.server,
        "state": state.lifespan_state.copy(),
        "extensions": {
            "http.response.trailers": TRAILERS_EXTENSION,
            DRAIN_EXTENSION: conn.drain_extension(),
        },
    }
    if state.proxies is not None:
        scope["client"], scope["scheme"] = state.proxies.apply(
            conn.client, scope["scheme"], regular
        )
    app: ASGIApp = state.app
    if state.readiness_path is not None and text_path == state.readiness_path:
        app = readiness_app(state)
    return StreamRequest(scope, app, method, protocol)
