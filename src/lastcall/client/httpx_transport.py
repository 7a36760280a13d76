"""An httpx transport on lastcall's client: httpx's API, lastcall's connection handling.

::

    import httpx
    import lastcall.httpx

    async with httpx.AsyncClient(transport=lastcall.httpx.AsyncTransport(http2=True)) as client:
        response = await client.get("https://example.org/")

httpx users keep their code; underneath, a GOAWAY no longer fails the requests
the server promised to finish, unprocessed ones are replayed, and closing the
transport drains (see ``lastcall.Client``). lastcall errors are translated to
the httpx exception a caller of httpx already catches (the lastcall error is
kept as ``__cause__``); httpx's per-request ``timeout`` is honoured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from lastcall import errors

from .client import Client
from .config import Timeouts
from .models import Request, Response

# Most specific first: the first isinstance match wins.
_ERROR_MAP: tuple[tuple[type[errors.LastcallError], type[httpx.TransportError]], ...] = (
    (errors.ConnectTimeout, httpx.ConnectTimeout),
    (errors.ReadTimeout, httpx.ReadTimeout),
    (errors.WriteTimeout, httpx.WriteTimeout),
    (errors.PoolTimeout, httpx.PoolTimeout),
    (errors.ConnectError, httpx.ConnectError),
    (errors.ConnectionLost, httpx.ReadError),
    (errors.RequestCancelled, httpx.ReadError),
    (errors.ClientClosed, httpx.ConnectError),
    (errors.UnprocessedRequest, httpx.RemoteProtocolError),
    (errors.StreamReset, httpx.RemoteProtocolError),
    (errors.RemoteProtocolError, httpx.RemoteProtocolError),
    (errors.LocalProtocolError, httpx.LocalProtocolError),
)


def _to_httpx(exc: errors.LastcallError, request: httpx.Request) -> httpx.TransportError:
    for ours, theirs in _ERROR_MAP:
        if isinstance(exc, ours):
            return theirs(str(exc), request=request)
    return httpx.TransportError(str(exc), request=request)


class _ResponseStream(httpx.AsyncByteStream):
    """The lastcall response body, as httpx reads it."""

    def __init__(self, response: Response, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw():
                yield chunk
        except errors.LastcallError as exc:
            raise _to_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class AsyncTransport(httpx.AsyncBaseTransport):
    """``httpx.AsyncClient(transport=AsyncTransport(...))`` over a ``lastcall.Client``.

    Give an existing ``client=`` to share its pools (the transport then does not
    close it), or the ``lastcall.Client`` keyword arguments (``http1``,
    ``http2``, ``limits``, ``lifetime``, ``drain``, ``on_notice``...) to own one.
    The lastcall response is in ``response.extensions["lastcall.response"]``;
    its ``closing`` signal in ``response.extensions["lastcall.closing"]``.
    """

    def __init__(self, *, client: Client | None = None, **client_options: Any) -> None:
        if client is not None and client_options:
            raise errors.ConfigError("give client= or client options, not both")
        self._owns_client = client is None
        self.client = client if client is not None else Client(**client_options)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        stream = request.stream
        content: bytes | None = None
        body: AsyncIterator[bytes] | None = None
        if isinstance(stream, httpx.ByteStream):
            content = request.content  # already in memory: replayable
        elif isinstance(stream, httpx.AsyncByteStream):
            body = stream.__aiter__()
        ours = Request(
            request.method,
            str(request.url),
            headers=request.headers.raw,
            content=content,
            stream=_aiter(body) if body is not None else None,
        )
        timeout = request.extensions.get("timeout")
        timeouts = (
            Timeouts(timeout["connect"], timeout["read"], timeout["write"], timeout["pool"])
            if isinstance(timeout, dict)
            else self.client.config.timeouts
        )
        try:
            response = await self.client.send(ours, stream=True, timeout=timeouts)
        except errors.LastcallError as exc:
            raise _to_httpx(exc, request) from exc
        return httpx.Response(
            response.status_code,
            headers=response.headers.raw,
            stream=_ResponseStream(response, request),
            extensions={
                "http_version": response.http_version.encode("ascii"),
                "lastcall.response": response,
                "lastcall.closing": response.closing,
            },
        )

    async def aclose(self) -> None:
        """Close (and drain) the owned client; a shared one is left to its owner."""
        if self._owns_client:
            await self.client.aclose()


async def _aiter(body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in body:
        yield chunk
