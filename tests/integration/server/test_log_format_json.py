"""``lastcall serve --log-format json``: every line one object, events with their own fields.

The process's whole stderr is read: a line that is not a JSON object fails,
so nothing (a startup line, a warning, the access log) escapes the format.
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

from test_cli_signals import DEADLINE, spawn

from lastcall.observe import events


async def test_json_lines_carry_the_event_fields() -> None:
    server = await spawn("--log-format", "json", "--access-log")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(DEADLINE):
        assert (await reader.read()).startswith(b"HTTP/1.1 200")
    writer.close()
    server.proc.send_signal(signal.SIGTERM)
    assert await server.wait() == 0

    lines: list[dict[str, Any]] = [json.loads(line) for line in server.log if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    by_event = {line["event"]: line for line in lines if "event" in line}
    access = by_event["request_completed"]
    assert access["logger"] == "lastcall.access"
    assert (access["method"], access["target"], access["status"]) == ("GET", "/?x=1", 200)
    assert access["http_version"] == "1.1" and access["duration"] >= 0.0
    assert access["message"].endswith('"GET /?x=1 HTTP/1.1" 200')
    # Every drain step of a SIGTERM, each with exactly its event's fields.
    for kind in (events.ServerStarted, events.DrainStarted, events.ListenerClosed, events.Drained):
        line = by_event[kind.name]
        names = {f for f in kind.__dataclass_fields__}
        assert set(line) == names | {"event", "time", "level", "logger", "message"}, kind.name
    assert by_event["drain_started"]["reason"] == "shutdown (SIGTERM)"
    assert isinstance(by_event["server_started"]["listeners"], list)
