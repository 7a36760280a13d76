"""The drill's probes and grading, against servers with known drain defects.

A drill that always says "pass" is worthless: each defect must show up as a
named failing line of the report card, and the good server must pass all.
"""

from __future__ import annotations

import sys

import pytest

from lastcall.drill.probe_h1 import run_h1_probe
from lastcall.drill.probe_h2 import H2Probe
from lastcall.drill.process import ServerProcess, free_port, wait_port_answers
from lastcall.drill.report import FAIL, PASS, grade_h1, grade_h2

SERVER = f"{sys.executable} -m lastcall.testing.drill_servers --port {{port}} --mode "


async def _probe_h2(mode: str) -> tuple[dict[str, str], ServerProcess]:
    port = free_port()
    server = ServerProcess(SERVER + mode, port)
    await server.start()
    try:
        assert await wait_port_answers("127.0.0.1", port, 20.0), "test server did not start"
        probe = H2Probe("127.0.0.1", port, "/slow?ms=200", observe_timeout=15.0)

        async def signal() -> None:
            server.terminate()

        result = await probe.run(signal)
        assert await server.wait_exit(20.0)
    finally:
        server.terminate()
        await server.wait_exit(5.0)
    return {name: check.verdict for name, check in grade_h2(result).items()}, server


async def test_good_server_passes_every_check() -> None:
    card, server = await _probe_h2("good")
    assert card == dict.fromkeys(card, PASS)
    assert server.returncode == 0


async def test_dropping_server_fails_goaway_and_inflight() -> None:
    card, _ = await _probe_h2("drop")
    assert card["early_goaway"] == FAIL
    assert card["final_last_stream_id"] == FAIL
    assert card["inflight_completed"] == FAIL


async def test_noerror_reset_of_late_stream_is_named() -> None:
    card, _ = await _probe_h2("noerror")
    assert card["early_goaway"] == FAIL
    assert card["ping_after_goaway"] == FAIL
    assert card["late_stream_refused"] == FAIL
    # It does finish what it accepted.
    assert card["inflight_completed"] == PASS


async def test_server_without_goaway_fails_goaway_checks() -> None:
    card, _ = await _probe_h2("nogoaway")
    assert card["early_goaway"] == FAIL
    assert card["final_last_stream_id"] == FAIL
    assert card["late_stream_refused"] == FAIL
    assert card["inflight_completed"] == PASS


@pytest.mark.parametrize("mode", ["good", "drop"])
async def test_h1_probe_sees_unreached_server_as_not_applicable(mode: str) -> None:
    # The test servers speak HTTP/2 only: the HTTP/1.1 probe must not claim a pass.
    port = free_port()
    server = ServerProcess(SERVER + mode, port)
    await server.start()
    try:
        assert await wait_port_answers("127.0.0.1", port, 20.0)

        async def signal() -> None:
            server.terminate()

        result = await run_h1_probe("127.0.0.1", port, "/slow?ms=50", signal, observe_timeout=5.0)
    finally:
        server.terminate()
        await server.wait_exit(5.0)
    card = grade_h1(result)
    assert PASS not in {c.verdict for name, c in card.items() if name != "idle_keepalive_closed"}
