"""The client against ``lastcall.server.Server`` drained while 20 slow requests are in flight.

The server drains by the book (GOAWAY(2^31-1) + PING, then the final GOAWAY);
every request it accepted must complete on the client, none may fail.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import lastcall.client as lc

server_mod = pytest.importorskip("lastcall.server")

SLOW = 20


async def test_twenty_slow_requests_survive_a_drain() -> None:
    arrived = 0
    all_arrived = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal arrived
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        arrived += 1
        if arrived == SLOW:
            all_arrived.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": scope["path"].encode()})

    server = server_mod.Server(app, bind=["127.0.0.1:0"], graceful_timeout=10)
    serving = asyncio.create_task(server.serve())
    await server.started
    url = f"http://127.0.0.1:{server.port}"
    notices: list[lc.ClosingNotice] = []
    async with lc.Client(http1=False, http2=True, on_notice=notices.append) as client:
        tasks = [asyncio.create_task(client.get(f"{url}/{i}")) for i in range(SLOW)]
        await all_arrived.wait()
        subscription = client.notices()
        server.drain(grace=10)
        notice = await anext(subscription)
        assert notice.source == "remote"
        release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert sorted(r.content for r in results if isinstance(r, lc.Response)) == sorted(
        f"/{i}".encode() for i in range(SLOW)
    )
    assert await serving == 0
