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
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lastcall.errors import LastcallError

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


def _make_client(protocol: str, verify: bool | str) -> Any:
    from lastcall.client import Client  # the client is ours; imported late to keep drill light

    if protocol == "h3":
        return Client(http1=False, http3=True, verify=verify)
    if protocol == "h2":
        return Client(http1=False, http2=True)
    return Client(http1=True, http2=False)


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
    failing_statuses: frozenset[int] = frozenset(),
) -> LoadStats:
    """Drive load at ``url`` until ``duration`` has passed (or ``stop`` is set).

    ``protocol`` is "h1", "h2" (cleartext) or "h3" (QUIC to an ``https://``
    url; ``verify`` as ``Client(verify=)``).
    """
    stats = LoadStats()
    deadline = time.monotonic() + duration
    stop = stop or asyncio.Event()
    body = b"drill" if method in ("POST", "PUT", "PATCH") else None

    async with _make_client(protocol, verify) as client:

        async def worker() -> None:
            while not stop.is_set() and time.monotonic() < deadline:
                started = time.monotonic()
                stats.sent += 1
                pause = retry_pause
                while True:
                    try:
                        response = await client.request(method, url, content=body)
                        await response.aread()
                    except LastcallError as exc:
                        if exc.is_safe_to_retry and time.monotonic() < deadline + 30.0:
                            stats.safely_retried += 1
                            stats.errors[f"retried:{type(exc).__name__}"] += 1
                            # Nothing to wait on but the replacement server: a short,
                            # bounded pause between attempts.
                            await asyncio.sleep(pause)
                            pause = min(pause * 2, MAX_RETRY_PAUSE)
                            continue
                        stats.lost += 1
                        stats.errors[f"lost:{type(exc).__name__}"] += 1
                    except OSError as exc:
                        stats.lost += 1
                        stats.errors[f"lost:{type(exc).__name__}"] += 1
                    else:
                        if response.status_code in failing_statuses:
                            stats.lost += 1
                            stats.errors[f"lost:HTTP {response.status_code}"] += 1
                            break
                        stats.succeeded += 1
                        stats.samples.append((started, time.monotonic() - started))
                    break

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        # The client's transparent replays (GOAWAY, REFUSED_STREAM, H3_REQUEST_REJECTED).
        stats.safely_retried += int(client.stats.replays)
    return stats
