"""The supervisor: owns the listening sockets, runs generations of workers.

Theory of operation
-------------------
A *generation* is ``workers`` worker processes started together, all serving
the same listening sockets (``sockets.py``). The supervisor never serves a
request and never imports the application; it only keeps the sockets open
and the right generation running:

- **start**: bind the sockets (or take them over, ``upgrade.py``), start
  generation 1 and wait until every worker reports ready (lifespan startup
  done); if one fails, drain the others and exit 3.
- **crash**: a worker of the current generation that exits without being
  told to drain is replaced in its slot, after a backoff (``backoff.py``).
- **reload** (SIGHUP, ``lastcall reload``, ``--reload``'s file watcher, or
  ``Supervisor.reload()``): start generation N+1 beside N; only when every
  new worker is ready is N told to drain (SIGTERM: each worker drains by the
  contract). If the new generation fails to start (import error, lifespan
  failure, ``start_timeout``), what of it started is drained and N keeps
  serving: a bad deploy does not take the site down.
- **stop** (SIGTERM, SIGINT): every worker is told to drain; the supervisor
  exits 0 when the last is gone. A second signal is passed on (each worker
  skips to its cancel step).
- **kill**: a worker told to drain that has not exited after its whole
  budget (``pre_stop_delay + graceful_timeout + close_timeout +
  lifespan_shutdown_timeout``: every step the worker bounds itself, plus
  ``EXIT_MARGIN``) is sent SIGKILL and reported (``worker_killed``).

Every step is one event through the observer (``observe/events.py``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from typing import Any

from lastcall.observe import Observer
from lastcall.observe import events as oe
from lastcall.server.config import ServerConfig
from lastcall.server.listeners import parse_bind
from lastcall.server.metrics_endpoint import (
    MetricsEndpoint,
    new_metrics_sink,
    open_metrics_endpoint,
)

from .backoff import RestartBackoff
from .notify import sd_notify
from .sockets import ListenSocket, bind_sockets, close_sockets
from .spawn import WorkerProcess
from .upgrade import Handoff, UpgradeListener

__all__ = ["EXIT_MARGIN", "IMPORT_ALLOWANCE", "Supervisor"]

logger = logging.getLogger("lastcall.process")

EXIT_OK = 0
EXIT_STARTUP_FAILED = 3

#: Beyond the lifespan startup timeout, how long a new worker may take to
#: start the interpreter and import the application before its generation
#: counts as failed. 30 s: a large app imports in a few seconds.
IMPORT_ALLOWANCE = 30.0
#: Beyond a draining worker's own budget, how long before it is killed: the
#: worker bounds every step itself, so this only covers exiting the process.
EXIT_MARGIN = 1.0


class Supervisor:
    """Runs ``config.workers`` workers per generation on sockets it owns."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        observer: Observer | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        self.config = config
        self.observer = observer if observer is not None else Observer()
        #: With ``--upgrade``: the sockets received from the running server.
        self.handoff = handoff
        self.sockets: list[ListenSocket] = list(handoff.sockets) if handoff is not None else []
        self._upgrade_listener: UpgradeListener | None = None
        #: With ``metrics_bind``: the supervisor's Prometheus endpoint.
        self.metrics_endpoint: MetricsEndpoint | None = None
        #: ``--reload``: the file watcher (``watch.py``).
        self._watcher: asyncio.Task[None] | None = None
        #: Workers of the generation that serves (``None``: a slot being replaced).
        self.current: list[WorkerProcess | None] = []
        self.current_generation = 0
        self._last_generation = 0
        #: Every worker process alive, of any generation.
        self.workers: set[WorkerProcess] = set()
        self._backoff = [RestartBackoff() for _ in range(config.workers)]
        self._restarts: dict[int, asyncio.TimerHandle] = {}
        self.is_draining = False
        self._signals_seen = 0
        self._reload_task: asyncio.Task[bool] | None = None
        self._reload_again: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._all_gone: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Called once the first generation serves (upgrade, daemon, tests).
        self.on_serving: list[Callable[[], None]] = []

    # -- budgets --------------------------------------------------------------------

    @property
    def start_timeout(self) -> float:
        """Longest wait for a new generation to report ready."""
        return self.config.lifespan_startup_timeout + IMPORT_ALLOWANCE

    @property
    def kill_budget(self) -> float:
        """Longest a worker told to drain may take to exit before SIGKILL."""
        c = self.config
        return (
            c.pre_stop_delay
            + c.graceful_timeout
            + c.close_timeout
            + c.lifespan_shutdown_timeout
            + EXIT_MARGIN
        )

    # -- public API -----------------------------------------------------------------

    @property
    def addresses(self) -> list[str]:
        return [name for listen in self.sockets for name in listen.names]

    def drain(self, reason: str = "drain") -> None:
        """Stop: tell every worker to drain; ``run()`` returns when the last is gone."""
        if self._loop is None or self.is_draining:
            return
        self.is_draining = True
        if self._upgrade_listener is not None:
            self._upgrade_listener.close()
        if self._watcher is not None:
            self._watcher.cancel()
        sd_notify("STOPPING=1")
        logger.info("stopping (%s): draining %d worker(s)", reason, len(self.workers))
        for handle in self._restarts.values():
            handle.cancel()
        self._restarts.clear()
        for worker in list(self.workers):
            self._drain_worker(worker)
        self._check_all_gone()

    def cancel(self) -> None:
        """What a second signal does: every worker skips to its cancel step."""
        for worker in list(self.workers):
            worker.drain()

    def reload(self, reason: str = "reload") -> asyncio.Task[bool]:
        """Start a new generation; drain the old once it serves. True if it did.

        A reload asked for while one runs is done once more after it (the
        files may have changed again), not twice.
        """
        assert self._loop is not None, "the supervisor is not running"
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_again = reason
            return self._reload_task
        self._reload_task = self._loop.create_task(self._reload(reason))
        return self._reload_task

    async def run(self) -> int:
        """Serve until drained; return the exit code (0, or 3 if nothing started)."""
        loop = self._loop = asyncio.get_running_loop()
        self._all_gone = loop.create_future()
        handoff = self.handoff
        if handoff is not None:
            self.observer.emit(
                oe.UpgradeReceived(loop.time(), len(self.sockets), handoff.peer_version)
            )
        else:
            try:
                self.sockets = bind_sockets(self.config)
            except OSError as exc:
                logger.error("cannot listen: %s", exc)
                return EXIT_STARTUP_FAILED
        if self.config.metrics_bind is not None:
            # The supervisor owns the port: its series (workers started, crashed,
            # restarted, killed; reloads) outlive every generation. The workers'
            # own series (requests, connections, drains) are not gathered yet.
            try:
                sink = new_metrics_sink()
                self.observer.add_sink(sink)
                self.metrics_endpoint = await open_metrics_endpoint(
                    parse_bind(self.config.metrics_bind), sink.registry
                )
            except OSError as exc:
                logger.error("cannot listen for metrics: %s", exc)
                close_sockets(self.sockets)
                return EXIT_STARTUP_FAILED
            self.observer.emit(oe.MetricsListening(loop.time(), self.metrics_endpoint.name))
        installed = self._install_signals(loop)
        try:
            first = await self._start_generation()
            if first is None:
                if handoff is not None:
                    handoff.abort("the new generation did not start")
                self.is_draining = True
                await self._wait_all_gone()
                return EXIT_STARTUP_FAILED
            self._adopt(first)
            if handoff is not None:
                # Our workers accept beside the old ones; now the old drain.
                await asyncio.to_thread(handoff.finish)
            if self.config.reload:
                from .watch import watch_and_reload

                self._watcher = loop.create_task(watch_and_reload(self))
            if self.config.upgrade_socket is not None and not self.is_draining:
                self._upgrade_listener = UpgradeListener(self, self.config.upgrade_socket)
                self._upgrade_listener.start()
            self.observer.emit(oe.ServerStarted(loop.time(), tuple(self.addresses)))
            sd_notify(
                f"MAINPID={os.getpid()}", "READY=1", f"STATUS=serving, {len(first)} worker(s)"
            )
            for callback in self.on_serving:
                callback()
            await self._wait_all_gone()
            return EXIT_OK
        finally:
            if self.metrics_endpoint is not None:
                self.metrics_endpoint.close()
            if self._upgrade_listener is not None:
                self._upgrade_listener.close()
            if self._watcher is not None:
                self._watcher.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)
            for handle in self._restarts.values():
                handle.cancel()
            for worker in self.workers:  # only after a failure inside this method
                worker.kill()
            close_sockets(self.sockets)

    # -- generations ----------------------------------------------------------------

    async def _spawn(self, generation: int, slot: int) -> WorkerProcess:
        assert self._loop is not None
        worker = await WorkerProcess.spawn(self.config, self.sockets, generation, slot)
        self.workers.add(worker)
        self.observer.emit(oe.WorkerStarted(self._loop.time(), worker.pid, generation, slot))
        self._track(self._watch(worker))
        if self.is_draining:
            self._drain_worker(worker)
        return worker

    async def _watch(self, worker: WorkerProcess) -> None:
        assert self._loop is not None
        if await worker.ready:
            self.observer.emit(
                oe.WorkerReady(self._loop.time(), worker.pid, worker.generation, worker.slot)
            )
        self._on_exit(worker, await worker.exited)

    async def _start_generation(self) -> list[WorkerProcess] | None:
        """Spawn a whole generation and wait for it; None (and drained) if it failed."""
        assert self._loop is not None
        loop = self._loop
        self._last_generation += 1
        generation = self._last_generation
        workers: list[WorkerProcess] = []
        try:
            for slot in range(self.config.workers):
                workers.append(await self._spawn(generation, slot))  # noqa: PERF401 - in order, and kept on failure
        except OSError:
            for worker in workers:
                self._drain_worker(worker)
            raise
        deadline = loop.time() + self.start_timeout
        pending: set[asyncio.Future[bool]] = {worker.ready for worker in workers}
        failure: str | None = None
        while pending and failure is None:
            done, pending = await asyncio.wait(
                pending, timeout=max(0.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
            )
            if not done:
                failure = f"not ready within {self.start_timeout:g} s"
            elif self.is_draining:
                failure = "stopping"
            for worker in workers:
                if worker.ready.done() and not worker.ready.result():
                    code = await worker.exited
                    failure = f"worker {worker.slot} exited with code {code} before it was ready"
                    break
        if failure is None:
            return workers
        self.observer.emit(
            oe.ReloadFailed(loop.time(), generation, failure, self.current_generation)
        )
        for worker in workers:
            if worker in self.workers:
                self._drain_worker(worker)
        return None

    def _adopt(self, workers: list[WorkerProcess]) -> None:
        """Make ``workers`` the serving generation."""
        self.current = list(workers)
        self.current_generation = workers[0].generation
        for handle in self._restarts.values():
            handle.cancel()
        self._restarts.clear()
        self._backoff = [RestartBackoff() for _ in workers]

    async def _reload(self, reason: str) -> bool:
        assert self._loop is not None
        loop = self._loop
        while True:
            if self.is_draining:
                return False
            started = loop.time()
            sd_notify("RELOADING=1")
            self.observer.emit(oe.ReloadStarted(started, self._last_generation + 1, reason))
            try:
                new = await self._start_generation()
            except OSError as exc:  # cannot even spawn (EAGAIN, ENOMEM...): keep serving
                self.observer.emit(
                    oe.ReloadFailed(
                        loop.time(), self._last_generation, f"spawn: {exc}", self.current_generation
                    )
                )
                new = None
            sd_notify("READY=1")
            if new is None or self.is_draining:
                return False
            old = [worker for worker in self.current if worker is not None]
            old_generation = self.current_generation
            self._adopt(new)
            for worker in old:
                self._drain_worker(worker)
            self.observer.emit(
                oe.ReloadFinished(
                    loop.time(), self.current_generation, old_generation, loop.time() - started
                )
            )
            if self._reload_again is None:
                return True
            reason, self._reload_again = self._reload_again, None

    # -- workers --------------------------------------------------------------------

    def _drain_worker(self, worker: WorkerProcess) -> None:
        assert self._loop is not None
        if worker.is_draining:
            return
        worker.drain()
        budget = self.kill_budget

        def kill() -> None:
            if worker.process.returncode is None:
                assert self._loop is not None
                self.observer.emit(
                    oe.WorkerKilled(
                        self._loop.time(), worker.pid, worker.generation, worker.slot, budget
                    )
                )
                worker.kill()

        worker.kill_timer = self._loop.call_later(budget, kill)

    def _on_exit(self, worker: WorkerProcess, code: int) -> None:
        assert self._loop is not None
        loop = self._loop
        self.workers.discard(worker)
        expected = worker.is_draining
        self.observer.emit(
            oe.WorkerExited(loop.time(), worker.pid, worker.generation, worker.slot, code, expected)
        )
        slot = worker.slot
        if (
            not expected
            and not self.is_draining
            and slot < len(self.current)
            and self.current[slot] is worker
        ):
            self.current[slot] = None
            backoff = self._backoff[slot]
            delay = backoff.next_delay(worker.uptime)
            self.observer.emit(
                oe.WorkerRestarting(loop.time(), worker.generation, slot, delay, backoff.crashes)
            )
            generation = worker.generation
            self._restarts[slot] = loop.call_later(
                delay, lambda: self._track(self._replace(generation, slot))
            )
        self._check_all_gone()

    async def _replace(self, generation: int, slot: int) -> None:
        self._restarts.pop(slot, None)
        if self.is_draining or generation != self.current_generation:
            return
        worker = await self._spawn(generation, slot)
        if generation != self.current_generation:
            # A reload finished while it started: its generation no longer serves.
            self._drain_worker(worker)
            return
        self.current[slot] = worker

    def _check_all_gone(self) -> None:
        gone = self._all_gone
        if self.is_draining and not self.workers and gone is not None and not gone.done():
            gone.set_result(None)

    async def _wait_all_gone(self) -> None:
        assert self._all_gone is not None
        self._check_all_gone()
        await self._all_gone
        for task in list(self._tasks):  # exit watchers finishing their last lines
            await task

    def _track(self, coro: Any) -> asyncio.Task[Any]:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- signals --------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        if not self.config.handle_signals:
            return []
        installed: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append(sig)
        return installed

    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if sig == signal.SIGHUP:
            if not self.is_draining:
                logger.info("SIGHUP: reloading (new workers first, then the old drain)")
                self.reload("SIGHUP")
            return
        self._signals_seen += 1
        if self._signals_seen == 1:
            self.drain(f"shutdown ({name})")
        else:
            logger.info("second %s: cancelling what is left", name)
            self.cancel()
