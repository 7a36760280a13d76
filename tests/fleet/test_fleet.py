"""A fleet on network namespaces: a proxy and three backends restarted under drill load.

``fleetctl.py`` builds the hosts (one network namespace each, on a bridge, with
addresses of their own) and restarts them the way a service manager would;
the drill runs in the client's namespace, aims at the proxy's address, and
runs the restart commands in turn: a rolling restart of the three backends,
then a restart of the proxy itself by socket hand-off (``--upgrade``: the
new proxy takes the listening socket from the old one, which then drains).
Nothing may be lost, and no connection may be refused: the proxy's address
never stops accepting.

Skipped, with the reason, where network namespaces cannot be created (not
root, or no CAP_NET_ADMIN, as in many containers).
"""

from __future__ import annotations

import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

FLEETCTL = pathlib.Path(__file__).with_name("fleetctl.py")
sys.path.insert(0, str(FLEETCTL.parent))
import fleetctl  # noqa: E402


def _namespaces_unavailable() -> str | None:
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return "network namespaces need root"
    probe = f"lcprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


_why_not = _namespaces_unavailable()
pytestmark = pytest.mark.skipif(_why_not is not None, reason=_why_not or "")


class Fleet:
    def __init__(self, state: pathlib.Path) -> None:
        self.state = state
        # Namespace names are global: unique per test run.
        self.prefix = f"lcf{os.getpid()}"

    def ctl(self, action: str) -> list[str]:
        argv = [sys.executable, str(FLEETCTL), action, "--state", str(self.state)]
        return [*argv, "--prefix", self.prefix]

    def in_client(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", fleetctl.ns(self.prefix, "client"), *argv]


@pytest.fixture
def fleet(tmp_path: pathlib.Path) -> Iterator[Fleet]:
    fl = Fleet(tmp_path)
    try:
        subprocess.run(fl.ctl("up"), check=True, timeout=180)
        yield fl
    finally:
        subprocess.run(fl.ctl("down"), timeout=60)
        for log in sorted(tmp_path.glob("*.log")):
            text = log.read_text(errors="replace").strip()
            if text:
                print(f"--- {log.name}\n{text[-4000:]}")


def test_rolling_restart_of_backends_then_of_the_proxy_loses_nothing(fleet: Fleet) -> None:
    report_path = fleet.state / "drill.json"
    url = f"http://{fleetctl.PROXY_ADDR}:{fleetctl.PROXY_PORT}/slow?ms=50"
    drill = [sys.executable, "-m", "lastcall", "drill", "--url", url, "--protocol", "h2"]
    drill += ["--restart", shlex.join(fleet.ctl("roll"))]
    drill += ["--restart", shlex.join(fleet.ctl("restart-proxy"))]
    drill += ["--restarts", "2", "--concurrency", "8", "--settle", "1"]
    drill += ["--restart-timeout", "120", "--json", str(report_path), "--no-progress"]
    done = subprocess.run(fleet.in_client(drill), capture_output=True, text=True, timeout=400)
    report = json.loads(report_path.read_text())
    summary = done.stdout[-3000:] + done.stderr[-3000:]
    print(summary)
    assert report["sent"] > 100, summary
    assert report["lost"] == 0, summary
    assert done.returncode == 0, summary
    # The proxy's address never refused a connection (errors holds "retried:<why>").
    assert not any("ConnectError" in name for name in report["errors"]), summary
    # Both restarts really happened: each backend and the proxy run as new processes.
    for host in ["b1", "b2", "b3", "proxy"]:
        log = (fleet.state / f"{host}.log").read_text(errors="replace")
        assert "Traceback" not in log, log[-3000:]
