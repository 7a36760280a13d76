"""lastcall's client against a real nginx that sends GOAWAY after every 10th request.

``keepalive_requests 10`` makes nginx end each HTTP/2 connection with a GOAWAY
after 10 streams, with more in flight: the situation in which httpx loses
requests (httpcore issue 46). lastcall must lose none; httpx's failures are
printed for the record, not asserted.
"""

from __future__ import annotations

import asyncio
import pathlib

import httpx
import pytest
from nginx_h2c import nginx_skip_reason, run_nginx

import lastcall.client as lc
import lastcall.httpx

REQUESTS = 2000
CONCURRENCY = 20

pytestmark = [
    pytest.mark.peer("nginx"),
    pytest.mark.skipif(nginx_skip_reason() is not None, reason=str(nginx_skip_reason())),
]


async def _load(get: object) -> list[BaseException]:
    errors: list[BaseException] = []
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with sem:
            try:
                body = await get()  # type: ignore[operator]
                assert body == b"ok"
            except Exception as exc:
                errors.append(exc)

    await asyncio.gather(*(one() for _ in range(REQUESTS)))
    return errors


async def test_lastcall_loses_nothing_and_httpx_is_recorded(tmp_path: pathlib.Path) -> None:
    async with run_nginx(tmp_path, keepalive_requests=10) as url:
        async with lc.Client(http1=False, http2=True) as client:

            async def ours() -> bytes:
                return (await client.get(url + "/")).content

            our_errors = await _load(ours)
            stats = client.stats

        async with httpx.AsyncClient(
            transport=lastcall.httpx.AsyncTransport(http1=False, http2=True)
        ) as hx_ours:

            async def via_transport() -> bytes:
                return (await hx_ours.get(url + "/")).content

            transport_errors = await _load(via_transport)

        async with httpx.AsyncClient(http1=False, http2=True) as plain:

            async def theirs() -> bytes:
                return (await plain.get(url + "/")).content

            httpx_errors = await _load(theirs)

    print(
        f"\nnginx keepalive_requests=10, {REQUESTS} requests, concurrency {CONCURRENCY}: "
        f"lastcall errors={len(our_errors)} (replays={stats.replays}, "
        f"connections={stats.connections_opened}); "
        f"httpx+lastcall transport errors={len(transport_errors)}; "
        f"plain httpx errors={len(httpx_errors)}"
    )
    assert our_errors == []
    assert transport_errors == []
    assert stats.connections_opened >= REQUESTS // 10
