"""During the pre-stop delay the application learns of the drain when the load balancer does.

Readiness fails at once (503), listeners keep accepting until ``pre_stop_delay``
ends. The ``lastcall.drain`` extension reports ``pre_stop`` from that same
moment -- ``wait()`` returns, ``is_draining`` is true, ``deadline_at`` says when
what is left will be cancelled -- while the wire behaves as before: responses
keep their keep-alive, nothing is refused. (The pre-stop delay is long enough
never to elapse during the test; the server is stopped with ``cancel()``.)
"""

from __future__ import annotations

import asyncio

from server_harness import StartServer

from lastcall.server.asgi import Receive, Scope, Send
from lastcall.server.extension import DRAIN_EXTENSION

PRE_STOP_DELAY = 600.0
GRACE = 7.0


async def test_app_learns_of_the_drain_when_readiness_fails(start_server: StartServer) -> None:
    waiting = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        drain = scope["extensions"][DRAIN_EXTENSION]
        if scope["path"] == "/wait":
            waiting.set()
            reason = await drain.wait()
        else:
            reason = str(drain.reason)
        body = f"{reason} {drain.is_draining} {drain.deadline_at!r}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    run = await start_server(
        app, readiness_path="/readyz", pre_stop_delay=PRE_STOP_DELAY, graceful_timeout=GRACE
    )
    waiter = await run.open()
    waiter.send(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n")
    await waiting.wait()
    run.server.drain(reason="deploy")
    started_at = run.server.controller.drain_requested_at
    assert started_at is not None
    deadline_at = started_at + PRE_STOP_DELAY + GRACE

    _, headers, body = await waiter.response()
    assert body == f"pre_stop True {deadline_at!r}".encode()
    assert b"connection" not in headers  # the wire is unchanged: still keep-alive

    waiter.send(b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = await waiter.response()
    assert status.startswith(b"HTTP/1.1 503") and body == b"draining: deploy\n"

    # A connection accepted during the pre-stop delay learns it too, at once.
    late = await run.open()
    late.send(b"GET /now HTTP/1.1\r\nHost: x\r\n\r\n")
    _, headers, body = await late.response()
    assert body == f"pre_stop True {deadline_at!r}".encode()
    assert b"connection" not in headers

    await waiter.aclose()
    await late.aclose()
    run.server.cancel()
    assert await run.exit_code() == 0


async def test_reason_becomes_the_drain_s_own_once_the_connection_drains(
    start_server: StartServer,
) -> None:
    """``wait()`` answered ``pre_stop``; when the delay ends and this connection
    drains, ``reason`` is the drain's own and the response carries Connection: close."""
    entered, go_on = asyncio.Event(), asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        drain = scope["extensions"][DRAIN_EXTENSION]
        entered.set()
        first = await drain.wait()
        await go_on.wait()
        body = f"{first} {drain.reason}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    run = await start_server(app, pre_stop_delay=0.05)
    client = await run.open()
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await entered.wait()
    run.server.drain(reason="deploy")
    await run.events.wait_for("connection_draining")
    go_on.set()
    _, headers, body = await client.response()
    assert body == b"pre_stop deploy"
    assert headers[b"connection"] == b"close"
    assert await run.exit_code() == 0
