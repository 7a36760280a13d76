"""``lastcall.Client``: an httpx-shaped asyncio client that finishes what servers promise.

::

    async with lastcall.Client(http2=True) as client:
        response = await client.get("https://example.org/")
        print(response.status_code, response.headers["content-type"], response.text)

        async with client.stream("GET", "https://example.org/big") as response:
            async for chunk in response.aiter_bytes():
                ...

What it adds to the httpx shape (DESIGN.md, "Drain semantics"): a request the
server never processed (beyond a GOAWAY's id, or refused with REFUSED_STREAM
or H3_REQUEST_REJECTED) is replayed on another connection, whatever its
method; responses and the client tell the application when a connection is closing;
``aclose(drain=...)`` lets in-flight requests finish before cancelling them.
Redirects are never followed (a 3xx is returned as is).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final

from lastcall.errors import ClientClosed, LastcallError

from .config import ClientConfig, Lifetime, Limits, RetryPolicy, Timeouts
from .manager import PoolManager, PoolStats
from .models import URL, Headers, HeaderTypes, Request, RequestStream, Response
from .notices import NoticeCallback, NoticeHub, NoticeSubscription
from .retry import REPLAY, retry_kind


class _Default:
    """Marker for "use the client's setting" (``None`` means "no timeout")."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()

TimeoutArg = Timeouts | float | None | _Default


class Client:
    """An asyncio HTTP/1.1, HTTP/2 and HTTP/3 client with per-origin connection pools.

    Arguments not given come from ``config`` (a ``ClientConfig``), whose
    defaults are documented field by field. ``timeout`` is one number for all
    four timeouts or a ``Timeouts``; ``http3=True`` sends ``https://``
    requests over QUIC (RFC 9114), ``alt_svc=True`` does so for origins
    that advertise it (``Alt-Svc: h3``); ``verify`` is True, False or a CA bundle
    path, for TLS and QUIC alike; ``drain`` is the default of ``aclose()``
    (else ``LASTCALL_CLIENT_DRAIN``, else 1 s); ``on_notice`` is called with
    every ``ClosingNotice``.
    """

    def __init__(
        self,
        *,
        http1: bool | None = None,
        http2: bool | None = None,
        http3: bool | None = None,
        alt_svc: bool | None = None,
        timeout: Timeouts | float | _Default | None = DEFAULT,
        limits: Limits | None = None,
        lifetime: Lifetime | None = None,
        retry: RetryPolicy | None = None,
        drain: float | None = None,
        verify: bool | str | None = None,
        headers: HeaderTypes | None = None,
        on_notice: NoticeCallback | None = None,
        config: ClientConfig | None = None,
    ) -> None:
        base = config if config is not None else ClientConfig()
        self.config = config = ClientConfig(
            http1=base.http1 if http1 is None else http1,
            http2=base.http2 if http2 is None else http2,
            http3=base.http3 if http3 is None else http3,
            alt_svc=base.alt_svc if alt_svc is None else alt_svc,
            timeouts=base.timeouts if isinstance(timeout, _Default) else Timeouts.of(timeout),
            limits=base.limits if limits is None else limits,
            lifetime=base.lifetime if lifetime is None else lifetime,
            retry=base.retry if retry is None else retry,
            drain_timeout=base.drain_timeout if drain is None else drain,
            verify=base.verify if verify is None else verify,
            stream_write_high_water=base.stream_write_high_water,
        )
        self.headers = Headers(headers)
        self._hub = NoticeHub(on_notice)
        self._pool = PoolManager(config, self._hub)
        self._timeouts = config.timeouts
        self._retry = config.retry

    # -- introspection ------------------------------------------------------------------

    @property
    def stats(self) -> PoolStats:
        """Counters: connections opened, replays, keep-alive retries, drain cancellations."""
        return self._pool.stats

    @property
    def is_closed(self) -> bool:
        """True once ``aclose`` began."""
        return self._pool.is_closing

    @property
    def pool(self) -> PoolManager:
        """The connection pool (for introspection and tests)."""
        return self._pool

    def notices(self) -> NoticeSubscription:
        """Every ``ClosingNotice`` from now on (counted from this call), until the client closes.

        ``async for notice in client.notices(): ...``
        """
        return self._hub.subscribe()

    # -- requests -------------------------------------------------------------------------

    def build_request(
        self,
        method: str,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        trailers: HeaderTypes | None = None,
    ) -> Request:
        """A ``Request`` with the client's default headers merged in (the request's win);
        ``trailers`` are sent after the body (gRPC-style clients, RFC 9110 §6.5)."""
        merged = headers
        if self.headers.raw:
            combined = Headers(self.headers)
            for name, value in Headers(headers).items():
                combined[name] = value
            merged = combined.raw
        return Request(
            method, url, headers=merged, content=content, stream=stream, trailers=trailers
        )

    async def request(
        self,
        method: str,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        trailers: HeaderTypes | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """Send a request and read the whole response body."""
        request = self.build_request(
            method, url, headers=headers, content=content, stream=stream, trailers=trailers
        )
        return await self.send(request, timeout=timeout)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        trailers: HeaderTypes | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> AsyncIterator[Response]:
        """Send a request; yield the response with its body unread; close it on exit."""
        request = self.build_request(
            method, url, headers=headers, content=content, stream=stream, trailers=trailers
        )
        response = await self.send(request, stream=True, timeout=timeout)
        try:
            yield response
        finally:
            await response.aclose()

    async def send(
        self,
        request: Request,
        *,
        stream: bool = False,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """Send ``request``, replaying it when the server never processed it.

        With ``stream=True`` the body is left unread: read it with
        ``aread``/``aiter_bytes`` and close the response (``aclose``) to free
        the connection.
        """
        pool = self._pool
        if pool.is_closing:
            raise ClientClosed("the client is closed or closing; the request was not sent")
        timeouts = self._timeouts if isinstance(timeout, _Default) else Timeouts.of(timeout)
        replays = stale_retries = 0
        while True:
            try:
                conn = await pool.acquire(request.url, timeouts)
            except ClientClosed as exc:
                if replays or stale_retries:
                    raise ClientClosed(
                        "the client closed before the request could be replayed; "
                        "the server never processed it"
                    ) from exc
                raise
            try:
                response = await conn.handle(request, timeouts)
            except LastcallError as exc:
                kind = retry_kind(
                    exc,
                    request,
                    replays=replays,
                    stale_retries=stale_retries,
                    policy=self._retry,
                )
                if kind is None:
                    raise
                if kind is REPLAY:
                    replays += 1
                    pool.stats.replays += 1
                else:
                    stale_retries += 1
                    pool.stats.stale_retries += 1
                continue
            pool.note_response(request.url, response)
            if not stream:
                try:
                    await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
            return response

    async def get(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("GET", url, ...)``."""
        return await self.request(
            "GET", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    async def head(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("HEAD", url, ...)``."""
        return await self.request(
            "HEAD", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    async def options(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("OPTIONS", url, ...)``."""
        return await self.request(
            "OPTIONS", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    async def post(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("POST", url, ...)``."""
        return await self.request(
            "POST", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    async def put(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("PUT", url, ...)``."""
        return await self.request(
            "PUT", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    async def patch(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("PATCH", url, ...)``."""
        return await self.request(
            "PATCH", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    async def delete(
        self,
        url: str | URL,
        *,
        headers: HeaderTypes | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        timeout: TimeoutArg = DEFAULT,  # noqa: ASYNC109 - httpx's API
    ) -> Response:
        """``request("DELETE", url, ...)``."""
        return await self.request(
            "DELETE", url, headers=headers, content=content, stream=stream, timeout=timeout
        )

    # -- closing ----------------------------------------------------------------------------

    async def aclose(self, drain: float | None = None) -> None:
        """Close the client, draining first (DESIGN.md, "Client drain on close").

        New requests fail at once with ``ClientClosed``. Requests in flight
        (including unread streaming responses) may finish for up to ``drain``
        seconds (default: ``config.drain_timeout``); then they fail with
        ``RequestCancelled`` and every connection is closed, HTTP/2 and HTTP/3
        ones after our own GOAWAY (HTTP/3: then CONNECTION_CLOSE(H3_NO_ERROR)).
        Idempotent.
        """
        await self._pool.aclose(self.config.drain_timeout if drain is None else drain)
        self._hub.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
