"""``lastcall bench``: named servers side by side, one run, one harness.

Each target is a command line with ``{port}`` (and ``{app}``, the same ASGI
app for every Python server). It runs pinned to one core (``taskset -c 0``)
with the load generator pinned to the other (``taskset -c 1``): ``h2load`` for
HTTP/2 and ``h2load --h1`` for HTTP/1.1. Throughput comes from h2load's
summary, p99 latency from its per-request log, and memory per idle HTTP/2
connection from the RSS growth of the server's process tree over N idle
connections. Ratios are against the first target.

The numbers are for a comparison made in one run on one machine; they are
never asserted in unit tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from .process import ServerProcess, free_port, wait_port_answers
from .report import percentile

APP = "lastcall.testing.bench_app:app"

#: Known targets: name -> (command template, protocols it serves, how to tell it is installed).
KNOWN_TARGETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "lastcall": (
        "{python} -m lastcall serve {app} --bind 127.0.0.1:{port} --log-level warning",
        ("h1", "h2"),
        "lastcall.server",
    ),
    # the same sources with the compiled modules switched off (docs/dev/performance.md)
    "lastcall-pure": (
        "env LASTCALL_NO_EXTENSIONS=1 {python} -m lastcall serve {app} --bind 127.0.0.1:{port} "
        "--log-level warning",
        ("h1", "h2"),
        "lastcall.server",
    ),
    "granian": (
        "granian --interface asgi --host 127.0.0.1 --port {port} --workers 1 {http_flag} {app}",
        ("h1", "h2"),
        "granian",
    ),
    "uvicorn": (
        "uvicorn {app} --host 127.0.0.1 --port {port} --log-level warning {uvicorn_flags}",
        ("h1", "h2"),
        "uvicorn",
    ),
    "hypercorn": (
        "hypercorn {app} --bind 127.0.0.1:{port} --log-level warning",
        ("h1", "h2"),
        "hypercorn",
    ),
    # Envoy's C++ core with a Python ASGI worker (one worker thread, as granian's one worker)
    "pyvoy": (
        "pyvoy --address 127.0.0.1 --port {port} --worker-threads 1 --log-level warning {app}",
        ("h1", "h2"),
        "pyvoy",
    ),
    "nginx": ("nginx:{port}", ("h1", "h2"), "nginx"),
}


@dataclass
class BenchResult:
    """One target's figures."""

    name: str
    protocol: str
    requests_per_second: float | None = None
    p99_ms: float | None = None
    failed: int = 0
    idle_kib_per_connection: float | None = None
    error: str | None = None
    extra: dict[str, float] = field(default_factory=dict)


def is_available(name: str) -> bool:
    """Whether a known target can run on this machine."""
    probe = KNOWN_TARGETS[name][2]
    if name == "nginx":
        return shutil.which("nginx") is not None
    if "." in probe:
        try:
            __import__(probe)
        except ImportError:
            return False
        return True
    return shutil.which(probe) is not None


def _nginx_command(port: int, workdir: str, protocol: str) -> str:
    conf = os.path.join(workdir, "nginx.conf")
    http2 = " http2" if protocol == "h2" else ""
    with open(conf, "w") as fh:
        fh.write(
            f"""daemon off; master_process off; worker_processes 1;
pid {workdir}/nginx.pid; error_log {workdir}/error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {workdir}; proxy_temp_path {workdir};
  fastcgi_temp_path {workdir}; uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
  keepalive_requests 100000;
  server {{ listen 127.0.0.1:{port}{http2}; location / {{ return 200 "hello world\\n"; }} }} }}
"""
        )
    return f"nginx -c {conf} -p {workdir}"


def target_command(name: str, port: int, protocol: str, workdir: str) -> str:
    """The command line for a known target."""
    if name == "nginx":
        command = _nginx_command(port, workdir, protocol)
    else:
        template = KNOWN_TARGETS[name][0]
        command = template.format(
            python=sys.executable,
            app=APP,
            port=port,
            http_flag="--http 2" if protocol == "h2" else "--http 1",
            # uvicorn's HTTP/2 needs its zttp protocol; HTTP/1.1 is fastest with httptools.
            uvicorn_flags="--http zttp --http2 --no-access-log"
            if protocol == "h2"
            else "--http httptools --no-access-log",
        )
    return f"taskset -c 0 {command}" if shutil.which("taskset") else command


def _tree_rss_kib(pid: int) -> int:
    """RSS of ``pid`` and all its descendants, in KiB (Linux /proc)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


async def _read_ping_ack(reader: asyncio.StreamReader) -> None:
    while True:
        hi, lo, ftype, flags, _ = struct.unpack(">HBBBL", await reader.readexactly(9))
        await reader.readexactly((hi << 8) | lo)
        if ftype == 0x6 and flags & 0x1:
            return


async def idle_connection_kib(pid: int, port: int, count: int) -> float:
    """RSS growth per idle HTTP/2 connection: open ``count``, handshake each, measure."""
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">HBBBL", 0, 0, 0x4, 0, 0)
    before = _tree_rss_kib(pid)
    writers = []
    try:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(preface)
            writers.append((reader, writer))
        # ACK the server's SETTINGS and PING it: the PING ACK proves the server
        # has read and handled everything we sent on that connection.
        ping = struct.pack(">HBBBL", 0, 8, 0x6, 0, 0) + b"idlemem!"
        for _, writer in writers:
            writer.write(struct.pack(">HBBBL", 0, 0, 0x4, 0x1, 0) + ping)
        for reader, _ in writers:
            await asyncio.wait_for(_read_ping_ack(reader), 10.0)
        after = _tree_rss_kib(pid)
    finally:
        for _, writer in writers:
            writer.close()
    return (after - before) / count


def _h2load(
    port: int, protocol: str, requests: int, clients: int, streams: int, path: str
) -> tuple[float, float | None, int, str]:
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log:
        log_path = log.name
    cmd = [
        "h2load",
        "-n",
        str(requests),
        "-c",
        str(clients),
        "-m",
        str(streams),
        f"--log-file={log_path}",
    ]
    if protocol == "h1":
        cmd.append("--h1")
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "1", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout
    rps_match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    failed_match = re.search(r"requests: .*?(\d+) failed", out)
    durations = []
    with contextlib.suppress(OSError), open(log_path) as fh:
        for line in fh:
            parts = line.split("\t")
            if len(parts) >= 3:
                durations.append(int(parts[2]) / 1000.0)
    os.unlink(log_path)
    rps = float(rps_match.group(1)) if rps_match else 0.0
    failed = int(failed_match.group(1)) if failed_match else requests
    return rps, percentile(durations, 0.99), failed, out


async def bench_target(
    name: str,
    protocol: str,
    *,
    command: str | None = None,
    requests: int = 20_000,
    clients: int = 10,
    streams: int = 10,
    path: str = "/",
    idle_connections: int = 1000,
    warmup: int = 2000,
) -> BenchResult:
    """Start one target, load it, measure it, stop it."""
    result = BenchResult(name, protocol)
    port = free_port()
    workdir = tempfile.mkdtemp(prefix=f"lastcall-bench-{name}-")
    cmd = (
        command.replace("{port}", str(port))
        if command
        else target_command(name, port, protocol, workdir)
    )
    server = ServerProcess(cmd, port)
    await server.start(os.path.join(workdir, "server.log"))
    try:
        if not await wait_port_answers("127.0.0.1", port, 20.0):
            result.error = f"did not start (log: {workdir}/server.log)"
            return result
        loop = asyncio.get_running_loop()
        if warmup:
            await loop.run_in_executor(
                None, _h2load, port, protocol, warmup, clients, streams, path
            )
        rps, p99, failed, _ = await loop.run_in_executor(
            None, _h2load, port, protocol, requests, clients, streams, path
        )
        result.requests_per_second, result.p99_ms, result.failed = rps, p99, failed
        if protocol == "h2" and idle_connections and server.process is not None:
            result.idle_kib_per_connection = await idle_connection_kib(
                server.process.pid, port, idle_connections
            )
    finally:
        server.terminate()
        await server.wait_exit(10.0)
    return result


def render(results: list[BenchResult], ratios: dict[str, float] | None = None) -> str:
    """A table with ratios against the first target (or the ``ratios`` given,
    e.g. medians of per-round ratios)."""
    base = results[0].requests_per_second if results else None
    lines = [
        f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; server on core 0, h2load on core 1",
        f"{'target':<12} {'proto':<5} {'req/s':>10} {'ratio':>6} {'p99 ms':>8} {'failed':>7} {'KiB/idle conn':>14}",
    ]
    for r in results:
        if r.error:
            lines.append(f"{r.name:<12} {r.protocol:<5} {r.error}")
            continue
        if ratios is not None and r.name in ratios:
            ratio = ratios[r.name]
        else:
            ratio = (r.requests_per_second or 0) / base if base else 0.0
        p99 = "-" if r.p99_ms is None else f"{r.p99_ms:.2f}"
        mem = "-" if r.idle_kib_per_connection is None else f"{r.idle_kib_per_connection:.1f}"
        lines.append(
            f"{r.name:<12} {r.protocol:<5} {r.requests_per_second or 0:>10.0f} {ratio:>6.2f} {p99:>8} {r.failed:>7} {mem:>14}"
        )
    return "\n".join(lines)
