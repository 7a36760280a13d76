"""Apps served by the supervised workers in these tests (imported by each worker).

- ``/pid``: answers with the worker's process id.
- ``/hold``: sends its response head and a first chunk at once (with the pid), then blocks the
  worker's event loop until the client's ``release`` file appears -- so the
  test knows exactly which worker is busy, and that it cannot accept.
- ``/slow?ms=N``: answers after N ms (asyncio.sleep), for drill-style load.
- anything else: ``ok``.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
from typing import Any

#: Longest a /hold request blocks its worker, so a test that fails cannot hang it.
HOLD_LIMIT = 10.0


def _block_until(release: pathlib.Path) -> None:
    """Block the calling thread -- the worker's event loop, on purpose -- until ``release``."""
    deadline = time.monotonic() + HOLD_LIMIT
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.005)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    pid = str(os.getpid()).encode()
    path = scope["path"]
    headers = [(b"x-pid", pid), (b"content-type", b"text/plain")]
    if path == "/hold":
        release = pathlib.Path(scope["query_string"].decode().partition("=")[2])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        # A first chunk, so that the head goes out now (the server holds a
        # head back to send it with the body in one write).
        await send({"type": "http.response.body", "body": b"held ", "more_body": True})
        _block_until(release)
        await send({"type": "http.response.body", "body": pid})
        return
    if path == "/slow":
        query = scope["query_string"].decode()
        ms = int(query.partition("=")[2] or 0) if query.startswith("ms=") else 0
        await asyncio.sleep(ms / 1000)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": pid if path == "/pid" else b"ok"})
