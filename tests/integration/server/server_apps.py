"""Small ASGI apps the server tests drive, each controllable through asyncio events."""

from __future__ import annotations

import asyncio
from typing import Any

from lastcall.server.asgi import Message, Receive, Scope, Send


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"x-path", scope["path"].encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


class Gate:
    """An app whose requests wait until the test opens the gate; records what it saw."""

    def __init__(self, *, stream_first: bool = False) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.stream_first = stream_first
        self.received: list[Message] = []
        self.scopes: list[Scope] = []
        self.finished = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        self.scopes.append(scope)
        if self.stream_first:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
        self.entered.set()
        try:
            waiter = asyncio.ensure_future(self.release.wait())
            receiver = asyncio.ensure_future(self._drain_receive(receive))
            await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if not waiter.done():
                waiter.cancel()
                return
            receiver.cancel()
            if not self.stream_first:
                await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"done"})
        finally:
            self.finished.set()

    async def _drain_receive(self, receive: Receive) -> None:
        while True:
            message = await receive()
            self.received.append(message)
            if message["type"] == "http.disconnect":
                return


def state_app(log: list[Any]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                log.append(message["type"])
                if message["type"] == "lifespan.startup":
                    scope["state"]["greeting"] = "hi"
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["state"]["greeting"].encode()})

    return app


class ReasonApp:
    """``/wait-drain`` answers once its connection drains, with the drain reason;
    ``/forever`` never answers; anything else answers ``ok`` at once."""

    def __init__(self) -> None:
        self.waiting = 0
        self.changed = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b"ok"
        if scope["path"] == "/wait-drain":
            self.waiting += 1
            self.changed.set()
            body = (await scope["extensions"]["lastcall.drain"].wait()).encode()
        elif scope["path"] == "/forever":
            self.waiting += 1
            self.changed.set()
            await asyncio.Event().wait()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def wait_for_waiting(self, count: int) -> None:
        async with asyncio.timeout(10):
            while self.waiting < count:
                self.changed.clear()
                await self.changed.wait()
