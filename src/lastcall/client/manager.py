"""The pool's async shell: carries out ``pool.decide`` and keeps the books.

One ``PoolManager`` per client. It opens connections (choosing HTTP/1.1 or
HTTP/2 by configuration and ALPN; HTTP/3 over QUIC when configured or
advertised by ``Alt-Svc``), hands them to requests, parks requests that must
wait (bounded by the pool timeout), retires connections that start
draining, recycles them by age, and on ``aclose`` runs the client drain:
refuse new requests, let in-flight ones finish up to the drain time, cancel
the rest (DESIGN.md, "Client drain on close").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import ssl
from collections import deque
from dataclasses import dataclass

from lastcall.errors import (
    ClientClosed,
    ConnectError,
    ConnectTimeout,
    PoolTimeout,
    RequestCancelled,
)

from .altsvc import AltSvcTable
from .config import ClientConfig, Timeouts, jittered
from .conn import ConnectionLimits, PooledConnection
from .http1 import Http1Connection
from .models import URL, Response
from .net import abort_writer, make_ssl_context, open_stream
from .notices import ClosingNotice, NoticeHub
from .pool import ConnState, decide


@dataclass(slots=True)
class PoolStats:
    """Counters a test or a metrics exporter reads."""

    #: Connections opened.
    connections_opened: int = 0
    #: Requests replayed because the server never processed them (GOAWAY, REFUSED_STREAM).
    replays: int = 0
    #: Idempotent requests retried after a keep-alive race.
    stale_retries: int = 0
    #: Requests cancelled when a drain ran out.
    cancelled_by_drain: int = 0


class _Connecting:
    """Placeholder for a connection being opened; counts against the limit."""

    __slots__ = ("is_multiplexed",)

    state = ConnState.CONNECTING
    free_slots = 0
    used_slots = 1
    idle_since = None

    def __init__(self, is_multiplexed: bool | None) -> None:
        self.is_multiplexed = is_multiplexed


class _Origin:
    __slots__ = ("entries", "handoffs", "idle", "may_multiplex", "waiters")

    def __init__(self) -> None:
        self.entries: list[PooledConnection | _Connecting] = []
        self.waiters: deque[asyncio.Future[None]] = deque()
        #: Waiters woken for a free slot that have not run yet: the slot is theirs.
        self.handoffs = 0
        #: HTTP/1.1 connections in the order they became idle (the newest last),
        #: while the origin has never had a multiplexed one: ``acquire`` takes the
        #: newest from here in O(1) instead of running ``decide`` over every
        #: connection (with 100 requests in flight, ~100 of them per request).
        #: Entries that were closed or reused since are skipped when met.
        self.idle: deque[PooledConnection] = deque()
        #: Once an HTTP/2 or HTTP/3 connection was (or may be) opened, ``decide``
        #: alone chooses (rule 3 prefers a free stream slot to an idle connection).
        self.may_multiplex = False


class PoolManager:
    """Per-origin pools of HTTP/1.1 and HTTP/2 connections for one client."""

    def __init__(self, config: ClientConfig, hub: NoticeHub) -> None:
        self.config = config
        self.stats = PoolStats()
        self._hub = hub
        self._origins: dict[tuple[str, str, int], _Origin] = {}
        self._retiring: set[PooledConnection] = set()
        self._timers: dict[PooledConnection, asyncio.TimerHandle] = {}
        self._ids = itertools.count(1)
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._closed = asyncio.Event()
        self._ssl: ssl.SSLContext | None = None
        self._random = random.Random()
        limits = config.limits
        self._max_connections = limits.max_connections
        self._max_keepalive = limits.max_keepalive_connections
        self._keepalive_expiry = limits.keepalive_expiry
        self._alt_svc = AltSvcTable() if config.alt_svc else None

    @property
    def is_closing(self) -> bool:
        """True once ``aclose`` began; new requests fail with ``ClientClosed``."""
        return self._closing

    @property
    def active_exchanges(self) -> int:
        """Requests holding a connection slot (a streaming response counts until closed)."""
        return self._active

    def connections(self) -> list[PooledConnection]:
        """Every open or draining connection (for tests and introspection)."""
        found: list[PooledConnection] = [
            e
            for origin in self._origins.values()
            for e in origin.entries
            if not isinstance(e, _Connecting)
        ]
        found.extend(self._retiring)
        return found

    # -- getting a connection ---------------------------------------------------------

    async def acquire(self, url: URL, timeouts: Timeouts) -> PooledConnection:
        """A connection with one slot reserved for the caller (``reserve`` done)."""
        origin = self._origins.get(url.origin)
        if origin is None:
            origin = self._origins[url.origin] = _Origin()
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        woken = False
        while True:
            if self._closing:
                raise ClientClosed("the client is closed or closing; the request was not sent")
            if not woken and (origin.waiters or origin.handoffs):
                # FIFO: earlier requests are already waiting for a slot. Queue
                # behind them instead of taking a slot that was just handed to
                # one of them (a looping caller would otherwise starve them).
                if deadline is None and timeouts.pool is not None:
                    deadline = loop.time() + timeouts.pool
                await self._wait(origin, deadline, timeouts.pool, front=False)
                woken = True
                continue
            entries = origin.entries
            if len(entries) == 1:
                # One HTTP/2 (or HTTP/3) connection with a free stream slot: what
                # ``decide`` would choose (rule 3), without building a plan.
                only = entries[0]
                if only.is_multiplexed and only.state is ConnState.READY and only.free_slots > 0:
                    assert not isinstance(only, _Connecting)
                    only.reserve()
                    self._take()
                    return only
            if origin.idle:
                idle = self._take_idle(origin, loop.time())
                if idle is not None:
                    idle.reserve()
                    self._take()
                    return idle
            plan = decide(
                origin.entries,
                max_connections=self._max_connections,
                max_keepalive=self._max_keepalive,
                keepalive_expiry=self._keepalive_expiry,
                now=loop.time(),
            )
            for entry in plan.close:
                assert not isinstance(entry, _Connecting)
                entry.start_drain("idle_expired")
            reuse = plan.reuse
            if reuse is not None:
                assert not isinstance(reuse, _Connecting)
                reuse.reserve()
                self._take()
                return reuse
            if plan.open:
                return await self._open(origin, url, timeouts)
            if deadline is None and timeouts.pool is not None:
                deadline = loop.time() + timeouts.pool
            # A waiter that was woken but still found nothing keeps its place.
            await self._wait(origin, deadline, timeouts.pool, front=woken)
            woken = True

    def _take_idle(self, origin: _Origin, now: float) -> PooledConnection | None:
        """``decide``'s rules 2 and 3 for an origin of HTTP/1.1 connections only, from
        ``origin.idle``: close the idle connections that expired (the oldest first),
        then return the newest idle one (LIFO), or None when none is left."""
        idle = origin.idle
        expiry = self._keepalive_expiry
        while idle:
            oldest = idle[0]
            since = oldest.idle_since
            if since is not None and oldest.state is ConnState.READY:
                if now - since < expiry:
                    break
                oldest.start_drain("idle_expired")
            idle.popleft()
        while idle:
            newest = idle.pop()
            if newest.idle_since is not None and newest.state is ConnState.READY:
                return newest
        return None

    def _keep_idle(self, origin: _Origin, conn: PooledConnection) -> None:
        """``conn`` (HTTP/1.1) became idle: remember it for ``_take_idle``; beyond
        ``max_keepalive_connections`` idle ones, close the oldest (rule 2)."""
        idle = origin.idle
        idle.append(conn)
        if len(idle) > self._max_keepalive:
            kept = [c for c in idle if c.idle_since is not None and c.state is ConnState.READY]
            idle.clear()
            extra = len(kept) - self._max_keepalive
            for old in kept[: max(0, extra)]:
                old.start_drain("idle_expired")
            idle.extend(kept[max(0, extra) :])

    async def _wait(
        self, origin: _Origin, deadline: float | None, pool_timeout: float | None, *, front: bool
    ) -> None:
        waiter = asyncio.get_running_loop().create_future()
        if front:
            origin.waiters.appendleft(waiter)
        else:
            origin.waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
            origin.handoffs -= 1
        except TimeoutError:
            self._leave_queue(origin, waiter)
            raise PoolTimeout(f"no connection became available within {pool_timeout} s") from None
        except BaseException:
            self._leave_queue(origin, waiter)
            raise

    def _leave_queue(self, origin: _Origin, waiter: asyncio.Future[None]) -> None:
        """A waiter gives up (timeout, cancellation): keep the queue's books right."""
        if waiter.done() and not waiter.cancelled():
            # It was woken but leaves anyway: pass the wake-up on, or it is lost.
            origin.handoffs -= 1
            self._wake(origin, 1)
        else:
            waiter.cancel()
            with contextlib.suppress(ValueError):
                origin.waiters.remove(waiter)

    def _take(self) -> None:
        self._active += 1
        self._idle.clear()

    async def _open(self, origin: _Origin, url: URL, timeouts: Timeouts) -> PooledConnection:
        config = self.config
        https = url.scheme == "https"
        alt_port: int | None = None
        if https and not config.http3 and self._alt_svc is not None:
            alt_port = self._alt_svc.h3_port(url.origin, asyncio.get_running_loop().time())
        h3 = https and (config.http3 or alt_port is not None)
        expect_h2: bool | None
        if h3:
            expect_h2 = True  # multiplexed: requests wait for it rather than open more
        elif https:
            expect_h2 = (None if config.http1 else True) if config.http2 else False
        else:
            expect_h2 = config.http2 and not config.http1
        placeholder = _Connecting(expect_h2)
        if expect_h2 is not False:
            self._may_multiplex(origin)
        origin.entries.append(placeholder)
        conn: PooledConnection | None = None
        try:
            if h3:
                conn = await self._open_h3(url, timeouts, alt_port, expect_h2)
            else:
                conn = await self._open_tcp(url, timeouts, expect_h2)
            if self._closing:
                conn.abort(ClientClosed("the client closed while connecting"))
                raise ClientClosed("the client is closed or closing; the request was not sent")
        except BaseException:
            _remove(origin.entries, placeholder)
            if conn is not None:
                conn.abort(ConnectError("connection set-up failed"))
            self._wake(origin, 1)
            raise
        entries = origin.entries
        index = _index(entries, placeholder)
        if index is None or conn.state is not ConnState.READY:
            # It failed or started draining while we set it up.
            _remove(entries, placeholder)
            self._wake(origin, 1)
            raise ConnectError("the new connection closed before it could be used")
        if conn.is_multiplexed is not False:
            self._may_multiplex(origin)
        entries[index] = conn
        conn.reserve()
        self._take()
        self._schedule_retirement(conn)
        self._wake(origin, conn.free_slots)
        return conn

    async def _open_h3(
        self, url: URL, timeouts: Timeouts, alt_port: int | None, expect_h2: bool | None
    ) -> PooledConnection:
        """QUIC to the origin's port (``http3``) or to its ``Alt-Svc`` port; an
        alternative that fails is marked broken and TCP is used (RFC 7838 §2.4)."""
        from .quic_connect import open_http3_connection  # aioquic: an optional dependency

        try:
            conn = await open_http3_connection(
                url,
                self,
                connection_id=next(self._ids),
                limits=self._connection_limits(),
                config=self.config,
                connect_timeout=timeouts.connect,
                port=alt_port,
            )
        except (ConnectError, ConnectTimeout):
            if alt_port is None or self._alt_svc is None:
                raise
            self._alt_svc.mark_broken(url.origin, asyncio.get_running_loop().time())
            return await self._open_tcp(url, timeouts, expect_h2)
        self.stats.connections_opened += 1
        return conn

    def note_response(self, url: URL, response: Response) -> None:
        """Learn the origin's HTTP/3 alternative from ``Alt-Svc`` (with ``alt_svc`` on)."""
        if self._alt_svc is not None:
            values = response.headers.get_list("alt-svc")
            if values:
                now = asyncio.get_running_loop().time()
                self._alt_svc.note(url.origin, values, now)

    async def _open_tcp(
        self, url: URL, timeouts: Timeouts, expect_h2: bool | None
    ) -> PooledConnection:
        """TCP (and TLS with ALPN): an HTTP/1.1 or HTTP/2 connection, ready for use."""
        https = url.scheme == "https"
        ctx = self._ssl_context() if https else None
        reader, writer, alpn = await open_stream(
            url.host, url.port, ssl_context=ctx, connect_timeout=timeouts.connect
        )
        is_h2 = alpn == "h2" if https else bool(expect_h2)
        if https and not is_h2 and not self.config.http1:
            abort_writer(writer)
            raise ConnectError(f"{url.host}:{url.port} did not agree to HTTP/2 by ALPN")
        self.stats.connections_opened += 1
        conn = self._make_connection(url, reader, writer, is_h2)
        if is_h2:
            try:
                await conn.wait_ready(timeouts.connect)
            except BaseException:
                conn.abort(ConnectError("connection set-up failed"))
                raise
        return conn

    def _connection_limits(self) -> ConnectionLimits:
        """This connection's own lifetime, jittered (gRFC A9)."""
        lifetime = self.config.lifetime
        rnd = self._random.random
        max_requests: int | None = None
        if lifetime.max_requests is not None:
            max_requests = max(1, round(jittered(lifetime.max_requests, lifetime.jitter, rnd())))
        retire_at: float | None = None
        if lifetime.max_age is not None:
            age = jittered(lifetime.max_age, lifetime.jitter, rnd())
            retire_at = asyncio.get_running_loop().time() + age
        return ConnectionLimits(max_requests=max_requests, retire_at=retire_at)

    def _make_connection(
        self, url: URL, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, is_h2: bool
    ) -> PooledConnection:
        limits = self._connection_limits()
        conn_id = next(self._ids)
        if is_h2:
            from .http2 import Http2Connection

            return Http2Connection(
                url.origin,
                reader,
                writer,
                self,
                connection_id=conn_id,
                limits=limits,
                config=self.config,
            )
        return Http1Connection(
            url.origin, reader, writer, self, connection_id=conn_id, limits=limits
        )

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            alpn = (["h2"] if self.config.http2 else []) + (
                ["http/1.1"] if self.config.http1 else []
            )
            self._ssl = make_ssl_context(self.config.verify, alpn)
        return self._ssl

    def _schedule_retirement(self, conn: PooledConnection) -> None:
        retire_at = conn.limits.retire_at
        if retire_at is not None:
            loop = asyncio.get_running_loop()
            self._timers[conn] = loop.call_at(retire_at, conn.start_drain, "max_age")

    # -- what connections tell us ----------------------------------------------------------

    def connection_changed(self, conn: PooledConnection) -> None:
        """Wake requests that may now proceed; move draining/closed connections out."""
        origin = self._origins.get(conn.origin)
        state = conn.state
        if state is ConnState.READY:
            if origin is not None:
                if (
                    not origin.may_multiplex
                    and conn.is_multiplexed is False
                    and conn.idle_since is not None
                ):
                    self._keep_idle(origin, conn)
                if origin.waiters:
                    self._wake(origin, conn.free_slots)
            return
        if origin is not None:
            _remove(origin.entries, conn)
        if state is ConnState.DRAINING:
            self._retiring.add(conn)
        else:
            self._retiring.discard(conn)
            timer = self._timers.pop(conn, None)
            if timer is not None:
                timer.cancel()
        if origin is not None:
            # A slot may have opened up under max_connections: one waiter can open.
            self._wake(origin, max(1, conn.free_slots))

    @staticmethod
    def _may_multiplex(origin: _Origin) -> None:
        origin.may_multiplex = True
        origin.idle.clear()

    def exchange_finished(self) -> None:
        """One reserved slot was given back."""
        self._active -= 1
        if self._active <= 0:
            self._active = 0
            self._idle.set()

    def publish(self, notice: ClosingNotice) -> None:
        """Forward a connection's closing notice to the application."""
        self._hub.publish(notice)

    def _wake(self, origin: _Origin, n: int) -> None:
        waiters = origin.waiters
        while n > 0 and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                origin.handoffs += 1
                waiter.set_result(None)
                n -= 1

    # -- drain on close -----------------------------------------------------------------

    async def aclose(self, drain: float) -> None:
        """Refuse new requests, let in-flight ones run up to ``drain`` s, cancel the rest."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            for origin in self._origins.values():
                self._wake(origin, len(origin.waiters))
            for conn in self.connections():
                conn.start_drain("client_close")
            if self._active:
                try:
                    async with asyncio.timeout(drain):
                        await self._idle.wait()
                except TimeoutError:
                    pass
            left = self.connections()
            if self._active:
                self.stats.cancelled_by_drain += self._active
            for conn in left:
                conn.abort(
                    RequestCancelled(
                        f"the client closed and its drain of {drain} s ran out before this "
                        "request finished"
                    )
                )
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            if left:
                await asyncio.gather(*(conn.wait_closed() for conn in left))
        finally:
            self._closed.set()


def _index(entries: list[PooledConnection | _Connecting], item: object) -> int | None:
    for i, entry in enumerate(entries):
        if entry is item:
            return i
    return None


def _remove(entries: list[PooledConnection | _Connecting], item: object) -> None:
    index = _index(entries, item)
    if index is not None:
        del entries[index]
