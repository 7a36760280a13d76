"""Serving on ``unix:PATH``: what the ASGI scope says about the peer and ourselves."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from server_harness import TEST_DEADLINE, RawClient, StartServer

from lastcall.server.asgi import Receive, Scope, Send


async def scope_echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with what the scope says about the two ends."""
    if scope["type"] != "http":
        return
    body = json.dumps(
        {"server": scope["server"], "client": scope["client"], "scheme": scope["scheme"]}
    ).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def socket_path() -> Iterator[str]:
    # Short on purpose: an AF_UNIX path is limited to 107 bytes, and pytest's
    # tmp_path can be longer than that.
    with tempfile.TemporaryDirectory(prefix="lc-") as directory:
        yield str(Path(directory) / "s.sock")


async def ask(path: str, headers: bytes = b"") -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(path)
    client = RawClient(reader, writer)
    try:
        client.send(b"GET / HTTP/1.1\r\nHost: x\r\n" + headers + b"Connection: close\r\n\r\n")
        status, _, body = await client.response()
        assert status.startswith(b"HTTP/1.1 200"), status
        result: dict[str, Any] = json.loads(body)
        return result
    finally:
        await client.aclose()


async def test_unix_socket_scope_server_is_path_and_none(
    start_server: StartServer, socket_path: str
) -> None:
    await start_server(scope_echo, bind=[f"unix:{socket_path}"])
    async with asyncio.timeout(TEST_DEADLINE):
        seen = await ask(socket_path)
    # ASGI: ``server`` is ``[path, None]`` on a unix socket; ``client`` is None.
    assert seen == {"server": [socket_path, None], "client": None, "scheme": "http"}
