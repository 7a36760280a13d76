"""Opt-in retries on gRPC status codes, for routes whose RPCs may run twice.

Why it exists: a backend can answer a gRPC call with a status that, on the
wire, is indistinguishable from one its handler chose, although the call
never reached a handler. Measured on grpc.aio (grpcio 1.85): its graceful
``server.stop(grace)`` sends GOAWAY(2^31-1) and a PING, then answers every
call it had accepted but not yet handed to a handler with a Trailers-Only
``grpc-status: 1`` (CANCELLED) and RST_STREAM(NO_ERROR), then the final
GOAWAY -- whose last stream id *includes* those calls. So they are not
"unprocessed" by HTTP/2's rules (RFC 9113 §6.8), and the proxy may not
replay them on that basis (``retry.py``); a client sees 1-3 CANCELLED per
stop under load.

What the proxy can do is what Envoy does: a route may declare that some
gRPC statuses are worth another attempt (Envoy's ``retry_on: cancelled,
unavailable, ...`` for gRPC), which is the operator saying the route's RPCs
are idempotent. Off by default. Only a Trailers-Only answer (the status in
the response head, so no message went downstream) can be retried; such a
retry is a retry of something that may have been processed, so it draws on
the group's retry budget, is bounded by ``max_retries``, and needs the
request body still whole (``retry_buffer_size``). It does not count against
the backend for passive ejection: a status is an answer, not a fault.
"""

from __future__ import annotations

from collections.abc import Iterable

from .retry import should_retry

__all__ = ["GRPC_RETRY_ON", "grpc_retry_reason", "retryable_grpc_status"]

#: The names a route's ``grpc_retry_on`` takes (Envoy's ``retry_on`` gRPC
#: values) and the status codes they stand for (grpc/doc/statuscodes.md).
GRPC_RETRY_ON: dict[str, bytes] = {
    "cancelled": b"1",
    "deadline-exceeded": b"4",
    "resource-exhausted": b"8",
    "internal": b"13",
    "unavailable": b"14",
}
#: The ``upstream_retry`` reason of each: ``grpc_cancelled``, ``grpc_unavailable``, ...
_REASONS = {code: "grpc_" + name.replace("-", "_") for name, code in GRPC_RETRY_ON.items()}


def retryable_grpc_status(
    head: Iterable[tuple[bytes, bytes]], retry_on: Iterable[str]
) -> str | None:
    """The retry reason for a response head (``grpc_cancelled``), or None.

    Only a Trailers-Only response carries ``grpc-status`` in its head (gRPC
    over HTTP/2, "Responses"): one that sent messages has it in trailers,
    which come too late to retry.
    """
    for name, value in head:
        if name == b"grpc-status":
            if any(GRPC_RETRY_ON[n] == value for n in retry_on):
                return _REASONS[value]
            return None
    return None


def grpc_retry_reason(
    head: Iterable[tuple[bytes, bytes]],
    retry_on: Iterable[str],
    *,
    retries_done: int,
    max_retries: int,
    body_replayable: bool,
) -> str | None:
    """The reason to send this call again, or None: not a status the route
    retries (its ``grpc_retry_on``), no retries left, or a body that can no
    longer be sent again. The caller still asks the group's retry budget."""
    reason = retryable_grpc_status(head, retry_on)
    if reason is None or not should_retry(
        reason,
        is_idempotent=True,  # the route said so by listing statuses
        route_allows_idempotent=True,
        retries_done=retries_done,
        max_retries=max_retries,
        body_replayable=body_replayable,
    ):
        return None
    return reason
