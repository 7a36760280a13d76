"""The drill against a deployment it does not start: ``--url URL --restart CMD``.

Timeline of each of the K restarts (spread evenly over ``duration``; a
restart never starts before the previous one has settled):

1. a probe connection to the URL puts a request in flight (``probe_h1`` /
   ``probe_h2`` / ``probe_h3``, the same probes as for a started server);
2. the drill starts the restart command (the k-th ``--restart``, cycling when
   there are fewer commands than restarts) and awaits its exit, for at most
   ``restart_timeout``: a command that overruns is killed with its process
   group and the restart fails;
3. the probe keeps watching until its connection ends, or for
   ``settle_period`` after the command has finished;
4. the load never stops: it runs for ``duration``, and on until the last
   restart has settled, so every request that raced a restart is counted.

What the probe can grade depends on where the restart landed. A server that
drained the probe's own connection is graded line by line, exactly as for a
started server (GOAWAY ids, REFUSED_STREAM, ``Connection: close``, how the
connection closed). A connection that stayed open and quiet (a proxy or a load
balancer in front keeps client connections while the backends behind it
restart) has nothing to grade: its lines are ``n/a`` with that reason, and
the verdict rests on what the load saw. Either way the lost count is the
client's truth, and ``--html`` shows both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import DrillConfig, progress_bar
from .load import LoadStats, run_load
from .probe_h1 import H1ProbeResult, run_h1_probe
from .probe_h2 import H2Probe, H2ProbeResult
from .report import (
    FAIL,
    H1_CHECKS,
    H2_CHECKS,
    H3_CHECKS,
    NA,
    PASS,
    Check,
    DrillReport,
    grade_h1,
    grade_h2,
    grade_h3,
    merge_cards,
)
from .target import RestartCommand, UrlTarget
from .timeline import Timeline

if TYPE_CHECKING:
    from .probe_h3 import H3ProbeResult

#: Why a probe line is ``n/a`` when its connection was never drained.
NOT_DRAINED = (
    "this connection was not drained (no GOAWAY, still open): the restart did not reach "
    "the server holding it, as when a proxy or load balancer in front keeps it"
)


async def run_url_drill(config: DrillConfig) -> DrillReport:
    """Load ``config.url``, run the restart commands, grade what was seen from outside."""
    assert config.url is not None
    target = UrlTarget.parse(config.url, config.protocol)
    if config.protocol == "h3":
        # Imported now, not at the first restart: aioquic's TLS stack takes a
        # few hundred ms to import, which would stall the loop mid-drill.
        from . import probe_h3 as _probe_h3  # noqa: F401
    log_dir = config.log_dir or tempfile.mkdtemp(prefix="lastcall-drill-")
    commands = config.restart_commands
    report = DrillReport(
        protocol=config.protocol,
        command=f"{config.url}  restart: {' ; '.join(commands)}",
        restarts=config.restarts,
    )
    timeline = Timeline()
    report.timeline = timeline
    stop = asyncio.Event()
    load_task = asyncio.create_task(
        run_load(
            target.url_for(target.path),
            config.protocol,
            concurrency=config.concurrency,
            # The restarts decide when the load ends (``stop``): never before
            # ``duration``, never before the last restart has settled.
            duration=float("inf"),
            method=config.method,
            stop=stop,
            verify=config.cafile or False,
            timeline=timeline,
        )
    )
    started = timeline.started_at
    progress = sys.stderr.isatty() if config.progress is None else config.progress
    progress_task = (
        asyncio.create_task(progress_bar(started, config.duration)) if progress else None
    )
    cards: list[dict[str, Check]] = []
    windows: list[tuple[float, float]] = []
    settled_at = started
    try:
        for k in range(config.restarts):
            at = max(settled_at, started + config.duration * (k + 1) / (config.restarts + 1))
            await asyncio.sleep(max(0.0, at - time.monotonic()))  # the schedule, not a guess
            command = RestartCommand(commands[k % len(commands)])
            card = await _one_restart(config, target, command, k, timeline, log_dir)
            cards.append(card)
            report.restart_seconds.append(command.seconds)
            settled_at = (command.ended_at or time.monotonic()) + config.settle_period
            windows.append((command.started_at, settled_at))
        end = max(settled_at, started + config.duration)
        await asyncio.sleep(max(0.0, end - time.monotonic()))  # the schedule, not a guess
    finally:
        stop.set()
        stats: LoadStats = await load_task
        timeline.ended = timeline.now()
        if progress_task is not None:
            progress_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress_task
    report.add_load(stats, windows)
    report.report_card = merge_cards(cards)
    return report


async def _one_restart(
    config: DrillConfig,
    target: UrlTarget,
    command: RestartCommand,
    k: int,
    timeline: Timeline,
    log_dir: str,
) -> dict[str, Check]:
    """Probe, run the k-th restart command, watch until it settles; the probe's card."""
    signalled = asyncio.Event()
    marker = None

    async def signal() -> None:
        nonlocal marker
        await command.start(os.path.join(log_dir, f"restart-{k + 1}.log"))
        marker = timeline.mark(
            "restart", f"restart {k + 1}: {command.command}", command.started_at, restart=k
        )
        signalled.set()

    # The probe observes for at most as long as the command may run plus the
    # settle period; in practice it is cut off sooner (below).
    observe_timeout = config.restart_timeout + config.settle_period
    h1_result = H1ProbeResult()
    tls = target.tls_context(config.protocol, config.cafile)
    h2_probe: H2Probe | None = None
    h3_result: H3ProbeResult | None = None
    if config.protocol == "h2":
        h2_probe = H2Probe(
            target.host,
            target.port,
            target.path,
            authority=target.authority,
            observe_timeout=observe_timeout,
            tls=tls,
        )
        probe_task: asyncio.Task[object] = asyncio.create_task(h2_probe.run(signal))
    elif config.protocol == "h3":
        from .probe_h3 import H3Probe  # aioquic: an optional dependency

        h3_probe = H3Probe(
            target.host,
            target.port,
            target.path,
            authority=target.authority,
            observe_timeout=observe_timeout,
        )
        h3_result = h3_probe.result
        probe_task = asyncio.create_task(h3_probe.run(signal))
    else:
        probe_task = asyncio.create_task(
            run_h1_probe(
                target.host,
                target.port,
                target.path,
                signal,
                warm_path=config.warm_path,
                observe_timeout=observe_timeout,
                authority=target.authority,
                tls=tls,
                result=h1_result,
            )
        )
    # The probe starts the command once its request is in flight (and always
    # before it returns, even when it could not connect).
    signal_wait = asyncio.create_task(signalled.wait())
    await asyncio.wait({signal_wait, probe_task}, return_when=asyncio.FIRST_COMPLETED)
    signal_wait.cancel()
    if not signalled.is_set():  # the probe failed before it could signal
        await signal()
    command_ok = await command.wait(config.restart_timeout)
    assert marker is not None and command.ended_at is not None
    marker.end = timeline.since(command.ended_at)
    marker.ok = command_ok
    cut_off = False
    try:
        await asyncio.wait_for(asyncio.shield(probe_task), config.settle_period)
    except TimeoutError:
        cut_off = True
        probe_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe_task
    ended = time.monotonic()
    if h2_probe is not None:
        card = _grade_h2_observed(h2_probe.result, cut_off, config.settle_period)
        timeline.add_h2_probe(h2_probe.result)
    elif h3_result is not None:
        card = _grade_h3_observed(h3_result, cut_off, config.settle_period)
        timeline.add_h3_probe(h3_result)
    else:
        card = grade_h1_observed(h1_result)
        timeline.add_h1_probe(h1_result, ended)
    card["restart_command"] = Check(
        PASS if command_ok else FAIL, command.describe(config.restart_timeout)
    )
    return card


def _grade_h2_observed(result: H2ProbeResult, cut_off: bool, settle: float) -> dict[str, Check]:
    """``grade_h2`` if the connection was drained; ``n/a`` lines if it was never touched."""
    return _grade_multiplexed(result, cut_off, settle, H2_CHECKS, 1, grade_h2)


def _grade_h3_observed(result: H3ProbeResult, cut_off: bool, settle: float) -> dict[str, Check]:
    """``grade_h3`` if the connection was drained; ``n/a`` lines if it was never touched."""
    return _grade_multiplexed(result, cut_off, settle, H3_CHECKS, 0, grade_h3)


def _grade_multiplexed(
    result: Any,
    cut_off: bool,
    settle: float,
    checks: list[str],
    first_stream: int,
    grade: Callable[[Any], dict[str, Check]],
) -> dict[str, Check]:
    """HTTP/2 and HTTP/3 alike: a connection that saw no GOAWAY and is still
    open was not drained, so only its in-flight request (stream
    ``first_stream``) is graded; otherwise ``grade`` judges the whole drain."""
    if result.connected and not result.goaways and result.closed_at is None:
        card = {name: Check(NA, NOT_DRAINED) for name in checks}
        first = result.streams.get(first_stream)
        card["inflight_completed"] = (
            Check(PASS, f"in-flight response complete ({first.body_bytes} bytes)")
            if first is not None and first.completed
            else Check(FAIL, "in-flight response cut or never finished")
        )
        return card
    if cut_off and result.closed_at is None:
        result.error = f"still open {settle:g} s after the restart command ended (--settle)"
    return grade(result)


def grade_h1_observed(result: H1ProbeResult) -> dict[str, Check]:
    """HTTP/1.1 seen from outside: what the server did to the probe's two connections.

    The in-flight response must complete whatever happens. ``Connection:
    close`` on it and the close of the idle connection are graded only when
    they happened: a restart that reached another server, or reached this one
    after the in-flight response had ended, leaves them ``n/a``. An idle
    connection closed with a reset is a failure wherever it came from.
    """
    if not result.connected:
        return grade_h1(result)
    card = {name: Check(NA, NOT_DRAINED) for name in H1_CHECKS}
    card["inflight_completed"] = grade_h1(result)["inflight_completed"]
    if result.inflight_connection_close:
        card["connection_close_header"] = Check(PASS, "in-flight response said Connection: close")
    else:
        card["connection_close_header"] = Check(
            NA, "the in-flight response ended before the restart reached its server"
        )
    if result.idle_closed_by_server:
        card["idle_keepalive_closed"] = (
            Check(FAIL, "idle connection reset instead of closed")
            if result.idle_close_was_reset
            else Check(PASS, "idle keep-alive connection closed by the server")
        )
    return card
