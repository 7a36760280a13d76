"""``lastcall drill --protocol h3`` against the ``h3_loop`` kit run as a program,
and against ``lastcall serve --quic-bind``.

The kit drains by the book in ``--mode good`` (RFC 9114 §5.2: GOAWAY(2^62-4),
final GOAWAY, H3_REQUEST_REJECTED, CONNECTION_CLOSE(H3_NO_ERROR), exit 0), and
badly in ``drop`` (the UDP socket closed at once) and ``cancel`` (grace period
zero). A drill that always said "pass" would be worthless: each defect must
show up as a named failing line, and cut requests in ``lost``.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from lastcall.drill import DrillConfig, run_drill
from lastcall.drill.probe_h3 import H3Probe, H3ProbeResult, H3StreamOutcome
from lastcall.drill.process import ServerProcess, free_port, wait_quic_answers
from lastcall.drill.report import FAIL, NA, PASS, grade_h3
from lastcall.testing.quic_certs import write_self_signed


@pytest.fixture(scope="module")
def kit_command(tmp_path_factory: pytest.TempPathFactory) -> str:
    certfile, keyfile = write_self_signed(tmp_path_factory.mktemp("h3certs"))
    return (
        f"{sys.executable} -m lastcall.testing.h3_loop --port {{port}} "
        f"--certfile {certfile} --keyfile {keyfile} --mode "
    )


async def _probe(command: str) -> tuple[dict[str, str], dict[str, str], ServerProcess]:
    port = free_port(udp=True)
    server = ServerProcess(command, port)
    await server.start()
    try:
        assert await wait_quic_answers("127.0.0.1", port, 20.0), "test server did not start"
        probe = H3Probe("127.0.0.1", port, "/slow?ms=200", observe_timeout=15.0)

        async def signal() -> None:
            server.terminate()

        card = grade_h3(await probe.run(signal))
        assert await server.wait_exit(20.0)
    finally:
        server.terminate()
        await server.wait_exit(5.0)
    verdicts = {name: check.verdict for name, check in card.items()}
    return verdicts, {name: check.detail for name, check in card.items()}, server


async def test_probe_passes_the_good_kit(kit_command: str) -> None:
    card, detail, server = await _probe(kit_command + "good")
    assert card == dict.fromkeys(card, PASS), detail
    assert server.returncode == 0


async def test_probe_catches_a_server_that_just_drops_the_socket(kit_command: str) -> None:
    card, detail, _ = await _probe(kit_command + "drop")
    assert card["early_goaway"] == FAIL
    assert card["final_first_rejected_id"] == FAIL
    assert card["late_stream_rejected"] == FAIL
    assert card["inflight_completed"] == FAIL
    assert card["connection_closed"] == FAIL
    assert "without CONNECTION_CLOSE" in detail["connection_closed"]


async def test_probe_catches_a_zero_grace_drain(kit_command: str) -> None:
    card, detail, _ = await _probe(kit_command + "cancel")
    assert card["early_goaway"] == PASS  # it starts by the book...
    assert card["inflight_completed"] == FAIL  # ...then cancels what it accepted
    assert "0x10c" in detail["inflight_completed"]
    assert card["connection_closed"] == FAIL
    assert "0x10c" in detail["connection_closed"]
    # The late request raced the close and never reached the server: not a verdict.
    assert card["late_stream_rejected"] in (NA, PASS)


def _config(command: str, restarts: int = 1) -> DrillConfig:
    return DrillConfig(
        start=command,
        protocol="h3",
        concurrency=8,
        duration=2.0,
        restarts=restarts,
        path="/slow?ms=100",
        progress=False,
        exit_timeout=20.0,
    )


async def test_drill_good_kit_loses_nothing_and_passes(kit_command: str) -> None:
    report = await run_drill(_config(kit_command + "good"))
    assert report.sent > 0
    assert report.lost == 0, report.render()
    assert report.succeeded == report.sent
    assert {c.verdict for c in report.report_card.values()} == {PASS}, report.render()
    assert report.passed
    assert len(report.exit_seconds) == 1


async def test_drill_lastcall_serve_quic_bind_loses_nothing_and_passes(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    certfile, keyfile = write_self_signed(tmp_path_factory.mktemp("serve-certs"))
    command = (
        f"{sys.executable} -m lastcall serve --bind 127.0.0.1:{{port}} "
        f"--quic-bind 127.0.0.1:{{port}} --certfile {certfile} --keyfile {keyfile}"
    )
    report = await run_drill(_config(command))
    assert report.lost == 0, report.render()
    assert report.succeeded == report.sent > 0
    assert {c.verdict for c in report.report_card.values()} == {PASS}, report.render()


async def test_drill_dropping_kit_loses_requests(kit_command: str) -> None:
    report = await run_drill(_config(kit_command + "drop"))
    assert report.lost > 0, report.render()
    assert report.report_card["inflight_completed"].verdict == FAIL
    assert report.report_card["connection_closed"].verdict == FAIL
    assert not report.passed


def test_reuse_port_is_refused_for_h3() -> None:
    with pytest.raises(ValueError, match="reuse-port"):
        DrillConfig(start="x {port}", protocol="h3", reuse_port=True)


def test_cli_h3_writes_json_with_lost_and_report_card(
    kit_command: str, tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lastcall",
            "drill",
            "--protocol",
            "h3",
            "--start",
            kit_command + "good",
            "--duration",
            "1.5",
            "--restarts",
            "1",
            "--concurrency",
            "4",
            "--path",
            "/slow?ms=50",
            "--json",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert data["protocol"] == "h3"
    assert data["lost"] == 0
    assert set(data["report_card"]) == {
        "early_goaway",
        "final_first_rejected_id",
        "late_stream_rejected",
        "inflight_completed",
        "connection_closed",
        "exit",
    }
    assert set(data["report_card"].values()) == {"pass"}


# -- grading alone, on recorded results (no network) -----------------------------------------


def _result(**overrides: object) -> H3ProbeResult:
    """What the probe records against a server that drains by the book."""
    result = H3ProbeResult(
        connected=True,
        goaways=[(0.0, 2**62 - 4), (0.01, 8)],
        streams={
            0: H3StreamOutcome(0, 0.0, status=200, body_bytes=3, completed=True),
            4: H3StreamOutcome(4, 0.0, status=200, body_bytes=3, completed=True),
            8: H3StreamOutcome(8, 0.0, reset_code=0x10B, stop_sending_code=0x10B),
        },
        closed_at=1.0,
        close_code=0x100,
        close_is_application=True,
        late_stream_id=8,
        racing_stream_id=4,
    )
    for name, value in overrides.items():
        setattr(result, name, value)
    return result


def _verdicts(result: H3ProbeResult) -> dict[str, str]:
    return {name: check.verdict for name, check in grade_h3(result).items()}


def test_grading_by_the_book_passes() -> None:
    assert set(_verdicts(_result()).values()) == {PASS}


def test_grading_final_id_that_lies() -> None:
    # Final GOAWAY(4) although stream 4 was answered: the client would replay it.
    verdicts = _verdicts(_result(goaways=[(0.0, 2**62 - 4), (0.01, 4)]))
    assert verdicts["final_first_rejected_id"] == FAIL


def test_grading_late_request_answered_or_reset_with_another_code() -> None:
    answered = _result()
    answered.streams[8] = H3StreamOutcome(8, 0.0, status=200, completed=True)
    assert _verdicts(answered)["late_stream_rejected"] == FAIL
    no_error = _result()
    no_error.streams[8] = H3StreamOutcome(8, 0.0, reset_code=0x100)
    assert _verdicts(no_error)["late_stream_rejected"] == FAIL


def test_grading_late_request_silently_ignored_while_serving_on() -> None:
    ignored = _result(served_after_late=True, late_acknowledged_at=0.02)
    ignored.streams[8] = H3StreamOutcome(8, 0.0)
    assert _verdicts(ignored)["late_stream_rejected"] == FAIL
    raced = _result(served_after_late=False, late_acknowledged_at=0.02)
    raced.streams[8] = H3StreamOutcome(8, 0.0)
    assert _verdicts(raced)["late_stream_rejected"] == NA


def test_grading_close_codes() -> None:
    assert _verdicts(_result(close_code=0x10C))["connection_closed"] == FAIL
    transport = _result(close_code=0x0, close_is_application=False)
    assert _verdicts(transport)["connection_closed"] == FAIL
    vanished = _result(close_code=None, vanished=True)
    assert _verdicts(vanished)["connection_closed"] == FAIL


def test_grading_unreachable_server_is_not_applicable() -> None:
    verdicts = _verdicts(H3ProbeResult(error="probe could not connect"))
    assert set(verdicts.values()) == {NA}
