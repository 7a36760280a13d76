"""What the attack tests and ``measure.py`` share: a ``lastcall serve`` subprocess
whose memory and CPU are read from ``/proc``, a well-behaved bystander client on
its own connection, and the attackers themselves (raw sockets on 127.0.0.1).

Each attacker returns how many bytes the server took in before it stopped
taking them (it answered and closed, or it stopped reading): the figure the
tests bound. "Stopped reading" is seen as a send that makes no progress for
``stall_timeout`` seconds -- the only way to observe from outside that a peer
applies TCP backpressure; a slow server only makes the figure smaller.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

SERVING = re.compile(r"serving on 127\.0\.0\.1:(\d+)")
#: Bound on every wait of the kit (start-up, a bystander request, a response).
WAIT_TIMEOUT = 30.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """In the child: SIGKILL it if we die first (a killed test must not leave a server)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Served:
    """A ``lastcall serve`` subprocess (demo app unless ``app`` is given)."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None
        self._logged = asyncio.Event()

    def rss_bytes(self) -> int:
        """Resident memory of the server process now (VmRSS)."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def peak_rss_bytes(self) -> int:
        """The peak resident memory (VmHWM) since start or ``reset_peak()``: an
        attack's high point, even when the allocator gave the pages back since."""
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM")

    def reset_peak(self) -> None:
        """Start ``peak_rss_bytes`` again from the current RSS (Linux: clear_refs 5)."""
        with open(f"/proc/{self.proc.pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")

    async def wait_for_log(self, text: str) -> str:
        """The first log line containing ``text``, once the server has written
        it (drain steps and other events are logged as they are emitted)."""
        async with asyncio.timeout(WAIT_TIMEOUT):
            while True:
                for line in self.log:
                    if text in line:
                        return line
                self._logged.clear()
                await self._logged.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process used so far."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS

    async def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            self.log.append(line.decode(errors="replace").rstrip())
            self._logged.set()


@contextlib.asynccontextmanager
async def served(
    *args: str, app: str | None = None, loop: str | None = None
) -> AsyncIterator[Served]:
    """Run ``lastcall serve --bind 127.0.0.1:0 ARGS``; stop it (SIGTERM, then kill) after.
    ``loop``: ``--loop`` (default: ``auto``, or ``asyncio`` with ``ATTACK_LOOP=asyncio``)."""
    command = [sys.executable, "-m", "lastcall", "serve", "--bind", "127.0.0.1:0", "--loop"]
    if loop is None:
        loop = "asyncio" if os.environ.get("ATTACK_LOOP") == "asyncio" else "auto"
    command.append(loop)
    command += [*args, *([app] if app else [])]
    proc = await asyncio.create_subprocess_exec(
        *command,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_die_with_parent,
    )
    assert proc.stderr is not None
    port = 0
    lines: list[str] = []
    try:
        async with asyncio.timeout(WAIT_TIMEOUT):
            while not port:
                line = (await proc.stderr.readline()).decode(errors="replace")
                if not line:
                    raise AssertionError("lastcall serve exited:\n" + "".join(lines))
                lines.append(line)
                match = SERVING.search(line)
                if match:
                    port = int(match.group(1))
    except BaseException:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise
    server = Served(proc, port)
    server.log.extend(line.rstrip() for line in lines)
    server._reader = asyncio.create_task(server._drain_stderr())
    try:
        yield server
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(10.0):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
        await server._reader


# -- the bystander -------------------------------------------------------------------


@dataclass
class Bystander:
    """``GET /`` every ``period`` seconds on its own keep-alive connection.

    Any failure (an error, a bad status, no answer within ``WAIT_TIMEOUT``) is
    recorded; the tests assert there is none. ``latencies`` feed the p99.
    """

    port: int
    period: float = 0.02
    #: TLS to the server (``None``: plain TCP).
    tls: ssl.SSLContext | None = None
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    #: Set at each answer (or failure), cleared by whoever waits for the next.
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Bystander:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=self.tls)
            while True:
                started = time.monotonic()
                try:
                    async with asyncio.timeout(WAIT_TIMEOUT):
                        writer.write(b"GET / HTTP/1.1\r\nHost: bystander\r\n\r\n")
                        head = await reader.readuntil(b"\r\n\r\n")
                        length = re.search(rb"(?i)content-length: *(\d+)", head)
                        await reader.readexactly(int(length.group(1)) if length else 0)
                    if not head.startswith(b"HTTP/1.1 200 "):
                        self.failures.append(head.split(b"\r\n", 1)[0].decode())
                except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    self.failures.append(repr(exc))
                    writer.close()
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", self.port, ssl=self.tls
                    )
                self.latencies.append(time.monotonic() - started)
                self._progress.set()
                await asyncio.sleep(self.period)  # the bystander's pace, not a wait for state
        finally:
            if writer is not None:
                writer.close()

    async def wait_answers(self, count: int) -> None:
        """Wait until ``count`` more requests were answered (or one failed), at
        most ``WAIT_TIMEOUT``: proof that the server still serves others."""
        target = len(self.latencies) + count
        async with asyncio.timeout(WAIT_TIMEOUT):
            while len(self.latencies) < target and not self.failures:
                self._progress.clear()
                await self._progress.wait()

    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


# -- attackers -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def attacker(port: int, *, rcvbuf: int | None = None) -> AsyncIterator[socket.socket]:
    """A raw connection to the server (``rcvbuf``: a small receive buffer, for
    a client that reads nothing and should fill the server's outbound fast)."""
    sock = socket.socket()
    try:
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        yield sock
    finally:
        sock.close()


@dataclass
class Outcome:
    """What one attack achieved."""

    #: Bytes the server's side accepted before it stopped taking more (an upper
    #: bound: it includes what the kernels buffered).
    bytes_in: int
    #: Why the attack ended: ``answered`` (the server answered: a 4xx), ``stalled``
    #: (it stopped reading), ``closed`` (it closed or reset the connection), or
    #: ``cap`` (it took everything), or ``time up`` (``end_at`` came first).
    ended: str
    #: The first bytes the server answered, if any (a status line).
    answer: bytes = b""


async def push(
    sock: socket.socket,
    pieces: AsyncIterator[bytes],
    *,
    cap: int,
    stall_timeout: float,
    until_answered: bool = True,
    end_at: float | None = None,
) -> Outcome:
    """Send pieces until the server answers, stops taking them, closes, or ``cap`` bytes went.

    The server's answer (a 4xx before a close) ends the attack: what it takes in
    after that is read and discarded unparsed during its lingering close.
    """
    loop = asyncio.get_running_loop()
    sent = 0
    async for piece in pieces:
        try:
            wait = stall_timeout
            if end_at is not None:
                wait = max(0.0, min(wait, end_at - time.monotonic()))
            await asyncio.wait_for(loop.sock_sendall(sock, piece), wait)
        except TimeoutError:
            if end_at is not None and time.monotonic() >= end_at:
                return Outcome(sent, "time up", _peek(sock))
            return Outcome(sent, "stalled", _peek(sock))
        except OSError:
            return Outcome(sent, "closed", _peek(sock))
        sent += len(piece)
        answer = _peek(sock) if until_answered else b""
        if answer:
            return Outcome(sent, "answered", answer)
        if sent >= cap:
            return Outcome(sent, "cap")
        if end_at is not None and time.monotonic() >= end_at:
            return Outcome(sent, "time up")
    return Outcome(sent, "cap")


def _peek(sock: socket.socket) -> bytes:
    try:
        return sock.recv(200, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:  # nothing yet (EAGAIN), or reset
        return b""


async def repeat(piece: bytes) -> AsyncIterator[bytes]:
    while True:
        yield piece


async def then_repeat(first: bytes, piece: bytes) -> AsyncIterator[bytes]:
    yield first
    while True:
        yield piece


PIPELINED_GETS = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 2048


async def pipeline_never_read(
    sock: socket.socket, *, cap: int, stall_timeout: float = 2.0, end_at: float | None = None
) -> Outcome:
    """#15 item 1: pipelined GETs as fast as possible; never read a response."""
    return await push(
        sock,
        repeat(PIPELINED_GETS),
        cap=cap,
        stall_timeout=stall_timeout,
        end_at=end_at,
        until_answered=False,
    )


async def endless_header_line(
    sock: socket.socket,
    *,
    cap: int,
    stall_timeout: float = 2.0,
    name: bool = False,
    end_at: float | None = None,
) -> Outcome:
    """#15 item 2: a header line (its value, or with ``name`` its name) that never ends."""
    start = b"GET / HTTP/1.1\r\nHost: a\r\n" + (b"" if name else b"X-Long: ")
    fill = (b"n" if name else b"v") * 16384
    return await push(
        sock, then_repeat(start, fill), cap=cap, stall_timeout=stall_timeout, end_at=end_at
    )


async def endless_trailer(
    sock: socket.socket, *, cap: int, stall_timeout: float = 2.0, end_at: float | None = None
) -> Outcome:
    """#15 item 2: a chunked body whose trailer section never ends."""
    start = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    start += b"1\r\na\r\n0\r\nX-Trailer: "
    return await push(
        sock, then_repeat(start, b"t" * 16384), cap=cap, stall_timeout=stall_timeout, end_at=end_at
    )


async def endless_chunk_extension(
    sock: socket.socket, *, cap: int, stall_timeout: float = 2.0, end_at: float | None = None
) -> Outcome:
    """#15 item 8: a chunk-size line whose extension never ends (CVE-2024-22019)."""
    start = b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;ext="
    return await push(
        sock, then_repeat(start, b"e" * 16384), cap=cap, stall_timeout=stall_timeout, end_at=end_at
    )


MiB = 1024 * 1024


# -- WebSocket (RFC 6455): raw frames on an attacker socket ----------------------------

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_MASK = b"\x01\x02\x03\x04"


def ws_frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, length: int | None = None
) -> bytes:
    """A client frame (masked, RFC 6455 §5.2). ``length`` may claim more than
    ``payload`` holds: the rest is the caller's to stream (an endless frame)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + _MASK + bytes(b ^ _MASK[i % 4] for i, b in enumerate(payload))


async def ws_handshake(sock: socket.socket, path: str = "/ws") -> bytes:
    """Open a WebSocket over HTTP/1.1 on ``sock`` (the demo app echoes on any
    path); return what came after the 101 response's head."""
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(
        sock,
        f"GET {path} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode(),
    )
    data = b""
    async with asyncio.timeout(WAIT_TIMEOUT):
        while b"\r\n\r\n" not in data:
            chunk = await loop.sock_recv(sock, 4096)
            assert chunk, f"closed during the handshake: {data!r}"
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    return rest


async def read_all(sock: socket.socket, *, reset_ok: bool = True) -> bytes:
    """Everything the server sends until it closes; a reset ends it too (or,
    without ``reset_ok``, raises ``ConnectionResetError``)."""
    loop = asyncio.get_running_loop()
    out = bytearray()
    async with asyncio.timeout(WAIT_TIMEOUT):
        while True:
            try:
                chunk = await loop.sock_recv(sock, 1 << 16)
            except ConnectionResetError:
                if not reset_ok:
                    raise
                break
            if not chunk:
                break
            out += chunk
    return bytes(out)


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """``(opcode, payload)`` of the server's (unmasked) frames in ``data``; stops at a partial one."""
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
    """The codes of the Close frames in what the server sent."""
    return [
        int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        for opcode, payload in server_frames(data)
        if opcode == OP_CLOSE
    ]


def count_frames(data: bytes, opcode: int) -> int:
    return sum(1 for op, _ in server_frames(data) if op == opcode)


async def pieces(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


# -- Slowloris: many connections, each trickling a request head that never ends --------

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@dataclass
class Trickled:
    """How one trickling connection ended."""

    #: Seconds from its first byte until the server closed it; None: still open at the end.
    cut_after: float | None
    #: Everything the server sent it.
    answer: bytes


def header_lines(i: int) -> bytes:
    """Slowloris's drip: one more header line, for ever."""
    return b"X-A: b\r\n"


def byte_by_byte(data: bytes) -> Callable[[int], bytes]:
    """A drip of ``data`` one byte at a time, then nothing."""
    return lambda i: data[i : i + 1]


async def trickle(
    port: int, first: bytes, drip: Callable[[int], bytes], *, pace: float, within: float
) -> Trickled:
    """Send ``first``, then ``drip(0)``, ``drip(1)``... one every ``pace`` seconds,
    until the server closes the connection or ``within`` seconds passed."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = bytearray()

    async def until_closed() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65_536):
                answer.extend(chunk)

    started = loop.time()
    writer.write(first)
    closed = asyncio.ensure_future(until_closed())
    sent = 0
    try:
        async with asyncio.timeout(within):
            # The attacker's pace between drips, not a wait for the server's state:
            # the server closing the connection ends the wait at once.
            while not (await asyncio.wait({closed}, timeout=pace))[0]:
                piece = drip(sent)
                sent += 1
                if piece and not writer.is_closing():
                    writer.write(piece)
        cut_after: float | None = loop.time() - started
    except TimeoutError:
        cut_after = None
    finally:
        closed.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await closed
        writer.close()
    return Trickled(cut_after, bytes(answer))


# -- idle connections ------------------------------------------------------------------

_EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"
#: Connections being set up at once by ``open_idle`` (below the listen backlog).
_OPENING_AT_ONCE = 256


def raise_own_file_limit(wanted: int) -> None:
    """Let this (test) process hold ``wanted`` descriptors: raise the soft
    RLIMIT_NOFILE towards the hard one; skip the test if the hard one is lower."""
    import resource

    import pytest

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"the hard open-file limit {hard} is below the {wanted} this test needs")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def _recv_until(sock: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while not done(data):
        chunk = await loop.sock_recv(sock, 65_536)
        if not chunk:
            raise ConnectionResetError(f"closed by the server after {data[:80]!r}")
        data += chunk
    return data


def _h1_answered(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def _h2_settings_acked(data: bytes) -> bool:
    """The server's SETTINGS and its ACK of ours both arrived (whole frames only)."""
    pos, seen_settings, seen_ack = 0, False, False
    while len(data) - pos >= 9:
        length = int.from_bytes(data[pos : pos + 3], "big")
        if data[pos + 3] == 0x4:
            if data[pos + 4] & 0x1:
                seen_ack = True
            else:
                seen_settings = True
        pos += 9 + length
    return seen_settings and seen_ack and pos <= len(data)


async def idle_connection(port: int, protocol: str) -> socket.socket:
    """A connection brought to idle: ``h1``, one keep-alive ``GET /`` answered;
    ``h2``, the preface and SETTINGS exchanged both ways (prior knowledge, h2c).
    On a refused (closed) connection, ``ConnectionError``."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        if protocol == "h1":
            await loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: idle\r\n\r\n")
            await _recv_until(sock, _h1_answered)
        else:
            await loop.sock_sendall(sock, H2_PREFACE + _EMPTY_SETTINGS)
            await _recv_until(sock, _h2_settings_acked)
            await loop.sock_sendall(sock, _SETTINGS_ACK)
    except BaseException:
        sock.close()
        raise
    return sock


async def open_idle(port: int, protocol: str, count: int) -> list[socket.socket]:
    """``count`` idle connections (see ``idle_connection``), ``_OPENING_AT_ONCE``
    at a time; each failure to reach idle raises."""
    opened: list[socket.socket] = []
    try:
        async with asyncio.timeout(WAIT_TIMEOUT * 4):
            for start in range(0, count, _OPENING_AT_ONCE):
                batch = min(_OPENING_AT_ONCE, count - start)
                results = await asyncio.gather(
                    *(idle_connection(port, protocol) for _ in range(batch)),
                    return_exceptions=True,
                )
                opened.extend(r for r in results if isinstance(r, socket.socket))
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    raise errors[0]
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return opened


def still_open(sock: socket.socket) -> bool:
    """Whether the server kept this idle connection: nothing to read and no EOF/reset."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False  # EOF, or bytes (a GOAWAY) on a connection that should be quiet


async def refused_at_accept(port: int) -> bytes:
    """Connect past the cap and send nothing: return what the server sent
    before its close (b"" for the clean close at accept); a reset raises."""
    loop = asyncio.get_running_loop()
    async with attacker(port) as sock, asyncio.timeout(WAIT_TIMEOUT):
        data = b""
        while chunk := await loop.sock_recv(sock, 4096):
            data += chunk
        return data
