"""User-space instructions per request, lastcall against its peers, under callgrind.

Requests per second swing by tens of percent on a shared machine; instruction
counts do not (callgrind counts them, whatever else the machine is doing). Each
server runs the same app (``lastcall.testing.bench_app:app``) under
``valgrind --tool=callgrind`` twice, loaded by h2load with a small and a large
number of requests; the difference of the two totals divided by the difference
of the request counts is the cost of one request, with start-up and shut-down
cancelled out.

It does not see the kernel: syscalls per request are counted separately with
``--syscalls`` (``strace -c``). Needs valgrind, h2load (and strace).

    python bench/instructions.py [--servers lastcall,lastcall-pure,uvicorn,granian,pyvoy]
                                 [--protocol h1|h2]

``lastcall`` runs whatever the install provides (the mypyc-compiled build when
there is one: ``lastcall --version`` says), ``lastcall-pure`` the same sources
with ``LASTCALL_NO_EXTENSIONS=1``, so the two are reported side by side.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

from lastcall.drill.process import free_port

APP = "lastcall.testing.bench_app:app"
COMMANDS = {
    "lastcall": "{python} -m lastcall serve {app} --bind 127.0.0.1:{port} --log-level warning",
    "lastcall-pure": "{python} -m lastcall serve {app} --bind 127.0.0.1:{port} --log-level warning",
    "uvicorn": "{python} -m uvicorn {app} --host 127.0.0.1 --port {port} --log-level warning "
    "--no-access-log {uvicorn_http}",
    "granian": "granian --interface asgi --host 127.0.0.1 --port {port} --workers 1 "
    "--http {granian_http} {app}",
    "pyvoy": "pyvoy --address 127.0.0.1 --port {port} --worker-threads 1 --log-level warning {app}",
}
#: Environment a server runs with, on top of ours.
ENVIRONMENT = {"lastcall-pure": {"LASTCALL_NO_EXTENSIONS": "1"}}


def _command(name: str, port: int, protocol: str) -> list[str]:
    line = COMMANDS[name].format(
        python=sys.executable,
        app=APP,
        port=port,
        uvicorn_http="--http zttp --http2" if protocol == "h2" else "--http httptools",
        granian_http="2" if protocol == "h2" else "1",
    )
    return shlex.split(line)


def wait_listening(port: int, process: subprocess.Popen[bytes], limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)  # a start-up poll outside any test: valgrind needs seconds
    raise RuntimeError("server did not listen")


def h2load_args(port: int, protocol: str, requests: int) -> list[str]:
    args = ["h2load", "-n", str(requests)]
    args += ["-c", "50", "-m", "1", "--h1"] if protocol == "h1" else ["-c", "10", "-m", "10"]
    return [*args, f"http://127.0.0.1:{port}/"]


def total_instructions(name: str, protocol: str, requests: int) -> int:
    """Instructions of one whole run of ``name`` serving ``requests`` requests."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        # One file per process: granian serves from a child process.
        out = os.path.join(workdir, "callgrind.%p")
        server = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--trace-children=yes",
                f"--callgrind-out-file={out}",
                *_command(name, port, protocol),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **ENVIRONMENT.get(name, {})},
        )
        try:
            wait_listening(port, server, 600.0)
            result = subprocess.run(
                h2load_args(port, protocol, requests), capture_output=True, text=True, check=False
            )
            if f"{requests} succeeded" not in result.stdout:
                raise RuntimeError(f"h2load: {result.stdout[-400:]}")
        finally:
            server.send_signal(signal.SIGINT if name == "granian" else signal.SIGTERM)
            server.wait(120)
        total = 0
        for entry in os.listdir(workdir):
            with open(os.path.join(workdir, entry)) as fh:
                match = re.search(r"^summary: (\d+)", fh.read(), re.M)
            if match is not None:
                total += int(match.group(1))
    if not total:
        raise RuntimeError("no callgrind summary")
    return total


def instructions_per_request(name: str, protocol: str, small: int, large: int) -> float:
    return (
        total_instructions(name, protocol, large) - total_instructions(name, protocol, small)
    ) / (large - small)


def syscalls_per_request(name: str, protocol: str, requests: int) -> dict[str, float]:
    """Syscalls of the server per request, by name (those over 5 % of requests)."""
    port = free_port()
    server = subprocess.Popen(
        _command(name, port, protocol),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **ENVIRONMENT.get(name, {})},
    )
    with tempfile.TemporaryDirectory() as workdir:
        log = os.path.join(workdir, "strace.txt")
        try:
            wait_listening(port, server, 30.0)
            subprocess.run(h2load_args(port, protocol, 2000), capture_output=True, check=False)
            tracer = subprocess.Popen(
                ["strace", "-c", "-f", "-p", str(server.pid), "-o", log],
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # strace attaches asynchronously and says nothing when it has
            subprocess.run(h2load_args(port, protocol, requests), capture_output=True, check=False)
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        finally:
            server.send_signal(signal.SIGINT if name == "granian" else signal.SIGTERM)
            server.wait(30)
        counts: dict[str, float] = {}
        with open(log) as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 5 and fields[3].isdigit() and fields[-1] != "total":
                    calls = int(fields[3])
                    if calls > requests // 20:
                        counts[fields[-1]] = calls / requests
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", default="lastcall,lastcall-pure,uvicorn,granian,pyvoy")
    parser.add_argument("--protocol", choices=["h1", "h2"], default="h1")
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=10000)
    parser.add_argument("--syscalls", action="store_true", help="also count syscalls (strace)")
    args = parser.parse_args()
    from lastcall._extensions import describe

    print(f"lastcall: {describe()}", flush=True)
    results: dict[str, float] = {}
    for name in args.servers.split(","):
        results[name] = instructions_per_request(name, args.protocol, args.small, args.large)
        line = f"{name:9s} {args.protocol}: {results[name]:>9,.0f} instructions/request"
        if "lastcall" in results and name != "lastcall":
            line += f"  (lastcall/{name} = {results['lastcall'] / results[name]:.2f})"
        print(line, flush=True)
        if args.syscalls:
            calls = syscalls_per_request(name, args.protocol, 20000)
            print(
                "          syscalls/request: " + ", ".join(f"{k} {v:.2f}" for k, v in calls.items())
            )


if __name__ == "__main__":
    main()
