"""What the gRPC restart tests share: `lastcall` processes read line by line, and grpcio load.

``Process`` starts ``python -m lastcall ...`` with this directory on the path
(``countdown_app:app``) and lets a test wait for a line of its stderr by
pattern -- the events a test waits on (serving, worker ready, reload finished,
exit) instead of sleeping. ``GrpcLoad`` keeps grpcio clients calling the
Countdown service -- unary callers on several channels and server streams --
and counts every call's outcome in the phase that was current when it ended,
so a test reports calls made and failed per phase.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import signal
import sys
from collections import Counter

import grpc
from countdown_gen.countdown_pb2 import (
    CountRequest,
    CountResponse,
    GreetRequest,
    GreetResponse,
)

HERE = pathlib.Path(__file__).parent
SERVICE = "/lastcall.interop.v1.Countdown"
#: Bound on every wait of the gRPC restart tests.
DEADLINE = 60.0


class Process:
    """A ``python -m lastcall`` child; its stderr, line by line, waited on by pattern."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []
        self.changed = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *args: str) -> Process:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lastcall", *args,
            cwd=HERE, env=env, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.lines.append(line.decode(errors="replace").rstrip())
            self.changed.set()
        self.changed.set()

    def matching(self, pattern: str) -> list[re.Match[str]]:
        regex = re.compile(pattern)
        return [m for line in self.lines if (m := regex.search(line))]

    async def wait(self, pattern: str, count: int = 1) -> re.Match[str]:
        """The ``count``-th line matching ``pattern``; fails if the process ends first."""
        async with asyncio.timeout(DEADLINE):
            while True:
                found = self.matching(pattern)
                if len(found) >= count:
                    return found[count - 1]
                assert not self.task.done(), "\n".join(self.lines[-30:])
                self.changed.clear()
                await self.changed.wait()

    async def serving_port(self) -> int:
        return int((await self.wait(r"INFO lastcall.drain: serving on 127\.0\.0\.1:(\d+)"))[1])

    async def stop(self) -> int:
        """SIGTERM (the graceful drain) and the exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            code = await self.process.wait()
            await self.task
        return code

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self.task


class GrpcLoad:
    """grpcio clients calling Countdown without pause until ``stop()``.

    ``channels`` channels to ``port``, each with ``callers`` unary callers;
    ``streams`` server streams of 20 messages 20 ms apart, round the channels.
    Every call that ends is counted as OK or failed in ``phase``.
    """

    def __init__(self, port: int, *, channels: int = 3, callers: int = 4, streams: int = 2) -> None:
        self.phase = "start"
        self.ok: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.failures: list[str] = []
        #: Set at each call that ends OK: a test waits for load in a new phase.
        self.progress = asyncio.Event()
        self._stop = asyncio.Event()
        self._channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(channels)]
        self._tasks = [
            asyncio.create_task(self._unary(channel, f"c{i}w{j}"))
            for i, channel in enumerate(self._channels)
            for j in range(callers)
        ]
        self._tasks += [
            asyncio.create_task(self._stream(self._channels[i % channels])) for i in range(streams)
        ]

    def _ended(self, error: str | None) -> None:
        if error is None:
            self.ok[self.phase] += 1
            self.progress.set()
        else:
            self.failed[self.phase] += 1
            self.failures.append(f"{self.phase}: {error}")

    async def _unary(self, channel: grpc.aio.Channel, name: str) -> None:
        greet = channel.unary_unary(
            f"{SERVICE}/Greet",
            request_serializer=GreetRequest.SerializeToString,
            response_deserializer=GreetResponse.FromString,
        )
        while not self._stop.is_set():
            try:
                reply = await greet(GreetRequest(name=name), timeout=DEADLINE)
            except grpc.aio.AioRpcError as exc:
                self._ended(f"unary {exc.code()}: {exc.details()}")
            else:
                self._ended(None if reply.greeting == f"hello, {name}" else repr(reply))

    async def _stream(self, channel: grpc.aio.Channel) -> None:
        count = channel.unary_stream(
            f"{SERVICE}/Count",
            request_serializer=CountRequest.SerializeToString,
            response_deserializer=CountResponse.FromString,
        )
        while not self._stop.is_set():
            call = count(CountRequest(count=20, interval_ms=20), timeout=DEADLINE)
            try:
                numbers = [m.number async for m in call]
            except grpc.aio.AioRpcError as exc:
                self._ended(f"stream {exc.code()}: {exc.details()}")
            else:
                self._ended(None if numbers == list(range(1, 21)) else f"stream got {numbers}")

    async def enter(self, phase: str, calls: int = 20) -> None:
        """Start ``phase`` once ``calls`` more calls have ended OK (load is flowing)."""
        target = sum(self.ok.values()) + calls
        async with asyncio.timeout(DEADLINE):
            while sum(self.ok.values()) < target:
                self.progress.clear()
                await self.progress.wait()
        self.phase = phase

    async def stop(self) -> None:
        """Let every call under way end, then close the channels (again: a no-op)."""
        if self._stop.is_set():
            return
        self._stop.set()
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(*self._tasks)
        for channel in self._channels:
            await channel.close()

    def report(self) -> str:
        """``phase: N OK, M failed`` for each phase, in order (the closing note reads it)."""
        phases = list(dict.fromkeys([*self.ok, *self.failed]))
        return "; ".join(f"{p}: {self.ok[p]} OK, {self.failed[p]} failed" for p in phases)
