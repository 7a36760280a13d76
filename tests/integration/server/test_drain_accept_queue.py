"""Connections still in the accept queue when the drain begins are served, not reset.

The kernel completes a TCP handshake before the server accepts the
connection; closing a listening socket resets every connection still queued,
and an HTTP/1.1 client that already sent its request cannot tell that reset
from a lost response, so it does not retry. The test makes the queue fill up
deterministically: the app blocks the server's loop, SIGTERM arrives, and
only then do new clients connect and send their requests, so when the loop
runs again the signal is handled before the listener is ever read.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import signal
import sys

import pytest

APP = """
import sys
import time

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/block":
        print("app: blocking the loop", file=sys.stderr, flush=True)
        time.sleep(float(scope["query_string"] or b"1"))  # blocks the loop on purpose
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""

QUEUED = 20
BLOCK_SECONDS = 1.5


async def _get(port: int, target: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    try:
        async with asyncio.timeout(30):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_connections_queued_at_sigterm_are_answered(
    tmp_path: pathlib.Path, loop: str
) -> None:
    (tmp_path / "blocking_app.py").write_text(APP)
    proc = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "lastcall", "serve", "blocking_app:app", "--app-dir"],
        *[str(tmp_path), "--bind", "127.0.0.1:0", "--loop", loop, "--lifespan", "off"],
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        port = 0
        async with asyncio.timeout(30):
            while not port:
                line = (await proc.stderr.readline()).decode()
                assert line, "the server exited"
                if match := re.search(r"serving on 127\.0\.0\.1:(\d+)", line):
                    port = int(match.group(1))
        blocker = asyncio.create_task(_get(port, f"/block?{BLOCK_SECONDS}"))
        async with asyncio.timeout(30):
            while b"app: blocking the loop" not in await proc.stderr.readline():
                pass
        # The loop is blocked: the signal is queued first, then the connections.
        proc.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*(_get(port, "/") for _ in range(QUEUED)))
        assert (await blocker).startswith(b"HTTP/1.1 200")
        statuses = [a.split(b"\r\n", 1)[0] for a in answers]
        assert statuses == [b"HTTP/1.1 200 OK"] * QUEUED, statuses
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
