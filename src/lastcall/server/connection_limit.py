"""The listener's connection cap (``max_connections``) and the file limit behind it.

A server that accepts every connection a flood offers runs out of file
descriptors, and then fails the connections it already serves (every
``accept``, ``open`` and ``socket`` call fails, including those an app makes).
So past ``max_connections`` a newly accepted connection is closed at once,
before any byte is read from it: the peer sees a clean close and may retry
elsewhere, and nothing already accepted is touched.

The soft ``RLIMIT_NOFILE`` is often 1024, well below a useful cap, so at start
it is raised towards the hard limit (Go has done the same since 1.19).
"""

from __future__ import annotations

import asyncio
import logging

__all__ = ["OverLimitConnection", "raise_file_limit"]

logger = logging.getLogger("lastcall.server")

#: Descriptors kept free beyond the connections: listeners, log files, the
#: app's own files and sockets.
_SPARE_DESCRIPTORS = 256


class OverLimitConnection(asyncio.Protocol):
    """Stands in for a connection accepted over the cap: closes it at once."""

    refused = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cls = type(self)
        cls.refused += 1
        if cls.refused == 1 or cls.refused % 1000 == 0:
            logger.warning(
                "connection limit reached: closed %d connection(s) at accept so far",
                cls.refused,
            )
        transport.close()

    def data_received(self, data: bytes) -> None:
        """Bytes that raced the close are discarded."""


def raise_file_limit(max_connections: int) -> None:
    """Raise the soft ``RLIMIT_NOFILE`` so ``max_connections`` fit; never lower it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + _SPARE_DESCRIPTORS
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:  # pragma: no cover - a container may forbid it
            logger.warning("could not raise the open-file limit to %d: %s", wanted, exc)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft != resource.RLIM_INFINITY and soft < max_connections + _SPARE_DESCRIPTORS:
        logger.warning(
            "open-file limit %d is below max_connections %d: a flood may exhaust it first",
            soft,
            max_connections,
        )
