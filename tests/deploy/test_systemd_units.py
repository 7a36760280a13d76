"""deploy/systemd: the units load in systemd, and their flags and budget hold.

``systemd-analyze verify`` parses the units as systemd would (unknown keys,
bad values, commands that are not executable); it needs no running systemd.
The ``ExecStart`` path is pointed at the lastcall this test runs with, the
only part of the units that depends on the machine. Skipped where systemd is
not installed. The rest parses the units with ``configparser`` (their syntax
is INI-like): the reload is the hand-off upgrade, and the stop timeout exceeds
the drain.
"""

from __future__ import annotations

import configparser
import dataclasses
import pathlib
import shlex
import shutil
import subprocess
import sys

import pytest

from lastcall.server.config import ServerConfig

UNITS = pathlib.Path(__file__).parents[2] / "deploy" / "systemd"
INSTALLED = "/usr/local/bin/lastcall"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def _service_args() -> tuple[list[str], list[str], dict[str, str]]:
    service = _unit("lastcall.service")["Service"]
    environment = shlex.split(service["Environment"])[0]
    name, value = environment.split("=", 1)
    assert name == "LASTCALL_ARGS"
    start = shlex.split(service["ExecStart"].replace("$LASTCALL_ARGS", value))
    reload = shlex.split(service["ExecReload"].replace("$LASTCALL_ARGS", value))
    return start, reload, dict(service)


def test_systemd_analyze_verify(tmp_path: pathlib.Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    lastcall = shutil.which("lastcall") or f"{sys.executable} -m lastcall"
    for name in ("lastcall.socket", "lastcall.service"):
        text = (UNITS / name).read_text().replace(INSTALLED, lastcall.split()[0])
        (tmp_path / name).write_text(text.replace("/srv/myapp", str(tmp_path)))
    proc = subprocess.run(
        [analyze, "verify", "--man=no", "lastcall.socket", "lastcall.service"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    # verify exits 0 for mere warnings (an unknown key is "ignored"): none are allowed.
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_socket_activation_and_hand_off_reload() -> None:
    socket = _unit("lastcall.socket")
    assert socket["Socket"]["ListenStream"].endswith(":8000")
    start, reload, service = _service_args()
    assert start[:2] == [INSTALLED, "serve"] and reload[:2] == [INSTALLED, "serve"]
    assert "--bind" not in start  # the sockets come from lastcall.socket (LISTEN_FDS)
    upgrade_socket = start[start.index("--upgrade-socket") + 1]
    # The reload is the same server with --upgrade on the same upgrade socket, and
    # returns once the new process serves; that process then becomes MAINPID.
    assert reload[reload.index("--upgrade-socket") + 1] == upgrade_socket
    assert "--upgrade" in reload and "--daemon" in reload and "--upgrade" not in start
    assert service["Type"] == "notify" and service["NotifyAccess"] == "all"
    assert upgrade_socket.startswith("/run/" + service["RuntimeDirectory"] + "/")


def test_stop_timeout_exceeds_the_drain() -> None:
    start, _, service = _service_args()
    defaults = {f.name: float(f.default) for f in dataclasses.fields(ServerConfig)
                if f.name.endswith(("_timeout", "_delay")) and isinstance(f.default, int | float)}  # fmt: skip
    total = 0.0
    for field in (
        "pre_stop_delay",
        "graceful_timeout",
        "close_timeout",
        "lifespan_shutdown_timeout",
    ):
        flag = "--" + field.replace("_", "-")
        total += float(start[start.index(flag) + 1]) if flag in start else defaults[field]
    assert total < float(service["TimeoutStopSec"]), (total, service["TimeoutStopSec"])
