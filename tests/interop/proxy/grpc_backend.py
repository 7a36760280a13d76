"""A grpc.aio server with two methods on raw bytes (no protobuf): the backend gRPC tests use.

``/lastcall.test.Echo/Unary`` answers its request; ``/lastcall.test.Echo/Stream``
answers ``n`` messages for a request ``b"n"`` (decimal), each ``b"i"``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

UNARY = "/lastcall.test.Echo/Unary"
STREAM = "/lastcall.test.Echo/Stream"


async def _unary(request: bytes, context: Any) -> bytes:
    return request


async def _stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for i in range(int(request)):
        yield str(i).encode()


class _Handler(grpc.GenericRpcHandler):
    def service(self, handler_call_details: Any) -> Any:
        if handler_call_details.method == UNARY:
            return grpc.unary_unary_rpc_method_handler(_unary)
        if handler_call_details.method == STREAM:
            return grpc.unary_stream_rpc_method_handler(_stream)
        return None


async def start_grpc_backend(port: int = 0) -> tuple[Any, int]:
    """A started grpc.aio server on 127.0.0.1 (``port`` 0: a free one) and its port."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_Handler(),))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound
