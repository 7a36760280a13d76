"""Memory per idle HTTP/2 connection: the whole server, and the engine alone.

(a) ``lastcall serve`` (the bench app), ``--connections`` idle HTTP/2
    connections opened, handshaken and PINGed (``lastcall.drill.bench``'s
    ``idle_connection_kib``, the figure ``bench/server.py`` reports): RSS growth
    per connection, each run on a freshly started server, because a second
    batch reuses the memory the first one freed and reads low.
(b) The engine alone, in memory: bytes ``tracemalloc`` sees per server-role
    ``Http2Engine`` after the same handshake (interpreter objects only; the
    compiled build's native objects are seen too, they are allocated by Python).

RSS is not timing, so a loaded machine does not skew (a); (b) is exact.
``lastcall`` is whatever the install provides (the first line says compiled or
pure; ``LASTCALL_NO_EXTENSIONS=1`` for pure Python).

    python bench/idle_memory.py [--connections 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import struct
import subprocess
import sys
import tracemalloc

from lastcall._extensions import describe
from lastcall.drill.bench import idle_connection_kib
from lastcall.drill.process import free_port, wait_port_answers
from lastcall.engines.http2 import Http2Engine, Role

APP = "lastcall.testing.bench_app:app"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + struct.pack(">HBBBL", 0, 0, 0x4, 0, 0)
ACK_AND_PING = (
    struct.pack(">HBBBL", 0, 0, 0x4, 0x1, 0) + struct.pack(">HBBBL", 0, 8, 0x6, 0, 0) + b"idlemem!"
)


def server_kib(connections: int) -> float:
    """KiB of RSS per idle connection on a freshly started ``lastcall serve``."""
    for _ in range(5):  # another process may take the free port before we bind it
        port = free_port()
        command = [sys.executable, "-m", "lastcall", "serve", APP, "--bind", f"127.0.0.1:{port}"]
        proc = subprocess.Popen([*command, "--log-level", "warning"], env=dict(os.environ))
        try:
            if not asyncio.run(wait_port_answers("127.0.0.1", port, 30.0)):
                continue
            kib = asyncio.run(idle_connection_kib(proc.pid, port, connections))
            if proc.poll() is None:  # still ours: not a stranger on a reused port
                return kib
        finally:
            proc.terminate()
            proc.wait(10)
    raise SystemExit("lastcall serve did not start")


def idle_engine() -> Http2Engine:
    engine = Http2Engine(Role.SERVER)
    engine.initiate()
    engine.receive_data(PREFACE)
    engine.receive_data(ACK_AND_PING)
    engine.data_to_send()
    return engine


def engine_bytes(count: int) -> float:
    """Bytes tracemalloc sees per idle server-role engine."""
    idle_engine()  # warm the module-level caches first
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        engines = [idle_engine() for _ in range(count)]
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    del engines
    return grown / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="fresh servers, median reported")
    args = parser.parse_args()
    print(f"lastcall: {describe()}")
    print(f"(b) engine alone: {engine_bytes(args.connections):.0f} bytes per idle connection")
    figures = [server_kib(args.connections) for _ in range(args.runs)]
    shown = ", ".join(f"{f:.2f}" for f in figures)
    print(f"(a) lastcall serve: {statistics.median(figures):.2f} KiB per idle connection ({shown})")


if __name__ == "__main__":
    main()
