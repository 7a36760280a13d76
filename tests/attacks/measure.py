"""Measure what one hostile HTTP/1.1 connection costs ``lastcall serve``: issue #15's figures.

For each attack: a fresh ``lastcall serve`` (demo app), a bystander making a
request every 20 ms on its own connection, and the attacker for ``--seconds``
(or until the server answers it). Reported: RSS growth (VmRSS at the end and
its peak, from /proc), the server's CPU seconds over the run, bytes the
attacker got in, how it ended, and the bystander's p99 and failures.

Before/after a fix, run the same command against both trees::

    git archive <commit-before> src | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before/src python tests/attacks/measure.py
    PYTHONPATH=$PWD/src python tests/attacks/measure.py

This is a measurement, not a test: the bounds the tests assert are in
``test_attacks_http1.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import pathlib
import sys
import time
from collections.abc import Awaitable, Callable

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from attack_kit import (
    Bystander,
    MiB,
    Outcome,
    attacker,
    endless_chunk_extension,
    endless_header_line,
    endless_trailer,
    pipeline_never_read,
    served,
)

Attack = Callable[[int, float], Awaitable[Outcome]]


async def _pipeline(port: int, seconds: float) -> Outcome:
    end_at = time.monotonic() + seconds
    async with attacker(port, rcvbuf=4096) as sock:
        return await pipeline_never_read(sock, cap=1 << 40, stall_timeout=seconds, end_at=end_at)


def _line(kind: str) -> Attack:
    async def run(port: int, seconds: float) -> Outcome:
        options = {"cap": 1 << 40, "stall_timeout": seconds, "end_at": time.monotonic() + seconds}
        async with attacker(port) as sock:
            if kind == "chunk_extension":
                return await endless_chunk_extension(sock, **options)
            if kind == "trailer":
                return await endless_trailer(sock, **options)
            return await endless_header_line(sock, name=kind == "header_name", **options)

    return run


ATTACKS: dict[str, Attack] = {
    "pipeline_never_read": _pipeline,  # item 1
    "header_value": _line("header_value"),  # item 2
    "header_name": _line("header_name"),  # item 2
    "trailer": _line("trailer"),  # item 2
    "chunk_extension": _line("chunk_extension"),  # item 8
}


async def measure(name: str, seconds: float) -> str:
    async with served() as server:
        rss_start = server.rss_bytes()
        cpu_start = server.cpu_seconds()
        peak = rss_start
        async with Bystander(server.port) as bystander:
            started = time.monotonic()
            task = asyncio.create_task(ATTACKS[name](server.port, seconds))
            while not task.done() and time.monotonic() - started < seconds + 1.0:
                peak = max(peak, server.rss_bytes())
                await asyncio.wait({task}, timeout=0.1)  # sample every 100 ms
            if task.done():
                outcome = task.result()
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                outcome = Outcome(-1, "still going")
            attack_seconds = time.monotonic() - started
            # Let the bystander run to the end of the period either way.
            while time.monotonic() - started < seconds:
                peak = max(peak, server.rss_bytes())
                await asyncio.sleep(0.1)
            rss_end = server.rss_bytes()
            cpu = server.cpu_seconds() - cpu_start
        answer = outcome.answer.split(b"\r\n", 1)[0].decode(errors="replace")
        taken = "?" if outcome.bytes_in < 0 else f"{outcome.bytes_in / MiB:.1f}"
        return (
            f"{name:20} ended={outcome.ended:11} after {attack_seconds:5.1f} s  "
            f"in={taken:>7} MiB  answer={answer or '-':24} "
            f"rss+{(rss_end - rss_start) / MiB:6.1f} MiB (peak +{(peak - rss_start) / MiB:6.1f})  "
            f"cpu={cpu:5.2f} s  bystander p99={bystander.p99() * 1000:7.1f} ms "
            f"n={len(bystander.latencies)} failures={len(bystander.failures)}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per attack (default 10)")
    parser.add_argument("attacks", nargs="*", help=f"some of {', '.join(ATTACKS)} (default all)")
    args = parser.parse_args()
    unknown = set(args.attacks) - set(ATTACKS)
    if unknown:
        parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    for name in args.attacks or ATTACKS:
        print(await measure(name, args.seconds), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
