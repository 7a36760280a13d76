"""The drill's load: N workers sending requests for a fixed time, through lastcall's client.

Outcome of each request, as the drill counts it:

- **succeeded**: a complete response arrived (any status the server chose);
- **safely retried**: it failed in a way that proves the server never
  processed it (``LastcallError.is_safe_to_retry``: refused connection,
  GOAWAY above the last id, REFUSED_STREAM, H3_REQUEST_REJECTED, a QUIC
  handshake that timed out); the worker sends it again. The
  client's own transparent replays are added from its counters;
- **lost**: it failed after the server may have accepted it (a reset, a cut
  connection, a response that never finished), or -- when the drill aims at
  a proxy -- it was answered with one of ``failing_statuses`` (a 502, 503 or
  504 is a proxy's way of losing a request). That is the number the drill
  exists to drive to zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lastcall.errors import LastcallError

from .timeline import CONNECTION_SAMPLE_INTERVAL, Timeline

#: Longest pause between a worker's attempts while the server refuses them.
#: The pause starts at ``retry_pause`` and doubles up to this: a refused QUIC
#: connect costs a TLS key pair and a new socket, so twenty workers retrying
#: every 10 ms would starve the drill's own loop (and blur its timings). 0.1 s
#: bounds what it adds to a restart's downtime.
MAX_RETRY_PAUSE = 0.1


@dataclass
class LoadStats:
    """Counters and samples collected by the workers."""

    sent: int = 0
    succeeded: int = 0
    lost: int = 0
    safely_retried: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: (monotonic start time, latency in seconds) of each successful request.
    samples: list[tuple[float, float]] = field(default_factory=list)


def _make_client(protocol: str, verify: bool | str, timeline: Timeline | None = None) -> Any:
    from lastcall.client import Client  # the client is ours; imported late to keep drill light
    from lastcall.client.notices import ClosingNotice

    def on_notice(notice: ClosingNotice) -> None:
        assert timeline is not None
        if notice.source != "remote":
            return  # our own pool's decisions are not the server's drain
        if notice.last_processed_id is not None:
            ident: int | None = notice.last_processed_id
            detail = f"GOAWAY last_stream_id={ident}"
        elif notice.first_rejected_id is not None:
            ident = notice.first_rejected_id
            detail = f"GOAWAY first_rejected_id={ident}"
        else:
            ident, detail = None, "Connection: close"
        debug = notice.debug_data.decode("utf-8", "replace")
        kind = "goaway" if ident is not None else "connection_close"
        detail += f" {debug!r}" if debug else ""
        timeline.wire(time.monotonic(), "load", kind, detail, ident, notice.connection_id)

    hook = on_notice if timeline is not None else None
    if protocol == "h3":
        return Client(http1=False, http3=True, verify=verify, on_notice=hook)
    if protocol == "h2":
        return Client(http1=False, http2=True, verify=verify, on_notice=hook)
    return Client(http1=True, http2=False, verify=verify, on_notice=hook)


def _lost(stats: LoadStats, timeline: Timeline | None, started: float, why: str) -> None:
    """Count one lost request; ``why`` is the exception's name, or ``HTTP 502``."""
    stats.lost += 1
    stats.errors[f"lost:{why}"] += 1
    if timeline is not None:
        timeline.request(started, time.monotonic(), "lost", why)


async def _sample_connections(client: Any, timeline: Timeline) -> None:
    """Count the client's usable and draining connections every sample interval."""
    from lastcall.client.pool import ConnState

    while True:
        states = [conn.state for conn in client.pool.connections()]
        timeline.sample_connections(
            sum(1 for s in states if s is ConnState.READY),
            sum(1 for s in states if s is ConnState.DRAINING),
        )
        await asyncio.sleep(CONNECTION_SAMPLE_INTERVAL)


async def run_load(
    url: str,
    protocol: str,
    *,
    concurrency: int,
    duration: float,
    method: str = "GET",
    stop: asyncio.Event | None = None,
    retry_pause: float = 0.01,
    verify: bool | str = False,
    timeline: Timeline | None = None,
    failing_statuses: frozenset[int] = frozenset(),
) -> LoadStats:
    """Drive load at ``url`` until ``duration`` has passed (or ``stop`` is set).

    ``protocol`` is "h1", "h2" (cleartext or, for an ``https://`` url, TLS with
    ALPN) or "h3" (QUIC to an ``https://`` url); ``verify`` as
    ``Client(verify=)``. With a ``timeline``, every attempt, every closing
    notice (GOAWAY, ``Connection: close``) and the client's connection counts
    are stamped into it.
    """
    stats = LoadStats()
    deadline = time.monotonic() + duration
    stop = stop or asyncio.Event()
    body = b"drill" if method in ("POST", "PUT", "PATCH") else None

    async with _make_client(protocol, verify, timeline) as client:

        async def worker() -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                stats.sent += 1
                pause = retry_pause
                while True:
                    attempt = time.monotonic()
                    try:
                        response = await client.request(method, url, content=body)
                        await response.aread()
                    except LastcallError as exc:
                        if exc.is_safe_to_retry and time.monotonic() < deadline + 30.0:
                            stats.safely_retried += 1
                            stats.errors[f"retried:{type(exc).__name__}"] += 1
                            if timeline is not None:
                                timeline.request(
                                    attempt, time.monotonic(), "retried", type(exc).__name__
                                )
                            # Nothing to wait on but the replacement server: a short,
                            # bounded pause between attempts.
                            await asyncio.sleep(pause)
                            pause = min(pause * 2, MAX_RETRY_PAUSE)
                            continue
                        _lost(stats, timeline, started, type(exc).__name__)
                    except OSError as exc:
                        _lost(stats, timeline, started, type(exc).__name__)
                    else:
                        if response.status_code in failing_statuses:
                            _lost(stats, timeline, started, f"HTTP {response.status_code}")
                            break
                        ended = time.monotonic()
                        stats.succeeded += 1
                        stats.samples.append((started, ended - started))
                        if timeline is not None:
                            timeline.request(started, ended, "ok")
                    break

        sampler = (
            asyncio.create_task(_sample_connections(client, timeline))
            if timeline is not None
            else None
        )
        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            if sampler is not None:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
        # The client's transparent replays (GOAWAY, REFUSED_STREAM, H3_REQUEST_REJECTED).
        stats.safely_retried += int(client.stats.replays)
    return stats
