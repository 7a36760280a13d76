"""``lastcall serve`` with a supervisor, as a process: start it, read its events, stop it.

The supervisor's log is the test's event stream: every step is one structured
event (``observe/events.py``) logged as one line, so a test waits for the
line of the step it needs (``worker_ready``, ``reload_finished``...) instead
of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: Longest wait for any one step of a test.
STEP_TIMEOUT = 30.0
APP = "process_apps:app"


class Supervised:
    """A running ``lastcall serve`` whose stderr lines are collected as they come."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._new_line = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.port = 0

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                self._new_line.set()
                return
            self.lines.append(line.decode(errors="replace").rstrip())
            self._new_line.set()

    async def wait_line(self, pattern: str, *, after: int = 0, count: int = 1) -> re.Match[str]:
        """The ``count``-th line from index ``after`` on that matches ``pattern``."""
        regex = re.compile(pattern)
        async with asyncio.timeout(STEP_TIMEOUT):
            while True:
                matches = [m for line in self.lines[after:] if (m := regex.search(line))]
                if len(matches) >= count:
                    return matches[count - 1]
                if self._reader.done():
                    raise AssertionError(
                        f"stderr ended before {pattern!r}:\n" + "\n".join(self.lines)
                    )
                self._new_line.clear()
                await self._new_line.wait()

    def matching(self, pattern: str) -> list[re.Match[str]]:
        regex = re.compile(pattern)
        return [m for line in self.lines if (m := regex.search(line))]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    async def stop(self) -> int:
        """SIGTERM, and the exit code (killed, with its workers, if it hangs)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        return await self.wait_exit()

    async def wait_exit(self) -> int:
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                code = await self.proc.wait()
                await self._reader
                return code
        except TimeoutError:
            self.kill_all()
            await self.proc.wait()
            raise

    def kill_all(self) -> None:
        """SIGKILL the supervisor and every worker it logged (a failed test must not leak them)."""
        for match in self.matching(r"worker_started pid=(\d+)"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(match[1]), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


async def start_supervised(
    *args: str,
    cwd: Path = HERE,
    app: str = APP,
    ready: str = r"^\S+ \S+ INFO lastcall.drain: serving on 127\.0\.0\.1:(\d+)",
) -> Supervised:
    """Start ``lastcall serve APP --bind 127.0.0.1:0 ARGS``; return once the supervisor serves."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lastcall", "serve", app, "--bind", "127.0.0.1:0", *args,
        stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    supervised = Supervised(proc)
    try:
        match = await supervised.wait_line(ready)
    except BaseException:
        supervised.kill_all()
        await proc.wait()
        raise
    supervised.port = int(match[1]) if match.groups() else 0
    return supervised


async def http_get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a new connection: (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode())
        async with asyncio.timeout(STEP_TIMEOUT):
            data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return int(lines[0].split()[1]), headers, body


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2 :]
    return out
