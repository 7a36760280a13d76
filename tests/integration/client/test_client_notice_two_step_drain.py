"""Which GOAWAY notice the application gets, against lastcall's own server
drained by the book (issue 10, bug 1).

``lastcall.server.Server.drain`` (what ``lastcall serve`` runs on SIGTERM)
drains in two steps: a first GOAWAY that rejects nothing (HTTP/2: last
processed id 2^31-1, RFC 9113 §6.8; HTTP/3: first rejected id 2^62-4, RFC 9114
§5.2), a PING, and once its ACK is back the final GOAWAY with the real id. The
client must publish both, and a response's ``closing`` signal must end up with
the real id, not the first GOAWAY's placeholder.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from lastcall_server import answer_lifespan, serving

from lastcall.testing.quic_certs import write_self_signed

BOUND = 10.0  # no step may take longer than this


@pytest.fixture(scope="module")
def cert_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_self_signed(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize("protocol", ["h2", "h3"])
async def test_final_goaway_updates_the_notice(
    protocol: str, cert_files: tuple[Path, Path]
) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await answer_lifespan(receive, send)
        arrived.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    try:
        async with (
            asyncio.timeout(BOUND),
            serving(app, protocol, cert_files, graceful_timeout=BOUND) as (server, client, base),
        ):
            notices = client.notices()
            slow = asyncio.create_task(client.get(base + "/slow"))
            await arrived.wait()
            server.drain(grace=BOUND)
            first = await anext(notices)
            final = await anext(notices)
            release.set()
            response = await slow
            assert response.content == b"done"
            latest = response.closing.notice
            assert await response.closing is latest
    finally:
        release.set()

    assert (first.source, first.reason, first.is_update) == ("remote", "goaway", False)
    assert (final.source, final.reason, final.is_update) == ("remote", "goaway", True)
    assert final.connection_id == first.connection_id
    if protocol == "h2":
        # The one request was stream 1: the server processed it and nothing above.
        assert (first.last_processed_id, final.last_processed_id) == (2**31 - 1, 1)
        assert final.first_rejected_id is None
    else:
        # The one request was stream 0: streams from 4 on were not processed.
        assert (first.first_rejected_id, final.first_rejected_id) == (2**62 - 4, 4)
        assert final.last_processed_id is None
    assert latest == final
