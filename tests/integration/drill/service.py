"""A stand-in for a service manager, so ``drill --url --restart`` has something real to restart.

``systemctl restart`` stops a unit and starts it again; this does the same to
one server process on one port, outside the drill's knowledge:

    python service.py start   --state DIR --port N --command CMD  # start, wait until it answers
    python service.py restart --state DIR --port N --command CMD  # SIGTERM, wait until the
                                                                  # listener is gone, start again
    python service.py stop    --state DIR --port N             # SIGTERM, wait for the exit

The server runs in its own session, so it outlives this script (as a unit's
process outlives ``systemctl``); its pid is kept in ``DIR/pid``. Every wait is
bounded by ``WAIT_TIMEOUT`` and fails loudly (exit 1) when it runs out.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import subprocess
import sys
import time

#: Longest wait for a server to answer, to let go of its port, or to exit.
WAIT_TIMEOUT = 30.0
#: A port's state can only be asked; this is how often.
POLL_INTERVAL = 0.005


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate: object, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"service.py: timed out waiting for {what}")
        time.sleep(POLL_INTERVAL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(state: str, port: int, command: list[str]) -> None:
    log = open(os.path.join(state, "server.log"), "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with open(os.path.join(state, "pid"), "w") as fh:
        fh.write(str(process.pid))
    _wait(lambda: _answers(port), f"port {port} to answer")


def _signal_old(state: str) -> int | None:
    try:
        with open(os.path.join(state, "pid")) as fh:
            pid = int(fh.read())
    except FileNotFoundError:
        return None
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return None
    return pid


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["start", "restart", "stop"])
    parser.add_argument("--state", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--command", default="", help="the server's command line")
    args = parser.parse_args()
    if args.action in ("restart", "stop"):
        pid = _signal_old(args.state)
        _wait(lambda: not _answers(args.port), f"port {args.port} to close")
        if args.action == "stop" and pid is not None:
            _wait(lambda: not _alive(pid), f"pid {pid} to exit")
    if args.action in ("start", "restart"):
        _start(args.state, args.port, shlex.split(args.command))


if __name__ == "__main__":
    main()
