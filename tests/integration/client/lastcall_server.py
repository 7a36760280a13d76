"""lastcall's own server, in the test's loop, for the client tests that need a peer
that drains by the book (and sends trailers) over HTTP/1.1, HTTP/2 or HTTP/3.

``serving(app, protocol, cert_files)`` starts ``lastcall.server.Server`` (with a
QUIC endpoint for ``"h3"``), yields it with a matching ``lc.Client`` and the base
URL, and drains the server on the way out (its ``serve()`` must return 0).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import lastcall.client as lc
from lastcall.server import Server

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def answer_lifespan(receive: Any, send: Any) -> None:
    """Complete lifespan startup and shutdown (for an app's ``lifespan`` scope)."""
    while True:
        kind = (await receive())["type"].removeprefix("lifespan.")
        await send({"type": f"lifespan.{kind}.complete"})
        if kind == "shutdown":
            return


@contextlib.asynccontextmanager
async def serving(
    app: App, protocol: str, cert_files: tuple[Path, Path], **settings: Any
) -> AsyncIterator[tuple[Server, lc.Client, str]]:
    """The server on 127.0.0.1 and a client that speaks ``protocol`` ("h1", "h2", "h3")."""
    settings = {"bind": ["127.0.0.1:0"], "handle_signals": False, **settings}
    if protocol == "h3":
        certfile, keyfile = cert_files
        settings.update(quic_bind=["127.0.0.1:0"], certfile=str(certfile), keyfile=str(keyfile))
    server = Server(app, **settings)
    serve = asyncio.create_task(server.serve())
    await server.started
    if protocol == "h3":
        client = lc.Client(http1=False, http3=True, verify=False)
        base = f"https://127.0.0.1:{server.quic_port}"
    else:
        client = lc.Client(http1=protocol == "h1", http2=protocol == "h2")
        base = f"http://127.0.0.1:{server.port}"
    try:
        async with client:
            yield server, client, base
    finally:
        server.drain()
        assert await serve == 0
