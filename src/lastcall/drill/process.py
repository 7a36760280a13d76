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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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

    def terminate(self) -> None:
        """SIGTERM, and note when."""
        if self.process is not None and self.process.returncode is None:
            self.signalled_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

    async def wait_exit(self, wait_timeout: float) -> bool:
        """Await the process's exit for at most ``wait_timeout``; kill it (and its group) after."""
        if self.process is None:
            return True
        try:
            self.returncode = await asyncio.wait_for(self.process.wait(), wait_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.returncode = await self.process.wait()
            self.exited_at = time.monotonic()
            return False
        self.exited_at = time.monotonic()
        return True

    @property
    def exit_seconds(self) -> float | None:
        """Time from SIGTERM to exit."""
        if self.signalled_at is None or self.exited_at is None:
            return None
        return self.exited_at - self.signalled_at
