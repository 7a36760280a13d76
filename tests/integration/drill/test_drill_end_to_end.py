"""The whole drill (load + restarts + probe) against servers with known behaviour.

Short runs (about 2 s of load, 1-2 restarts): enough to put requests in flight
across every restart. The good server must lose nothing and pass every line;
the dropping one must show lost requests, not just failing lines.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

from lastcall.drill import DrillConfig, run_drill
from lastcall.drill.report import FAIL, PASS

SERVER = f"{sys.executable} -m lastcall.testing.drill_servers --port {{port}} --mode "


def _config(mode: str, restarts: int = 2) -> DrillConfig:
    return DrillConfig(
        start=SERVER + mode,
        protocol="h2",
        concurrency=8,
        duration=2.0,
        restarts=restarts,
        path="/slow?ms=100",
        progress=False,
        exit_timeout=20.0,
    )


async def test_good_server_loses_nothing_and_passes() -> None:
    report = await run_drill(_config("good"))
    assert report.sent > 0
    assert report.lost == 0, report.render()
    assert report.succeeded == report.sent
    assert {c.verdict for c in report.report_card.values()} == {PASS}, report.render()
    assert report.passed
    assert len(report.exit_seconds) == 2


async def test_dropping_server_loses_requests() -> None:
    report = await run_drill(_config("drop", restarts=1))
    assert report.lost > 0, report.render()
    assert report.report_card["inflight_completed"].verdict == FAIL
    assert report.report_card["early_goaway"].verdict == FAIL
    assert not report.passed


async def test_noerror_server_is_caught_resetting_late_streams() -> None:
    report = await run_drill(_config("noerror", restarts=1))
    assert report.report_card["late_stream_refused"].verdict == FAIL
    assert "code 0" in report.report_card["late_stream_refused"].detail
    assert not report.passed


def test_cli_writes_json_with_lost_and_report_card(tmp_path: pathlib.Path) -> None:
    out = f"{tmp_path}/out.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lastcall",
            "drill",
            "--start",
            SERVER + "good",
            "--protocol",
            "h2",
            "--duration",
            "1.5",
            "--restarts",
            "1",
            "--concurrency",
            "4",
            "--path",
            "/slow?ms=50",
            "--json",
            out,
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(pathlib.Path(out).read_text())
    assert data["lost"] == 0
    assert set(data["report_card"].values()) == {"pass"}
    assert "LOST" in proc.stdout
