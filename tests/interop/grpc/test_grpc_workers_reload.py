"""gRPC on one address through two SIGHUP reloads: grpcio clients see 0 failed RPCs.

``lastcall serve countdown_app:app --workers 2``: a supervisor holds the
listening socket while each reload starts two new workers and drains the two
old ones (GOAWAY, in-flight calls finish, streams run to their end). grpcio,
a client we did not write, keeps calling throughout -- unary calls from
several channels and server streams -- and every call must end OK. On one
address without the supervisor, a stop-and-start fails ~900 calls per
restart (nothing listens meanwhile, then grpcio backs off).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import signal
import sys

import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("connectrpc")

from countdown_gen.countdown_pb2 import (  # noqa: E402 - after the skips
    CountRequest,
    CountResponse,
    GreetRequest,
    GreetResponse,
)

HERE = pathlib.Path(__file__).parent
SERVICE = "/lastcall.interop.v1.Countdown"
#: Bound on every wait of this module.
DEADLINE = 60.0
CHANNELS, CALLERS, STREAMS = 3, 4, 2


class Log:
    """The supervisor's stderr, line by line, waited on by pattern."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self.changed.set()
        self.changed.set()

    async def wait(self, pattern: str, count: int = 1) -> re.Match[str]:
        regex = re.compile(pattern)
        async with asyncio.timeout(DEADLINE):
            while True:
                found = [m for line in self.lines if (m := regex.search(line))]
                if len(found) >= count:
                    return found[count - 1]
                assert not self.task.done(), "\n".join(self.lines)
                self.changed.clear()
                await self.changed.wait()


async def test_two_sighup_reloads_under_grpc_load_fail_no_rpc() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lastcall", "serve", "countdown_app:app",
        "--bind", "127.0.0.1:0", "--workers", "2", "--graceful-timeout", "10",
        "--lifespan-shutdown-timeout", "2",
        cwd=HERE, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    log = Log(process)
    ok = failed = 0
    failures: list[str] = []
    stop = asyncio.Event()
    try:
        port = int((await log.wait(r"INFO lastcall.drain: serving on 127\.0\.0\.1:(\d+)"))[1])

        async def unary_caller(channel: grpc.aio.Channel, name: str) -> None:
            nonlocal ok, failed
            greet = channel.unary_unary(
                f"{SERVICE}/Greet",
                request_serializer=GreetRequest.SerializeToString,
                response_deserializer=GreetResponse.FromString,
            )
            while not stop.is_set():
                try:
                    reply = await greet(GreetRequest(name=name), timeout=DEADLINE)
                    assert reply.greeting == f"hello, {name}"
                    ok += 1
                except grpc.aio.AioRpcError as exc:
                    failed += 1
                    failures.append(f"{exc.code()}: {exc.details()}")

        async def streamer(channel: grpc.aio.Channel) -> None:
            nonlocal ok, failed
            count = channel.unary_stream(
                f"{SERVICE}/Count",
                request_serializer=CountRequest.SerializeToString,
                response_deserializer=CountResponse.FromString,
            )
            while not stop.is_set():
                call = count(CountRequest(count=20, interval_ms=20), timeout=DEADLINE)
                try:
                    numbers = [m.number async for m in call]
                    assert numbers == list(range(1, 21))
                    ok += 1
                except grpc.aio.AioRpcError as exc:
                    failed += 1
                    failures.append(f"stream {exc.code()}: {exc.details()}")

        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(CHANNELS)]
        tasks = [
            asyncio.create_task(unary_caller(channel, f"c{i}w{j}"))
            for i, channel in enumerate(channels)
            for j in range(CALLERS)
        ]
        tasks += [asyncio.create_task(streamer(channels[i % CHANNELS])) for i in range(STREAMS)]
        await log.wait(r"worker_ready pid=\d+ generation=1", count=2)
        for generation in (2, 3):
            process.send_signal(signal.SIGHUP)
            await log.wait(rf"reload_finished generation={generation}")
            await log.wait(rf"generation {generation - 1}, pid \d+\) exited with code 0", count=2)
        before_stop = ok
        stop.set()
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*tasks)
        for channel in channels:
            await channel.close()
    finally:
        stop.set()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            code = await process.wait()
        await log.task
    print(f"gRPC through 2 reloads: {ok} OK, {failed} failed")  # the closing note reads it
    assert before_stop > 0
    assert failed == 0, failures[:10]
    assert code == 0
    assert not any(re.search("CRASHED|did NOT start|killed", line) for line in log.lines)
