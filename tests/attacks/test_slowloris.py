"""Slowloris with a bystander: many connections trickle a request head that never
ends, each must be cut by its named deadline while a bystander is served.

- HTTP/1.1: a request line and one more header line every ``PACE`` seconds
  (slowloris itself). ``request_head_timeout`` runs from the head's first
  byte, so the lines that keep coming do not move it: 408 and close.
- HTTP/2 preface: the 24-byte client preface and the SETTINGS frame that must
  follow it (RFC 9113 §3.4), a byte every ``PACE`` seconds. On the shared
  HTTP/1.1 + h2c port a partial preface is bounded like a request head; once
  it is complete, the client's SETTINGS must come within the same timeout.

The timeout is set small here (``--request-head-timeout``); each connection's
figure is how long it lived from its first byte. The exact numbers (and RSS,
bystander p99) come from ``measure.py slowloris_h1 slowloris_h2_preface
slowloris_h2_settings``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from attack_kit import (
    H2_PREFACE,
    Bystander,
    Trickled,
    byte_by_byte,
    header_lines,
    served,
    trickle,
)

#: The server's ``request_head_timeout`` in these tests.
HEAD_TIMEOUT = 1.0
#: Connections per attack, and the attacker's pace between two drips.
CONNECTIONS = 40
PACE = 0.1
#: A client's first SETTINGS (RFC 9113 §6.5): ENABLE_PUSH 0, MAX_CONCURRENT_STREAMS
#: 100, INITIAL_WINDOW_SIZE 65535. 27 bytes: at PACE it takes longer than the timeout.
SETTINGS = (
    b"\x00\x00\x12\x04\x00\x00\x00\x00\x00"
    b"\x00\x02\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x04\x00\x00\xff\xff"
)
#: Bound on waiting for the server to cut a connection (generous: a loaded machine).
CUT_WITHIN = 20.0


async def _slowloris(first: bytes, drip: Callable[[int], bytes]) -> list[Trickled]:
    """Serve with the small head timeout; run the bystander and the trickling connections."""
    async with served("--request-head-timeout", str(HEAD_TIMEOUT)) as server:
        async with Bystander(server.port) as bystander:
            results = await asyncio.gather(
                *(
                    trickle(server.port, first, drip, pace=PACE, within=CUT_WITHIN)
                    for _ in range(CONNECTIONS)
                )
            )
            await bystander.wait_answers(5)  # and the server still serves afterwards
        assert not bystander.failures, bystander.failures
    cuts = sorted(r.cut_after for r in results if r.cut_after is not None)
    print(f"cut {len(cuts)}/{len(results)} after {cuts[:1]}..{cuts[-1:]} s")
    return results


def _all_cut_by_the_deadline(results: list[Trickled]) -> None:
    assert all(r.cut_after is not None for r in results), "a connection outlived CUT_WITHIN"
    # Not before the deadline (the trickle itself never completes a head).
    assert min(r.cut_after or 0.0 for r in results) >= HEAD_TIMEOUT * 0.9


async def test_http1_head_trickle_is_cut_by_the_head_timeout() -> None:
    results = await _slowloris(b"GET / HTTP/1.1\r\nHost: a\r\n", header_lines)
    _all_cut_by_the_deadline(results)
    for result in results:
        assert result.answer.startswith(b"HTTP/1.1 408"), result.answer[:80]


async def test_http2_preface_trickle_is_cut_by_the_head_timeout() -> None:
    """51 bytes at PACE: the preface alone takes 2.4 s, more than the timeout."""
    preface = H2_PREFACE + SETTINGS
    results = await _slowloris(preface[:1], byte_by_byte(preface[1:]))
    _all_cut_by_the_deadline(results)


async def test_http2_settings_trickle_is_cut_by_the_head_timeout() -> None:
    """The preface whole, then its SETTINGS frame a byte at a time: the server's
    own SETTINGS goes out, but no stream is served before the client's arrive."""
    results = await _slowloris(H2_PREFACE, byte_by_byte(SETTINGS))
    _all_cut_by_the_deadline(results)
    for result in results:
        assert result.answer[3:4] == b"\x04", result.answer[:20]  # our SETTINGS came first
