"""``connection_closed`` is logged at DEBUG as connection churn, at INFO as part of a drain."""

from __future__ import annotations

import asyncio
import logging

import pytest
from server_harness import TEST_DEADLINE, EventWaiter, Running

from lastcall.observe import EventRecorder, LoggingSink, Observer
from lastcall.server import Server
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.server.extension import DRAIN_EXTENSION


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """``/drain-me`` drains its own connection (``drain_connection()``)."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/drain-me":
        scope["extensions"][DRAIN_EXTENSION].drain_connection()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def start_logging_server() -> Running:
    recorder, waiter = EventRecorder(), EventWaiter()
    server = Server(
        app,
        observer=Observer([LoggingSink(), recorder, waiter]),
        bind=["127.0.0.1:0"],
        handle_signals=False,
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(TEST_DEADLINE):
        await server.started
    return Running(server, task, recorder, waiter)


def closed_levels(caplog: pytest.LogCaptureFixture) -> list[int]:
    return [
        r.levelno
        for r in caplog.records
        if r.name == "lastcall.drain" and r.getMessage().startswith("connection_closed")
    ]


async def test_churn_at_debug_drains_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="lastcall.drain")
    run = await start_logging_server()
    try:
        # 1. An ordinary keep-alive connection the client closes: churn.
        client = await run.open()
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.response())[0].startswith(b"HTTP/1.1 200")
        await client.aclose()
        await run.events.wait_for("connection_closed", 1)
        # 2. A connection the app drained on its own: a drain step.
        client = await run.open()
        client.send(b"GET /drain-me HTTP/1.1\r\nHost: x\r\n\r\n")
        _, headers, _ = await client.response()
        assert headers[b"connection"] == b"close"
        assert await client.eof()
        await run.events.wait_for("connection_closed", 2)
        # 3. An idle connection closed by the server's drain.
        client = await run.open()
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.response()
        run.server.drain()
        assert await client.eof()
        assert await run.exit_code() == 0
    finally:
        if not run.task.done():
            run.server.cancel()
            await asyncio.wait({run.task}, timeout=TEST_DEADLINE)
    assert closed_levels(caplog) == [logging.DEBUG, logging.INFO, logging.INFO]
    assert run.recorder.names().count("connection_closed") == 3  # every close still an event
