"""The Countdown service as a connectrpc ASGI app, for ``lastcall serve countdown_app:app``.

connectrpc answers gRPC (as well as Connect and gRPC-Web) from any ASGI server
that offers the ``http.response.trailers`` extension, which gRPC needs for its
``grpc-status``. ``Count`` streams ``count`` messages ``interval_ms`` apart and
marks each one sent after the server began draining, read from lastcall's
``lastcall.drain`` scope extension: the stream is not cut by the drain, and
the handler knows about it (to tell its client, or to wrap up early).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from typing import Any

from connectrpc.request import RequestContext
from countdown_gen.countdown_connect import Countdown, CountdownASGIApplication
from countdown_gen.countdown_pb2 import CountRequest, CountResponse, GreetRequest, GreetResponse

#: The request's ``lastcall.drain`` extension (None under other servers).
_drain: contextvars.ContextVar[Any] = contextvars.ContextVar("drain", default=None)


class CountdownService(Countdown):
    async def greet(
        self, request: GreetRequest, ctx: RequestContext[GreetRequest, GreetResponse]
    ) -> GreetResponse:
        return GreetResponse(greeting=f"hello, {request.name}")

    async def count(
        self, request: CountRequest, ctx: RequestContext[CountRequest, CountResponse]
    ) -> AsyncIterator[CountResponse]:
        drain = _drain.get()
        for number in range(1, request.count + 1):
            if number > 1:
                await asyncio.sleep(request.interval_ms / 1000)  # the service's own pace
            yield CountResponse(number=number, draining=bool(drain and drain.is_draining))


_connect_app = CountdownASGIApplication(CountdownService())


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The connectrpc app, with the drain extension made visible to the handlers."""
    if scope["type"] == "http":
        _drain.set(scope.get("extensions", {}).get("lastcall.drain"))
    await _connect_app(scope, receive, send)
