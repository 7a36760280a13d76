"""Measure what one hostile connection costs ``lastcall serve``: issue #15's figures.

HTTP/1.1 (items 1, 2, 8), WebSocket (items 3, 4, 5) and HTTP/2 streams at a
zero window (item 6); #13's Slowloris on the HTTP/1.1 request head and on the
HTTP/2 preface and SETTINGS (``slowloris_*``: many connections, a byte or a
header line at a time, against ``--request-head-timeout SLOWLORIS_TIMEOUT``);
HTTP/3 stream and reset floods (``h3_*``, #13 item 2: what cut each, after how
many streams or frames); and #13's 10,000 idle connections (``idle_h1``, ``idle_h2``): RSS per idle connection, and what the
default ``max_connections`` (10,000) does with the ones past it.

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
import os
import pathlib
import sys
import time
from collections.abc import Awaitable, Callable

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from attack_kit import (
    H2_PREFACE,
    OP_BINARY,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    Bystander,
    MiB,
    Outcome,
    attacker,
    byte_by_byte,
    close_codes,
    endless_chunk_extension,
    endless_header_line,
    endless_trailer,
    header_lines,
    open_idle,
    pipeline_never_read,
    push,
    raise_own_file_limit,
    refused_at_accept,
    repeat,
    served,
    still_open,
    then_repeat,
    trickle,
    ws_frame,
    ws_handshake,
)
from h3_attack_kit import (
    H3Bystander,
    H3Outcome,
    H3Peer,
    beyond_the_limit,
    control_noise,
    incomplete_streams,
    malformed_requests,
    rapid_reset,
    served_h3,
    unknown_streams,
)

from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import RST_STREAM

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


def _frames_seen(outcome: Outcome) -> Outcome:
    """A WebSocket answer is frames, not a status line: say which Close came first."""
    codes = close_codes(outcome.answer)
    return Outcome(outcome.bytes_in, outcome.ended, b"close %d" % codes[0] if codes else b"")


async def _ws_oversized(port: int, seconds: float) -> Outcome:
    """Item 3: one WebSocket frame that claims 2^62 bytes, streamed at link speed."""
    async with attacker(port) as sock:
        await ws_handshake(sock)
        endless = then_repeat(ws_frame(OP_BINARY, length=1 << 62), bytes(MiB))
        outcome = await push(
            sock, endless, cap=1 << 40, stall_timeout=seconds, until_answered=False
        )
    return _frames_seen(outcome)


async def _ws_pings(port: int, seconds: float) -> Outcome:
    """Item 4: PINGs (125-byte payload) as fast as possible; never read a PONG."""
    async with attacker(port, rcvbuf=4096) as sock:
        await ws_handshake(sock)
        pings = repeat(ws_frame(OP_PING, b"p" * 125) * 1000)
        outcome = await push(sock, pings, cap=1 << 40, stall_timeout=seconds, until_answered=False)
    return _frames_seen(outcome)


async def _ws_fragments(port: int, seconds: float) -> Outcome:
    """Item 5: a message of 1M empty continuation frames (6 MB on the wire)."""
    async with attacker(port) as sock:
        await ws_handshake(sock)
        empty = ws_frame(OP_CONTINUATION, fin=False) * 10_000
        frames = then_repeat(ws_frame(OP_TEXT, b"x", fin=False), empty)
        cap = 7 + 1_000_000 * 6
        outcome = await push(sock, frames, cap=cap, stall_timeout=seconds, until_answered=False)
    return _frames_seen(outcome)


async def _h2_stall(port: int, seconds: float) -> Outcome:
    """Item 6: 2 connections x 100 streams of /stream (10-byte chunks) with
    SETTINGS_INITIAL_WINDOW_SIZE 0, never a WINDOW_UPDATE; ``ended`` counts
    the streams the server reset within ``seconds``."""
    clients = []
    for _ in range(2):
        client = await RawH2Client.connect("127.0.0.1", port, settings=b"\x00\x04\x00\x00\x00\x00")
        for _ in range(100):
            client.request("/stream?chunks=100000&ms=0")
        clients.append(client)
    resets = 0

    async def count(client: RawH2Client) -> None:
        nonlocal resets
        while (frame := await client.read_frame()) is not None:
            resets += frame.type == RST_STREAM

    readers = [asyncio.ensure_future(count(client)) for client in clients]
    await asyncio.wait(readers, timeout=max(0.5, seconds - 1.0))  # within measure()'s window
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for client in clients:
        await client.aclose()
    return Outcome(0, f"{resets}/200 reset")


#: The server's ``request_head_timeout`` for the Slowloris attacks, and theirs:
#: connections, and the pace of each (a header line or a byte every PACE s).
SLOWLORIS_TIMEOUT = 2.0
SLOWLORIS_CONNECTIONS = 200
SLOWLORIS_PACE = 0.2
#: A client's first SETTINGS: ENABLE_PUSH 0, MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE 65535.
_SETTINGS = (
    b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"
    b"\x00\x02\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x04\x00\x00\xff\xff"
)


def _slowloris(kind: str) -> Attack:
    """SLOWLORIS_CONNECTIONS trickling connections; ``ended`` says how many the
    server cut and after how long (min / median / max seconds from the first byte)."""

    async def run(port: int, seconds: float) -> Outcome:
        if kind == "h1":
            first, drip = b"GET / HTTP/1.1\r\nHost: a\r\n", header_lines
        elif kind == "h2_preface":
            first, drip = b"P", byte_by_byte(H2_PREFACE[1:] + _SETTINGS)
        else:  # the preface whole, then SETTINGS a byte at a time
            first, drip = H2_PREFACE, byte_by_byte(_SETTINGS)
        results = await asyncio.gather(
            *(
                trickle(port, first, drip, pace=SLOWLORIS_PACE, within=seconds - 1.0)
                for _ in range(SLOWLORIS_CONNECTIONS)
            )
        )
        cuts = sorted(r.cut_after for r in results if r.cut_after is not None)
        answer = results[0].answer.split(b"\r\n", 1)[0][:24]
        if results[0].answer[3:4] == b"\x04":  # a frame, not a status line
            answer = b"our SETTINGS, then close"
        if not cuts:
            return Outcome(0, f"0/{len(results)} cut", answer)
        spread = f"{cuts[0]:.2f}/{cuts[len(cuts) // 2]:.2f}/{cuts[-1]:.2f}s"
        return Outcome(0, f"{len(cuts)}/{len(results)} cut {spread}", answer)

    return run


ATTACKS: dict[str, Attack] = {
    "pipeline_never_read": _pipeline,  # item 1
    "header_value": _line("header_value"),  # item 2
    "header_name": _line("header_name"),  # item 2
    "trailer": _line("trailer"),  # item 2
    "chunk_extension": _line("chunk_extension"),  # item 8
    "ws_oversized": _ws_oversized,  # item 3
    "ws_pings": _ws_pings,  # item 4
    "ws_fragments": _ws_fragments,  # item 5
    # item 6; resets come after send_timeout (60 s): LASTCALL_SEND_TIMEOUT=5 to see them
    "h2_stall": _h2_stall,
    # #13: run with --request-head-timeout SLOWLORIS_TIMEOUT (see SERVE_ARGS)
    "slowloris_h1": _slowloris("h1"),
    "slowloris_h2_preface": _slowloris("h2_preface"),
    "slowloris_h2_settings": _slowloris("h2_settings"),
}
#: ``lastcall serve`` options an attack needs (the default server otherwise).
SERVE_ARGS: dict[str, list[str]] = {
    name: ["--request-head-timeout", str(SLOWLORIS_TIMEOUT)]
    for name in ATTACKS
    if name.startswith("slowloris")
}


H3Attack = Callable[[H3Peer], Awaitable[H3Outcome]]


async def _h3_incomplete(peer: H3Peer) -> H3Outcome:
    """100 streams each holding a HEADERS frame one byte short of the 64 KiB
    limit, then one stream past MAX_STREAMS."""
    held = await incomplete_streams(peer, held_bytes=65_535)
    if held.closed_by_server:
        return held
    return await beyond_the_limit(peer, 1)


H3_ATTACKS: dict[str, H3Attack] = {
    "h3_rapid_reset": lambda peer: rapid_reset(peer, 1_000_000),
    "h3_made_you_reset": lambda peer: malformed_requests(peer, 1_000_000),
    "h3_incomplete_streams": _h3_incomplete,
    "h3_unknown_streams": lambda peer: unknown_streams(peer, 10_000_000),
    "h3_control_noise": lambda peer: control_noise(peer, 1_000_000_000),
}


async def measure_h3(name: str, seconds: float) -> str:
    """One HTTP/3 attack for at most ``seconds`` (a cut usually comes first)."""
    async with served_h3() as server:
        proc = server.served
        rss_start, cpu_start = proc.rss_bytes(), proc.cpu_seconds()
        proc.reset_peak()
        async with H3Bystander(server.port, server=server) as bystander:
            await bystander.wait_answers(3)
            started = time.monotonic()
            async with server.connect() as peer:
                try:
                    async with asyncio.timeout(seconds):
                        outcome = await H3_ATTACKS[name](peer)
                except TimeoutError:
                    outcome = H3Outcome(peer.sent, peer.closed_by)
            attack_seconds = time.monotonic() - started
            await bystander.wait_answers(5)
            rss_end, peak = proc.rss_bytes(), proc.peak_rss_bytes()
            cpu = proc.cpu_seconds() - cpu_start
    load = os.getloadavg()[0]
    return (
        f"{name:22} {outcome.describe():58} after {attack_seconds:5.1f} s  "
        f"rss+{(rss_end - rss_start) / MiB:5.1f} MiB (peak +{(peak - rss_start) / MiB:5.1f})  "
        f"cpu={cpu:5.2f} s  bystander p99={bystander.p99() * 1000:6.1f} ms "
        f"n={len(bystander.latencies)} failures={len(bystander.failures)}  load={load:.1f}"
    )


async def measure(name: str, seconds: float) -> str:
    async with served(*SERVE_ARGS.get(name, [])) as server:
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


#: Idle connections per protocol: the default cap (10,000) less the bystander's slot.
IDLE_CONNECTIONS = 9_999
PAST_THE_CAP = 100
IDLE = {"idle_h1": "h1", "idle_h2": "h2"}


async def measure_idle(name: str) -> str:
    """Fill the default cap with idle connections of one protocol (the bystander
    connected first holds the last slot), then try ``PAST_THE_CAP`` more."""
    raise_own_file_limit(IDLE_CONNECTIONS + PAST_THE_CAP + 256)
    # Keep-alive raised so the first idle HTTP/1.1 connections outlive the opening.
    async with served("--keep-alive-timeout", "600") as server:
        async with Bystander(server.port) as bystander:
            await bystander.wait_answers(3)
            rss_start = server.rss_bytes()
            started = time.monotonic()
            idle = await open_idle(server.port, IDLE[name], IDLE_CONNECTIONS)
            opening = time.monotonic() - started
            kib = (server.rss_bytes() - rss_start) / 1024 / len(idle)
            answers = [await refused_at_accept(server.port) for _ in range(PAST_THE_CAP)]
            clean = sum(answer == b"" for answer in answers)
            await bystander.wait_answers(5)
            kept = sum(still_open(sock) for sock in idle)
            for sock in idle:
                sock.close()
            await bystander.wait_answers(3)
        return (
            f"{name:20} {len(idle)} idle in {opening:4.1f} s: {kib:5.1f} KiB RSS each; "
            f"{kept} still open; past the cap {clean}/{PAST_THE_CAP} closed cleanly at accept; "
            f"bystander p99={bystander.p99() * 1000:7.1f} ms n={len(bystander.latencies)} "
            f"failures={len(bystander.failures)}"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per attack (default 10)")
    names = [*ATTACKS, *H3_ATTACKS, *IDLE]
    parser.add_argument("attacks", nargs="*", help=f"some of {', '.join(names)} (default all)")
    args = parser.parse_args()
    unknown = set(args.attacks) - set(names)
    if unknown:
        parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    for name in args.attacks or names:
        if name in IDLE:
            print(await measure_idle(name), flush=True)
            continue
        run = measure_h3 if name in H3_ATTACKS else measure
        print(await run(name, args.seconds), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
