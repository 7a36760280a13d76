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
from .proxy_headers import TrustedProxies
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


class ScopeTemplate:
    """What the scope of every request on one connection shares, read once.

    The connection and the server's state are read here, when the first
    request arrives, instead of once per request: compiled, a request then
    reads these fields natively, where each read of a pure-Python object's
    attribute costs a dictionary lookup (about a dozen per request before).
    None of them changes during a connection's life: the addresses, the
    app, the readiness path, the root path, the trusted proxies; the
    lifespan state is one dict filled in place at start-up.
    """

    __slots__ = (
        "app",
        "base",
        "default_scheme",
        "extensions",
        "lifespan_state",
        "proxies",
        "readiness_path",
        "root_path",
        "state",
    )

    def __init__(self, conn: ConnectionBase, http_version: str, default_scheme: str) -> None:
        state = conn.state
        self.state = state
        #: The keys that are the same for every request, copied per request.
        self.base: dict[str, Any] = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": http_version,
            "root_path": state.root_path,
            "client": conn.client,
            "server": conn.server,
        }
        #: ``scope["extensions"]``, copied per request (an app may add to its own).
        self.extensions: dict[str, Any] = {
            "http.response.trailers": TRAILERS_EXTENSION,
            DRAIN_EXTENSION: conn.drain_extension(),
        }
        if conn.tls_extension is not None:
            self.extensions["tls"] = conn.tls_extension
        self.default_scheme = default_scheme
        self.root_path: str = state.root_path
        self.lifespan_state: dict[str, Any] = state.lifespan_state
        self.proxies: TrustedProxies | None = state.proxies
        self.app: ASGIApp = state.app
        self.readiness_path: str | None = state.readiness_path


def build_stream_scope(
    template: ScopeTemplate, headers: list[tuple[bytes, bytes]]
) -> StreamRequest:
    """Build the scope for one HTTP/2 or HTTP/3 request from its connection's
    ``template`` (the keys every request shares, copied: a copy of six keys
    costs less than building them, as the HTTP/1.1 adapter does)."""
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
    scope = template.base.copy()
    scope["method"] = _METHODS.get(method) or method.decode("ascii")
    # The connection's own scheme: a plain-text client's ``:scheme https`` is
    # a claim nobody checked. Only a trusted proxy may say it (below).
    scope["scheme"] = template.default_scheme
    scope["path"] = template.root_path + text_path
    scope["raw_path"] = raw_path
    scope["query_string"] = query
    scope["headers"] = regular
    scope["state"] = template.lifespan_state.copy()
    scope["extensions"] = template.extensions.copy()
    proxies = template.proxies
    client = scope["client"]
    if proxies is not None and (client is None or proxies.is_trusted(client[0])):
        scope["client"], scope["scheme"] = proxies.apply(
            client, scheme or template.default_scheme, regular
        )
    app = template.app
    if template.readiness_path is not None and text_path == template.readiness_path:
        app = readiness_app(template.state)
    return StreamRequest(scope, app, method, protocol)
