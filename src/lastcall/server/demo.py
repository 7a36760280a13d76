"""The built-in demo app, served by ``lastcall serve`` when no app is given.

``/`` hello; ``/slow?ms=N`` answers after N ms; ``/stream?chunks=N&ms=M``
streams N chunks M ms apart and ends early (with a last line saying why) when
the connection drains; ``/echo`` returns the request body. It shows the
product: drain while ``/slow`` or ``/stream`` runs and watch them finish.
"""

from __future__ import annotations

import asyncio
import urllib.parse

from .asgi import Receive, Scope, Send
from .extension import DRAIN_EXTENSION

__all__ = ["demo_app"]

_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
#: Upper bounds so a typo cannot pin a worker forever.
MAX_DELAY_MS = 600_000
MAX_CHUNKS = 100_000


def _int(query: dict[str, list[str]], name: str, default: int, top: int) -> int:
    try:
        return max(0, min(int(query.get(name, [str(default)])[0]), top))
    except ValueError:
        return default


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": _TEXT})
    await send({"type": "http.response.body", "body": body})


async def demo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The demo ASGI app (HTTP and lifespan; WebSocket echo on any path)."""
    kind = scope["type"]
    if kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if kind == "websocket":
        await _websocket_echo(receive, send)
        return
    path = scope["path"]
    query = urllib.parse.parse_qs(scope["query_string"].decode("latin-1"))
    if path == "/":
        await _respond(send, 200, b"Hello from lastcall\n")
    elif path == "/slow":
        await asyncio.sleep(_int(query, "ms", 1000, MAX_DELAY_MS) / 1000)
        await _respond(send, 200, b"slow done\n")
    elif path == "/stream":
        await _stream(
            scope, send, _int(query, "chunks", 10, MAX_CHUNKS), _int(query, "ms", 100, MAX_DELAY_MS)
        )
    elif path == "/echo":
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/octet-stream")],
            }
        )
        await send({"type": "http.response.body", "body": bytes(body)})
    else:
        await _respond(send, 404, b"not found\n")


async def _stream(scope: Scope, send: Send, chunks: int, ms: int) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": _TEXT})
    drain = scope.get("extensions", {}).get(DRAIN_EXTENSION)
    waiter: asyncio.Future[object] | None = (
        asyncio.ensure_future(drain.wait()) if drain is not None else None
    )
    try:
        for i in range(chunks):
            await send({"type": "http.response.body", "body": b"chunk %d\n" % i, "more_body": True})
            if ms:
                sleeper: asyncio.Future[object] = asyncio.ensure_future(asyncio.sleep(ms / 1000))
                waits: set[asyncio.Future[object]] = {sleeper}
                if waiter is not None:
                    waits.add(waiter)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
            if waiter is not None and waiter.done() and not waiter.cancelled():
                await send(
                    {
                        "type": "http.response.body",
                        "body": f"stream ended early: server draining ({waiter.result()})\n".encode(),
                        "more_body": True,
                    }
                )
                break
        await send({"type": "http.response.body", "body": b""})
    finally:
        if waiter is not None:
            waiter.cancel()


async def _websocket_echo(receive: Receive, send: Send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})
