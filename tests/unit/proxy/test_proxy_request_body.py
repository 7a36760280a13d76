"""The streaming request body and its retry buffer, fed by a scripted ``receive`` (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from lastcall.proxy.forward import DownstreamGone, RequestBody, parse_grpc_timeout


def _receive(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _chunk(body: bytes, more: bool = True) -> dict[str, Any]:
    return {"type": "http.request", "body": body, "more_body": more}


async def test_a_small_body_is_replayed_whole() -> None:
    completed: list[bool] = []
    body = RequestBody(_receive(_chunk(b"bb"), _chunk(b"cc", more=False)), b"aa", limit=100)
    body.on_complete = lambda: completed.append(True)
    first = [c async for c in body.chunks()]
    second = [c async for c in body.chunks()]
    assert first == second == [b"aa", b"bb", b"cc"]
    assert body.is_complete and body.is_replayable and completed == [True]


async def test_an_attempt_cut_midway_is_resumed_from_the_start() -> None:
    body = RequestBody(_receive(_chunk(b"bb"), _chunk(b"cc", more=False)), b"aa", limit=100)
    attempt = body.chunks()
    assert await anext(attempt) == b"aa"
    assert await anext(attempt) == b"bb"
    await attempt.aclose()  # the upstream failed here
    assert [c async for c in body.chunks()] == [b"aa", b"bb", b"cc"]


async def test_past_the_limit_nothing_is_kept_and_no_retry() -> None:
    body = RequestBody(_receive(_chunk(b"b" * 8), _chunk(b"", more=False)), b"a" * 8, limit=10)
    assert [c async for c in body.chunks()] == [b"a" * 8, b"b" * 8]
    assert not body.is_replayable


async def test_a_first_chunk_over_the_limit_is_still_sent() -> None:
    body = RequestBody(_receive(_chunk(b"", more=False)), b"x" * 50, limit=10)
    assert [c async for c in body.chunks()] == [b"x" * 50]
    assert not body.is_replayable


async def test_stop_keeping_after_the_response_head() -> None:
    body = RequestBody(_receive(_chunk(b"bb", more=False)), b"aa", limit=100)
    attempt = body.chunks()
    assert await anext(attempt) == b"aa"
    body.stop_keeping()
    assert [c async for c in attempt] == [b"bb"]
    assert not body.is_replayable  # what came after the head was not kept


async def test_a_client_gone_mid_body_raises() -> None:
    body = RequestBody(_receive({"type": "http.disconnect"}), b"aa", limit=100)
    with pytest.raises(DownstreamGone):
        [c async for c in body.chunks()]


def test_grpc_timeout() -> None:
    assert parse_grpc_timeout(b"100m") == pytest.approx(0.1)
    assert parse_grpc_timeout(b"5S") == 5.0
    assert parse_grpc_timeout(b"1H") == 3600.0
    assert parse_grpc_timeout(b"250u") == pytest.approx(250e-6)
    for bad in (b"", b"S", b"123456789S", b"5s", b"-5S", b"5"):
        assert parse_grpc_timeout(bad) is None
