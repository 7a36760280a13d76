"""An HTTP/3 test peer we did not write: aioquic's QUIC client and its H3 layer.

``H3Client`` records every QUIC and H3 event in order, so a test can assert
what the server sent (resets, STOP_SENDING, GOAWAY ids, the close) and wait
for it as an event, never for a time. aioquic's H3 layer ignores a GOAWAY it
receives, which lets a test send a request that races a drain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aioquic._buffer import Buffer
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3 import events as h3e
from aioquic.h3.connection import H3Connection
from aioquic.quic import events as qe
from aioquic.quic.configuration import QuicConfiguration
from server_harness import Running

__all__ = ["BOUND", "H3Client", "client_configuration", "h3_connect"]

BOUND = 10.0  # no step of a test may take longer than this


class H3Client(QuicConnectionProtocol):
    """aioquic's asyncio protocol + aioquic's H3Connection; records every event in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.events: list[object] = []
        self.control: dict[int, bytearray] = {}
        self.ended: set[int] = set()  # kept as events come: predicates stay O(1)
        self.changed = asyncio.Event()

    def quic_event_received(self, event: qe.QuicEvent) -> None:
        self.events.append(event)
        if isinstance(event, qe.StreamDataReceived) and event.stream_id & 2:
            self.control.setdefault(event.stream_id, bytearray()).extend(event.data)
        for h3_event in self.h3.handle_event(event):
            self.events.append(h3_event)
            if (
                isinstance(h3_event, h3e.DataReceived | h3e.HeadersReceived)
                and h3_event.stream_ended
            ):
                self.ended.add(h3_event.stream_id)
        self.changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(BOUND):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def request(
        self,
        path: bytes,
        method: bytes = b"GET",
        body: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> int:
        stream_id = self._quic.get_next_available_stream_id()
        head = [
            (b":method", method),
            (b":scheme", b"https"),
            (b":authority", b"localhost"),
            (b":path", path),
            *(headers or []),
        ]
        self.h3.send_headers(stream_id, head, end_stream=not body)
        if body:
            self.h3.send_data(stream_id, body, end_stream=True)
        self.transmit()
        return stream_id

    def index(self, predicate: Callable[[object], bool]) -> int:
        return next(i for i, e in enumerate(self.events) if predicate(e))

    def headers(self, stream_id: int) -> list[list[tuple[bytes, bytes]]]:
        return [
            e.headers
            for e in self.events
            if isinstance(e, h3e.HeadersReceived) and e.stream_id == stream_id
        ]

    def body(self, stream_id: int) -> tuple[bytes, bool]:
        data = [
            e for e in self.events if isinstance(e, h3e.DataReceived) and e.stream_id == stream_id
        ]
        return b"".join(e.data for e in data), any(e.stream_ended for e in data)

    def is_complete(self, stream_id: int) -> bool:
        return stream_id in self.ended

    def reset_code(self, stream_id: int) -> int | None:
        for e in self.events:
            if isinstance(e, qe.StreamReset) and e.stream_id == stream_id:
                return e.error_code
        return None

    def close_code(self) -> int | None:
        for e in self.events:
            if isinstance(e, qe.ConnectionTerminated):
                return e.error_code
        return None

    def goaway_ids(self) -> list[int]:
        """Every GOAWAY id the server sent on its control stream, in order."""
        for raw in self.control.values():
            buf = Buffer(data=bytes(raw))
            if buf.pull_uint_var() != 0:  # not the control stream
                continue
            ids = []
            while not buf.eof():
                frame_type, length = buf.pull_uint_var(), buf.pull_uint_var()
                payload = buf.pull_bytes(length)
                if frame_type == 0x7:
                    ids.append(Buffer(data=payload).pull_uint_var())
            return ids
        return []


def client_configuration(certfile: Path) -> QuicConfiguration:
    return QuicConfiguration(
        is_client=True, alpn_protocols=["h3"], cafile=str(certfile), server_name="localhost"
    )


def h3_connect(run: Running, certfile: Path) -> Any:
    return connect(
        "127.0.0.1",
        run.server.quic_port,
        configuration=client_configuration(certfile),
        create_protocol=H3Client,
    )
