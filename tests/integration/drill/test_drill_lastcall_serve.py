"""CI's own proof: a short drill against ``lastcall serve`` loses nothing.

A few seconds of load, two SIGTERM-and-replace cycles, over HTTP/1.1 and
HTTP/2. Any lost request or any failing line of the report card fails the
suite. This is also the client's proof that requests started while a server
drains (refused, or sent to a closing listener) are replayed and complete.
"""

from __future__ import annotations

import sys

import pytest

from lastcall.drill import DrillConfig, run_drill
from lastcall.drill.report import PASS

SERVE = f"{sys.executable} -m lastcall serve --bind 127.0.0.1:{{port}} --log-level warning"


@pytest.mark.parametrize("protocol", ["h1", "h2"])
async def test_short_drill_against_lastcall_serve(protocol: str) -> None:
    report = await run_drill(
        DrillConfig(
            start=SERVE,
            protocol=protocol,
            concurrency=10,
            duration=3.0,
            restarts=2,
            path="/slow?ms=100",
            progress=False,
            exit_timeout=30.0,
        )
    )
    assert report.sent > 0
    assert report.lost == 0, report.render()
    assert report.succeeded == report.sent, report.render()
    assert {c.verdict for c in report.report_card.values()} == {PASS}, report.render()
    assert len(report.exit_seconds) == 2
