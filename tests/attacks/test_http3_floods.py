"""HTTP/3 stream and reset floods against ``lastcall serve --quic-bind``, each with a
bystander on another QUIC connection that must see no failure.

QUIC's MAX_STREAMS bounds how many request streams are open at once; aioquic
gives a stream back for each one that closes, so it bounds nothing about churn,
and it widens flow-control windows as it delivers, so frames we ignore cost the
peer nothing. The engine's budgets (``Http3Config``; ``--quic-reset-burst``,
``--quic-ignored-frame-burst``, docs/http3.md "Budgets") cut those floods with
CONNECTION_CLOSE(H3_EXCESSIVE_LOAD); what aioquic bounds itself (streams past
the limit) is checked too. The attacker is aioquic's QUIC client; the bounds
here are generous, the measured figures come from ``measure.py``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import pytest

pytest.importorskip("aioquic")

from attack_kit import MiB
from h3_attack_kit import (
    EXCESSIVE_LOAD,
    STREAM_LIMIT_ERROR,
    H3Bystander,
    H3Outcome,
    H3Peer,
    H3Server,
    beyond_the_limit,
    control_noise,
    incomplete_streams,
    malformed_requests,
    rapid_reset,
    served_h3,
    unknown_streams,
)

pytestmark = pytest.mark.peer("aioquic")

#: Memory one abusive connection may make the server keep (RSS growth).
MEMORY_BOUND = 10 * MiB
#: The reset budget: 1000 streams, and 33 more per second the attack lasts.
RESET_BURST, RESET_REFILL = 1_000, 33.0
#: The ignored-frame budget: 1000, and 100 more per second.
IGNORED_BURST, IGNORED_REFILL = 1_000, 100.0
#: Streams the attacker may have sent but the server not yet counted at the
#: cut: MAX_STREAMS' 100 open ones, plus the next batch of credit (aioquic
#: sends MAX_STREAMS in steps of about half of it).
IN_FLIGHT = 200


class Attacked:
    """What one attack left behind: its outcome and how long it ran, the server's
    RSS growth, and ``budgets_tripped_total`` scraped from ``--metrics-bind``."""

    def __init__(
        self, outcome: H3Outcome, seconds: float, growth: int, tripped: dict[str, float]
    ) -> None:
        self.outcome = outcome
        self.seconds = seconds
        self.growth = growth
        self.tripped = tripped

    def assert_budget_cut(self, reason: str, burst: int, refill: float) -> None:
        """Cut by a budget: after its burst, within what it refilled while the
        attack ran (the bound grows with the time the loaded machine took)."""
        self.assert_cut_by(reason)
        bound = burst + refill * self.seconds + IN_FLIGHT
        assert burst <= self.outcome.sent <= bound, (self.outcome.describe(), bound)

    def assert_cut_by(self, reason: str) -> None:
        """CONNECTION_CLOSE(H3_EXCESSIVE_LOAD, ``reason``), counted once by the metrics."""
        close = self.outcome.close
        assert close is not None, self.outcome.describe()
        assert (close.error_code, close.reason_phrase) == (EXCESSIVE_LOAD, reason), (
            self.outcome.describe()
        )
        assert close.frame_type is None  # an application (HTTP/3) close, not a transport one
        assert self.tripped == {reason: 1.0}, self.tripped
        assert self.growth < MEMORY_BOUND, self.growth


async def _attack(run: Callable[[H3Peer], Awaitable[H3Outcome]]) -> Attacked:
    """Serve, run the bystander and one attacking connection."""
    async with served_h3("--metrics-bind", "127.0.0.1:0") as server:
        before = server.served.rss_bytes()
        async with H3Bystander(server.port, server=server) as bystander:
            await bystander.wait_answers(3)
            async with server.connect() as peer:
                started = time.monotonic()
                outcome = await run(peer)
                seconds = time.monotonic() - started
            await bystander.wait_answers(5)  # the server still serves others after the cut
        growth = server.served.rss_bytes() - before
        tripped = await _budgets_tripped(server)
    print(
        f"{outcome.describe()} in {seconds:.1f}s rss_growth={growth / MiB:.1f}MiB "
        f"bystander_p99={bystander.p99() * 1000:.1f}ms n={len(bystander.latencies)}"
    )
    assert not bystander.failures, bystander.failures
    return Attacked(outcome, seconds, growth, tripped)


async def _budgets_tripped(server: H3Server) -> dict[str, float]:
    """``lastcall_budgets_tripped_total`` by reason, from the server's metrics endpoint."""
    line = await server.served.wait_for_log("metrics on http://")
    match = re.search(r"http://([\d.]+):(\d+)/metrics", line)
    assert match is not None, line
    reader, writer = await asyncio.open_connection(match.group(1), int(match.group(2)))
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(10):
        text = (await reader.read()).decode()
    writer.close()
    samples = re.findall(r'^lastcall_budgets_tripped_total\{reason="([^"]*)"\} (\S+)$', text, re.M)
    return {reason: float(value) for reason, value in samples}


async def test_rapid_reset_is_cut_within_the_reset_budget() -> None:
    """CVE-2023-44487 over HTTP/3: HEADERS, then RESET_STREAM and STOP_SENDING."""
    attacked = await _attack(lambda peer: rapid_reset(peer, 20_000))
    attacked.assert_budget_cut("too many stream resets", RESET_BURST, RESET_REFILL)


async def test_made_you_reset_counts_resets_the_server_is_provoked_into() -> None:
    """CVE-2025-8671 over HTTP/3: malformed requests the server must reset itself."""
    attacked = await _attack(lambda peer: malformed_requests(peer, 20_000))
    attacked.assert_budget_cut("too many stream errors", RESET_BURST, RESET_REFILL)


async def test_streams_left_incomplete_are_held_up_to_the_limit_then_cut() -> None:
    """Request streams whose header section never ends, up to MAX_STREAMS (100),
    each holding 16 KiB of a HEADERS frame; the bystander is still served; a
    stream past the limit is aioquic's STREAM_LIMIT_ERROR (no budget of ours)."""

    async def flood(peer: H3Peer) -> H3Outcome:
        held = await incomplete_streams(peer, held_bytes=16_384)
        assert held.close is None and held.sent == 100, held.describe()
        return await beyond_the_limit(peer, 10)

    attacked = await _attack(flood)
    close = attacked.outcome.close
    assert close is not None and close.error_code == STREAM_LIMIT_ERROR, attacked.outcome.describe()
    assert close.frame_type is not None  # QUIC's own (transport) close
    assert attacked.tripped == {}, attacked.tripped
    assert attacked.growth < MEMORY_BOUND, attacked.growth


async def test_unknown_stream_types_are_cut() -> None:
    """Unidirectional streams of a reserved type, churned as fast as credit comes back."""
    attacked = await _attack(lambda peer: unknown_streams(peer, 50_000))
    attacked.assert_budget_cut("flood of unknown streams", IGNORED_BURST, IGNORED_REFILL)


async def test_noise_on_the_control_stream_is_cut() -> None:
    """Reserved (ignored) frame types on the control stream, 2 bytes each."""
    attacked = await _attack(lambda peer: control_noise(peer, 10_000_000))
    attacked.assert_cut_by("flood of ignored frames")
