"""``lastcall serve`` as a process: signals, exit codes, timings (DESIGN.md steps 6-7)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

DEADLINE = 10.0


class Proc:
    def __init__(self, proc: asyncio.subprocess.Process, port: int, log: list[str]) -> None:
        self.proc = proc
        self.port = port
        self.log = log

    async def wait(self) -> int:
        try:
            async with asyncio.timeout(DEADLINE):
                code = await self.proc.wait()
                assert self.proc.stderr is not None
                self.log += (await self.proc.stderr.read()).decode().splitlines()
                return code
        except TimeoutError:
            self.proc.kill()  # a hung server must not outlive the test
            await self.proc.wait()
            raise

    async def read_until(self, text: str) -> None:
        """Read stderr (into ``log``) until a line contains ``text``."""
        assert self.proc.stderr is not None
        async with asyncio.timeout(DEADLINE):
            while True:
                line = (await self.proc.stderr.readline()).decode()
                assert line, f"stderr ended before {text!r}"
                self.log.append(line.rstrip())
                if text in line:
                    return


SERVING = r"serving on 127\.0\.0\.1:(\d+)"


async def spawn(
    *args: str, cwd: Path | None = None, until: str = SERVING, env: dict[str, str] | None = None
) -> Proc:
    """Start ``lastcall serve``; return once a stderr line matches ``until``
    (its first group, if any, is the port) or stderr ends."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lastcall",
        "serve",
        "--bind",
        "127.0.0.1:0",
        *args,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    log: list[str] = []
    async with asyncio.timeout(DEADLINE):
        while True:
            line = (await proc.stderr.readline()).decode()
            if not line:
                return Proc(proc, 0, log)
            log.append(line.rstrip())
            match = re.search(until, line)
            if match:
                return Proc(proc, int(match.group(1)) if match.groups() else 0, log)


async def test_idle_server_exits_fast_on_sigterm() -> None:
    """With nothing to wait for, no deadline is waited on: a 60 s grace period
    and 60 s lifespan timeouts are never used. (How fast the exit is -- tens of
    milliseconds -- is measured by ``bench/server.py``, not asserted here.)"""
    server = await spawn("--graceful-timeout", "60", "--lifespan-shutdown-timeout", "60")
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = await server.wait()
    elapsed = time.monotonic() - t0
    assert code == 0
    assert elapsed < 5.0, f"idle exit took {elapsed:.2f} s: it waited on a deadline"
    assert any("drained in" in line for line in server.log)


async def test_second_sigterm_skips_to_cancel() -> None:
    server = await spawn("--graceful-timeout", "60")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /slow?ms=60000 HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    # The server answers readiness only once it has read our request? No: wait for
    # the drain notice instead -- the first SIGTERM's log line.
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.stderr is not None
    async with asyncio.timeout(DEADLINE):
        while "drain started" not in (await server.proc.stderr.readline()).decode():
            pass
    server.proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(DEADLINE):
        head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"connection: close" in head
    assert await server.wait() == 0
    writer.close()
    assert any("second signal" in line for line in server.log)


async def test_startup_failure_exits_nonzero_with_message(tmp_path: Path) -> None:
    (tmp_path / "failing_app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n"
    )
    server = await spawn("failing_app:app", cwd=tmp_path)
    assert await server.wait() == 3
    assert any("no database" in line for line in server.log)


async def test_bad_app_spec_is_a_usage_error() -> None:
    server = await spawn("no_such_module_xyz:app")
    assert await server.wait() == 2
    assert any("cannot import module" in line for line in server.log)


@pytest.mark.parametrize("env", [{"LASTCALL_READINESS_PATH": "/readyz"}])
async def test_environment_configures_the_server(env: dict[str, str]) -> None:
    os.environ.update(env)
    try:
        server = await spawn()
    finally:
        for key in env:
            os.environ.pop(key)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(DEADLINE):
        data = await reader.read()
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"ok\n")
    writer.close()
    server.proc.send_signal(signal.SIGTERM)
    assert await server.wait() == 0


#: Lifespan that says so on stderr, then never answers startup (``startup``)
#: or shutdown (``shutdown``); the phase comes from the environment.
HANGING_APP = """\
import asyncio, os, sys

async def app(scope, receive, send):
    if scope["type"] != "lifespan":
        return
    await receive()
    if os.environ["HANG_IN"] == "startup":
        print("app: startup begun", file=sys.stderr, flush=True)
        await asyncio.Event().wait()
    await send({"type": "lifespan.startup.complete"})
    await receive()
    print("app: shutdown begun", file=sys.stderr, flush=True)
    await asyncio.Event().wait()
"""


async def spawn_hanging(tmp_path: Path, hang_in: str, *args: str, until: str = SERVING) -> Proc:
    (tmp_path / "hanging_app.py").write_text(HANGING_APP)
    return await spawn(
        "hanging_app:app", *args, cwd=tmp_path, until=until, env={"HANG_IN": hang_in}
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
async def test_signal_during_lifespan_startup_stops_at_once(
    tmp_path: Path, sig: signal.Signals
) -> None:
    server = await spawn_hanging(tmp_path, "startup", until="app: startup begun")
    server.proc.send_signal(sig)
    assert await server.wait() == 3
    assert any(f"{sig.name} before lifespan startup completed" in line for line in server.log)
    assert not any("serving on" in line for line in server.log)


async def test_lifespan_startup_timeout_is_a_startup_failure(tmp_path: Path) -> None:
    server = await spawn_hanging(
        tmp_path, "startup", "--lifespan-startup-timeout", "0.1", until="app: startup begun"
    )
    assert await server.wait() == 3
    assert any("lifespan_startup_timeout" in line for line in server.log)


async def test_second_signal_during_lifespan_shutdown_exits_at_once(tmp_path: Path) -> None:
    server = await spawn_hanging(tmp_path, "shutdown")
    server.proc.send_signal(signal.SIGTERM)
    await server.read_until("app: shutdown begun")
    server.proc.send_signal(signal.SIGTERM)
    assert await server.wait() == 0
    assert any("second SIGTERM during lifespan shutdown" in line for line in server.log)


async def test_lifespan_shutdown_timeout_exits_zero_after_the_drain(tmp_path: Path) -> None:
    server = await spawn_hanging(tmp_path, "shutdown", "--lifespan-shutdown-timeout", "0.1")
    server.proc.send_signal(signal.SIGTERM)
    assert await server.wait() == 0
    drained = next(i for i, line in enumerate(server.log) if "drained in" in line)
    gave_up = next(i for i, line in enumerate(server.log) if "lifespan_shutdown_timeout" in line)
    assert drained < gave_up


#: An app that says when its lifespan startup runs, and an attribute that is no app.
MARKED_APP = """\
import sys

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        await receive()
        print("app: startup begun", file=sys.stderr, flush=True)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

not_a_function = 42
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bind", "127.0.0.1:99999"], "port out of range"),
        (["--bind", "localhost"], "expected HOST:PORT"),
        (["--certfile", "/nonexistent/cert.pem", "--keyfile", "/nonexistent/key.pem"], None),
    ],
    ids=["port-out-of-range", "no-port", "missing-certfile"],
)
async def test_config_errors_exit_2_before_the_app_starts(
    tmp_path: Path, args: list[str], message: str | None
) -> None:
    (tmp_path / "marked_app.py").write_text(MARKED_APP)
    server = await spawn("marked_app:app", *args, cwd=tmp_path)
    assert await server.wait() == 2
    assert not any("app: startup begun" in line for line in server.log), server.log
    expected = message or "cannot read --certfile /nonexistent/cert.pem: No such file or directory"
    assert any(expected in line for line in server.log), server.log


async def test_missing_keyfile_is_named(tmp_path: Path) -> None:
    (tmp_path / "marked_app.py").write_text(MARKED_APP)
    (tmp_path / "cert.pem").write_text("any readable file\n")
    missing = tmp_path / "key.pem"
    server = await spawn(
        "marked_app:app", "--certfile", "cert.pem", "--keyfile", str(missing), cwd=tmp_path
    )
    assert await server.wait() == 2
    assert any(f"cannot read --keyfile {missing}" in line for line in server.log), server.log


async def test_app_that_is_not_callable_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "marked_app.py").write_text(MARKED_APP)
    server = await spawn("marked_app:not_a_function", cwd=tmp_path)
    assert await server.wait() == 2
    assert any("'marked_app:not_a_function' is not an ASGI app" in line for line in server.log)


#: An app whose request says on stderr that it arrived, then answers once the
#: drain begins, with the reason its ``lastcall.drain`` extension gives.
DRAIN_AWARE_APP = """\
import sys

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    print("app: request in flight", file=sys.stderr, flush=True)
    reason = await scope["extensions"]["lastcall.drain"].wait()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": reason.encode()})
"""


async def test_sighup_drains_like_sigterm(tmp_path: Path) -> None:
    """A single process cannot reload itself: SIGHUP drains (it used to kill the
    server at once, exit 129, the request lost) and the log says why."""
    (tmp_path / "drain_aware_app.py").write_text(DRAIN_AWARE_APP)
    server = await spawn("drain_aware_app:app", "--graceful-timeout", "60", cwd=tmp_path)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await server.read_until("app: request in flight")
    server.proc.send_signal(signal.SIGHUP)
    async with asyncio.timeout(DEADLINE):
        response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200") and b"connection: close" in response
    assert response.endswith(b"shutdown (SIGHUP)")
    assert await server.wait() == 0
    assert any("SIGHUP" in line and "draining as on SIGTERM" in line for line in server.log)
