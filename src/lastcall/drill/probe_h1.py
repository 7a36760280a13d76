"""The HTTP/1.1 drain probe: two raw connections that watch a server shut down.

RFC 9112 §9.6 and DESIGN.md: a response in flight when draining starts
carries ``Connection: close`` and the connection closes after it; idle
keep-alive connections are closed; nothing is cut mid-response.

- connection A completes one request (so the server has certainly accepted
  the connection), then sends the in-flight request; the drill then signals;
- connection B completes one request and stays idle in keep-alive.

Afterwards: did A's response complete, and did it say ``Connection: close``?
Was B closed by the server (a clean EOF, not a reset) before it exited?
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import h11


@dataclass
class H1ProbeResult:
    """What the HTTP/1.1 probe saw."""

    connected: bool = False
    inflight_status: int | None = None
    inflight_completed: bool = False
    inflight_connection_close: bool = False
    idle_closed_by_server: bool = False
    idle_close_was_reset: bool = False
    signalled_at: float | None = None
    error: str | None = None


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    conn: h11.Connection,
    target: str,
    host: str,
    wait_timeout: float,
) -> tuple[int, bool, bool]:
    """Send one GET and read its response: (status, completed, connection: close)."""
    writer.write(
        conn.send(h11.Request(method="GET", target=target, headers=[("host", host)])) or b""
    )
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    status = 0
    close = False
    deadline = time.monotonic() + wait_timeout
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return status, False, close
            try:
                data = await asyncio.wait_for(reader.read(65536), remaining)
            except (TimeoutError, OSError):
                return status, False, close
            conn.receive_data(data)
            if not data:
                with contextlib.suppress(h11.RemoteProtocolError):
                    while (event := conn.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
                        if isinstance(event, h11.EndOfMessage):
                            return status, True, close
                return status, False, close
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
            close = any(
                name.lower() == b"connection" and b"close" in value.lower()
                for name, value in event.headers
            )
        elif isinstance(event, h11.EndOfMessage):
            return status, True, close
        elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
            return status, False, close


async def run_h1_probe(
    host: str,
    port: int,
    path: str,
    signal: Callable[[], Awaitable[None]],
    *,
    warm_path: str = "/",
    observe_timeout: float = 60.0,
    authority: str | None = None,
    tls: ssl.SSLContext | None = None,
    result: H1ProbeResult | None = None,
) -> H1ProbeResult:
    """Run the probe; ``signal`` is awaited once both connections are in place.

    ``result`` may be passed in so that a caller who ends the observation
    early (by cancelling) still has what was seen until then.
    """
    result = result if result is not None else H1ProbeResult()
    authority = authority or f"{host}:{port}"
    try:
        ra, wa = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls), 5.0)
        rb, wb = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls), 5.0)
    except (OSError, TimeoutError) as exc:
        result.error = f"probe could not connect: {exc}"
        await signal()
        return result
    result.connected = True
    ca = h11.Connection(h11.CLIENT)
    cb = h11.Connection(h11.CLIENT)
    try:
        await _exchange(ra, wa, ca, warm_path, authority, 10.0)
        await _exchange(rb, wb, cb, warm_path, authority, 10.0)
        ca.start_next_cycle()
        cb.start_next_cycle()
        inflight = asyncio.ensure_future(_exchange(ra, wa, ca, path, authority, observe_timeout))
        await asyncio.sleep(0)  # let the request bytes go out before the signal
        await wa.drain()
        result.signalled_at = time.monotonic()
        await signal()
        status, completed, close = await inflight
        result.inflight_status = status or None
        result.inflight_completed = completed
        result.inflight_connection_close = close
        try:
            data = await asyncio.wait_for(rb.read(1), observe_timeout)
            result.idle_closed_by_server = data == b""
        except ConnectionResetError:
            result.idle_closed_by_server = True
            result.idle_close_was_reset = True
        except TimeoutError:
            result.idle_closed_by_server = False
    except Exception as exc:  # the probe reports, it does not crash the drill
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        for writer in (wa, wb):
            writer.close()
    return result
