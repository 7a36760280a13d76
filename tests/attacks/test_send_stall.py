"""HTTP/2 streams whose peer gives no window (issue 15 item 6), over 127.0.0.1.

A client that opens streams with ``SETTINGS_INITIAL_WINDOW_SIZE = 0`` and
never sends a WINDOW_UPDATE receives nothing of any response body: the server
holds what the apps wrote. Two bounds apply:

- what one stream holds is bounded by bytes *including* the cost of each
  queued chunk (the demo app's ``/stream`` writes ~10-byte chunks: counted as
  payload only, each stream held ~330 KiB for a 64 KiB bound);
- ``send_timeout``: a stream whose peer took nothing for that long is
  reset (RST_STREAM CANCEL) and its app sees ``http.disconnect`` (nginx's
  ``send_timeout``). Before, such streams were held forever.
"""

from __future__ import annotations

import asyncio
import struct

from attack_kit import WAIT_TIMEOUT, Bystander, MiB, served

from lastcall.testing import RawH2Client
from lastcall.testing.h2_raw_client import CANCEL, RST_STREAM

#: SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113 §6.5.2) = 0: no DATA on any stream.
ZERO_WINDOW = struct.pack(">HI", 0x4, 0)
STREAMS = 20
CONNECTIONS = 1


async def _stall_streams(port: int) -> RawH2Client:
    client = await RawH2Client.connect("127.0.0.1", port, settings=ZERO_WINDOW)
    for _ in range(STREAMS):
        client.request("/stream?chunks=100000&ms=0")
    return client


async def _resets(client: RawH2Client) -> dict[int, int]:
    """Read until every stream was reset; stream id -> error code."""
    resets: dict[int, int] = {}
    async with asyncio.timeout(WAIT_TIMEOUT):
        while len(resets) < STREAMS:
            frame = await client.read_until(RST_STREAM, within=WAIT_TIMEOUT)
            resets[frame.stream_id] = frame.error_code
    return resets


async def test_streams_at_a_zero_window_are_bounded_and_reset_after_the_send_timeout() -> None:
    async with served("--send-timeout", "1") as server, Bystander(server.port) as bystander:
        server.reset_peak()
        rss_before = server.rss_bytes()
        clients = [await _stall_streams(server.port) for _ in range(CONNECTIONS)]
        results = await asyncio.gather(*(_resets(client) for client in clients))
        growth = server.peak_rss_bytes() - rss_before
        for client in clients:
            await client.aclose()
    for resets in results:
        assert set(resets.values()) == {CANCEL}
    # 20 streams x 64 KiB of payload = 1.25 MiB (the engine-level bound is in
    # tests/unit/http2); counted without the chunks' overhead it was ~6.5 MiB.
    assert growth < 8 * MiB, f"peak RSS grew {growth / MiB:.1f} MiB"
    assert not bystander.failures, bystander.failures
