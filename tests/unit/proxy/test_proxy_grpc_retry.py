"""Which backend answers an opt-in gRPC retry policy sends again (no sockets)."""

from __future__ import annotations

from lastcall.proxy.config import RouteConfig
from lastcall.proxy.grpc_retry import grpc_retry_reason, retryable_grpc_status

TRAILERS_ONLY_CANCELLED = [
    (b":status", b"200"),
    (b"content-type", b"application/grpc"),
    (b"grpc-status", b"1"),
    (b"grpc-message", b"CANCELLED"),
]
#: A head that will be followed by messages: the status comes later, in trailers.
STREAMING_HEAD = [(b":status", b"200"), (b"content-type", b"application/grpc")]


def test_only_a_listed_status_in_the_head_is_retryable() -> None:
    assert retryable_grpc_status(TRAILERS_ONLY_CANCELLED, ("cancelled",)) == "grpc_cancelled"
    assert retryable_grpc_status(TRAILERS_ONLY_CANCELLED, ("unavailable",)) is None
    assert retryable_grpc_status(TRAILERS_ONLY_CANCELLED, ()) is None
    assert retryable_grpc_status(STREAMING_HEAD, ("cancelled",)) is None
    ok = [(b"grpc-status", b"0")]
    assert retryable_grpc_status(ok, ("cancelled", "unavailable")) is None
    unavailable = [(b"grpc-status", b"14")]
    assert retryable_grpc_status(unavailable, ("unavailable",)) == "grpc_unavailable"
    exhausted = [(b"grpc-status", b"8")]
    assert retryable_grpc_status(exhausted, ("resource-exhausted",)) == "grpc_resource_exhausted"


def test_retries_are_bounded_and_need_the_body() -> None:
    head = TRAILERS_ONLY_CANCELLED

    def reason(retry_on: tuple[str, ...], retries_done: int, body_replayable: bool) -> str | None:
        return grpc_retry_reason(
            head,
            retry_on,
            retries_done=retries_done,
            max_retries=2,
            body_replayable=body_replayable,
        )

    assert reason(("cancelled",), 0, True) == "grpc_cancelled"
    assert reason(("cancelled",), 1, True) == "grpc_cancelled"
    assert reason(("cancelled",), 2, True) is None  # max_retries
    assert reason(("cancelled",), 0, False) is None  # the body is no longer whole
    assert reason(RouteConfig("api").grpc_retry_on, 0, True) is None  # off by default
