"""``lastcall serve`` against its peers: one invocation, the shared ``lastcall bench`` harness.

Every server runs the same app (``lastcall.testing.bench_app:app``) pinned to
core 0 with h2load on core 1 (``lastcall.drill.bench``): HTTP/1.1 with one
request in flight per connection (``h2load --h1 -c 50 -m 1``), HTTP/2 with
``h2load -c 10 -m 10``, p99 from h2load's per-request log, and KiB per idle
HTTP/2 connection over 1,000 connections. Then lastcall's drain timings:
SIGTERM -> exit for an idle server, and last response byte -> exit.

Peers: granian (Rust core), pyvoy (Envoy's C++ core, one worker thread),
uvicorn (httptools for HTTP/1.1, zttp for HTTP/2), hypercorn -- each skipped with
a note when not installed. ``lastcall`` runs whatever the install built (the
mypyc-compiled hot modules when there are: ``lastcall --version``),
``lastcall-pure`` the same sources with ``LASTCALL_NO_EXTENSIONS=1``.

    python bench/server.py [--requests 40000] [--rounds 3]
        [--servers lastcall,lastcall-pure,granian,pyvoy,uvicorn,hypercorn]

The machine's own speed drifts (by 25 % between minutes on a shared host), so
one pass compares figures taken at different speeds. Each of ``--rounds``
rounds therefore runs every server back to back, in an order rotated per
round; a server's req/s and p99 are its medians, and its ratio is the median of
its per-round ratios to lastcall measured in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

from lastcall.drill.bench import KNOWN_TARGETS, BenchResult, bench_target, is_available, render
from lastcall.drill.process import free_port, wait_port_answers


def _start_lastcall(port: int, demo: bool) -> subprocess.Popen[bytes]:
    app = [] if demo else ["lastcall.testing.bench_app:app"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lastcall",
            "serve",
            *app,
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if not asyncio.run(wait_port_answers("127.0.0.1", port, 20.0)):
        proc.kill()
        raise RuntimeError("lastcall serve did not start")
    return proc


def _wait_exact(proc: subprocess.Popen[bytes], limit: float = 10.0) -> None:
    """Wait for exit in one blocking ``waitpid``: ``Popen.wait(timeout)`` polls with
    sleeps doubling from 0.5 ms to 50 ms, which rounds every exit up to the next
    step (31.5, 63.5, 113.5 ms...). A watchdog kills a server that hangs."""
    watchdog = threading.Timer(limit, proc.kill)
    watchdog.start()
    try:
        proc.wait()
    finally:
        watchdog.cancel()


def drain_timings(runs: int = 10) -> tuple[list[float], list[float]]:
    """lastcall only: SIGTERM -> exit when idle, and last response byte -> exit.

    For the second, an HTTP/1.1 ``/stream`` response is in flight when SIGTERM
    arrives (its first chunk proves it), the demo ends it early on the drain,
    and we time from its last byte (read by us) to process exit.
    """
    idle: list[float] = []
    after_last: list[float] = []
    for _ in range(runs):
        port = free_port()
        proc = _start_lastcall(port, demo=False)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _wait_exact(proc)
        idle.append((time.monotonic() - t0) * 1000)
    for _ in range(runs):
        port = free_port()
        proc = _start_lastcall(port, demo=True)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /stream?chunks=5&ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"chunk 0\n" not in data:  # the response is in flight: now signal
            data += sock.recv(4096)
        proc.send_signal(signal.SIGTERM)
        while not data.endswith(b"0\r\n\r\n"):  # the end of the chunked body
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"connection closed before the response: {data!r}")
            data += chunk
        t_last = time.monotonic()
        # Like curl or httpx after ``Connection: close``: close our side, which
        # ends the server's lingering close (else it lasts lingering_close_timeout).
        sock.close()
        _wait_exact(proc)
        after_last.append((time.monotonic() - t_last) * 1000)
    return idle, after_last


def combine(
    names: list[str], rounds: list[dict[str, BenchResult]]
) -> tuple[list[BenchResult], dict[str, float]]:
    """Per server: median req/s and p99 over the rounds, failures summed,
    memory from the round that measured it; and the median per-round ratio
    of each server's req/s to the first server's in the same round."""
    combined: list[BenchResult] = []
    ratios: dict[str, float] = {}
    base = names[0]
    for name in names:
        runs = [r[name] for r in rounds if name in r]
        good = [r for r in runs if r.error is None and r.requests_per_second]
        if not good:
            combined.append(runs[0])
            continue
        out = BenchResult(name, good[0].protocol)
        out.requests_per_second = statistics.median(r.requests_per_second or 0.0 for r in good)
        p99s = [r.p99_ms for r in good if r.p99_ms is not None]
        out.p99_ms = statistics.median(p99s) if p99s else None
        out.failed = sum(r.failed for r in good)
        out.idle_kib_per_connection = next(
            (r.idle_kib_per_connection for r in good if r.idle_kib_per_connection is not None),
            None,
        )
        combined.append(out)
        per_round = [
            (r[name].requests_per_second or 0.0) / (r[base].requests_per_second or 1.0)
            for r in rounds
            if r[name].error is None
            and r[name].requests_per_second
            and r[base].error is None
            and r[base].requests_per_second
        ]
        if per_round:
            ratios[name] = statistics.median(per_round)
    return combined, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument(
        "--servers", default="lastcall,lastcall-pure,granian,pyvoy,uvicorn,hypercorn"
    )
    parser.add_argument("--idle-connections", type=int, default=1000)
    parser.add_argument("--drain-runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = args.servers.split(",")

    async def one(name: str, protocol: str, first_round: bool) -> BenchResult:
        if not is_available(name) or protocol not in KNOWN_TARGETS[name][1]:
            return BenchResult(name, protocol, error="not installed / not served")
        return await bench_target(
            name,
            protocol,
            requests=args.requests,
            clients=10 if protocol == "h2" else 50,
            streams=10 if protocol == "h2" else 1,
            # Memory does not drift with speed: measured once.
            idle_connections=args.idle_connections if protocol == "h2" and first_round else 0,
        )

    async def run(protocol: str) -> tuple[list[BenchResult], dict[str, float]]:
        rounds: list[dict[str, BenchResult]] = []
        for index in range(max(1, args.rounds)):
            order = names[index % len(names) :] + names[: index % len(names)]
            rounds.append({name: await one(name, protocol, index == 0) for name in order})
        return combine(names, rounds)

    for protocol in ("h1", "h2"):
        results, ratios = asyncio.run(run(protocol))
        print(render(results, ratios))
        print(f"({max(1, args.rounds)} rounds; ratio = median of per-round ratios to {names[0]})")
        print()
    if args.drain_runs:
        idle, after_last = drain_timings(args.drain_runs)
        print(
            f"lastcall drain timings over {args.drain_runs} runs: idle SIGTERM->exit "
            f"median {sorted(idle)[len(idle) // 2]:.1f} ms (max {max(idle):.1f}); "
            f"last response byte->exit median {sorted(after_last)[len(after_last) // 2]:.1f} ms "
            f"(max {max(after_last):.1f})"
        )


if __name__ == "__main__":
    main()
