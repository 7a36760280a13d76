"""The readiness endpoint, answered by the server itself (``--readiness-path``).

200 ``ok`` while serving; 503 ``draining: <reason>`` from the moment a drain
begins -- that is step 1 of the shutdown sequence, before listeners close, so
that a load balancer (a Kubernetes readinessProbe) stops routing to us while
we still accept during the pre-stop delay.
"""

from __future__ import annotations

from .asgi import ASGIApp, Receive, Scope, Send
from .state import ServerState

__all__ = ["readiness_app"]


def readiness_app(state: ServerState) -> ASGIApp:
    """An ASGI app reporting ``state``'s readiness."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if state.drain_reason is None:
            status, body = 200, b"ok\n"
        else:
            status, body = 503, f"draining: {state.drain_reason}\n".encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app
