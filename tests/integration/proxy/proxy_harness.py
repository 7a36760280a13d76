"""A proxy and its backends in the test's own loop, on 127.0.0.1:0, with their events.

``Stack.backend(app)`` starts a lastcall ``Server`` for ``app``;
``Stack.proxy(config)`` starts another serving a ``ProxyApp``. Every wait is
for an event (``EventWaiter``) and bounded by ``TEST_DEADLINE``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from server_harness import TEST_DEADLINE, EventWaiter, Running, start_in_process, stop

from lastcall.observe import EventRecorder, Observer
from lastcall.proxy import ProxyApp, ProxyConfig, ProxyHooks
from lastcall.server import Server

__all__ = ["TEST_DEADLINE", "Stack", "echo_app", "stack"]


class Stack:
    """Backends and proxies started by one test; all stopped at its end."""

    def __init__(self) -> None:
        self.running: list[Running] = []

    async def backend(self, app: Any = None, **settings: Any) -> Running:
        run = await start_in_process(app or echo_app, **settings)
        self.running.append(run)
        return run

    async def proxy(
        self, config: ProxyConfig, *, hooks: ProxyHooks | None = None, **settings: Any
    ) -> tuple[Running, ProxyApp]:
        recorder = EventRecorder()
        waiter = EventWaiter()
        observer = Observer([recorder, waiter])
        app = ProxyApp(config, observer=observer, hooks=hooks)
        settings.setdefault("bind", ["127.0.0.1:0"])
        settings.setdefault("handle_signals", False)
        server = Server(app, observer=observer, **settings)
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(TEST_DEADLINE):
            await asyncio.wait({task, server.started}, return_when=asyncio.FIRST_COMPLETED)
        run = Running(server, task, recorder, waiter)
        self.running.append(run)
        return run, app

    async def aclose(self) -> None:
        for run in reversed(self.running):
            await stop(run)


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """A ``Stack`` stopped at the end of the test."""
    running = Stack()
    try:
        yield running
    finally:
        await running.aclose()


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return body
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def echo_app(scope: Any, receive: Any, send: Any) -> None:
    """What the backend saw, as JSON: method, target, headers, body length; or a stream."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        if scope["path"] == "/greet":  # a message right behind the 101
            await send({"type": "websocket.send", "text": "hello"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "close":
                await send({"type": "websocket.close", "code": 4000})
                continue
            await send(
                {
                    "type": "websocket.send",
                    "text": message.get("text"),
                    "bytes": message.get("bytes"),
                }
            )
    path: str = scope["path"]
    if path == "/status":
        code = int(scope["query_string"] or b"500")
        await _read_body(receive)
        await send({"type": "http.response.start", "status": code, "headers": []})
        await send({"type": "http.response.body", "body": b"status"})
        return
    if path == "/download":
        # n chunks of 64 KiB, each byte its chunk's index
        await _read_body(receive)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(int(scope["query_string"] or b"1")):
            await send(
                {"type": "http.response.body", "body": bytes([i % 256]) * 65536, "more_body": True}
            )
        await send({"type": "http.response.body", "body": b""})
        return
    body = await _read_body(receive)
    seen = {
        "method": scope["method"],
        "target": scope["raw_path"].decode()
        + ("?" + scope["query_string"].decode() if scope["query_string"] else ""),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]],
        "body_length": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "http_version": scope["http_version"],
    }
    payload = json.dumps(seen).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(payload)),
                (b"connection", b"x-drop"),
                (b"x-drop", b"1"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
