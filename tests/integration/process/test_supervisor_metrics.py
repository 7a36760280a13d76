"""``--workers N --metrics-bind``: the supervisor serves the workers' lifecycle as metrics.

A worker is killed (SIGKILL); the supervisor's endpoint, scraped over
127.0.0.1 and parsed with prometheus-client's parser, counts the crash, the
restart and every worker started, and keeps answering through it.
"""

from __future__ import annotations

import asyncio
import os
import signal

import httpx
from process_harness import STEP_TIMEOUT, start_supervised
from prometheus_client.parser import text_string_to_metric_families


async def scrape(address: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with httpx.AsyncClient(timeout=STEP_TIMEOUT) as client:
        text = (await client.get(f"http://{address}/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_worker_crash_and_restart_are_counted() -> None:
    server = await start_supervised(
        "--workers", "2", "--metrics-bind", "127.0.0.1:0", "--graceful-timeout", "2"
    )
    try:
        address = server.matching(r"metrics on http://(\S+)/metrics")[0][1]
        samples = await scrape(address)
        assert samples["lastcall_workers_started_total", ()] == 2
        assert samples.get(("lastcall_worker_restarts_total", ()), 0) == 0
        await server.wait_line(r"worker_ready pid=\d+ generation=1 worker=\d$", count=2)
        ready = server.matching(r"worker_ready pid=(\d+) generation=1 worker=(\d)")
        victim, slot = int(ready[0][1]), ready[0][2]
        os.kill(victim, signal.SIGKILL)
        await server.wait_line(rf"worker_ready pid=(\d+) generation=1 worker={slot}$", count=2)
        samples = await scrape(address)
        assert samples["lastcall_workers_started_total", ()] == 3
        assert samples["lastcall_worker_restarts_total", ()] == 1
        assert samples["lastcall_worker_exits_total", (("expected", "false"),)] == 1
    finally:
        assert await server.stop() == 0
    host, port = address.rsplit(":", 1)
    try:  # closed with the supervisor
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        pass
    else:
        writer.close()
        raise AssertionError("the metrics endpoint outlived the supervisor")
