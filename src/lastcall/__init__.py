"""lastcall: a Python HTTP stack in which draining a connection is a phase of its life.

The public surface: ``run`` (what ``lastcall serve`` does, from Python),
``serve`` and ``Server`` (an ASGI server for HTTP/1.1,
HTTP/2, HTTP/3 and WebSocket that drains by the book), ``Client`` (an asyncio
connection pool for HTTP/1.1, HTTP/2 and HTTP/3 that finishes what a server
promised and retries what it refused), ``lastcall.httpx.AsyncTransport`` (the
same for httpx users; imported on its own so httpx stays optional) and the
exception tree in ``lastcall.errors``.

The names are loaded on first use (PEP 562 module ``__getattr__``): importing
a sans-IO part such as ``lastcall.engines.http2`` or ``lastcall.lifecycle``
imports this package first, and must not drag the client and the server --
and with them asyncio, socket and ssl -- along (tests/unit/test_import_weight.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lastcall import _extensions
from lastcall._extensions import build_info
from lastcall._lazy import lazy_attributes

# Before anything below can import a hot module: use the compiled build if it
# matches the sources (see _extensions.py; LASTCALL_NO_EXTENSIONS=1 for pure Python).
_extensions.install()

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time see __getattr__
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
    from lastcall.process import serve
    from lastcall.server import Server
    from lastcall.server.run import run

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
    "build_info",
    "errors",
    "run",
    "serve",
]

if not TYPE_CHECKING:  # type checkers see the imports above, so a misspelt name is an error
    __getattr__, __dir__ = lazy_attributes(
        __name__,
        __all__,
        {
            "Client": "lastcall.client",
            "ClientConfig": "lastcall.client",
            "ClosingNotice": "lastcall.client",
            "Headers": "lastcall.client",
            "Lifetime": "lastcall.client",
            "Limits": "lastcall.client",
            "Request": "lastcall.client",
            "Response": "lastcall.client",
            "RetryPolicy": "lastcall.client",
            "Timeouts": "lastcall.client",
            "Server": "lastcall.server",
            "serve": "lastcall.process",
            "run": "lastcall.server.run",
            "errors": "lastcall.errors",
        },
    )
