"""gRPC from ASGI: a connectrpc service under ``lastcall serve``, called by grpcio over h2c.

connectrpc serves gRPC only where the ASGI server offers the
``http.response.trailers`` extension (gRPC's status travels in HTTP/2
trailers). grpcio, the reference client we did not write, calls it unary and
server-streaming; then the server gets SIGTERM while streams are running, and
every stream must still end with status OK and every message (RFC 9113 §6.8:
streams at or below the GOAWAY's last id run to completion), while the
handlers see the drain through the ``lastcall.drain`` extension.

The generated code in ``countdown_gen/`` came from ``proto/countdown.proto``
with (grpcio-tools' protoc, protoc-gen-connectrpc on PATH; see docs/grpc.md)::

    cd tests/interop/grpc && python -m grpc_tools.protoc -I proto \\
        --python_out=countdown_gen --pyi_out=countdown_gen \\
        --connectrpc_out=countdown_gen --connectrpc_opt=protobuf=google countdown.proto
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("connectrpc")

from countdown_gen.countdown_pb2 import (  # noqa: E402 - after the skips
    CountRequest,
    CountResponse,
    GreetRequest,
    GreetResponse,
)
from grpc_harness import HERE, SERVICE  # noqa: E402

from lastcall.drill.process import free_port, wait_port_answers  # noqa: E402

#: Bound on every wait of this module (start-up, calls, the drain).
DEADLINE = 30.0


class Server:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    port = free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lastcall", "serve", "countdown_app:app",
        "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
        cwd=HERE, env=env,
    )  # fmt: skip
    try:
        assert await wait_port_answers("127.0.0.1", port, DEADLINE), "server did not start"
        yield Server(process, port)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _stubs(channel: grpc.aio.Channel) -> tuple[object, object]:
    greet = channel.unary_unary(
        f"{SERVICE}/Greet",
        request_serializer=GreetRequest.SerializeToString,
        response_deserializer=GreetResponse.FromString,
    )
    count = channel.unary_stream(
        f"{SERVICE}/Count",
        request_serializer=CountRequest.SerializeToString,
        response_deserializer=CountResponse.FromString,
    )
    return greet, count


async def test_unary_and_server_streaming(server: Server) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        greet, count = _stubs(channel)
        replies = await asyncio.gather(
            *(greet(GreetRequest(name=f"n{i}"), timeout=DEADLINE) for i in range(20))  # type: ignore[operator]
        )
        assert [r.greeting for r in replies] == [f"hello, n{i}" for i in range(20)]
        call = count(CountRequest(count=50, interval_ms=0), timeout=DEADLINE)  # type: ignore[operator]
        numbers = [message.number async for message in call]
        assert numbers == list(range(1, 51))
        assert await call.code() == grpc.StatusCode.OK


async def test_streams_complete_through_sigterm(server: Server) -> None:
    streams, per_stream = 4, 20
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        _, count = _stubs(channel)
        calls = [
            count(CountRequest(count=per_stream, interval_ms=25), timeout=DEADLINE)  # type: ignore[operator]
            for _ in range(streams)
        ]
        received: list[list[CountResponse]] = [[] for _ in calls]
        # Every stream has started (its first message arrived) before the signal.
        for call, into in zip(calls, received, strict=True):
            into.append(await call.read())
        server.process.send_signal(signal.SIGTERM)

        async def rest(call: object, into: list[CountResponse]) -> None:
            while (message := await call.read()) is not grpc.aio.EOF:  # type: ignore[attr-defined]
                into.append(message)

        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*(rest(c, r) for c, r in zip(calls, received, strict=True)))
        for call, messages in zip(calls, received, strict=True):
            assert await call.code() == grpc.StatusCode.OK
            assert [m.number for m in messages] == list(range(1, per_stream + 1))
            # The handler saw the drain begin while it went on streaming.
            assert not messages[0].draining and messages[-1].draining
    async with asyncio.timeout(DEADLINE):
        assert await server.process.wait() == 0
