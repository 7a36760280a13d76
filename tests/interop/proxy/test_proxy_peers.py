"""curl and httpx through the proxy while its backends restart in turn: every answer a 200."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable

import httpx
import pytest
from proxy_harness import TEST_DEADLINE, Stack

from lastcall.proxy import simple_proxy_config
from lastcall.server.demo import demo_app


async def _rolling_restart(
    stack: Stack, load: Callable[[str], Awaitable[list[int]]], scheme: str
) -> list[int]:
    """Two backends; ``load(url)`` runs while each is drained and started again on its port."""
    backends = [await stack.backend(demo_app), await stack.backend(demo_app)]
    ports = [b.port for b in backends]
    proxy, _ = await stack.proxy(simple_proxy_config([f"{scheme}://127.0.0.1:{p}" for p in ports]))
    started = asyncio.Event()
    url = f"http://127.0.0.1:{proxy.port}/slow?ms=5"

    async def run_load() -> list[int]:
        started.set()
        return await load(url)

    task = asyncio.create_task(run_load())
    await started.wait()
    for i, old in enumerate(backends):
        await proxy.events.wait_for("upstream_request", 20 * (i + 1))  # load is flowing
        old.server.drain(reason="restart")
        assert await old.exit_code() == 0
        await stack.backend(demo_app, bind=[f"127.0.0.1:{ports[i]}"])
    async with asyncio.timeout(TEST_DEADLINE * 3):
        return await task


@pytest.mark.parametrize("http2", [False, True], ids=["h1", "h2"])
async def test_httpx_through_rolling_restarts(stack: Stack, http2: bool) -> None:
    async def load(url: str) -> list[int]:
        async with httpx.AsyncClient(http2=http2) as client:
            return [(await client.get(url)).status_code for _ in range(150)]

    codes = await _rolling_restart(stack, load, "h2c")
    assert codes == [200] * 150


@pytest.mark.peer("curl")
@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
# HTTP/2 by Upgrade: h2c, because curl 7.88 sends nothing for the second URL on a
# reused --http2-prior-knowledge connection (the same against the server alone).
@pytest.mark.parametrize("flag", ["--http1.1", "--http2"])
async def test_curl_through_rolling_restarts(stack: Stack, flag: str) -> None:
    async def load(url: str) -> list[int]:
        process = await asyncio.create_subprocess_exec(
            "curl",
            "-s",
            flag,
            "-w",
            "%{http_code}\\n",
            *(["-o", "/dev/null", url] * 150),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        return [int(line) for line in out.split()]

    codes = await _rolling_restart(stack, load, "http")
    assert codes == [200] * 150
