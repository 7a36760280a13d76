"""``lastcall serve`` against its peers, same app, same machine, one invocation.

Each server runs the same minimal ASGI app (``bench/server.py`` itself is the
app module: ``server:app``), pinned to one core with ``taskset``; the load
generator runs on another core. Measured per server:

- HTTP/1.1 req/s and p99 latency: ``wrk -t1 -c50 -d{duration}s --latency``;
- HTTP/2 req/s and p99 latency: ``h2load -c10 -m10 -D{duration}``, cleartext
  prior knowledge;
- memory per idle HTTP/2 connection: RSS growth of the server process while
  1,000 connections have sent the preface and SETTINGS and then sit idle.

Peers: uvicorn (``--http httptools``; ``--http zttp --http2`` for HTTP/2),
hypercorn, granian -- each skipped with a note when not installed. Prints a
table and the ratios to lastcall's figures.

    python bench/server.py [--duration 10] [--servers lastcall,uvicorn,hypercorn,granian]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BODY = b"Hello, world!"
IDLE_CONNECTIONS = 1000


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The benchmarked app: 13 bytes of text, lifespan supported."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


@dataclass
class Result:
    server: str
    h1_rps: float | None = None
    h1_p99_ms: float | None = None
    h2_rps: float | None = None
    h2_p99_ms: float | None = None
    idle_kib: float | None = None
    note: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def command(name: str, port: int, http2: bool) -> list[str] | None:
    py = sys.executable
    if name == "lastcall-demo":  # the built-in demo app (has /slow), for drain timings
        return [
            py,
            "-m",
            "lastcall",
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    if name == "lastcall":
        return [
            py,
            "-m",
            "lastcall",
            "serve",
            "server:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    if name == "uvicorn":
        if importlib.util.find_spec("uvicorn") is None:
            return None
        http = ["--http", "zttp", "--http2"] if http2 else ["--http", "httptools"]
        return [
            py,
            "-m",
            "uvicorn",
            "server:app",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
            *http,
        ]
    if name == "hypercorn":
        if importlib.util.find_spec("hypercorn") is None:
            return None
        return [
            py,
            "-m",
            "hypercorn",
            "server:app",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ]
    if name == "granian":
        if shutil.which("granian") is None:
            return None
        return [
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--http",
            "auto",
            "server:app",
        ]
    raise ValueError(name)


def start(name: str, port: int, http2: bool, core: str) -> subprocess.Popen[bytes] | None:
    argv = command(name, port, http2)
    if argv is None:
        return None
    if shutil.which("taskset"):
        argv = ["taskset", "-c", core, *argv]
    proc = subprocess.Popen(argv, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # a benchmark harness may poll a port
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                return None
            time.sleep(0.05)
    proc.kill()
    return None


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load_argv(tool: str, core: str) -> list[str]:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} is required (apt-get install wrk nghttp2-client)")
    return ["taskset", "-c", core, path] if shutil.which("taskset") else [path]


def run_wrk(port: int, duration: int, core: str) -> tuple[float, float]:
    out = subprocess.run(
        [
            *load_argv("wrk", core),
            "-t1",
            "-c50",
            f"-d{duration}s",
            "--latency",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return rps, float(p99.group(1)) * scale[p99.group(2)] if p99 else float("nan")


def run_h2load(port: int, duration: int, core: str) -> tuple[float, float]:
    out = subprocess.run(
        [
            *load_argv("h2load", core),
            "-c10",
            "-m10",
            f"-D{duration}",
            "--warm-up-time=1",
            f"http://127.0.0.1:{port}/",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    failed = re.search(r"(\d+) failed, (\d+) errored", out)
    if rps is None:
        raise RuntimeError(out[-500:])
    # "time for request: min max mean sd" -- h2load has no p99; report mean + 2.33 sd.
    t = re.search(
        r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)",
        out,
    )
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = float("nan")
    if t:
        mean = float(t.group(5)) * scale[t.group(6)]
        sd = float(t.group(7)) * scale[t.group(8)]
        p99 = mean + 2.33 * sd
    if failed and (int(failed.group(1)) or int(failed.group(2))):
        print(f"  note: h2load reported {failed.group(0)}")
    return float(rps.group(1)), p99


def rss_kib(pid: int) -> int:
    """RSS of the server (the taskset child if taskset exec'd into it: same pid)."""
    total = 0
    pids = [pid, *child_pids(pid)]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def child_pids(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    kids = [int(x) for x in out.split()]
    return kids + [g for k in kids for g in child_pids(k)]


async def idle_h2_memory(port: int, pid: int, n: int) -> float:
    """RSS growth per connection while ``n`` HTTP/2 connections sit idle after SETTINGS."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
    before = rss_kib(pid)
    writers = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(preface)
        writers.append((reader, writer))
    for reader, _ in writers:  # each server answered with its SETTINGS: it is set up
        await asyncio.wait_for(reader.read(9), 10)
    await asyncio.sleep(0.5)  # let allocations settle before sampling RSS
    after = rss_kib(pid)
    for _, writer in writers:
        writer.close()
    return (after - before) / n


def measure(name: str, duration: int, server_core: str, load_core: str) -> Result:
    result = Result(name)
    port = free_port()
    proc = start(name, port, False, server_core)
    if proc is None:
        result.note = "not installed"
        return result
    try:
        result.h1_rps, result.h1_p99_ms = run_wrk(port, duration, load_core)
    finally:
        stop(proc)
    port = free_port()
    proc = start(name, port, True, server_core)
    if proc is None:
        result.note = "no HTTP/2"
        return result
    try:
        result.h2_rps, result.h2_p99_ms = run_h2load(port, duration, load_core)
        result.idle_kib = asyncio.run(idle_h2_memory(port, proc.pid, IDLE_CONNECTIONS))
    except Exception as exc:  # a peer without h2c prior knowledge, etc.
        result.note = f"HTTP/2: {exc!s:.60}"
    finally:
        stop(proc)
    return result


def drain_timings(runs: int = 10) -> tuple[list[float], list[float]]:
    """lastcall only: SIGTERM -> exit when idle, and last response byte -> exit.

    For the second, an HTTP/1.1 ``/slow?ms=300`` request is in flight when
    SIGTERM arrives; we time from its last byte (read by us) to process exit.
    """
    idle: list[float] = []
    after_last: list[float] = []
    for _ in range(runs):
        port = free_port()
        proc = start("lastcall", port, False, "0")
        assert proc is not None
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        idle.append((time.monotonic() - t0) * 1000)
    for _ in range(runs):
        port = free_port()
        proc = start("lastcall-demo", port, False, "0")
        assert proc is not None
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.1)  # the benchmark places SIGTERM mid-request on purpose
        proc.send_signal(signal.SIGTERM)
        data = b""
        while not data.endswith(b"slow done\n"):
            chunk = sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"connection closed before the response: {data!r}")
            data += chunk
        t_last = time.monotonic()
        # Like curl or httpx after ``Connection: close``: close our side, which
        # ends the server's lingering close (else it lasts lingering_close_timeout).
        sock.close()
        proc.wait(10)
        after_last.append((time.monotonic() - t_last) * 1000)
    return idle, after_last


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--servers", default="lastcall,uvicorn,hypercorn,granian")
    parser.add_argument("--server-core", default="0")
    parser.add_argument("--load-core", default="1")
    parser.add_argument("--drain-runs", type=int, default=10)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    results = [
        measure(s, args.duration, args.server_core, args.load_core) for s in args.servers.split(",")
    ]
    base = results[0]
    print(
        f"\n{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, server on core {args.server_core}, load on core {args.load_core}"
    )
    print(
        f"{'server':<10} {'h1 req/s':>10} {'h1 p99 ms':>10} {'h2 req/s':>10} {'h2 p99 ms':>10} {'KiB/idle h2':>12}  ratio h1/h2 vs {base.server}  note"
    )
    for r in results:
        ratio_h1 = r.h1_rps / base.h1_rps if r.h1_rps and base.h1_rps else None
        ratio_h2 = r.h2_rps / base.h2_rps if r.h2_rps and base.h2_rps else None
        print(
            f"{r.server:<10} {fmt(r.h1_rps, '10.0f')} {fmt(r.h1_p99_ms, '10.2f')} {fmt(r.h2_rps, '10.0f')} "
            f"{fmt(r.h2_p99_ms, '10.2f')} {fmt(r.idle_kib, '12.1f')}  {fmt(ratio_h1, '.2f')} / {fmt(ratio_h2, '.2f')}  {r.note}"
        )
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
