"""gRPC through `lastcall proxy` while everything behind and in front of it restarts: 0 failed RPCs.

Two ``lastcall serve countdown_app:app`` backends (connectrpc, gRPC's status in
HTTP/2 trailers) behind ``lastcall proxy`` over h2c; grpcio -- the reference
client, which we did not write -- keeps calling through the proxy, unary
callers on several channels and server streams, and every call must end OK:

* a rolling restart of the backends: each in turn gets SIGTERM (its graceful
  drain: GOAWAY, in-flight calls finish), exits 0, and is started again on its
  port; the next one restarts only once the new one has served calls. The
  proxy sends nothing new on a connection that got GOAWAY, retries what a
  stopped backend refused on the other one, and takes the restarted one back
  when its health check (``--readiness-path``) passes;
* the proxy itself restarted, twice: a SIGHUP reload (``--workers 2``: two new
  workers, the two old ones drain) and a socket hand-off (``--upgrade``: a new
  proxy process takes the listening socket, the old one drains and exits 0).

Each test prints its calls per phase, which the closing note reads.
"""

from __future__ import annotations

import asyncio
import pathlib
import signal
import tempfile
from collections.abc import AsyncIterator

import pytest

pytest.importorskip("grpc")
pytest.importorskip("connectrpc")

from grpc_harness import GrpcLoad, Process

from lastcall.drill.process import free_port

#: Fast drains so each test stays short; the streams (20 x 20 ms) end well within them.
DRAIN = ("--graceful-timeout", "10", "--lifespan-shutdown-timeout", "2")


async def _backend(port: int) -> Process:
    backend = await Process.start(
        "serve", "countdown_app:app", "--bind", f"127.0.0.1:{port}",
        "--readiness-path", "/readyz", "--access-log", *DRAIN,
    )  # fmt: skip
    await backend.serving_port()
    return backend


def _proxy_config(directory: str, ports: list[int]) -> str:
    """Health checks every 0.2 s bring a restarted backend back at once (its
    refused connections ejected it); the defaults (5 s, 2 passes) would do the
    same, only later."""
    path = pathlib.Path(directory) / "proxy.toml"
    backends = ", ".join(f'"h2c://127.0.0.1:{port}"' for port in ports)
    path.write_text(
        "[upstreams.countdown]\n"
        f"backends = [{backends}]\n"
        'health_check = { path = "/readyz", interval = 0.2, healthy_threshold = 1 }\n'
        "[[routes]]\n"
        'upstream = "countdown"\n'
    )
    return str(path)


@pytest.fixture
async def directory() -> AsyncIterator[str]:
    # Short: an AF_UNIX path (the upgrade socket) is limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="lc-grpc-") as name:
        yield name


async def _stop_all(processes: list[Process]) -> None:
    for process in processes:
        await process.kill()


async def test_rolling_restart_of_lastcall_serve_backends_fails_no_rpc(directory: str) -> None:
    ports = [free_port(), free_port()]
    backends = list(await asyncio.gather(*(_backend(port) for port in ports)))
    proxy = await Process.start(
        "proxy", "--config", _proxy_config(directory, ports), "--bind", "127.0.0.1:0", *DRAIN
    )
    load: GrpcLoad | None = None
    try:
        load = GrpcLoad(await proxy.serving_port())
        for i, port in enumerate(ports):
            await load.enter(f"backend {i + 1} restart")
            assert await backends[i].stop() == 0, "\n".join(backends[i].lines[-20:])
            backends[i] = await _backend(port)
            # The restarted backend takes calls again before the next one stops.
            await backends[i].wait(r"lastcall\.access: .* \"POST /lastcall\.interop", count=20)
        await load.enter("after")
        await load.stop()
    finally:
        if load is not None:
            await load.stop()
        await _stop_all([proxy, *backends])
    print(f"gRPC through the proxy, rolling restart of 2 backends: {load.report()}")
    assert load.failures == []
    assert all(load.ok[f"backend {i} restart"] > 0 for i in (1, 2))


async def test_proxy_reload_and_upgrade_fail_no_rpc(directory: str) -> None:
    ports = [free_port(), free_port()]
    backends = list(await asyncio.gather(*(_backend(port) for port in ports)))
    handoff = ("--upgrade-socket", str(pathlib.Path(directory) / "up.sock"))
    proxy_args = (
        "proxy", "--config", _proxy_config(directory, ports),
        "--workers", "2", *handoff, *DRAIN,
    )  # fmt: skip
    old = await Process.start(*proxy_args, "--bind", "127.0.0.1:0")
    new: Process | None = None
    load: GrpcLoad | None = None
    try:
        port = await old.serving_port()
        await old.wait(r"worker_ready pid=\d+ generation=1", count=2)
        load = GrpcLoad(port)
        await load.enter("proxy SIGHUP reload")
        old.process.send_signal(signal.SIGHUP)
        await old.wait(r"reload_finished generation=2")
        await old.wait(r"generation 1, pid \d+\) exited with code 0", count=2)
        await load.enter("proxy --upgrade hand-off")
        new = await Process.start(*proxy_args, "--bind", f"127.0.0.1:{port}", "--upgrade")
        assert await new.serving_port() == port
        await old.wait(r"upgrade_handed_off sockets=1")
        async with asyncio.timeout(60):
            assert await old.process.wait() == 0, "\n".join(old.lines[-20:])
        await load.enter("after")
        await load.stop()
    finally:
        if load is not None:
            await load.stop()
        await _stop_all([p for p in (old, new) if p is not None] + backends)
    print(f"gRPC through the proxy, restarted by reload then hand-off: {load.report()}")
    assert load.failures == []
    assert all(load.ok[phase] > 0 for phase in ("proxy SIGHUP reload", "proxy --upgrade hand-off"))
