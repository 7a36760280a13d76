"""Connections retired by age or request count, against clients under load.

- curl and h2load (peers we did not write) count the connections a request
  limit makes them open;
- 20 long-running HTTP/2 clients (``lastcall.Client``, which replays what a
  final GOAWAY refused) against ``max_connection_age`` 1 s: every connection
  is recycled, each at its own jittered age, and no request is lost.

The figures (recycles, the spread of ages) are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import statistics

import pytest
from server_apps import hello
from server_harness import start_in_process, stop

from lastcall import Client
from lastcall.observe import events as oe

DEADLINE = 30.0


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        pytest.skip(f"{binary} is not installed (apt-get install nghttp2-client curl)")
    return path


async def run_peer(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    async with asyncio.timeout(DEADLINE):
        out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    return out.decode("utf-8", "replace")


@pytest.mark.peer("curl")
async def test_curl_opens_a_new_connection_after_each_limit() -> None:
    curl = need("curl")
    run = await start_in_process(hello, max_requests_per_connection=2)
    try:
        url = f"http://127.0.0.1:{run.port}/"
        out = await run_peer(
            curl,
            "-sS",
            "--http1.1",
            *["-o", "/dev/null"] * 5,
            "-w",
            "%{num_connects}\n",
            *[url] * 5,
        )
        # Requests 2 and 4 said Connection: close, so 1, 3 and 5 each connected.
        assert [int(n) for n in out.split()] == [1, 0, 1, 0, 1]
        await run.events.wait_for("connection_closed", 3)
        assert run.server.registry.total_accepted == 3
        draining = run.recorder.of_type(oe.ConnectionDraining)
        assert [e.reason for e in draining] == ["max_requests"] * 2
    finally:
        await stop(run)


@pytest.mark.peer("h2load")
async def test_h2load_connections_each_serve_the_limit_then_go() -> None:
    """h2load does not reconnect after a GOAWAY: each client stops when its
    connection is done, so the limit decides how many requests it can send."""
    h2load = need("h2load")
    run = await start_in_process(hello, max_requests_per_connection=100)
    try:
        url = f"http://127.0.0.1:{run.port}/"
        out = await run_peer(h2load, "-n", "1000", "-c", "10", "-m", "4", url)
        assert "1000 succeeded, 0 failed, 0 errored" in out, out
        await run.events.wait_for("connection_closed", 10)
        assert run.server.registry.total_accepted == 10
        goaways = run.recorder.of_type(oe.GoAwaySent)
        assert {g.debug_data for g in goaways} == {"max_requests"}
        assert len([g for g in goaways if not g.final]) == 10  # one drain per connection
        # A final GOAWAY names the connection's 100th stream (id 199), or a later
        # one that raced the first GOAWAY (h2load keeps up to 4 in flight). It is
        # missing where h2load, done, closed before the PING's answer.
        finals = [g.last_processed_id for g in goaways if g.final]
        assert all(199 <= last <= 199 + 2 * 3 for last in finals), finals
    finally:
        await stop(run)


async def test_max_age_recycles_long_lived_h2_clients_and_loses_nothing() -> None:
    clients, per_client, seconds, age = 20, 2, 3.5, 1.0
    run = await start_in_process(hello, max_connection_age=age, max_connection_age_grace=5.0)
    assert run.server.state is not None
    loop = asyncio.get_running_loop()
    born: list[float] = []  # the k-th jitter draw is made as connection #k is accepted
    draws: list[float] = []

    def recording_random() -> float:
        value = random.random()
        born.append(loop.time())
        draws.append(value)
        return value

    run.server.state.unit_random = recording_random
    url = f"http://127.0.0.1:{run.port}/"
    results: list[int] = []
    failures: list[BaseException] = []

    async def worker(client: Client, until: float) -> None:
        while loop.time() < until:
            try:
                response = await client.get(url)
                results.append(response.status_code)
            except Exception as exc:  # counted: the test asserts there is none
                failures.append(exc)

    try:
        pool = [Client(http1=False, http2=True, timeout=10.0) for _ in range(clients)]
        until = loop.time() + seconds
        async with asyncio.timeout(DEADLINE):
            await asyncio.gather(
                *(worker(client, until) for client in pool for _ in range(per_client))
            )
            for client in pool:
                await client.aclose()
        assert failures == [], failures[:3]
        assert results and set(results) == {200}
        retired = [e for e in run.recorder.of_type(oe.ConnectionDraining) if e.reason == "max_age"]
        # 3.5 s at ~1 s each: every client's connection was recycled two or three times.
        assert len(retired) >= 2 * clients, len(retired)
        ages = []
        for event in retired:
            k = int(event.connection.split("#")[1].split()[0])
            ages.append(event.at - born[k - 1])
        assert min(ages) >= age * 0.9 - 1e-3  # never before its jittered age
        planned = [age * (1 + 0.1 * (2 * u - 1)) for u in draws]
        assert max(planned) - min(planned) > 0.05  # jittered, not in lock-step
        print(
            f"\nmax_connection_age {age} s, {clients} h2 clients x {per_client} callers, "
            f"{seconds} s: {len(results)} requests, 0 failed; "
            f"{run.server.registry.total_accepted} connections opened, {len(retired)} recycled "
            f"by age; observed ages min {min(ages):.3f} median {statistics.median(ages):.3f} "
            f"max {max(ages):.3f} s (stdev {statistics.pstdev(ages) * 1000:.0f} ms); "
            f"planned ages {min(planned):.3f}-{max(planned):.3f} s"
        )
    finally:
        await stop(run)
