"""HTTP/1.1 attacks against a ``lastcall serve`` subprocess (issue #15), each with
a bystander on its own connection that must see no failure, and a bound on
what the attacker costs the server: bytes taken in, RSS growth from /proc.

The figures before and after each fix, measured the same way over a longer
run, come from ``tests/attacks/measure.py``.
"""

from __future__ import annotations

from attack_kit import Bystander, MiB, attacker, pipeline_never_read, served


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
