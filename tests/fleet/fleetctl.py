"""A small fleet on Linux network namespaces: one ``lastcall proxy``, three ``lastcall serve``.

Every host gets a namespace of its own, joined by veth pairs to a bridge in a
``lan`` namespace, with addresses of its own (``10.77.0.0/24``): nothing is
added to the machine's own network, and each process sees only its own
interfaces, as on separate machines::

    client 10.77.0.2 --\\
    proxy  10.77.0.3 ---+-- br0 (lan namespace)
    b1..b3 10.77.0.11-13/

This script is the fleet's service manager (like ``kubectl`` or ``systemctl``
for the drill): it runs inside the client namespace, where it can reach every
host, and starts each server in its own namespace with ``ip netns exec``:

    fleetctl.py up        --state DIR --prefix P   # namespaces, backends, proxy
    fleetctl.py roll      --state DIR --prefix P   # rolling restart of the backends
    fleetctl.py restart-proxy --state DIR --prefix P
    fleetctl.py down      --state DIR --prefix P   # kill every process, delete the namespaces

``up`` and ``down`` run in the root namespace (they create and delete the
namespaces); ``roll`` and ``restart-proxy`` run wherever the drill runs. The
servers run in their own sessions, so they outlive this script; their pids
are kept in ``DIR``. Every wait is bounded by ``WAIT_TIMEOUT``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable

#: Longest wait for a server to answer, to let go of its port, or to exit.
WAIT_TIMEOUT = 30.0
#: How often a port or a pid is asked about while waiting.
POLL_INTERVAL = 0.01
#: The drain budget each server gets on SIGTERM.
GRACEFUL_TIMEOUT = 10.0

SUBNET = "10.77.0"
CLIENT_ADDR = f"{SUBNET}.2"
PROXY_ADDR = f"{SUBNET}.3"
PROXY_PORT = 8080
BACKEND_ADDRS = [f"{SUBNET}.11", f"{SUBNET}.12", f"{SUBNET}.13"]
BACKEND_PORT = 8000
HOSTS = ["client", "proxy", "b1", "b2", "b3"]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def ns(prefix: str, host: str) -> str:
    return f"{prefix}-{host}"


def _address(host: str) -> str:
    if host == "client":
        return CLIENT_ADDR
    if host == "proxy":
        return PROXY_ADDR
    return BACKEND_ADDRS[int(host[1:]) - 1]


def create_network(prefix: str) -> None:
    """The lan namespace with its bridge, then each host joined to it by a veth pair."""
    lan = ns(prefix, "lan")
    _ip("netns", "add", lan)
    _ip("-n", lan, "link", "add", "br0", "type", "bridge")
    _ip("-n", lan, "link", "set", "br0", "up")
    for index, host in enumerate(HOSTS):
        name = ns(prefix, host)
        _ip("netns", "add", name)
        _ip("-n", name, "link", "set", "lo", "up")
        # Both ends are created in the host's namespace (short names: at most 15 bytes),
        # then the bridge's end moves to the lan namespace.
        outer = f"v{index}"
        _ip("-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", outer)
        _ip("-n", name, "link", "set", outer, "netns", lan)
        _ip("-n", lan, "link", "set", outer, "master", "br0")
        _ip("-n", lan, "link", "set", outer, "up")
        _ip("-n", name, "addr", "add", f"{_address(host)}/24", "dev", "eth0")
        _ip("-n", name, "link", "set", "eth0", "up")


def delete_network(prefix: str) -> None:
    """Kill whatever still runs in the namespaces, then delete them (idempotent)."""
    for host in [*HOSTS, "lan"]:
        name = ns(prefix, host)
        pids = subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True, timeout=30
        ).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def _wait(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"fleetctl: timed out waiting for {what}")
        time.sleep(POLL_INTERVAL)


def _answers(addr: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((addr, port)) == 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _command(state: str, host: str) -> list[str]:
    python = [sys.executable, "-m", "lastcall"]
    common = ["--graceful-timeout", str(GRACEFUL_TIMEOUT), "--log-level", "warning"]
    if host == "proxy":
        upstreams = [a for addr in BACKEND_ADDRS for a in ("--upstream", f"h2c://{addr}:8000")]
        # The proxy restarts by socket hand-off: its successor takes the listening
        # socket over this Unix socket, so no connection is ever refused.
        handoff = ["--upgrade-socket", os.path.join(state, "proxy.sock")]
        bind = ["--bind", f"{PROXY_ADDR}:{PROXY_PORT}"]
        return [*python, "proxy", *bind, *upstreams, *handoff, *common]
    return [*python, "serve", "--bind", f"{_address(host)}:{BACKEND_PORT}", *common]


def _port(host: str) -> int:
    return PROXY_PORT if host == "proxy" else BACKEND_PORT


def _pid(state: str, host: str) -> int | None:
    try:
        with open(os.path.join(state, f"{host}.pid")) as fh:
            return int(fh.read())
    except FileNotFoundError:
        return None


def start(state: str, prefix: str, host: str, *extra: str) -> None:
    """Start ``host``'s server in its namespace and wait until it answers."""
    log = open(os.path.join(state, f"{host}.log"), "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        ["ip", "netns", "exec", ns(prefix, host), *_command(state, host), *extra],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    with open(os.path.join(state, f"{host}.pid"), "w") as fh:
        fh.write(str(process.pid))
    _wait(lambda: _answers(_address(host), _port(host)), f"{host} to answer")


def stop(state: str, host: str) -> None:
    """SIGTERM (the graceful drain) and wait for the exit."""
    pid = _pid(state, host)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    _wait(lambda: not _alive(pid), f"{host} (pid {pid}) to exit")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "roll", "restart-proxy", "down"])
    parser.add_argument("--state", required=True)
    parser.add_argument("--prefix", required=True)
    args = parser.parse_args(argv)
    if args.action == "up":
        create_network(args.prefix)
        # Started from the client namespace, like every later restart.
        client = ["ip", "netns", "exec", ns(args.prefix, "client"), sys.executable, __file__]
        for host in ["b1", "b2", "b3", "proxy"]:
            subprocess.run(
                [*client, "start-one", host, "--state", args.state, "--prefix", args.prefix],
                check=True,
                timeout=WAIT_TIMEOUT + 10,
            )
    elif args.action == "roll":
        for host in ["b1", "b2", "b3"]:
            stop(args.state, host)
            start(args.state, args.prefix, host)
    elif args.action == "restart-proxy":
        # A new proxy takes the socket over (--upgrade) and tells the old one to
        # drain; the old one's exit is the sign that the hand-off happened.
        old = _pid(args.state, "proxy")
        assert old is not None
        start(args.state, args.prefix, "proxy", "--upgrade")
        _wait(lambda: not _alive(old), f"the old proxy (pid {old}) to drain and exit")
    else:
        delete_network(args.prefix)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "start-one":
        one = argparse.ArgumentParser()
        one.add_argument("host")
        one.add_argument("--state", required=True)
        one.add_argument("--prefix", required=True)
        a = one.parse_args(sys.argv[2:])
        start(a.state, a.prefix, a.host)
    else:
        main()
