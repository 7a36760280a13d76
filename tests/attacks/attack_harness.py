"""One hostile connection against ``lastcall serve``, a bystander beside it, the server's cost.

The attack suite (issue 15) asks of every attack the same three things, so
they are measured the same way everywhere (tests here, and
``bench/attacks_mux.py`` for the before/after figures):

- **memory**: the server is a subprocess; its growth is the peak resident
  size during the attack (``VmHWM`` in ``/proc/<pid>/status``, which keeps
  the peak even when the allocator gives pages back) minus the resident
  size just before it (``VmRSS``);
- **CPU**: the server's user + system seconds over the attack
  (``/proc/<pid>/stat``);
- **the bystander**: another connection making one HTTP/1.1 request every
  20 ms. It must see no failure (an error, or no answer within
  ``BYSTANDER_TIMEOUT``); its latencies give the p99 the bench reports.

Everything here talks to 127.0.0.1 only, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

#: A broken test ends instead of hanging.
DEADLINE = 30.0
#: A bystander request that takes longer than this counts as failed.
BYSTANDER_TIMEOUT = 5.0
_SERVING = re.compile(r"serving on 127\.0\.0\.1:(\d+)")
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Served:
    """A ``lastcall serve`` subprocess and how to read its costs."""

    proc: asyncio.subprocess.Process
    port: int
    log: list[str] = field(default_factory=list)
    _log_reader: asyncio.Future[None] | None = None
    _log_changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _status(self, key: str) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise AssertionError(f"no {key} in /proc/{self.proc.pid}/status")

    def rss_kib(self) -> int:
        return self._status("VmRSS")

    def peak_rss_kib(self) -> int:
        return self._status("VmHWM")

    def reset_peak(self) -> None:
        """Make ``VmHWM`` restart from the current RSS (Linux >= 4.0: write 5 to clear_refs)."""
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass  # not allowed here: the peak then includes start-up, an over-estimate

    async def wait_for_log(self, text: str) -> str:
        """Wait until the server has logged a line containing ``text`` (events
        are logged as they are emitted); return the line."""
        async with asyncio.timeout(DEADLINE):
            while True:
                for line in self.log:
                    if text in line:
                        return line
                self._log_changed.clear()
                await self._log_changed.wait()

    async def stop(self) -> int:
        """SIGTERM (a drain), then the exit code, with every log line read."""
        self.proc.terminate()
        async with asyncio.timeout(DEADLINE):
            code = await self.proc.wait()
            if self._log_reader is not None:
                await self._log_reader
        return code

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / _TICKS


@asynccontextmanager
async def serve(*args: str, env: dict[str, str] | None = None) -> AsyncIterator[Served]:
    """Run ``python -m lastcall serve`` (demo app unless ``args`` names one) on a free port."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lastcall",
        "serve",
        "--bind",
        "127.0.0.1:0",
        *args,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    served: Served | None = None
    try:
        async with asyncio.timeout(DEADLINE):
            while served is None:
                line = (await proc.stderr.readline()).decode()
                assert line, "lastcall serve exited before serving"
                match = _SERVING.search(line)
                if match:
                    served = Served(proc, int(match.group(1)))
        served._log_reader = asyncio.ensure_future(_drain_stderr(proc, served))
        yield served
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        if served is not None and served._log_reader is not None:
            served._log_reader.cancel()


async def _drain_stderr(proc: asyncio.subprocess.Process, served: Served) -> None:
    """Keep reading the server's log so a chatty attack never blocks it on a full pipe."""
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        if len(served.log) < 10_000:
            served.log.append(line.decode(errors="replace").rstrip())
            served._log_changed.set()


@dataclass
class BystanderReport:
    latencies: list[float]
    failures: list[str]

    @property
    def p99_ms(self) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98] * 1000


class Bystander:
    """A well-behaved client: one keep-alive HTTP/1.1 ``GET /`` every 20 ms."""

    def __init__(self, port: int, period: float = 0.02) -> None:
        self.port = port
        self.period = period
        self.latencies: list[float] = []
        #: ``time.monotonic()`` at which each answered request was sent.
        self.sent_at: list[float] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        #: Set once the first request has been answered (or has failed).
        self.started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Bystander:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        async with asyncio.timeout(DEADLINE):
            await self._task

    def report(self) -> BystanderReport:
        return BystanderReport(list(self.latencies), list(self.failures))

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        reader: asyncio.StreamReader | None = None
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                async with asyncio.timeout(BYSTANDER_TIMEOUT):
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                    assert reader is not None
                    writer.write(b"GET / HTTP/1.1\r\nHost: bystander\r\n\r\n")
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
                    await reader.readexactly(length)
                    if not head.startswith(b"HTTP/1.1 200"):
                        self.failures.append(head.split(b"\r\n")[0].decode())
                    if b"connection: close" in head.lower():
                        writer.close()
                        writer = None
            except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                writer = None
            else:
                self.latencies.append(time.monotonic() - started)
                self.sent_at.append(started)
            self.started.set()
            try:
                async with asyncio.timeout(max(0.0, self.period - (time.monotonic() - started))):
                    await self._stop.wait()
            except TimeoutError:
                pass
        if writer is not None:
            writer.close()


@dataclass
class Cost:
    """What one attack cost the server, and what the bystander saw meanwhile."""

    growth_kib: int
    cpu_seconds: float
    bystander: BystanderReport

    def __str__(self) -> str:
        return (
            f"memory +{self.growth_kib / 1024:.1f} MiB, cpu {self.cpu_seconds:.2f} s, "
            f"bystander p99 {self.bystander.p99_ms:.1f} ms over {len(self.bystander.latencies)} "
            f"requests, {len(self.bystander.failures)} failed"
        )

    __repr__ = __str__


@asynccontextmanager
async def measured(served: Served) -> AsyncIterator[list[Cost]]:
    """Measure the block: yields a list that holds its ``Cost`` once the block ends."""
    out: list[Cost] = []
    async with Bystander(served.port) as bystander:
        # One answered request first: the bystander's connection is up before the attack.
        async with asyncio.timeout(DEADLINE):
            await bystander.started.wait()
        served.reset_peak()
        rss0 = served.rss_kib()
        cpu0 = served.cpu_seconds()
        yield out
        growth = served.peak_rss_kib() - rss0
        cpu = served.cpu_seconds() - cpu0
    out.append(Cost(growth, cpu, bystander.report()))


# -- WebSocket, raw frames -------------------------------------------------------------

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MASK = b"\x01\x02\x03\x04"


def ws_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, length: int | None = None
) -> bytes:
    """A client frame (masked, RFC 6455 §5.2). ``length`` may claim more than ``payload``
    holds: the rest is then the caller's to stream (an oversized frame)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ _MASK[i % 4] for i, b in enumerate(payload))
    return head + _MASK + masked


def ws_frames(frames: list[tuple[int, bytes]]) -> bytes:
    return b"".join(ws_frame(op, data) for op, data in frames)


async def ws_open(
    port: int, path: str = "/ws", *, rcvbuf: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An accepted WebSocket over HTTP/1.1 (the demo app echoes on any path);
    ``rcvbuf``: a small receive buffer, for a peer that will not read."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: attack\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    async with asyncio.timeout(DEADLINE):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of the server frames (unmasked) in ``data``; stops at a partial one."""
    frames: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 2 <= len(data):
        opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if n == 126:
            n, pos = int.from_bytes(data[pos : pos + 2], "big"), pos + 2
        elif n == 127:
            n, pos = int.from_bytes(data[pos : pos + 8], "big"), pos + 8
        if pos + n > len(data):
            break
        frames.append((opcode, data[pos : pos + n]))
        pos += n
    return frames


def close_codes(data: bytes) -> list[int]:
    """Close codes of the server frames in ``data``."""
    return [
        int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        for opcode, payload in server_frames(data)
        if opcode == OP_CLOSE
    ]


def count_frames(data: bytes, opcode: int) -> int:
    return sum(1 for op, _ in server_frames(data) if op == opcode)


async def read_to_eof(
    reader: asyncio.StreamReader, limit: int = 64 << 20, *, reset_ok: bool = True
) -> bytes:
    """Everything the server sends until it closes (a reset ends it too, unless
    ``reset_ok`` is False: then it raises ``ConnectionResetError``)."""
    out = bytearray()
    async with asyncio.timeout(DEADLINE):
        while len(out) < limit:
            try:
                chunk = await reader.read(1 << 16)
            except ConnectionResetError:
                if not reset_ok:
                    raise
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


async def send_until_cut(
    writer: asyncio.StreamWriter,
    chunks: AsyncIterator[bytes] | list[bytes],
    *,
    stall: float | None = None,
) -> int:
    """Write the chunks, waiting for the socket each time; stop when the server
    closes or resets, or (``stall``) when it has taken nothing for that long, as
    an attacker whose peer stopped reading would. Returns the bytes handed to
    the kernel."""
    sent = 0

    async def put(chunk: bytes) -> None:
        nonlocal sent
        writer.write(chunk)
        if stall is None:
            await writer.drain()
        else:
            await asyncio.wait_for(writer.drain(), stall)
        sent += len(chunk)

    try:
        if isinstance(chunks, list):
            for chunk in chunks:
                await put(chunk)
        else:
            async for chunk in chunks:
                await put(chunk)
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        pass
    return sent
