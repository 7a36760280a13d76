"""How ``lastcall serve --workers N`` scales with cores: req/s of N workers over 1 worker.

    python bench/workers.py [--workers 2] [--requests 40000] [--rounds 5] [--cpus 0,1]

Every server and h2load are pinned to the same CPU set (``taskset -c CPUS``,
default every core of this machine): on a 2-core host the load generator
competes with the workers, which is what a client on the same box costs, and
the ratio says how much of the second core the workers can take. One worker
serves in the process itself (no supervisor); N workers run behind the
supervisor, which serves no request.

The host's speed drifts, so each round runs both servers back to back in an
order rotated per round; the ratio is the median of the per-round ratios.
HTTP/1.1: ``h2load --h1 -c 50 -m 1``; HTTP/2: ``h2load -c 10 -m 10`` -- the
same shapes as bench/server.py. The app is ``lastcall.testing.bench_app:app``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

from lastcall.drill.process import free_port

APP = "lastcall.testing.bench_app:app"
#: Longest wait for a server to report that it serves.
START_TIMEOUT = 60.0
SHAPES = {"h1": ["--h1", "-c", "50", "-m", "1"], "h2": ["-c", "10", "-m", "10"]}


def _start(workers: int, port: int, cpus: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        ["taskset", "-c", cpus, sys.executable, "-m", "lastcall", "serve", APP,
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "info"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT
    # The supervisor's (or the lone server's) own line: every worker is ready then.
    ready = re.compile(rb"INFO lastcall\.drain: serving on ")
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if ready.search(line):
            return proc
    proc.kill()
    raise RuntimeError(f"--workers {workers} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _h2load(port: int, shape: str, requests: int, cpus: str) -> float:
    out = subprocess.run(
        ["taskset", "-c", cpus, "h2load", "-n", str(requests), *SHAPES[shape], "-t", "1",
         f"http://127.0.0.1:{port}/"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    failed = re.search(r"(\d+) failed", out)
    if found is None or failed is None or int(failed[1]) != 0:
        raise RuntimeError(f"h2load: {out}")
    return float(found[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpus", default=",".join(str(c) for c in sorted(os.sched_getaffinity(0))))
    args = parser.parse_args()
    counts = [1, args.workers]
    rates: dict[tuple[int, str], list[float]] = {}
    ratios: dict[str, list[float]] = {shape: [] for shape in SHAPES}
    for round_number in range(args.rounds):
        order = counts if round_number % 2 == 0 else counts[::-1]
        this_round: dict[tuple[int, str], float] = {}
        for workers in order:
            port = free_port()
            proc = _start(workers, port, args.cpus)
            try:
                _h2load(port, "h1", 2000, args.cpus)  # warm-up: every worker's first requests
                for shape in SHAPES:
                    rate = _h2load(port, shape, args.requests, args.cpus)
                    this_round[(workers, shape)] = rate
                    rates.setdefault((workers, shape), []).append(rate)
            finally:
                _stop(proc)
        for shape in SHAPES:
            ratios[shape].append(this_round[(args.workers, shape)] / this_round[(1, shape)])
        print(f"round {round_number + 1}: " + ", ".join(
            f"{shape} x{ratios[shape][-1]:.2f}" for shape in SHAPES), flush=True)  # fmt: skip
    print(f"\ncpus {args.cpus} (servers and h2load -t 1 alike), {args.requests} requests, "
          f"{args.rounds} rounds, medians")  # fmt: skip
    print("| workers | HTTP/1.1 req/s | HTTP/2 req/s |")
    print("|---|---|---|")
    for workers in counts:
        h1 = statistics.median(rates[(workers, "h1")])
        h2 = statistics.median(rates[(workers, "h2")])
        print(f"| {workers} | {h1:,.0f} | {h2:,.0f} |")
    print(
        f"ratio --workers {args.workers} / 1 (median per round): "
        f"HTTP/1.1 x{statistics.median(ratios['h1']):.2f}, "
        f"HTTP/2 x{statistics.median(ratios['h2']):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
