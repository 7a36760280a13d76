"""``lastcall proxy --workers 2``: the proxy behind the supervisor, reloaded by SIGHUP."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from process_harness import HERE, Supervised, http_get, start_supervised

from lastcall.drill.load import run_load


async def test_proxy_workers_reload_under_load() -> None:
    backend = await start_supervised("--workers", "2", "--graceful-timeout", "5")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lastcall", "proxy", "--upstream", f"http://127.0.0.1:{backend.port}",
        "--bind", "127.0.0.1:0", "--workers", "2", "--graceful-timeout", "5",
        "--lifespan-shutdown-timeout", "2",
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=HERE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    proxy = Supervised(proc)
    stop = asyncio.Event()
    try:
        match = await proxy.wait_line(
            r"^\S+ \S+ INFO lastcall.drain: serving on 127\.0\.0\.1:(\d+)"
        )
        port = int(match[1])
        status, headers, body = await http_get(port, "/pid")
        assert status == 200 and body.decode() == headers["x-pid"]
        load = asyncio.create_task(
            run_load(f"http://127.0.0.1:{port}/slow?ms=50", "h1", concurrency=8,
                     duration=120.0, stop=stop)
        )  # fmt: skip
        proxy.signal(signal.SIGHUP)
        await proxy.wait_line(r"reload_finished generation=2 old_generation=1")
        await proxy.wait_line(r"generation 1, pid \d+\) exited with code 0", count=2)
        stop.set()
        stats = await load
    finally:
        stop.set()
        assert await proxy.stop() == 0
        assert await backend.stop() == 0
    assert stats.succeeded > 0 and stats.lost == 0, stats.errors
