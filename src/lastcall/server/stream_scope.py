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


#: ``scope["method"]`` / ``scope["scheme"]`` for the common values, without a decode.
_METHODS = {
    m.encode("ascii"): m
    for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE")
}
_SCHEMES = {b"http": "http", b"https": "https"}


def build_stream_scope(
    conn: ConnectionBase,
    headers: list[tuple[bytes, bytes]],
    *,
    http_version: str,
    default_scheme: str,
) -> StreamRequest:
    """Build the scope for one HTTP/2 or HTTP/3 request on ``conn``.

    The keys that are the same for every request on a connection are built
    once and copied per request (a copy of six keys costs less than building
    them), like the HTTP/1.1 adapter does.
    """
    state = conn.state
    base = conn.stream_scope_base
    if base is None:
        base = conn.stream_scope_base = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": http_version,
            "root_path": state.root_path,
            "client": conn.client,
            "server": conn.server,
        }
    method = path = b""
    scheme: str | None = None
    authority: bytes | None = None
    protocol: bytes | None = None
    has_host = False
    regular: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name[:1] != b":":
            if name == b"host":
                has_host = True
            regular.append((name, value))
        elif name == b":method":
            method = value
        elif name == b":path":
            path = value
        elif name == b":scheme":
            scheme = _SCHEMES.get(value) or value.decode("ascii")
        elif name == b":authority":
            authority = value
        elif name == b":protocol":
            protocol = value
    if authority is not None and not has_host:
        regular.insert(0, (b"host", authority))
    raw_path, _, query = path.partition(b"?")
    text_path = raw_path.decode("ascii", "surrogateescape")
    if "%" in text_path:
        text_path = urllib.parse.unquote(text_path)
    scope = base.copy()
    scope["method"] = _METHODS.get(method) or method.decode("ascii")
    # The connection's own scheme: a plain-text client's ``:scheme https`` is
    # a claim nobody checked. Only a trusted proxy may say it (below).
    scope["scheme"] = default_scheme
    scope["path"] = state.root_path + text_path
    scope["raw_path"] = raw_path
    scope["query_string"] = query
    scope["headers"] = regular
    scope["state"] = state.lifespan_state.copy()
    scope["extensions"] = {
        "http.response.trailers": TRAILERS_EXTENSION,
        DRAIN_EXTENSION: conn._extension or conn.drain_extension(),
    }
    if conn.tls_extension is not None:
        scope["extensions"]["tls"] = conn.tls_extension
    proxies = state.proxies
    if proxies is not None and (conn.client is None or proxies.is_trusted(conn.client[0])):
        scope["client"], scope["scheme"] = proxies.apply(
            conn.client, scheme or default_scheme, regular
        )
    app: ASGIApp = state.app
    if state.readiness_path is not None and text_path == state.readiness_path:
        app = readiness_app(state)
    return StreamRequest(scope, app, method, protocol)
