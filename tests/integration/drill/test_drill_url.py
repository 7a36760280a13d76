"""``drill --url --restart``: a deployment the drill does not start, restarted by a command.

``service.py`` plays the service manager (``systemctl restart``: SIGTERM, wait
until the listener is gone, start again). The drill knows only the URL and the
restart command, as it would for a Kubernetes rollout or a unit behind a proxy.
"""

from __future__ import annotations

import pathlib
import shlex
import subprocess
import sys
from collections.abc import Iterator

import pytest

from lastcall.drill import DrillConfig, run_drill
from lastcall.drill.process import free_port
from lastcall.drill.report import FAIL, NA, PASS

SERVICE = pathlib.Path(__file__).with_name("service.py")


class Service:
    """One server on one port, restarted from outside the drill."""

    def __init__(self, state: pathlib.Path, port: int) -> None:
        self.state = state
        self.port = port

    def command(self, action: str, server: str = "") -> list[str]:
        argv = [sys.executable, str(SERVICE), action, "--state", str(self.state)]
        argv += ["--port", str(self.port)]
        return argv + (["--command", server] if server else [])

    def restart_command(self, server: str) -> str:
        return shlex.join(self.command("restart", server))

    def start(self, server: str) -> None:
        subprocess.run(self.command("start", server), check=True, timeout=60)

    def stop(self) -> None:
        subprocess.run(self.command("stop"), check=True, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow?ms=100"


def serve(port: int) -> str:
    return f"{sys.executable} -m lastcall serve --bind 127.0.0.1:{port} --log-level warning"


@pytest.fixture
def service(tmp_path: pathlib.Path) -> Iterator[Service]:
    svc = Service(tmp_path, free_port())
    yield svc
    svc.stop()


@pytest.mark.parametrize("protocol", ["h1", "h2", "h3"])
async def test_url_drill_of_lastcall_serve_loses_nothing(
    service: Service, protocol: str, tmp_path: pathlib.Path
) -> None:
    server = serve(service.port)
    url = service.url
    if protocol == "h3":
        from lastcall.testing.quic_certs import write_self_signed

        cert, key = write_self_signed(tmp_path)
        server += f" --quic-bind 127.0.0.1:{service.port} --certfile {cert} --keyfile {key}"
        url = url.replace("http://", "https://")
    service.start(server)
    report = await run_drill(
        DrillConfig(
            url=url,
            restart_commands=[service.restart_command(server)],
            protocol=protocol,
            concurrency=6,
            duration=2.0,
            restarts=2,
            settle_period=0.5,
            progress=False,
        )
    )
    assert report.sent > 0
    assert report.lost == 0, report.render()
    assert report.succeeded == report.sent, report.render()
    verdicts = {name: check.verdict for name, check in report.report_card.items()}
    assert FAIL not in verdicts.values(), report.render()
    assert verdicts["restart_command"] == PASS
    assert verdicts["inflight_completed"] == PASS
    if protocol in ("h2", "h3"):
        # The restart reached the probe's own server: the whole drain is graded.
        assert set(verdicts.values()) == {PASS}, report.render()
    assert len(report.restart_seconds) == 2
    timeline = report.timeline
    assert timeline is not None
    assert [m.restart for m in timeline.markers if m.kind == "restart"] == [0, 1]
    assert all(m.end is not None and m.ok for m in timeline.markers)
    outcomes = [r.outcome for r in timeline.requests]
    assert outcomes.count("ok") == report.succeeded
    assert outcomes.count("lost") == 0
    # Each stop-then-start leaves a gap in which connections are refused: safely retried.
    assert outcomes.count("retried") > 0


async def test_restart_command_that_overruns_is_killed_and_fails(service: Service) -> None:
    server = serve(service.port)
    service.start(server)
    report = await run_drill(
        DrillConfig(
            url=service.url,
            restart_commands=["sleep 30"],
            protocol="h2",
            concurrency=2,
            duration=0.5,
            restarts=1,
            restart_timeout=0.5,
            settle_period=0.2,
            progress=False,
        )
    )
    card = report.report_card
    assert card["restart_command"].verdict == FAIL
    assert "--restart-timeout" in card["restart_command"].detail
    # Nothing drained the probe's connection: nothing to grade, and it says why.
    assert card["early_goaway"].verdict == NA
    assert "not drained" in card["early_goaway"].detail
    assert card["inflight_completed"].verdict == PASS
    assert report.lost == 0
    assert not report.passed  # a failed restart fails the drill
    assert report.restart_seconds[0] is not None and report.restart_seconds[0] < 5.0


def test_url_and_start_are_exclusive_and_url_needs_a_restart() -> None:
    with pytest.raises(ValueError, match="not both"):
        DrillConfig(start="x {port}", url="http://127.0.0.1:1/", restart_commands=["true"])
    with pytest.raises(ValueError, match="--restart"):
        DrillConfig(url="http://127.0.0.1:1/")
    with pytest.raises(ValueError, match="https"):
        DrillConfig(url="http://127.0.0.1:1/", protocol="h3", restart_commands=["true"])
    with pytest.raises(ValueError, match="--url must be"):
        DrillConfig(url="ftp://example/", restart_commands=["true"])
