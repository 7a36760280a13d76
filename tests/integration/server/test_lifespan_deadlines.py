"""Lifespan waits have deadlines, and can be cut short (DESIGN.md, "Timing rules").

An app whose lifespan startup or shutdown never answers must not hold the
server: ``lifespan_startup_timeout`` ends startup (exit 3, nothing served),
``lifespan_shutdown_timeout`` ends shutdown (exit 0: the drain finished), and
``Server.cancel()`` -- what a signal does -- ends either wait at once.
The two deadlines run on a ``FakeClock`` (``Server(clock=...)``): they fire
when the test moves virtual time past them, whatever the machine's load.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from server_harness import TEST_DEADLINE, EventWaiter, Running, start_in_process

from lastcall.observe import EventRecorder, Observer
from lastcall.observe import events as oe
from lastcall.server import EXIT_OK, EXIT_STARTUP_FAILED, Server
from lastcall.server.asgi import Receive, Scope, Send
from lastcall.testing.clock import FakeClock


class HangingLifespan:
    """Answers nothing in one lifespan phase (``startup`` or ``shutdown``)."""

    def __init__(self, hang_in: str) -> None:
        self.hang_in = hang_in
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return
        await receive()  # lifespan.startup
        if self.hang_in == "startup":
            await self._hang()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await self._hang()

    async def _hang(self) -> None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


async def start_hanging_startup(app: HangingLifespan, **settings: Any) -> Running:
    """Like ``start_in_process``, without waiting for ``started`` (it never comes)."""
    recorder, waiter = EventRecorder(), EventWaiter()
    server = Server(
        app,
        observer=Observer([recorder, waiter]),
        bind=["127.0.0.1:0"],
        handle_signals=False,
        **settings,
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(TEST_DEADLINE):
        await app.entered.wait()
    return Running(server, task, recorder, waiter)


async def test_startup_that_never_completes_times_out(caplog: pytest.LogCaptureFixture) -> None:
    app = HangingLifespan("startup")
    clock = FakeClock()
    run = await start_hanging_startup(app, lifespan_startup_timeout=20, clock=clock)
    start = clock.time()
    clock.advance(19.5)
    assert clock.next_deadline == start + 20  # still pending: it fires at its time, not before
    clock.advance(0.5)  # lifespan_startup_timeout, on virtual time
    assert await run.exit_code() == EXIT_STARTUP_FAILED
    assert app.cancelled.is_set()  # the app's startup was unwound, not left running
    assert run.server.listeners == []
    assert not run.recorder.of_type(oe.ServerStarted)
    with pytest.raises(RuntimeError, match="server failed to start"):
        await run.server.started
    assert any(
        "did not complete within 20 s (lifespan_startup_timeout)" in r.getMessage()
        for r in caplog.records
    )


async def test_cancel_during_startup_stops_at_once(caplog: pytest.LogCaptureFixture) -> None:
    app = HangingLifespan("startup")
    run = await start_hanging_startup(app)  # default 60 s: only the cancel can end it
    run.server.cancel()
    assert await run.exit_code() == EXIT_STARTUP_FAILED
    assert app.cancelled.is_set()
    assert any("before lifespan startup completed" in r.getMessage() for r in caplog.records)


async def test_shutdown_that_never_completes_times_out(caplog: pytest.LogCaptureFixture) -> None:
    app = HangingLifespan("shutdown")
    clock = FakeClock()
    run = await start_in_process(app, lifespan_shutdown_timeout=20, clock=clock)
    run.server.drain()
    async with asyncio.timeout(TEST_DEADLINE):
        await app.entered.wait()
    start = clock.time()
    clock.advance(19.5)
    assert clock.next_deadline == start + 20  # still pending: it fires at its time, not before
    clock.advance(0.5)  # lifespan_shutdown_timeout, on virtual time
    assert await run.exit_code() == EXIT_OK
    assert app.cancelled.is_set()
    assert [e.ok for e in run.recorder.of_type(oe.LifespanShutdown)] == [False]
    assert run.recorder.names()[-2:] == ["drained", "lifespan_shutdown"]
    assert any(
        "did not complete within 20 s (lifespan_shutdown_timeout)" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )


async def test_cancel_during_shutdown_exits_at_once(caplog: pytest.LogCaptureFixture) -> None:
    app = HangingLifespan("shutdown")
    run = await start_in_process(app)  # default 60 s: only the cancel can end it
    run.server.drain()
    async with asyncio.timeout(TEST_DEADLINE):
        await app.entered.wait()
    run.server.cancel("second SIGTERM")
    assert await run.exit_code() == EXIT_OK
    assert app.cancelled.is_set()
    assert [e.ok for e in run.recorder.of_type(oe.LifespanShutdown)] == [False]
    assert any("second SIGTERM during lifespan shutdown" in r.getMessage() for r in caplog.records)


async def test_app_that_answers_in_time_is_unaffected() -> None:
    run = await start_in_process(None, lifespan_startup_timeout=5, lifespan_shutdown_timeout=5)
    run.server.drain()
    assert await run.exit_code() == EXIT_OK
    assert [e.ok for e in run.recorder.of_type(oe.LifespanShutdown)] == [True]
