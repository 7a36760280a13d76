"""lastcall: a Python HTTP stack in which draining a connection is a phase of its life.

The public surface: ``serve`` and ``Server`` (an ASGI server for HTTP/1.1,
HTTP/2 and WebSocket that drains by the book), ``Client`` (an asyncio connection pool for HTTP/1.1 and
HTTP/2 that finishes what a server promised and retries what it refused),
``lastcall.httpx.AsyncTransport`` (the same for httpx users; imported on its
own so httpx stays optional) and the exception tree in ``lastcall.errors``.
"""

from __future__ import annotations

from lastcall import errors
from lastcall.client import (
    Client,
    ClientConfig,
    ClosingNotice,
    Headers,
    Lifetime,
    Limits,
    Request,
    Response,
    RetryPolicy,
    Timeouts,
)
from lastcall.server import Server, serve

__version__ = "0.1.0.dev0"

__all__ = [
    "Client",
    "ClientConfig",
    "ClosingNotice",
    "Headers",
    "Lifetime",
    "Limits",
    "Request",
    "Response",
    "RetryPolicy",
    "Server",
    "Timeouts",
    "__version__",
    "errors",
    "serve",
]
