"""``limit_concurrency``: past N requests in flight, answer 503 at once instead of queueing.

An overloaded server that keeps accepting work turns every request into a
slow one and then into a timeout; one that refuses what it cannot start
keeps the others fast, and a 503 with ``Retry-After`` is what clients, load
balancers and our own proxy retry elsewhere (uvicorn's
``--limit-concurrency``, Envoy's overload manager).

It wraps the app, so it is one piece of code for HTTP/1.1, HTTP/2 and HTTP/3
and costs nothing when off. The server's own answers (readiness, 413, 431)
never reach it, and neither does lifespan. A WebSocket over the limit is
refused before its handshake completes (403, as ASGI has no other way to
deny one) and counts while it is open.
"""

from __future__ import annotations

from .asgi import ASGIApp, Receive, Scope, Send

__all__ = ["RETRY_AFTER", "ConcurrencyLimit"]

#: ``Retry-After`` of the 503, in seconds: one second, the smallest the field
#: can say (RFC 9110 §10.2.3); a request that finishes frees its slot sooner.
RETRY_AFTER = 1
_BODY = b"Service Unavailable: too many requests in flight\n"
_HEADERS = [
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-length", b"%d" % len(_BODY)),
    (b"retry-after", b"%d" % RETRY_AFTER),
]


class ConcurrencyLimit:
    """An ASGI app that runs ``app`` for at most ``limit`` requests at a time."""

    __slots__ = ("app", "in_flight", "limit", "refused")

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        #: Requests and WebSockets being served now.
        self.in_flight = 0
        #: Requests answered 503 (or WebSockets refused) since the start.
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            self.refused += 1
            if kind == "http":
                await send({"type": "http.response.start", "status": 503, "headers": _HEADERS})
                await send({"type": "http.response.body", "body": _BODY})
            else:
                await send({"type": "websocket.close", "code": 1013})  # try again later
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
