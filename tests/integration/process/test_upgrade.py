"""Pingora-style upgrade over 127.0.0.1: a new process takes the sockets over, then the old drains.

Under continuous load nothing may be lost and no connection refused: the
sockets never close, so nothing but the accepting process changes.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_harness import HERE, STEP_TIMEOUT, http_get, start_supervised

from lastcall.drill.load import run_load

FAST_DRAIN = (
    "--graceful-timeout",
    "5",
    "--close-timeout",
    "0.5",
    "--lifespan-shutdown-timeout",
    "2",
)


@pytest.fixture
def upgrade_socket() -> Iterator[str]:
    # Short: an AF_UNIX path is limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="lc-up-") as directory:
        yield str(Path(directory) / "up.sock")


async def _lastcall(*args: str, cwd: Path = HERE) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lastcall", *args, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(STEP_TIMEOUT):
        out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


@pytest.mark.parametrize("protocol", ["h1", "h2"])
async def test_upgrade_under_load_loses_nothing(protocol: str, upgrade_socket: str) -> None:
    old = await start_supervised("--workers", "2", "--upgrade-socket", upgrade_socket, *FAST_DRAIN)
    new = None
    stop = asyncio.Event()
    try:
        load = asyncio.create_task(
            run_load(
                f"http://127.0.0.1:{old.port}/slow?ms=50",
                protocol,
                concurrency=8,
                duration=120.0,
                stop=stop,
            )
        )
        await asyncio.sleep(0)  # let the load connect first (it keeps going throughout)
        _, headers, _ = await http_get(old.port, "/pid")
        old_pids = {m[1] for m in old.matching(r"worker_ready pid=(\d+)")}
        assert headers["x-pid"] in old_pids
        new = await start_supervised(
            "--workers", "2", "--upgrade", "--upgrade-socket", upgrade_socket, *FAST_DRAIN,
            ready=r"INFO lastcall.drain: serving on 127\.0\.0\.1:(\d+)",
        )  # fmt: skip
        assert new.port == old.port
        assert new.matching(r"upgrade_received sockets=1")
        await old.wait_line(r"upgrade_handed_off sockets=1")
        assert await old.wait_exit() == 0  # drained: every old worker exited 0
        assert len(old.matching(r"generation 1, pid \d+\) exited with code 0")) == 2
        # Only the new workers answer now, on the same port.
        _, headers, _ = await http_get(new.port, "/pid")
        new_pids = {m[1] for m in new.matching(r"worker_ready pid=(\d+)")}
        assert headers["x-pid"] in new_pids
        # And the new one takes `lastcall reload` on the same upgrade socket.
        code, out = await _lastcall("reload", "--upgrade-socket", upgrade_socket)
        assert code == 0 and "reloaded: generation 2 serves" in out, out
        stop.set()
        stats = await load
    finally:
        stop.set()
        if old.proc.returncode is None:
            old.kill_all()
        if new is not None:
            assert await new.stop() == 0
    assert stats.succeeded > 0
    assert stats.lost == 0, stats.errors
    assert not Path(upgrade_socket).is_socket()  # noqa: ASYNC240 - the last one out let go


async def test_upgrade_that_fails_to_start_keeps_the_old_one(
    upgrade_socket: str, tmp_path: Path
) -> None:
    (tmp_path / "broken_app.py").write_text("raise RuntimeError('bad deploy')\n")
    old = await start_supervised("--workers", "2", "--upgrade-socket", upgrade_socket, *FAST_DRAIN)
    try:
        code, out = await _lastcall(
            "serve", "broken_app:app", "--workers", "2", "--upgrade", "--upgrade-socket",
            upgrade_socket, "--daemon", cwd=tmp_path,
        )  # fmt: skip
        assert code == 3, out
        await old.wait_line(r"upgrade aborted by the new process")
        status, _, _ = await http_get(old.port, "/pid")
        assert status == 200
        assert old.proc.returncode is None
        # Still the upgrade point: a good new process can take over now.
        code, out = await _lastcall("reload", "--upgrade-socket", upgrade_socket)
        assert code == 0, out
    finally:
        assert await old.stop() == 0
