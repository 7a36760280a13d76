"""gRPC on one address through two SIGHUP reloads: grpcio clients see 0 failed RPCs.

``lastcall serve countdown_app:app --workers 2``: a supervisor holds the
listening socket while each reload starts two new workers and drains the two
old ones (GOAWAY, in-flight calls finish, streams run to their end). grpcio,
a client we did not write, keeps calling throughout -- unary calls from
several channels and server streams -- and every call must end OK. On one
address without the supervisor, a stop-and-start fails ~900 calls per
restart (nothing listens meanwhile, then grpcio backs off).
"""

from __future__ import annotations

import re
import signal

import pytest

pytest.importorskip("grpc")
pytest.importorskip("connectrpc")

from grpc_harness import GrpcLoad, Process


async def test_two_sighup_reloads_under_grpc_load_fail_no_rpc() -> None:
    server = await Process.start(
        "serve", "countdown_app:app",
        "--bind", "127.0.0.1:0", "--workers", "2", "--graceful-timeout", "10",
        "--lifespan-shutdown-timeout", "2",
    )  # fmt: skip
    load: GrpcLoad | None = None
    try:
        load = GrpcLoad(await server.serving_port())
        await server.wait(r"worker_ready pid=\d+ generation=1", count=2)
        for generation in (2, 3):
            await load.enter(f"reload {generation - 1}")
            server.process.send_signal(signal.SIGHUP)
            await server.wait(rf"reload_finished generation={generation}")
            await server.wait(
                rf"generation {generation - 1}, pid \d+\) exited with code 0", count=2
            )
        await load.enter("after")
        await load.stop()
        code = await server.stop()
    finally:
        if load is not None:
            await load.stop()
        await server.kill()
    print(f"gRPC through 2 reloads: {load.report()}")  # the closing note reads it
    assert load.failures == [], load.failures[:10]
    assert load.ok["reload 1"] > 0 and load.ok["reload 2"] > 0
    assert code == 0
    assert not any(re.search("CRASHED|did NOT start|killed", line) for line in server.lines)
