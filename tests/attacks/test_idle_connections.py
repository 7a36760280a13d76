"""Many idle connections against ``lastcall serve`` (issue #13 item 2): what each
costs, and what ``max_connections`` does at the cap, with a bystander that
connected first and must see no failure.

Idle means: HTTP/1.1, one keep-alive ``GET /`` answered and then nothing;
HTTP/2 (h2c, prior knowledge), the preface and SETTINGS exchanged both ways and
then nothing. The bystander holds one slot, the idle connections fill the rest
up to the cap, and every connection past it is closed at accept before a byte
is read (a clean FIN: the peer reads EOF, never a reset) while those already
open stay open and the bystander keeps being answered.

CI runs ``IDLE_CONNECTIONS`` per protocol against ``--max-connections`` just
above it, to stay fast; ``tests/attacks/measure.py idle_h1 idle_h2`` runs the
full 10,000 against the default cap (10,000) and prints the KiB per connection.
``--keep-alive-timeout`` is raised here only so that the first idle HTTP/1.1
connections outlive the opening of the last (its default, 5 s, would close
them: that is the keep-alive limit working, not what is measured);
``http2_idle_timeout``'s default (60 s) already outlives it.
"""

from __future__ import annotations

import pytest
from attack_kit import (
    Bystander,
    open_idle,
    raise_own_file_limit,
    refused_at_accept,
    served,
    still_open,
)

#: Idle connections per protocol in CI (the cap is this plus the bystander).
IDLE_CONNECTIONS = 2_000
#: Connections tried past the cap; each must be closed cleanly at accept.
PAST_THE_CAP = 50
#: RSS growth per idle connection allowed (measured: ~8 KiB for HTTP/2).
KIB_PER_CONNECTION_BOUND = 48


@pytest.mark.parametrize("protocol", ["h1", "h2"])
async def test_idle_connections_fill_the_cap_and_the_rest_are_closed_at_accept(
    protocol: str,
) -> None:
    raise_own_file_limit(IDLE_CONNECTIONS + PAST_THE_CAP + 256)
    cap = IDLE_CONNECTIONS + 1
    args = ["--max-connections", str(cap), "--keep-alive-timeout", "600"]
    async with served(*args) as server, Bystander(server.port) as bystander:
        await bystander.wait_answers(3)  # connected, so it holds a slot
        rss_before = server.rss_bytes()
        idle = await open_idle(server.port, protocol, IDLE_CONNECTIONS)
        try:
            kib_per_connection = (server.rss_bytes() - rss_before) / 1024 / len(idle)
            print(f"\n{protocol}: {len(idle)} idle, {kib_per_connection:.1f} KiB RSS each")
            answers = [await refused_at_accept(server.port) for _ in range(PAST_THE_CAP)]
            assert answers == [b""] * PAST_THE_CAP
            await server.wait_for_log("connection limit reached")
            await bystander.wait_answers(5)
            kept = sum(still_open(sock) for sock in idle)
            assert kept == len(idle)
            assert kib_per_connection < KIB_PER_CONNECTION_BOUND
        finally:
            for sock in idle:
                sock.close()
        await bystander.wait_answers(3)
    assert not bystander.failures, bystander.failures
