"""Fixtures for the proxy's socket-level tests (helpers in proxy_harness.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proxy_harness import Stack


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    running = Stack()
    try:
        yield running
    finally:
        await running.aclose()
