"""grpcio (real client, real grpc.aio server) through the proxy: unary, server streaming,
and a rolling restart of two backends under continuous RPC load with 0 failed RPCs.

The RPC status travels in the backend's trailers (``grpc-status``): the client
hands them over (``Response.trailers``) and the proxy passes them on.

grpc.aio's graceful ``stop(grace)`` answers the calls it had accepted but not yet
given to a handler with a Trailers-Only CANCELLED, below its final GOAWAY's last
stream id (frame capture: docs/proxy.md), so nothing on the wire says they were
not processed. The proxy passes such an answer on by default, and retries it on
a route that lists ``cancelled`` in ``grpc_retry_on`` (Envoy's ``retry_on``).
"""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_backend import STREAM, UNARY, Calls, start_grpc_backend
from proxy_harness import TEST_DEADLINE, Stack

from lastcall.proxy import ProxyConfig, simple_proxy_config
from lastcall.proxy.config import RouteConfig, UpstreamConfig


def _config(ports: list[int], **route: object) -> ProxyConfig:
    """One group of h2c backends and one route with ``route``'s settings."""
    group = UpstreamConfig("grpc", tuple(f"h2c://127.0.0.1:{port}" for port in ports))
    return ProxyConfig({"grpc": group}, (RouteConfig("grpc", **route),))  # type: ignore[arg-type]


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


async def test_rolling_restart_of_two_backends_fails_no_rpc(stack: Stack) -> None:
    """grpc.aio's own stops, behind a route that retries CANCELLED (its RPCs are idempotent)."""
    servers = [await start_grpc_backend(), await start_grpc_backend()]
    ports = [port for _, port in servers]
    proxy, _ = await stack.proxy(_config(ports, grpc_retry_on=("cancelled",)))
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


async def _unary_outcome(proxy_port: int) -> tuple[grpc.StatusCode, bytes | None]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy_port}") as channel:
        try:
            return grpc.StatusCode.OK, await channel.unary_unary(UNARY)(b"x", timeout=TEST_DEADLINE)
        except grpc.aio.AioRpcError as exc:
            return exc.code(), None


async def test_a_cancelled_answer_is_not_replayed_by_default(stack: Stack) -> None:
    calls = Calls(fail=1)
    backend, port = await start_grpc_backend(calls=calls)
    try:
        proxy, _ = await stack.proxy(_config([port]))
        assert await _unary_outcome(proxy.port) == (grpc.StatusCode.CANCELLED, None)
    finally:
        await backend.stop(None)
    assert calls.handled == 1
    assert "upstream_retry" not in proxy.recorder.names()


async def test_a_route_that_lists_cancelled_sends_the_call_again(stack: Stack) -> None:
    calls = Calls(fail=1)
    backend, port = await start_grpc_backend(calls=calls)
    try:
        proxy, _ = await stack.proxy(_config([port], grpc_retry_on=("cancelled",)))
        assert await _unary_outcome(proxy.port) == (grpc.StatusCode.OK, b"x")
    finally:
        await backend.stop(None)
    assert calls.handled == 2
    retries = [e for e in proxy.recorder if e.name == "upstream_retry"]
    assert [e.reason for e in retries] == ["grpc_cancelled"]  # type: ignore[attr-defined]


async def test_grpc_retries_stop_at_max_retries_and_pass_the_last_answer_on(stack: Stack) -> None:
    calls = Calls(fail=5, status=grpc.StatusCode.UNAVAILABLE)
    backend, port = await start_grpc_backend(calls=calls)
    try:
        config = _config([port], grpc_retry_on=("unavailable",), max_retries=2)
        proxy, _ = await stack.proxy(config)
        assert await _unary_outcome(proxy.port) == (grpc.StatusCode.UNAVAILABLE, None)
    finally:
        await backend.stop(None)
    assert calls.handled == 3


async def test_a_status_after_a_message_is_never_retried(stack: Stack) -> None:
    """The status came in trailers, after a message went downstream: too late."""
    calls = Calls(fail=1)
    backend, port = await start_grpc_backend(calls=calls)
    try:
        proxy, _ = await stack.proxy(_config([port], grpc_retry_on=("cancelled",)))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{proxy.port}") as channel:
            got: list[bytes] = []
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                async for message in channel.unary_stream(STREAM)(b"5", timeout=TEST_DEADLINE):
                    got.append(message)  # noqa: PERF401 - kept up to the error
    finally:
        await backend.stop(None)
    assert failed.value.code() == grpc.StatusCode.CANCELLED
    assert got == [b"0"] and calls.handled == 1
