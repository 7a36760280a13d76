"""WebSocket pass-through: a downstream WebSocket relayed to a backend's, message by message.

Downstream, the server has already done the opening handshake, whether the
client came with an HTTP/1.1 ``Upgrade`` (RFC 6455 §4) or an HTTP/2 extended
CONNECT (RFC 8441): both arrive here as one ASGI ``websocket`` scope. Upstream,
the proxy opens its own WebSocket to the chosen backend, offering the client's
subprotocols and answering downstream with the one the backend chose:

* to an HTTP/2 backend (``h2c://``, or ``https://`` where ALPN chose ``h2``)
  that advertised SETTINGS_ENABLE_CONNECT_PROTOCOL, as an extended CONNECT
  (RFC 8441) on a stream of the group's pooled connection: no new TCP
  connection per WebSocket, and the backend's GOAWAY reaches it like any
  stream;
* else (``http://``, an HTTP/1.1 pool, a server without RFC 8441) with an
  HTTP/1.1 ``Upgrade`` on a connection of its own, what every WebSocket
  server speaks.

A backend that refuses the handshake gets the downstream handshake refused
(403); one that cannot be reached is tried on the next backend, as for HTTP.

Messages are relayed whole, each way, in order: frames and extensions are
per hop (each side negotiates its own), the messages are the application's.
Close codes pass through both ways, so the drain notice does too: when the
proxy drains, the server sends the client Close(1001) and, once the client
answers, the backend gets Close(1001) from us; when a backend drains, its
Close(1001) reaches the client through us.

Backpressure: a message from the backend is sent downstream before the next
is read from the backend socket (asyncio's reader stops reading at its
limit, so TCP pushes back on the backend); one from the client is written to
the backend and the writer drained before the next is taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any

from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as WsFrames
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    TextMessage,
)
from wsproto.events import Request as WsRequest
from wsproto.utilities import LocalProtocolError as WsLocalError
from wsproto.utilities import RemoteProtocolError as WsRemoteError

from lastcall.client import Headers, Request, Response, Timeouts
from lastcall.client.net import abort_writer, make_ssl_context, open_stream
from lastcall.errors import ConnectError, ConnectTimeout, LastcallError, LocalProtocolError
from lastcall.observe import events as oe

from .headers import HOP_BY_HOP

if TYPE_CHECKING:
    from lastcall.server.asgi import Receive, Scope, Send

    from .state import ProxyState
    from .upstream import Backend

__all__ = ["relay_websocket"]

logger = logging.getLogger("lastcall.proxy")

#: Handshake fields the WebSocket client library writes itself (RFC 6455 §4.1).
_HANDSHAKE = frozenset(
    {
        b"host",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"sec-websocket-accept",
        b"content-length",
    }
)
#: Close codes that never appear on the wire (RFC 6455 §7.4.1).
_NEVER_SENT = frozenset({1005, 1006, 1015})
#: Bytes read from a backend socket at once.
_READ_SIZE = 65_536


def _subprotocols(headers: list[tuple[bytes, bytes]]) -> list[str]:
    found: list[str] = []
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            found.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
    return found


class _Upstream:
    """The proxy's own WebSocket to one backend over an HTTP/1.1 ``Upgrade``: a socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws: WSConnection | WsFrames = WSConnection(ConnectionType.CLIENT)

    async def write(self, data: bytes) -> None:
        if data and not self.writer.is_closing():
            self.writer.write(data)
            await self.writer.drain()

    async def read(self) -> bytes:
        """The next bytes from the backend; b"" once it is gone."""
        try:
            return await self.reader.read(_READ_SIZE)
        except OSError:
            return b""

    async def aclose(self) -> None:
        abort_writer(self.writer)


class _Tunnel(_Upstream):
    """The proxy's own WebSocket to one backend over an RFC 8441 extended CONNECT.

    The stream's request body is what ``write`` is given (one chunk held at a
    time, so a backend whose window is closed slows the client down); its
    response body is what ``read`` returns. The frames are wsproto's, without
    a handshake: the CONNECT and its 200 were the handshake (RFC 8441 §5).
    """

    def __init__(self) -> None:
        self.ws = WsFrames(ConnectionType.CLIENT)
        self._outbound: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        self._closed = False
        self.response: Response | None = None
        self._inbound: Any = None

    async def body(self) -> Any:
        """The request body: the tunnel's outbound bytes until ``aclose``."""
        while (data := await self._outbound.get()) is not None:
            yield data

    async def write(self, data: bytes) -> None:
        if data and not self._closed:
            await self._outbound.put(data)

    async def read(self) -> bytes:
        if self._inbound is None:
            assert self.response is not None
            self._inbound = self.response.aiter_raw()
        try:
            chunk: bytes = await anext(self._inbound, b"")
        except LastcallError:
            return b""  # the stream was reset or the connection lost
        return chunk

    async def aclose(self) -> None:
        """End our side of the stream (END_STREAM if it is still open), then the
        exchange (a reset, CANCEL, if the backend's side is still open)."""
        if self._closed:
            return
        self._closed = True
        queue = self._outbound
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
        if self.response is not None:
            await self.response.aclose()


async def _connect(
    state: ProxyState, backend: Backend, scope: Scope, connect_timeout: float
) -> tuple[_Upstream, Any]:
    """Open the backend WebSocket, by extended CONNECT where the backend's pool
    is HTTP/2 and allows it, else by HTTP/1.1 Upgrade; return it and wsproto's
    Accept or Reject event."""
    if backend.scheme != "http":
        tunnel = await _connect_tunnel(state, backend, scope, connect_timeout)
        if tunnel is not None:
            return tunnel
    return await _connect_upgrade(state, backend, scope, connect_timeout)


def _forwarded_fields(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The client's fields a backend handshake carries on (not the handshake's own)."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    extra = [(n, v) for n, v in headers if n not in _HANDSHAKE and n not in HOP_BY_HOP]
    client = scope.get("client")
    if client:
        extra.append((b"x-forwarded-for", str(client[0]).encode("latin-1")))
    return extra


def _authority_and_target(state: ProxyState, backend: Backend, scope: Scope) -> tuple[str, str]:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    authority = next((v for n, v in headers if n == b"host"), backend.authority)
    if not state.policy.preserve_host:
        authority = backend.authority
    target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    return authority.decode("latin-1"), target.decode("latin-1")


async def _connect_tunnel(
    state: ProxyState, backend: Backend, scope: Scope, connect_timeout: float
) -> tuple[_Upstream, Any] | None:
    """An extended CONNECT on the backend's pooled connection; None when that
    connection is HTTP/1.1 or did not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL
    (nothing was sent: the caller upgrades instead)."""
    authority, target = _authority_and_target(state, backend, scope)
    fields = [(b"host", authority.encode("latin-1")), (b"sec-websocket-version", b"13")]
    protocols = _subprotocols(scope["headers"])
    if protocols:
        fields.append((b"sec-websocket-protocol", ", ".join(protocols).encode("latin-1")))
    fields.extend(_forwarded_fields(scope))
    tunnel = _Tunnel()
    request = Request(
        "CONNECT",
        backend.base + target,
        headers=Headers.from_raw(fields),
        stream=tunnel.body(),
        protocol="websocket",
    )
    # No read deadline on the tunnel's bytes (a WebSocket may be quiet for
    # hours); the head is bounded by connect_timeout below.
    timeouts = Timeouts(connect=connect_timeout, read=None, write=None, pool=connect_timeout)
    try:
        async with asyncio.timeout(connect_timeout):
            tunnel.response = await backend.client.send(request, stream=True, timeout=timeouts)
    except LocalProtocolError:
        return None
    except TimeoutError:
        await tunnel.aclose()
        raise ConnectTimeout(f"{backend.url}: no answer to the WebSocket CONNECT") from None
    response = tunnel.response
    if not 200 <= response.status_code < 300:
        await tunnel.aclose()
        return tunnel, RejectConnection(status_code=response.status_code)
    chosen = response.headers.get("sec-websocket-protocol")
    return tunnel, AcceptConnection(subprotocol=chosen)


async def _connect_upgrade(
    state: ProxyState, backend: Backend, scope: Scope, connect_timeout: float
) -> tuple[_Upstream, Any]:
    """An HTTP/1.1 ``Upgrade`` on a connection of its own."""
    scheme, _, rest = backend.base.partition("://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    context: ssl.SSLContext | None = None
    if scheme == "https":
        verify = state.groups[backend.group].config.verify
        context = make_ssl_context(verify, ["http/1.1"])
    reader, writer, _ = await open_stream(
        host, int(port), ssl_context=context, connect_timeout=connect_timeout
    )
    upstream = _Upstream(reader, writer)
    authority, target = _authority_and_target(state, backend, scope)
    request = WsRequest(
        host=authority,
        target=target,
        subprotocols=_subprotocols(scope["headers"]),
        extra_headers=_forwarded_fields(scope),
    )
    try:
        await upstream.write(upstream.ws.send(request))
        async with asyncio.timeout(connect_timeout):
            while True:
                data = await reader.read(_READ_SIZE)
                upstream.ws.receive_data(data or None)
                for event in upstream.ws.events():
                    if isinstance(event, AcceptConnection | RejectConnection):
                        return upstream, event
                if not data:
                    raise ConnectError(f"{backend.url} closed during the WebSocket handshake")
    except BaseException:
        await upstream.aclose()
        raise


async def relay_websocket(state: ProxyState, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``websocket`` scope by relaying it to a backend."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    target = scope["raw_path"]
    authority = next((v for n, v in headers if n == b"host"), b"")
    route = state.router.match(authority, target, headers)
    if route is None:
        await send({"type": "websocket.close", "code": 1008})
        return
    group = state.groups[route.upstream]
    loop = state.loop
    tried: list[Backend] = []
    upstream: _Upstream | None = None
    answer: Any = None
    backend: Backend | None = None
    for _ in range(route.max_retries + 1):
        backend = group.choose(loop.time(), tried)
        assert backend is not None
        try:
            upstream, answer = await _connect(state, backend, scope, route.connect_timeout)
            break
        except (LastcallError, OSError, TimeoutError, WsRemoteError) as exc:
            logger.info("proxy: WebSocket to %s failed: %s", backend.url, exc)
            group.failed(backend, loop.time(), "connect_failed")
            tried.append(backend)
            state.observer.emit(
                oe.UpstreamRetry(loop.time(), group.name, backend.url, "connect_failed")
            )
    if upstream is None or isinstance(answer, RejectConnection):
        status = answer.status_code if isinstance(answer, RejectConnection) else 502
        state.emit_request(group.name, tried[-1].url if tried else "", status, len(tried))
        if upstream is not None:
            await upstream.aclose()
        await send({"type": "websocket.close", "code": 1008 if status < 500 else 1011})
        return
    assert isinstance(answer, AcceptConnection) and backend is not None
    state.emit_request(group.name, backend.url, 101, len(tried))
    accept: dict[str, Any] = {"type": "websocket.accept"}
    if answer.subprotocol:
        accept["subprotocol"] = answer.subprotocol
    await send(accept)
    backend.outstanding += 1
    to_backend = loop.create_task(_client_to_backend(receive, upstream))
    try:
        await _backend_to_client(upstream, send)
    finally:
        backend.outstanding -= 1
        if not to_backend.done():
            # The backend's side ended first; the client has our Close already.
            to_backend.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await to_backend
        await upstream.aclose()


async def _client_to_backend(receive: Receive, upstream: _Upstream) -> None:
    ws = upstream.ws
    while True:
        message = await receive()
        kind = message["type"]
        try:
            if kind == "websocket.receive":
                text = message.get("text")
                event: Any = (
                    TextMessage(text)
                    if text is not None
                    else BytesMessage(message.get("bytes") or b"")
                )
                await upstream.write(ws.send(event))
            elif kind == "websocket.disconnect":
                code = int(message.get("code", 1000))
                if code in _NEVER_SENT:
                    code = 1001  # never sent on the wire (RFC 6455 §7.4.1): the client went away
                await upstream.write(ws.send(CloseConnection(code, message.get("reason") or "")))
                return
        except (WsLocalError, OSError):
            return  # the backend side is closing already


async def _backend_to_client(upstream: _Upstream, send: Send) -> None:
    ws = upstream.ws
    parts: list[Any] = []
    data = b"-"  # events first: the handshake's read may have brought messages along
    while True:
        try:
            for event in ws.events():
                if isinstance(event, TextMessage | BytesMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        if isinstance(event, TextMessage):
                            await send({"type": "websocket.send", "text": "".join(parts)})
                        else:
                            await send({"type": "websocket.send", "bytes": b"".join(parts)})
                        parts = []
                elif isinstance(event, Ping):
                    await upstream.write(ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    with contextlib.suppress(WsLocalError, OSError):
                        await upstream.write(ws.send(event.response()))
                    code = int(event.code)
                    if code in _NEVER_SENT:
                        code = 1011  # the backend's side broke: tell the client so
                    await send(
                        {"type": "websocket.close", "code": code, "reason": event.reason or ""}
                    )
                    return
        except WsRemoteError as exc:
            logger.info("proxy: WebSocket protocol error from backend: %s", exc)
            await send({"type": "websocket.close", "code": 1011})
            return
        if not data:
            await send({"type": "websocket.close", "code": 1011})
            return
        data = await upstream.read()
        ws.receive_data(data or None)
