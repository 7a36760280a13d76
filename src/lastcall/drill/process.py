"""Start, signal and watch the server under test, whatever it is.

The drill talks to another program, so some waits cannot be events: whether a
port answers, or has stopped listening, can only be learnt by asking. Those
waits poll at a short fixed interval and are always bounded by a named
deadline; everything else (process exit) is awaited.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass, field

#: How often the drill asks whether a port answers (there is no event for it).
PORT_POLL_INTERVAL = 0.005


def free_port(host: str = "127.0.0.1", *, udp: bool = False) -> int:
    """A TCP port that is free right now on ``host`` (with ``udp``: free for UDP too,
    so a server may listen on both with one number)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
            if not udp:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as dgram:
                try:
                    dgram.bind((host, port))
                except OSError:
                    continue
                return port


def _port_answers(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect((host, port))
        except OSError:
            return False
        return True


async def wait_port_answers(host: str, port: int, wait_timeout: float) -> bool:
    """Poll until a connection to host:port succeeds, for at most ``wait_timeout``."""
    deadline = time.monotonic() + wait_timeout
    while time.monotonic() < deadline:
        if _port_answers(host, port):
            return True
        await asyncio.sleep(PORT_POLL_INTERVAL)
    return False


async def wait_port_closed(host: str, port: int, wait_timeout: float) -> bool:
    """Poll until host:port refuses connections, for at most ``wait_timeout``."""
    deadline = time.monotonic() + wait_timeout
    while time.monotonic() < deadline:
        if not _port_answers(host, port):
            return True
        await asyncio.sleep(PORT_POLL_INTERVAL)
    return False


def udp_port_state(host: str, port: int, wait_timeout: float = 0.05) -> str:
    """Is a QUIC server on UDP ``host:port``? ``"answers"``, ``"refused"`` or ``"silent"``.

    Sends a 1200-byte long-header packet with a reserved version
    (0x?a?a?a?a, RFC 9000 §15): a QUIC server answers it with Version
    Negotiation (§6.1) without creating any state; a closed port answers with
    ICMP unreachable, seen on a connected socket as ECONNREFUSED.
    """
    packet = bytes([0xC0]) + (0x1A2A3A4A).to_bytes(4, "big") + bytes([8]) + b"lcdrill!" + b"\x00"
    packet += bytes(1200 - len(packet))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(wait_timeout)
        try:
            sock.connect((host, port))
            sock.send(packet)
            sock.recv(2048)
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "silent"
        except OSError:
            return "refused"
        return "answers"


async def wait_quic_answers(host: str, port: int, wait_timeout: float) -> bool:
    """Poll until a QUIC server answers on UDP host:port, for at most ``wait_timeout``."""
    deadline = time.monotonic() + wait_timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(udp_port_state, host, port) == "answers":
            return True
        await asyncio.sleep(PORT_POLL_INTERVAL)
    return False


async def wait_udp_closed(host: str, port: int, wait_timeout: float) -> bool:
    """Poll until nothing is bound to UDP host:port (ICMP unreachable), at most ``wait_timeout``.

    A QUIC server keeps its UDP socket until its last connection has closed
    (the layered close), so for HTTP/3 this is the end of the whole drain.
    """
    deadline = time.monotonic() + wait_timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(udp_port_state, host, port) == "refused":
            return True
        await asyncio.sleep(PORT_POLL_INTERVAL)
    return False


@dataclass
class ServerProcess:
    """One generation of the server under test."""

    command: str
    port: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    signalled_at: float | None = None
    exited_at: float | None = None
    returncode: int | None = None
    output: list[str] = field(default_factory=list)
    #: Awaits the exit from the start and stamps ``exited_at`` the moment it
    #: comes, so the time does not depend on when the drill next asks (it asks
    #: only after the replacement answers).
    _exit_watch: asyncio.Task[None] | None = field(default=None, repr=False)

    async def start(self, log_path: str | None = None) -> None:
        """Start the command with ``{port}`` filled in; ``exec`` makes its pid the server's."""
        cmd = self.command.replace("{port}", str(self.port))
        stdout = open(log_path, "ab") if log_path else asyncio.subprocess.DEVNULL  # noqa: SIM115, ASYNC230 - a local log file
        self.process = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            "exec " + cmd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        if log_path and not isinstance(stdout, int):
            stdout.close()
        self.started_at = time.monotonic()
        self._exit_watch = asyncio.get_running_loop().create_task(self._watch_exit(self.process))

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        self.returncode = await process.wait()
        self.exited_at = time.monotonic()

    def terminate(self, signum: int = signal.SIGTERM) -> None:
        """Ask the server to shut down (SIGTERM unless told otherwise), and note when."""
        if self.process is not None and self.process.returncode is None:
            self.signalled_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    async def wait_exit(self, wait_timeout: float) -> bool:
        """Await the process's exit for at most ``wait_timeout``; kill it (and its group) after."""
        watch = self._exit_watch
        if self.process is None or watch is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(watch), wait_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            await watch
            return False
        return True

    @property
    def exit_seconds(self) -> float | None:
        """Time from SIGTERM to exit."""
        if self.signalled_at is None or self.exited_at is None:
            return None
        return self.exited_at - self.signalled_at
