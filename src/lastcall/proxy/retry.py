"""Whether a failed attempt is sent again, and why: one pure rule.

DESIGN.md, "Proxy": a request moves to another connection or backend only
when the backend said it was not processed -- or, when it may have been, only
if its method is idempotent (RFC 9110 §9.2.2) and the route allows it. The
reasons, which are also the labels of the ``upstream_retry`` metric:

* ``refused``: the backend never processed it -- above an HTTP/2 GOAWAY's
  last id (RFC 9113 §6.8), RST_STREAM(REFUSED_STREAM) (§8.7),
  H3_REQUEST_REJECTED (RFC 9114 §4.1.1), a connection that was draining
  before the stream opened (``UnprocessedRequest``, ``ConnectionDraining``);
* ``connect_failed``: no connection could be made (refused, unreachable,
  connect timeout), so nothing was sent;
* ``stale_connection``: an HTTP/1.1 keep-alive connection failed before any
  response byte (RFC 9112 §9.3) -- maybe processed;
* ``reset``: the stream was reset or the connection lost before the response
  head -- maybe processed.

Never retried: anything once a byte of the response went downstream (the
caller stops asking), timeouts (a slow backend is not helped by more load;
the route's deadline answers 504), and a body that can no longer be
produced again (larger than ``retry_buffer_size`` and already streaming).
"""

from __future__ import annotations

from lastcall.client.http1 import StaleConnection
from lastcall.errors import (
    ConnectError,
    ConnectionDraining,
    ConnectionLost,
    ConnectTimeout,
    LastcallError,
    PoolTimeout,
    RemoteProtocolError,
    StreamReset,
    UnprocessedRequest,
)

__all__ = [
    "CONNECT_FAILED",
    "REFUSED",
    "RESET",
    "STALE_CONNECTION",
    "failure_reason",
    "should_retry",
]

REFUSED = "refused"
CONNECT_FAILED = "connect_failed"
STALE_CONNECTION = "stale_connection"
RESET = "reset"

#: Reasons that prove the backend did nothing with the request.
UNPROCESSED = frozenset({REFUSED, CONNECT_FAILED})


def failure_reason(exc: BaseException) -> str | None:
    """The retry reason ``exc`` stands for, or None if it is not retryable at all."""
    if isinstance(exc, UnprocessedRequest | ConnectionDraining):
        return REFUSED
    if isinstance(exc, ConnectError | ConnectTimeout | PoolTimeout):
        return CONNECT_FAILED
    if isinstance(exc, StaleConnection):  # a ConnectionLost: checked first
        return STALE_CONNECTION
    if isinstance(exc, StreamReset | ConnectionLost | RemoteProtocolError):
        return RESET
    if isinstance(exc, LastcallError) and exc.is_safe_to_retry:
        return REFUSED
    return None


def should_retry(
    reason: str | None,
    *,
    is_idempotent: bool,
    route_allows_idempotent: bool,
    retries_done: int,
    max_retries: int,
    body_replayable: bool,
) -> bool:
    """Send the request again (to the balancer's next choice)?

    The budget (``retry_budget.py``) is asked only after this says yes, and
    only for a request that may have been processed: one that was not cost
    its backend nothing, so retrying it multiplies no work (``max_retries``
    still bounds it) -- and refusing to would turn every backend restart into
    errors, the loss this proxy exists to prevent.
    """
    if reason is None or retries_done >= max_retries or not body_replayable:
        return False
    if reason in UNPROCESSED:
        return True
    return is_idempotent and route_allows_idempotent
