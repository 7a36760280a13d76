"""One worker process as the supervisor sees it: spawn, ready, signal, kill, exit.

Workers are spawned, not forked: ``python -m lastcall.process.worker`` with
the listening sockets and the control socket passed as inherited
descriptors (``pass_fds``). A fresh interpreter imports the application
anew (a reload loads new code), and the supervisor never imports it at all,
so a broken app cannot take the supervisor down with it.

Each worker starts in a session of its own: a Ctrl-C in a terminal reaches
only the supervisor, which tells every worker once (a worker hit by the
terminal's SIGINT *and* the supervisor's SIGTERM would take it for a second
signal and cancel).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field

from lastcall.server.config import ServerConfig

from .sockets import ListenSocket, worker_config
from .spec import READY_LINE, WORKER_ENV, encode_worker_spec

__all__ = ["WorkerProcess"]


@dataclass(eq=False)
class WorkerProcess:
    """A worker of one generation, in one slot."""

    generation: int
    slot: int
    process: asyncio.subprocess.Process
    started_at: float
    #: Resolves True once the worker wrote ``ready``, False if it exited first.
    ready: asyncio.Future[bool]
    #: Resolves with the exit code.
    exited: asyncio.Future[int]
    #: Told to drain (SIGTERM sent): its exit is expected.
    is_draining: bool = False
    kill_timer: asyncio.TimerHandle | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def spawn(
        cls,
        config: ServerConfig,
        sockets: list[ListenSocket],
        generation: int,
        slot: int,
    ) -> WorkerProcess:
        """Start a worker serving ``sockets``; slot 0 also serves the QUIC ones."""
        ours, theirs = socket.socketpair()
        try:
            spec = encode_worker_spec(
                worker_config(config, sockets, serve_quic=slot == 0),
                theirs.fileno(),
                generation,
                slot,
            )
            fds = [theirs.fileno(), *(s.sock.fileno() for s in sockets)]
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "lastcall.process.worker",
                stdin=asyncio.subprocess.DEVNULL,
                pass_fds=fds,
                start_new_session=True,
                env={**os.environ, WORKER_ENV: spec},
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        loop = asyncio.get_running_loop()
        worker = cls(
            generation,
            slot,
            process,
            time.monotonic(),
            loop.create_future(),
            loop.create_future(),
        )
        worker._tasks = [
            loop.create_task(worker._watch_ready(ours)),
            loop.create_task(worker._watch_exit()),
        ]
        return worker

    async def _watch_ready(self, control: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=control)
        try:
            line = await reader.readline()
            if line == READY_LINE and not self.ready.done():
                self.ready.set_result(True)
            # Keep our end open until the worker exits: its EOF means
            # "supervisor gone" to the worker.
            await asyncio.shield(self.exited)
        finally:
            writer.close()

    async def _watch_exit(self) -> None:
        code = await self.process.wait()
        if not self.ready.done():
            self.ready.set_result(False)
        if self.kill_timer is not None:
            self.kill_timer.cancel()
        self.exited.set_result(code)

    def drain(self) -> None:
        """Tell it to drain by the contract: SIGTERM (again: the cancel step)."""
        self.is_draining = True
        self.signal(signal.SIGTERM)

    def signal(self, signum: int) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_at
