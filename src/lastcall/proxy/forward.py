"""One proxied HTTP exchange: downstream ASGI request -> backend -> downstream response.

The request body streams: chunks are pulled from the downstream ``receive()``
only as the upstream connection takes them (HTTP/2: as its flow-control
window opens), and the server gives the downstream client its window back
only as we pull, so a slow backend slows the client and nothing is buffered
whole. The first ``retry_buffer_size`` bytes are kept so that a request can
be sent again to another connection or backend (``retry.py``); a longer
body is not kept and, once it began streaming, is not retried.

The response streams the same way: one upstream chunk read, one downstream
``send()`` (which waits while the downstream peer's window is closed), and
only then the next read, which gives the backend its window back.

Deadlines (per route): ``connect_timeout`` (the client's), then one moving
deadline per exchange -- ``first_byte_timeout`` until the response head,
``idle_timeout`` after each body chunk either way -- capped by the request's
``grpc-timeout``. It is one loop timer per exchange however many chunks move
(``lastcall.io.deadline.MovingDeadline``).

Cancellation both ways: once the request body is complete, a watcher awaits
the downstream ``http.disconnect``; a downstream reset (or a client that
went away) cancels the exchange, and the client resets the upstream stream
(HTTP/2 RST_STREAM(CANCEL), RFC 9113 §8.1; HTTP/1.1: the connection is
closed, the only way to stop a request there). An upstream reset or a lost
connection after the response began cuts the downstream response too
(``ResponseCut``: the server resets the stream, or closes an HTTP/1.1
connection before the last chunk) so a truncated body is never taken for a
whole one. A backend's CANCEL (HTTP/3: H3_REQUEST_CANCELLED) goes on as a
cancel; any other reset code, and a lost connection, as INTERNAL_ERROR: the
downstream client did nothing wrong, so it never sees the backend's
PROTOCOL_ERROR and the like.

Errors before a response head: 502 (no backend could be reached, or it
reset the request), 503 (retry budget used up), 504 (a deadline); a request
that every backend tried refused (REFUSED_STREAM, GOAWAY) and that was
processed nowhere is refused in turn over HTTP/2 and HTTP/3 (REFUSED_STREAM,
H3_REQUEST_REJECTED: the client may send it again), 502 over HTTP/1.1; a gRPC
request gets the same as a trailers-only gRPC response (HTTP 200,
``grpc-status`` UNAVAILABLE or DEADLINE_EXCEEDED), as gRPC clients expect
from a proxy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from lastcall.client import URL, Headers, Request, Response, Timeouts
from lastcall.errors import LastcallError, LocalProtocolError, StreamReset
from lastcall.io.deadline import MovingDeadline
from lastcall.observe import events as oe
from lastcall.server.response_cut import ResponseCut

from .grpc_retry import grpc_retry_reason
from .headers import HOP_BY_HOP, ForwardingPolicy, response_headers, upstream_request_headers
from .hooks import HookResponse, ProxyRequest, ProxyResponse
from .retry import REFUSED, UNPROCESSED, failure_reason, should_retry

if TYPE_CHECKING:
    from lastcall.server.asgi import Receive, Scope, Send

    from .config import RouteConfig
    from .state import ProxyState
    from .upstream import Backend, UpstreamGroup

__all__ = [
    "DownstreamGone",
    "backend_fields",
    "backend_request",
    "forward_http",
    "parse_grpc_timeout",
    "request_target",
]

logger = logging.getLogger("lastcall.proxy")

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Client ``http_version`` -> the protocol token of ``Via`` (RFC 9110 §7.6.3).
_VIA_VERSION = {"HTTP/1.1": "1.1", "HTTP/2": "2", "HTTP/3": "3"}
#: A backend's reset that is passed on as a cancel, not an internal error: HTTP/2
#: CANCEL (RFC 9113 §7), HTTP/3 H3_REQUEST_CANCELLED (RFC 9114 §8.1).
_CANCEL_CODES = frozenset({0x8, 0x10C})
#: gRPC status codes (grpc/doc/statuscodes.md) for the proxy's own answers.
_GRPC_UNAVAILABLE = b"14"
_GRPC_DEADLINE_EXCEEDED = b"4"
#: The fields of a gRPC status (gRPC over HTTP/2, "Trailers").
_GRPC_STATUS_FIELDS = frozenset({b"grpc-status", b"grpc-message", b"grpc-status-details-bin"})
#: grpc-timeout units (gRPC over HTTP/2, "TimeoutUnit").
_GRPC_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


class DownstreamGone(Exception):
    """The downstream client reset the request or went away."""


def parse_grpc_timeout(value: bytes) -> float | None:
    """``grpc-timeout`` (``100m``, ``5S``: at most 8 digits and a unit) in seconds, or None."""
    digits, unit = value[:-1], value[-1:]
    if not digits.isdigit() or len(digits) > 8 or unit not in _GRPC_UNITS:
        return None
    return int(digits) * _GRPC_UNITS[unit]


class RequestBody:
    """A streaming downstream request body, with the head of it kept for retries."""

    __slots__ = (
        "_first",
        "_kept",
        "_kept_size",
        "_limit",
        "_receive",
        "is_complete",
        "is_replayable",
        "on_complete",
    )

    def __init__(self, receive: Receive, first: bytes, limit: int) -> None:
        self._receive = receive
        self._kept: list[bytes] = []
        self._kept_size = 0
        self._limit = limit
        self.is_complete = False
        #: False once a chunk was sent that was not kept: a retry could not resend it.
        self.is_replayable = True
        #: The chunk that came with the first message, until an attempt takes it.
        self._first: bytes | None = first
        #: Called once the last chunk has been received (the watcher starts then).
        self.on_complete: Any = None

    def stop_keeping(self) -> None:
        """A response head arrived: no retry from now on, so keep nothing more."""
        self._limit = -1

    def _keep(self, chunk: bytes) -> None:
        if self._kept_size + len(chunk) <= self._limit:
            self._kept.append(chunk)
            self._kept_size += len(chunk)
        elif self.is_replayable:
            self.is_replayable = False
            self._kept.clear()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body from its start: kept chunks first, then the rest as it arrives."""
        for chunk in list(self._kept):
            yield chunk
        first = self._first
        if first is not None:
            self._first = None
            if first:
                self._keep(first)
                yield first
        receive = self._receive
        while not self.is_complete:
            message = await receive()
            if message["type"] != "http.request":
                raise DownstreamGone("the client went away during the request body")
            chunk = message.get("body", b"")
            if not message.get("more_body", False):
                self.is_complete = True
                if self.on_complete is not None:
                    self.on_complete()
            if chunk:
                self._keep(chunk)
                yield chunk


class Exchange:
    """The state one exchange's watcher and deadline share with its task."""

    __slots__ = ("can_refuse", "deadline", "head_sent", "reason", "task", "watcher")

    def __init__(self, task: asyncio.Task[Any], can_refuse: bool) -> None:
        self.task = task
        #: The downstream protocol can say "not processed, send it again" (HTTP/2
        #: REFUSED_STREAM, HTTP/3 H3_REQUEST_REJECTED); HTTP/1.1 cannot.
        self.can_refuse = can_refuse
        #: Why we cancelled the task ourselves: "downstream_gone" or "timeout".
        self.reason: str | None = None
        self.head_sent = False
        self.watcher: asyncio.Task[None] | None = None
        self.deadline: MovingDeadline | None = None

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.task.cancel()

    def watch(self, receive: Receive) -> None:
        """Await the downstream disconnect from now on (the request body is complete)."""
        if self.watcher is None:
            self.watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.stop("downstream_gone")

    def close(self) -> None:
        watcher = self.watcher
        if watcher is not None and not watcher.done():
            watcher.cancel()
        if self.deadline is not None:
            self.deadline.stop()


async def _answer(send: Send, status: int, body: bytes, *, grpc: bool, headers: Any = ()) -> None:
    """A response the proxy gives itself (no backend's)."""
    if grpc:
        code = _GRPC_DEADLINE_EXCEEDED if status == 504 else _GRPC_UNAVAILABLE
        fields = [
            (b"content-type", b"application/grpc"),
            (b"grpc-status", code),
            (b"grpc-message", body.strip().replace(b" ", b"%20")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": fields})
        await send({"type": "http.response.body", "body": b""})
        return
    fields = list(headers) or [(b"content-type", b"text/plain; charset=utf-8")]
    fields.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": body})


def _is_grpc(headers: Any) -> bool:
    for name, value in headers:
        if name == b"content-type":
            return bool(value.startswith(b"application/grpc"))
    return False


def request_target(scope: Scope) -> bytes:
    """The target to send a backend: the path as it arrived, and its query."""
    target: bytes = scope["raw_path"]
    query: bytes = scope["query_string"]
    return target + b"?" + query if query else target


def backend_fields(
    scope: Scope,
    headers: list[tuple[bytes, bytes]],
    policy: ForwardingPolicy,
    *,
    backend_authority: bytes,
    body_is_whole: bool,
) -> list[tuple[bytes, bytes]]:
    """The header section to send any backend of the group (``headers.py``)."""
    client = scope.get("client")
    forwarded = upstream_request_headers(
        headers,
        policy,
        client_host=client[0] if client else None,
        scheme=scope["scheme"],
        http_version=scope["http_version"],
        backend_authority=backend_authority,
    )
    if body_is_whole:
        # The client frames a body it has whole (RFC 9112 §6.3, RFC 9113 §8.1.1).
        forwarded = [f for f in forwarded if f[0] != b"content-length"]
    return forwarded


def backend_request(
    method: str,
    target: bytes,
    forwarded: list[tuple[bytes, bytes]],
    policy: ForwardingPolicy,
    backend_base: str | URL,
    backend_authority: bytes,
    *,
    content: bytes | None,
    stream: AsyncIterator[bytes] | None,
) -> Request:
    """The client request for one attempt on one backend (``Host`` its own
    unless the client's is preserved). Method and target go as they came:
    a method is case-sensitive (RFC 9110 §9.1), and a target the backend
    would not receive byte for byte raises ``LocalProtocolError`` (400)."""
    fields = forwarded
    if not policy.preserve_host:
        fields = [(b"host", backend_authority), *forwarded[1:]]
    request = Request(
        method,
        URL.with_target(backend_base, target),
        headers=Headers.from_raw(fields),
        content=content,
        stream=stream,
    )
    request.method = method  # Request() upper-cases it, as a convenience for callers
    return request


async def forward_http(state: ProxyState, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one ``http`` scope by forwarding it; see the module docstring."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    target = request_target(scope)
    authority = b""
    grpc_timeout: bytes | None = None
    for name, value in headers:
        if name == b"host":
            authority = value
        elif name == b"grpc-timeout":
            grpc_timeout = value
    route = state.router.match(authority, target, headers)
    grpc = _is_grpc(headers)
    if route is None:
        await _answer(send, 404, b"no route for this request\n", grpc=grpc)
        return
    method: str = scope["method"]
    upstream = route.upstream
    hooks = state.hooks
    hook_request: ProxyRequest | None = None
    if hooks is not None:
        hook_request = ProxyRequest(method, target, list(headers), route, upstream, scope)
        try:
            answer = await hooks.request_filter(hook_request)
            choice = hooks.choose_upstream(hook_request)
        except Exception:
            logger.exception("proxy hook request_filter/choose_upstream failed")
            await _answer(send, 502, b"proxy hook failed\n", grpc=grpc)
            return
        if answer is not None:
            await _send_hook_response(send, answer)
            return
        if choice is not None and choice not in state.groups:
            logger.error("choose_upstream named %r, which is not an upstream group", choice)
            await _answer(send, 502, b"proxy hook chose an unknown upstream\n", grpc=grpc)
            return
        upstream = hook_request.upstream = choice or upstream
        method, target, headers = hook_request.method, hook_request.path, hook_request.headers
    group = state.groups[upstream]
    message = await receive()
    if message["type"] != "http.request":
        return  # the client went away before the body began
    first: bytes = message.get("body", b"")
    content: bytes | None = None
    body: RequestBody | None = None
    if message.get("more_body", False):
        body = RequestBody(receive, first, state.retry_buffer_size)
    else:
        content = first
    forwarded = backend_fields(
        scope,
        headers,
        state.policy,
        backend_authority=group.backends[0].authority,
        body_is_whole=content is not None,
    )
    task = asyncio.current_task()
    assert task is not None
    exchange = Exchange(task, scope["http_version"] in ("2", "3"))
    loop = state.loop
    deadline = exchange.deadline = MovingDeadline(loop, lambda: exchange.stop("timeout"))
    start = loop.time()
    overall_at: float | None = None
    if grpc_timeout is not None:
        seconds = parse_grpc_timeout(grpc_timeout)
        if seconds is not None:
            overall_at = start + seconds
    first_byte_at = start + route.first_byte_timeout
    deadline.set(first_byte_at if overall_at is None else min(first_byte_at, overall_at))
    if body is None:
        exchange.watch(receive)
    else:
        body.on_complete = lambda: exchange.watch(receive)
    group.budget.active_requests += 1
    try:
        await _run(
            state,
            exchange,
            group,
            route,
            method,
            target,
            forwarded,
            content,
            body,
            hook_request,
            send,
            grpc,
            overall_at,
        )
    except asyncio.CancelledError:
        if exchange.reason is None:
            raise  # cancelled by the server (grace expiry): not ours to swallow
        task.uncancel()
        if exchange.reason == "timeout" and not exchange.head_sent:
            why = b"deadline exceeded" if overall_at is not None else b"upstream timed out"
            state.emit_request(group.name, "", 504, 0)
            await _answer(send, 504, why + b"\n", grpc=grpc)
        elif exchange.reason == "timeout":
            raise ResponseCut("the idle timeout ran out mid-response") from None
    except DownstreamGone:
        pass  # mid-body: the client already reset the upstream stream; nobody to answer
    finally:
        group.budget.active_requests -= 1
        exchange.close()


async def _run(
    state: ProxyState,
    exchange: Exchange,
    group: UpstreamGroup,
    route: RouteConfig,
    method: str,
    target: bytes,
    forwarded: list[tuple[bytes, bytes]],
    content: bytes | None,
    body: RequestBody | None,
    hook_request: ProxyRequest | None,
    send: Send,
    grpc: bool,
    overall_at: float | None,
) -> None:
    loop = state.loop
    timeouts: Timeouts = state.timeouts_of(route)
    tried: list[Backend] = []
    retries = 0
    holds_budget = False
    response: Response | None = None
    backend: Backend | None = None
    try:
        while True:
            now = loop.time()
            backend = group.choose(now, tried)
            assert backend is not None  # a group has at least one backend
            try:
                request = backend_request(
                    method,
                    target,
                    forwarded,
                    state.policy,
                    backend.base_url,
                    backend.authority,
                    content=content,
                    stream=body.chunks() if body is not None else None,
                )
            except LocalProtocolError as exc:
                # The request itself cannot be forwarded (a target no request
                # line can carry): the client's fault, not a backend's.
                logger.info("proxy: cannot forward %s: %s", method, exc)
                state.emit_request(group.name, "", 400, retries)
                await _answer(send, 400, b"request cannot be forwarded\n", grpc=grpc)
                return
            backend.outstanding += 1
            try:
                response = await backend.client.send(request, stream=True, timeout=timeouts)
            except (LastcallError, OSError) as exc:
                backend.outstanding -= 1
                reason = failure_reason(exc)
                if reason is not None and reason != REFUSED:
                    group.failed(backend, loop.time(), reason)
                replayable = body is None or body.is_replayable
                if should_retry(
                    reason,
                    is_idempotent=method in _IDEMPOTENT,
                    route_allows_idempotent=route.retry_idempotent,
                    retries_done=retries,
                    max_retries=route.max_retries,
                    body_replayable=replayable,
                ):
                    assert reason is not None
                    if (
                        reason in UNPROCESSED
                        or holds_budget
                        or (holds_budget := group.budget.try_acquire())
                    ):
                        retries += 1
                        tried.append(backend)
                        state.observer.emit(
                            oe.UpstreamRetry(loop.time(), group.name, backend.url, reason)
                        )
                        continue
                    state.observer.emit(
                        oe.RetryBudgetExhausted(loop.time(), group.name, backend.url, reason)
                    )
                    state.emit_request(group.name, backend.url, 503, retries)
                    await _answer(send, 503, b"retry budget exhausted\n", grpc=grpc)
                    return
                logger.info(
                    "proxy: %s %s to %s failed: %s",
                    method,
                    target.decode("latin-1"),
                    backend.url,
                    exc,
                )
                state.emit_request(group.name, backend.url, 502, retries)
                if reason == REFUSED and exchange.can_refuse:
                    # Refused every time it was tried: processed nowhere, so the
                    # client may send it again, whatever its method (RFC 9113 §8.7).
                    raise ResponseCut(
                        f"every attempt was refused, the last by {backend.url}", refused=True
                    ) from None
                await _answer(send, 502, b"bad gateway\n", grpc=grpc)
                return
            # Opt-in (grpc_retry.py): the route declared its RPCs idempotent. Given up
            # (no retries left, body gone, budget spent), the backend's answer goes on.
            status_reason = (
                grpc_retry_reason(
                    response.headers.raw,
                    route.grpc_retry_on,
                    retries_done=retries,
                    max_retries=route.max_retries,
                    body_replayable=body is None or body.is_replayable,
                )
                if route.grpc_retry_on
                else None
            )
            if status_reason is not None and (
                holds_budget or (holds_budget := group.budget.try_acquire())
            ):
                backend.outstanding -= 1
                await response.aclose()
                response = None
                retries += 1
                tried.append(backend)
                state.observer.emit(
                    oe.UpstreamRetry(loop.time(), group.name, backend.url, status_reason)
                )
                continue
            break
        await _respond(
            state,
            exchange,
            group,
            backend,
            response,
            route,
            hook_request,
            body,
            send,
            retries,
            overall_at,
        )
    finally:
        if holds_budget:
            group.budget.release()
        if response is not None:
            assert backend is not None  # the one that answered
            backend.outstanding -= 1
            await response.aclose()


async def _respond(
    state: ProxyState,
    exchange: Exchange,
    group: UpstreamGroup,
    backend: Backend,
    response: Response,
    route: RouteConfig,
    hook_request: ProxyRequest | None,
    body: RequestBody | None,
    send: Send,
    retries: int,
    overall_at: float | None,
) -> None:
    loop = state.loop
    status = response.status_code
    if 502 <= status <= 504:
        group.failed(backend, loop.time(), f"status_{status}")
    else:
        group.succeeded(backend)
    if body is not None:
        body.stop_keeping()
    version = _VIA_VERSION.get(response.http_version, "1.1")
    fields = response_headers(response.headers.raw, state.policy, version)
    if hook_request is not None and state.hooks is not None:
        head = ProxyResponse(status, fields, backend.url)
        try:
            replacement = state.hooks.response_filter(hook_request, head)
        except Exception:
            logger.exception("proxy hook response_filter failed")
            replacement = HookResponse(502, body=b"proxy hook failed\n")
        if replacement is not None:
            state.emit_request(group.name, backend.url, replacement.status, retries)
            await _send_hook_response(send, replacement)
            return
        status, fields = head.status, head.headers
    state.emit_request(group.name, backend.url, status, retries)
    idle = route.idle_timeout
    deadline = exchange.deadline
    assert deadline is not None
    at = loop.time() + idle
    # Maybe earlier than the first-byte deadline the timer was armed for: set() re-arms.
    deadline.set(at if overall_at is None or at < overall_at else overall_at)
    exchange.head_sent = True
    # Trailers (gRPC's grpc-status) are passed on when the client said it takes them
    # (``TE: trailers``, forwarded upstream as sent): announced in the head, since
    # whether the backend sends any is known only at the end (ASGI trailers extension).
    with_trailers = any(
        name == b"te" and b"trailers" in value.lower()
        for name, value in response.request.headers.raw
    )
    moved: list[tuple[bytes, bytes]] = []
    if with_trailers and any(name == b"grpc-status" for name, _ in fields):
        # A gRPC "Trailers-Only" response (the status in the one HEADERS frame that
        # ends the stream) goes on as headers, then the status as trailers: a head
        # announced with trailers cannot end the stream itself (gRPC over HTTP/2).
        moved = [f for f in fields if f[0] in _GRPC_STATUS_FIELDS]
        fields = [f for f in fields if f[0] not in _GRPC_STATUS_FIELDS]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": fields,
            "trailers": with_trailers,
        }
    )
    message: dict[str, Any] = {"type": "http.response.body", "body": b"", "more_body": True}
    try:
        async for chunk in response.aiter_raw():
            message["body"] = chunk
            await send(message)
            at = loop.time() + idle
            deadline.at = at if overall_at is None or at < overall_at else overall_at
    except LastcallError as exc:
        group.failed(backend, loop.time(), "reset")
        cancelled = isinstance(exc, StreamReset) and exc.error_code in _CANCEL_CODES
        raise ResponseCut(
            f"the response from {backend.url} was cut: {exc}", cancelled=cancelled
        ) from None
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    if with_trailers:
        trailers = moved + [(n, v) for n, v in response.trailers.raw if n not in HOP_BY_HOP]
        await send({"type": "http.response.trailers", "headers": trailers, "more_trailers": False})


async def _send_hook_response(send: Send, answer: HookResponse) -> None:
    fields = list(answer.headers)
    if not any(name == b"content-length" for name, _ in fields):
        fields.append((b"content-length", b"%d" % len(answer.body)))
    await send({"type": "http.response.start", "status": answer.status, "headers": fields})
    await send({"type": "http.response.body", "body": answer.body})
