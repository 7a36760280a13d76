"""``lastcall serve --workers N``: the supervisor, its workers, crashes and stops (127.0.0.1)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from process_harness import STEP_TIMEOUT, http_get, start_supervised

from lastcall.drill.load import run_load
from lastcall.drill.timeline import Timeline

FAST_DRAIN = (
    "--graceful-timeout",
    "2",
    "--close-timeout",
    "0.5",
    "--lifespan-shutdown-timeout",
    "2",
)


async def _answered(timeline: Timeline, count: int) -> None:
    """Until the load has recorded ``count`` attempts (the load's own progress, polled)."""
    async with asyncio.timeout(STEP_TIMEOUT):
        while len(timeline.requests) < count:  # noqa: ASYNC110 - the load exposes no event
            await asyncio.sleep(0.01)


async def _hold(port: int, release: Path) -> tuple[asyncio.StreamWriter, asyncio.StreamReader, str]:
    """Start a /hold request; return once its head arrived (its worker's loop is now blocked)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /hold?release={release} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    pid = next(
        line.split(b": ")[1].decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"x-pid")
    )
    return writer, reader, pid


async def test_workers_share_the_sockets(tmp_path: Path) -> None:
    """While one worker's loop is busy, another accepts and answers: two processes, one port."""
    server = await start_supervised("--workers", "2", *FAST_DRAIN)
    try:
        assert len(server.matching(r"worker_ready pid=")) == 2
        release = tmp_path / "release"
        writer, reader, busy_pid = await _hold(server.port, release)
        status, headers, body = await http_get(server.port, "/pid")
        assert status == 200 and body.decode() == headers["x-pid"]
        assert headers["x-pid"] != busy_pid  # served by the other worker
        release.touch()
        await reader.read()
        writer.close()
    finally:
        assert await server.stop() == 0
    exits = server.matching(r"worker \d \(generation 1, pid \d+\) exited with code 0")
    assert len(exits) == 2


async def test_crashed_worker_is_replaced_and_others_keep_serving(tmp_path: Path) -> None:
    """SIGKILL a worker: the supervisor reports the crash and starts a new one in its slot."""
    server = await start_supervised("--workers", "2", *FAST_DRAIN)
    try:
        ready = server.matching(r"worker_ready pid=(\d+) generation=1 worker=(\d)")
        victim, slot = int(ready[0][1]), ready[0][2]
        os.kill(victim, signal.SIGKILL)
        await server.wait_line(
            rf"worker {slot} \(generation 1, pid {victim}\) CRASHED with code -9"
        )
        await server.wait_line(
            rf"worker_restarting generation=1 worker={slot} delay=0\.1 crashes=1"
        )
        replaced = await server.wait_line(
            rf"worker_ready pid=(\d+) generation=1 worker={slot}$", count=2
        )
        assert int(replaced[1]) != victim
        # Both slots serve again: hold one, and the other answers.
        release = tmp_path / "release"
        writer, reader, busy_pid = await _hold(server.port, release)
        _, headers, _ = await http_get(server.port, "/pid")
        assert headers["x-pid"] != busy_pid
        release.touch()
        await reader.read()
        writer.close()
    finally:
        assert await server.stop() == 0


async def test_worker_that_does_not_exit_is_killed(tmp_path: Path) -> None:
    """A worker whose loop never comes back is killed once its whole budget is spent."""
    server = await start_supervised(
        "--workers", "2", "--graceful-timeout", "0.2", "--close-timeout", "0.2",
        "--lifespan-shutdown-timeout", "0.2",
    )  # fmt: skip
    release = tmp_path / "never"
    writer, _, busy_pid = await _hold(server.port, release)
    try:
        server.signal(signal.SIGTERM)
        killed = await server.wait_line(r"pid (\d+)\) did not exit within ([\d.]+) s")
        assert killed[1] == busy_pid and float(killed[2]) == pytest.approx(1.6)
        assert await server.wait_exit() == 0
        assert server.matching(rf"pid {busy_pid}\) CRASHED with code -9") == []
    finally:
        writer.close()
        server.kill_all()


async def test_second_signal_cancels_every_worker(tmp_path: Path) -> None:
    """SIGINT then SIGINT: the workers skip to their cancel step and the service exits."""
    server = await start_supervised("--workers", "2", "--graceful-timeout", "60")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /slow?ms=60000 HTTP/1.1\r\nhost: x\r\n\r\n")
    await writer.drain()
    try:
        server.signal(signal.SIGINT)
        await server.wait_line(r"drain started \(shutdown \(SIGTERM\)\): 1 connection")
        server.signal(signal.SIGINT)
        await server.wait_line(r"second signal: cancelling 1 stream")
        assert await server.wait_exit() == 0
        response = await reader.read()
        assert response.startswith(b"HTTP/1.1 503") or response == b""
    finally:
        writer.close()
        server.kill_all()


async def test_first_generation_that_fails_to_start_exits_3(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text("raise RuntimeError('no database')\n")
    server = await start_supervised(
        "--workers", "2", cwd=tmp_path, app="broken_app:app", ready=r"did NOT start"
    )
    assert await server.wait_exit() == 3
    assert server.matching(r"generation 1 did NOT start \(worker \d exited with code 3")
    assert server.matching(r"nothing serves")


@pytest.mark.parametrize("protocol", ["h1", "h2"])
async def test_sigkill_under_load_loses_only_what_the_dead_worker_held(protocol: str) -> None:
    """A worker killed mid-load: its open requests are lost (no process is left to answer
    them), never more than were in flight; the others, and the replacement, serve on."""
    server = await start_supervised("--workers", "2", *FAST_DRAIN)
    stop = asyncio.Event()
    concurrency = 8
    try:
        timeline = Timeline()
        load = asyncio.create_task(
            run_load(
                f"http://127.0.0.1:{server.port}/slow?ms=100",
                protocol,
                concurrency=concurrency,
                duration=120.0,
                stop=stop,
                timeline=timeline,
            )
        )
        victim = int(server.matching(r"worker_ready pid=(\d+) generation=1 worker=0")[0][1])
        await _answered(timeline, 4 * concurrency)  # the load is in full swing
        os.kill(victim, signal.SIGKILL)
        await server.wait_line(r"worker_ready pid=\d+ generation=1 worker=0$", count=2)
        # The replacement serves: the load goes on against both slots for a while.
        await _answered(timeline, len(timeline.requests) + 4 * concurrency)
        stop.set()
        stats = await load
    finally:
        stop.set()
        assert await server.stop() == 0
    print(
        f"{protocol}: SIGKILL of one of 2 workers: lost {stats.lost}, safely retried "
        f"{stats.safely_retried}, of {stats.sent} ({dict(stats.errors)})"
    )
    assert stats.lost <= concurrency, stats.errors
    assert stats.succeeded > 0
