"""Issue 15 items 3-6: what one hostile connection costs ``lastcall serve``, measured the same way
before and after a change.

Each attack runs against a fresh ``python -m lastcall serve`` (demo app, default settings) while
a bystander makes one HTTP/1.1 request every 20 ms on another connection
(``tests/attacks/attack_harness.py``). Per attack: the server's memory growth (peak VmHWM minus
VmRSS before), its CPU seconds, the bystander's p99 and failures, and how the attack ended.

    PYTHONPATH=$PWD/src python bench/attacks_mux.py                 # this tree
    git archive <old-commit> src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src python bench/attacks_mux.py          # the same, before

``--only oversized,pings,fragments,stall`` picks attacks; ``--rounds N`` repeats each (medians).
The host's speed drifts: compare runs made back to back, and more than one round.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import statistics
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

sys.path.insert(0, str(pathlib.Path(__file__).parents[1] / "tests" / "attacks"))

from attack_harness import (
    OP_BINARY,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    Cost,
    Served,
    close_codes,
    measured,
    read_to_eof,
    send_until_cut,
    serve,
    ws_frame,
    ws_open,
)

from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import RST_STREAM

MiB = 1024 * 1024


async def oversized(server: Served) -> str:
    """Item 3: one binary frame that claims 1 TiB, streamed at link speed (up to 1 GiB)."""
    _, writer = await ws_open(server.port)

    async def endless() -> AsyncIterator[bytes]:
        yield ws_frame(OP_BINARY, length=1 << 40)
        chunk = bytes(MiB)
        for _ in range(1024):
            yield chunk

    sent = await send_until_cut(writer, endless(), stall=2.0)
    writer.transport.abort()
    return f"sent {sent / MiB:.0f} MiB before the server cut it"


async def pings(server: Served) -> str:
    """Item 4: PINGs (125-byte payload) as fast as possible, never reading (up to 26 MB)."""
    _, writer = await ws_open(server.port, rcvbuf=4096)
    ping = ws_frame(OP_PING, b"p" * 125)
    sent = await send_until_cut(writer, [ping * 1000] * 200, stall=2.0)
    writer.transport.abort()
    return f"sent {sent // 131} PINGs before the server cut or stopped reading"


async def fragments(server: Served) -> str:
    """Item 5: a text message then 1M empty continuation frames (6 MB), then read."""
    reader, writer = await ws_open(server.port)
    empty = ws_frame(OP_CONTINUATION, fin=False)
    flood = [ws_frame(OP_TEXT, b"x", fin=False)] + [empty * 10_000] * 100
    sent = await send_until_cut(writer, flood, stall=5.0)
    if writer.can_write_eof():
        writer.write_eof()
    try:
        codes = close_codes(await read_to_eof(reader))
    except TimeoutError:
        codes = []
    writer.transport.abort()
    return f"sent {sent // 6} frames; close codes {codes}"


async def stall(server: Served, hold: float = 10.0) -> str:
    """Item 6: 2 connections x 100 streams of /stream (10-byte chunks) at a zero window, held
    for ``hold`` seconds; counts the RST_STREAMs seen meanwhile."""
    zero_window = struct.pack(">HI", 0x4, 0)
    clients = []
    for _ in range(2):
        client = await RawH2Client.connect("127.0.0.1", server.port, settings=zero_window)
        for _ in range(100):
            client.request("/stream?chunks=100000&ms=0")
        clients.append(client)
    resets = 0

    async def count(client: RawH2Client) -> None:
        nonlocal resets
        while (frame := await client.read_frame()) is not None:
            resets += frame.type == RST_STREAM

    readers = [asyncio.ensure_future(count(c)) for c in clients]
    await asyncio.wait(readers, timeout=hold)
    for task in readers:
        task.cancel()
    for client in clients:
        await client.aclose()
    return f"{resets} of 200 streams reset within {hold:.0f} s"


ATTACKS: dict[str, Callable[[Served], Awaitable[str]]] = {
    "oversized": oversized,
    "pings": pings,
    "fragments": fragments,
    "stall": stall,
}


async def run(name: str) -> tuple[Cost, str, float]:
    async with serve() as server:
        started = time.monotonic()
        async with measured(server) as cost:
            outcome = await ATTACKS[name](server)
        return cost[0], outcome, time.monotonic() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(ATTACKS))
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    import lastcall

    print(f"lastcall from {pathlib.Path(lastcall.__file__).parent}")
    print(f"{'attack':10} {'MiB':>7} {'cpu s':>6} {'p99 ms':>8} {'fail':>4} {'secs':>5}  outcome")
    for name in args.only.split(","):
        rows = [await run(name) for _ in range(args.rounds)]
        growth = statistics.median(r[0].growth_kib for r in rows) / 1024
        cpu = statistics.median(r[0].cpu_seconds for r in rows)
        p99 = statistics.median(r[0].bystander.p99_ms for r in rows)
        failed = sum(len(r[0].bystander.failures) for r in rows)
        secs = statistics.median(r[2] for r in rows)
        print(
            f"{name:10} {growth:7.1f} {cpu:6.2f} {p99:8.1f} {failed:4d} {secs:5.1f}  {rows[-1][1]}"
        )


if __name__ == "__main__":
    asyncio.run(main())
