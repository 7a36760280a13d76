"""HTTP/1.1 attacks against a ``lastcall serve`` subprocess (issue #15), each with
a bystander on its own connection that must see no failure, and a bound on
what the attacker costs the server: bytes taken in, RSS growth from /proc.

The figures before and after each fix, measured the same way over a longer
run, come from ``tests/attacks/measure.py``.
"""

from __future__ import annotations

import pytest
from attack_kit import (
    Bystander,
    MiB,
    attacker,
    endless_chunk_extension,
    endless_header_line,
    endless_trailer,
    pipeline_never_read,
    served,
)


async def test_pipelining_client_that_never_reads_is_held_at_tcp() -> None:
    """#15 item 1: once our outbound is full the connection stops reading and
    starts no queued request, so the attacker meets TCP backpressure: what it
    pushes stays in kernel buffers, not in the server (before: ~7 MiB/s of
    RSS growth, unbounded)."""
    async with served() as server, Bystander(server.port) as bystander:
        rss_before = server.rss_bytes()
        async with attacker(server.port, rcvbuf=4096) as sock:
            outcome = await pipeline_never_read(sock, cap=64 * MiB)
            growth = server.rss_bytes() - rss_before
        assert outcome.ended == "stalled", outcome
        assert growth < 6 * MiB, f"RSS grew {growth / MiB:.1f} MiB"
    assert not bystander.failures, bystander.failures
    assert bystander.latencies


@pytest.mark.parametrize(
    ("attack", "status"),
    [
        ("header_value", b"431"),
        ("header_name", b"431"),
        ("trailer", b"431"),
        ("chunk_extension", b"400"),
    ],
)
async def test_a_line_that_never_ends_is_cut_as_it_arrives(attack: str, status: bytes) -> None:
    """#15 items 2 and 8: a header value or name, a trailer, or a chunk extension
    that never ends is answered and cut within 8 MiB sent (the limits are 64 KiB
    and 16 KiB; the rest is what the kernels buffer); input after the cut is discarded,
    not parsed. Before: 131 MB (header line) or 20 MB (extension) taken in with
    no answer, one core pinned, quadratic joins."""
    async with served() as server, Bystander(server.port) as bystander:
        rss_before = server.rss_bytes()
        async with attacker(server.port) as sock:
            if attack == "chunk_extension":
                outcome = await endless_chunk_extension(sock, cap=64 * MiB)
            elif attack == "trailer":
                outcome = await endless_trailer(sock, cap=64 * MiB)
            else:
                outcome = await endless_header_line(
                    sock, cap=64 * MiB, name=attack == "header_name"
                )
            growth = server.rss_bytes() - rss_before
        assert outcome.ended == "answered", outcome
        # What the kernels buffer (loopback autotuning) is most of this.
        assert outcome.bytes_in < 8 * MiB, outcome
        assert outcome.answer.startswith(b"HTTP/1.1 " + status), outcome
        assert growth < 4 * MiB, f"RSS grew {growth / MiB:.1f} MiB"
    assert not bystander.failures, bystander.failures
