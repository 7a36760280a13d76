"""The drill: load a server, restart it K times, count what was lost, grade how it drained.

Timeline for each restart (evenly spread over ``duration``):

1. a probe connection puts a request in flight (``probe_h2``/``probe_h1``/``probe_h3``);
2. the drill sends SIGTERM to the current server;
3. without ``--reuse-port``: once the old listener stops answering, the
   replacement starts on the same port; with it, the replacement was started
   before the SIGTERM (for servers that set SO_REUSEPORT);
4. the probe watches the old server drain; the drill awaits its exit, bounded
   by ``exit_timeout``.

Meanwhile the load never stops, so requests race every step.

Two restarts that keep the process (``lastcall serve`` under a supervisor,
``lastcall.process``):

- ``--signal HUP``: a reload in place. The drill sends SIGHUP and starts no
  replacement: the supervisor starts new workers and drains the old ones,
  which the probe watches; the "exit" check is then that the server process
  is still there, serving.
- ``--upgrade CMD``: a hand-off. Instead of signalling, the drill starts
  CMD (``lastcall serve ... --upgrade --upgrade-socket PATH``), which takes
  the listening sockets over and tells the old process to drain; the drill
  awaits the old process's exit as after a SIGTERM.

HTTP/3 (``protocol="h3"``) runs over QUIC on UDP port ``quic_port`` (by
default the same number as ``{port}``; a command may also say
``{quic_port}``). A QUIC server keeps its UDP socket until its last
connection has closed (RFC 9114 §5.2, the layered close), so the replacement
can bind only after the old server's whole drain: "the old listener stops
answering" means ICMP port unreachable on UDP. ``--reuse-port`` is refused for
h3: a second socket in an SO_REUSEPORT group takes over some of the old
server's QUIC connections (the kernel rehashes flows), which breaks them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable

from .config import DrillConfig, progress_bar, signal_number
from .load import LoadStats, run_load
from .probe_h1 import run_h1_probe
from .probe_h2 import H2Probe
from .process import (
    ServerProcess,
    free_port,
    wait_port_answers,
    wait_port_closed,
    wait_quic_answers,
    wait_udp_closed,
)
from .report import (
    FAIL,
    PASS,
    Check,
    DrillReport,
    grade_h1,
    grade_h2,
    grade_h3,
    merge_cards,
)
from .timeline import Timeline


async def run_drill(config: DrillConfig) -> DrillReport:
    """Run the drill and return its report."""
    if config.url:
        from .url_drill import run_url_drill

        return await run_url_drill(config)
    h3 = config.protocol == "h3"
    if h3:
        # Imported now, not at the first restart: importing aioquic's TLS stack
        # takes a few hundred ms that would block the loop mid-drill.
        from lastcall.client import quic_connect as _quic_connect  # noqa: F401

        from . import probe_h3 as _probe_h3  # noqa: F401
    port = config.port or free_port(config.host, udp=h3)
    quic_port = config.quic_port or port
    command = config.start.replace("{quic_port}", str(quic_port))
    upgrade_command = (config.upgrade or "").replace("{quic_port}", str(quic_port))
    log_dir = config.log_dir or tempfile.mkdtemp(prefix="lastcall-drill-")
    progress = sys.stderr.isatty() if config.progress is None else config.progress
    report = DrillReport(protocol=config.protocol, command=config.start, restarts=config.restarts)
    timeline = report.timeline = Timeline()
    generation = 0

    def log_path() -> str:
        return os.path.join(log_dir, f"server-{generation}.log")

    async def answers(wait_timeout: float) -> bool:
        if h3:
            return await wait_quic_answers(config.host, quic_port, wait_timeout)
        return await wait_port_answers(config.host, port, wait_timeout)

    async def listener_closed(wait_timeout: float) -> bool:
        if h3:
            return await wait_udp_closed(config.host, quic_port, wait_timeout)
        return await wait_port_closed(config.host, port, wait_timeout)

    current = ServerProcess(command, port)
    await current.start(log_path())
    if not await answers(config.start_timeout):
        await current.wait_exit(0.0)
        where = f"udp {config.host}:{quic_port}" if h3 else f"{config.host}:{port}"
        raise RuntimeError(f"server did not answer on {where}; see {log_path()}")

    if h3:
        url = f"https://{config.host}:{quic_port}{config.path}"
    else:
        url = f"http://{config.host}:{port}{config.path}"
    stop = asyncio.Event()
    load_task = asyncio.create_task(
        run_load(
            url,
            config.protocol,
            concurrency=config.concurrency,
            duration=config.duration,
            method=config.method,
            stop=stop,
            verify=config.cafile or False,
            timeline=timeline,
        )
    )
    cards = []
    drain_windows: list[tuple[float, float]] = []
    started = time.monotonic()
    old_servers: list[asyncio.Task[None]] = []
    progress_task = (
        asyncio.create_task(progress_bar(started, config.duration)) if progress else None
    )
    try:
        for k in range(config.restarts):
            at = started + config.duration * (k + 1) / (config.restarts + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))  # the schedule, not a guess
            old = current
            if config.is_reload_in_place:
                replacement = current
            else:
                generation += 1
                replacement = ServerProcess(upgrade_command or command, port)
            if config.reuse_port:
                await replacement.start(log_path())

            signalled = asyncio.Event()

            async def signal(
                old: ServerProcess = old,
                replacement: ServerProcess = replacement,
                signalled: asyncio.Event = signalled,
                k: int = k,
            ) -> None:
                if upgrade_command:
                    old.signalled_at = time.monotonic()
                    await replacement.start(log_path())
                    what = "upgrade (hand-off)"
                else:
                    old.terminate(signal_number(config.stop_signal))
                    what = f"SIG{config.stop_signal.removeprefix('SIG')}"
                    if config.is_reload_in_place:
                        what += " (reload in place)"
                timeline.mark(
                    "restart",
                    f"restart {k + 1}: {what}",
                    old.signalled_at or time.monotonic(),
                    restart=k,
                )
                signalled.set()

            async def probe_and_grade(
                signal: Callable[[], Awaitable[None]] = signal,
            ) -> dict[str, Check]:
                if config.protocol == "h2":
                    probe = H2Probe(
                        config.host, port, config.path, observe_timeout=config.exit_timeout
                    )
                    h2_result = await probe.run(signal)
                    timeline.add_h2_probe(h2_result)
                    return grade_h2(h2_result)
                if h3:
                    from .probe_h3 import H3Probe  # aioquic: an optional dependency

                    h3_probe = H3Probe(
                        config.host, quic_port, config.path, observe_timeout=config.exit_timeout
                    )
                    h3_result = await h3_probe.run(signal)
                    timeline.add_h3_probe(h3_result)
                    return grade_h3(h3_result)
                result = await run_h1_probe(
                    config.host,
                    port,
                    config.path,
                    signal,
                    warm_path=config.warm_path,
                    observe_timeout=config.exit_timeout,
                )
                timeline.add_h1_probe(result, time.monotonic())
                return grade_h1(result)

            probe_task = asyncio.create_task(probe_and_grade())
            # The probe signals the old server once its request is in flight
            # (and always before it returns).
            await signalled.wait()
            if not (config.reuse_port or config.is_reload_in_place or upgrade_command):
                await listener_closed(config.exit_timeout)
                await replacement.start(log_path())
            await answers(config.start_timeout)
            timeline.mark("ready", "the replacement answers", time.monotonic(), restart=k)
            current = replacement

            async def finish(
                old: ServerProcess = old, probe_task: asyncio.Task[dict[str, Check]] = probe_task
            ) -> None:
                if config.is_reload_in_place:
                    card = await probe_task
                    alive = old.process is not None and old.process.returncode is None
                    card["exit"] = Check(
                        PASS if alive else FAIL,
                        "reloaded in place: the process serves on"
                        if alive
                        else f"the process exited (code {old.returncode}) on SIGHUP",
                    )
                    cards.append(card)
                    report.exit_seconds.append(None)
                    return
                exited = await old.wait_exit(config.exit_timeout)
                card = await probe_task
                if not exited:
                    card["exit"] = Check(
                        FAIL, f"did not exit within {config.exit_timeout:.0f} s; killed"
                    )
                elif old.returncode == 0:
                    card["exit"] = Check(PASS, f"exit 0 after {old.exit_seconds:.3f} s")
                else:
                    card["exit"] = Check(FAIL, f"exit code {old.returncode}")
                cards.append(card)
                report.exit_seconds.append(old.exit_seconds)
                if old.signalled_at is not None and old.exited_at is not None:
                    drain_windows.append((old.signalled_at, old.exited_at))
                    timeline.mark(
                        "exit",
                        card["exit"].detail,
                        old.exited_at,
                        restart=len(report.exit_seconds) - 1,
                        ok=card["exit"].verdict == PASS,
                    )

            old_servers.append(asyncio.create_task(finish()))
        stats: LoadStats = await load_task
        await asyncio.gather(*old_servers)
    finally:
        stop.set()
        if progress_task is not None:
            progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress_task
        current.terminate()
        await current.wait_exit(config.exit_timeout)
        if not load_task.done():
            load_task.cancel()

    timeline.ended = timeline.now()
    report.add_load(stats, drain_windows)
    report.report_card = merge_cards(cards)
    return report
