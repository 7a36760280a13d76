"""When a failed request is sent again: one pure rule, with its reasons.

* ``replay``: the server never processed it (``UnprocessedRequest``: a stream
  above a GOAWAY's last id, RFC 9113 §6.8; RST_STREAM(REFUSED_STREAM), §8.7;
  a connection that started draining before the stream was opened). Safe for
  every method, POST included; done only if the body can be produced again,
  and at most ``RetryPolicy.max_replays`` times per request.
* ``stale``: a reused HTTP/1.1 keep-alive connection failed before a byte of
  response arrived (the server may have closed it while idle, RFC 9112 §9.3).
  The server may have processed it, so only idempotent methods (RFC 9110
  §9.2.2), at most ``RetryPolicy.max_stale_retries`` times.

Everything else is raised to the caller. Every retry is counted in
``PoolStats``.
"""

from __future__ import annotations

from lastcall.errors import UnprocessedRequest

from .config import RetryPolicy
from .http1 import StaleConnection
from .models import Request

REPLAY = "replay"
STALE = "stale"


def retry_kind(
    exc: BaseException, request: Request, *, replays: int, stale_retries: int, policy: RetryPolicy
) -> str | None:
    """``REPLAY``, ``STALE`` or None (raise), for ``exc`` ending one attempt of ``request``."""
    if isinstance(exc, UnprocessedRequest):
        if replays < policy.max_replays and request.is_replayable:
            return REPLAY
        return None
    if (
        isinstance(exc, StaleConnection)
        and stale_retries < policy.max_stale_retries
        and request.is_idempotent
        and request.is_replayable
    ):
        return STALE
    return None
