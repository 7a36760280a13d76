"""Fixtures for the server's socket-level tests (helpers live in server_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from server_harness import Running, StartServer, start_in_process, stop

from lastcall.server.asgi import ASGIApp


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    running: list[Running] = []

    async def start(app: ASGIApp | None = None, **settings: Any) -> Running:
        run = await start_in_process(app, **settings)
        running.append(run)
        return run

    yield start
    for run in running:
        await stop(run)
