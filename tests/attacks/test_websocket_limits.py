"""WebSocket limits against a hostile peer (issue 15 items 3, 4, 5, 7), over 127.0.0.1.

Each test runs ``lastcall serve`` (the demo app echoes WebSocket messages) as
a subprocess, attacks it from one connection while a bystander makes a
request every 20 ms on another, and asserts the bound: the attacker is cut
off, the server grows by less than a stated amount, the bystander sees no
failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from attack_harness import (
    OP_BINARY,
    OP_CONTINUATION,
    close_codes,
    measured,
    read_to_eof,
    send_until_cut,
    serve,
    ws_frame,
    ws_open,
)

MiB = 1024 * 1024


async def test_oversized_frame_input_is_discarded_after_close_1009() -> None:
    """Item 3: past ``ws_max_message_size`` the server sends Close 1009 and from
    then on discards what arrives, unparsed. Before, it kept feeding wsproto
    through the lingering close and appended every byte to the message: a
    peer streaming one endless frame grew the server by link speed x
    ``lingering_close_timeout`` (a long one here, so the test sees it)."""
    env = {"LASTCALL_WS_MAX_MESSAGE_SIZE": str(MiB), "LASTCALL_LINGERING_CLOSE_TIMEOUT": "20"}
    async with serve(env=env) as server, measured(server) as cost:
        reader, writer = await ws_open(server.port)
        total = 96 * MiB

        async def endless_frame() -> AsyncIterator[bytes]:
            yield ws_frame(OP_BINARY, length=1 << 40)
            chunk = bytes(MiB)
            for _ in range(total // MiB):
                yield chunk

        await send_until_cut(writer, endless_frame())
        if writer.can_write_eof():
            writer.write_eof()
        received = await read_to_eof(reader)
        writer.close()
    print(cost[0])
    assert close_codes(received) == [1009]
    assert cost[0].growth_kib < 16 * 1024, cost[0]
    assert not cost[0].bystander.failures


async def test_continuation_without_a_message_is_failed_with_1002() -> None:
    """Item 7: a continuation frame with no message started is a protocol error
    (RFC 6455 §5.4): the server sends Close 1002 and stops reading. Before, it
    took wsproto's report for the peer's own Close, sent nothing, half-closed,
    and when the app then returned its Close 1000 was written after
    ``write_eof()``: ``RuntimeError`` in a task nobody awaited (uvloop reports
    ``is_closing()`` False after ``write_eof``, so the write guard missed it)."""
    async with serve() as server:
        reader, writer = await ws_open(server.port)
        writer.write(ws_frame(OP_CONTINUATION, b"no message started"))
        received = await read_to_eof(reader)
        writer.close()
        assert close_codes(received) == [1002]
        await server.stop()
    assert not [line for line in server.log if "Error" in line or "exception" in line], server.log
