"""A grpc.aio server with two methods on raw bytes (no protobuf): the backend gRPC tests use.

``/lastcall.test.Echo/Unary`` answers its request; ``/lastcall.test.Echo/Stream``
answers ``n`` messages for a request ``b"n"`` (decimal), each ``b"i"``.
``Calls`` counts what reached the handlers, and can make the first ``fail``
calls end with a status of the test's choosing: before any message (a
Trailers-Only answer), or for a stream after its first message (the status
in trailers).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

UNARY = "/lastcall.test.Echo/Unary"
STREAM = "/lastcall.test.Echo/Stream"


class Calls:
    """What the handlers of one backend saw, and the failures they answer first."""

    def __init__(self, fail: int = 0, status: grpc.StatusCode = grpc.StatusCode.CANCELLED) -> None:
        self.handled = 0
        self.fail = fail
        self.status = status

    async def unary(self, request: bytes, context: Any) -> bytes:
        self.handled += 1
        if self.fail:
            self.fail -= 1
            await context.abort(self.status, "failed on purpose")
        return request

    async def stream(self, request: bytes, context: Any) -> AsyncIterator[bytes]:
        self.handled += 1
        for i in range(int(request)):
            yield str(i).encode()
            if self.fail:
                self.fail -= 1
                await context.abort(self.status, "failed on purpose after a message")


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    def service(self, handler_call_details: Any) -> Any:
        if handler_call_details.method == UNARY:
            return grpc.unary_unary_rpc_method_handler(self.calls.unary)
        if handler_call_details.method == STREAM:
            return grpc.unary_stream_rpc_method_handler(self.calls.stream)
        return None


async def start_grpc_backend(port: int = 0, calls: Calls | None = None) -> tuple[Any, int]:
    """A started grpc.aio server on 127.0.0.1 (``port`` 0: a free one) and its port."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Handler(calls or Calls()),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound
