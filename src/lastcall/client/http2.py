"""One HTTP/2 client connection on lastcall's own engine (RFC 9113).

Why our engine and not python-hyper ``h2``: h2 moves the whole connection to
CLOSED when a GOAWAY arrives (h2 issue 1181), so the responses a server
promised to finish (streams at or below the GOAWAY's last id) are lost; that is
httpx's failure against nginx (httpcore issue 46). Here GOAWAY is a phase:

* the connection leaves the pool at once (``state`` becomes DRAINING);
* streams at or below the last id run to completion, in both directions;
* streams above it (``GoAwayReceived.unprocessed_stream_ids``) and streams
  reset with REFUSED_STREAM fail with ``UnprocessedRequest``, which the client
  replays on another connection (RFC 9113 §6.8, §8.7), POST included;
* every response on the connection sees the notice (``response.closing``).

I/O shape: one reader task per connection feeds the engine and dispatches its
events to per-stream state; writes are coalesced (one ``write`` per loop
iteration however many streams queued frames), which is what keeps 50
concurrent streams cheap. Backpressure: a request body waits while the engine
holds more than ``stream_write_high_water`` bytes of it for want of window
(and while the socket buffer is full); a response body's window is given back
only as the application reads it.
"""

from __future__ import annotations

import asyncio

from lastcall.engines.http2 import ErrorCode, Http2Config, Http2Engine, Phase, Role, SettingCode
from lastcall.engines.http2 import events as h2e
from lastcall.errors import (
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    RemoteProtocolError,
    WriteTimeout,
)
from lastcall.io.driver import EngineDriver

from .config import ClientConfig
from .conn import ConnectionLimits, ConnectionOwner
from .multiplexed import MultiplexedConnection
from .net import READ_CHUNK_SIZE
from .pool import ConnState

#: Until the server's SETTINGS say otherwise, RFC 9113 §6.5.2 sets no stream limit;
#: we wait for the server's first SETTINGS before using the connection anyway.
_UNLIMITED = 2**31 - 1

#: Bytes waiting in the socket's write buffer before a request body sender waits
#: for it to drain: 256 KiB.
_SOCKET_HIGH_WATER = 262_144


class Http2Connection(MultiplexedConnection):
    """An HTTP/2 connection shared by up to the server's MAX_CONCURRENT_STREAMS requests."""

    http_version = "HTTP/2"
    cancel_code = ErrorCode.CANCEL
    window_wait = "the server's flow-control window stayed closed"
    _engine: Http2Engine

    def __init__(
        self,
        origin: tuple[str, str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        owner: ConnectionOwner,
        *,
        connection_id: int,
        limits: ConnectionLimits,
        config: ClientConfig,
        engine_config: Http2Config | None = None,
    ) -> None:
        super().__init__(origin, owner, connection_id=connection_id, limits=limits, config=config)
        self._reader = reader
        self._writer = writer
        self._transport = writer.transport
        self._engine = engine = Http2Engine(Role.CLIENT, engine_config)
        self._limit = _UNLIMITED
        self._ready = asyncio.Event()
        self._driver = EngineDriver(
            engine, transmit=self._transmit, handle=self._dispatch, loop=self._loop
        )
        engine.initiate()
        self._driver.service()
        self._reader_task = self._loop.create_task(self._read_loop())

    @property
    def accepts_extended_connect(self) -> bool:
        return self._engine.remote_settings.get(SettingCode.ENABLE_CONNECT_PROTOCOL, 0) == 1

    @property
    def free_slots(self) -> int:
        if self._state is not ConnState.READY:
            return 0
        return max(0, min(self._limit - self._inflight, self._engine.available_stream_capacity))

    async def wait_ready(self, connect_timeout: float | None) -> None:
        """Wait for the server's first SETTINGS (its stream limit), within the connect timeout."""
        if not self._ready.is_set():
            try:
                async with asyncio.timeout(connect_timeout):
                    await self._ready.wait()
            except TimeoutError:
                raise ConnectTimeout(
                    f"no HTTP/2 SETTINGS from the server within {connect_timeout} s"
                ) from None
        if self._state is ConnState.CLOSED:
            raise ConnectError("the server closed the HTTP/2 connection during set-up")

    async def _transport_backpressure(self, write_timeout: float | None) -> None:
        if self._transport.get_write_buffer_size() > _SOCKET_HIGH_WATER:
            self._driver.service()
            try:
                async with asyncio.timeout(write_timeout):
                    await self._writer.drain()
            except TimeoutError:
                raise WriteTimeout(f"socket took no request bytes for {write_timeout} s") from None

    # -- the socket ----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reader = self._reader
        engine = self._engine
        driver = self._driver
        clock = driver.clock
        error: BaseException | None = None
        try:
            while self._state is not ConnState.CLOSED:
                data = await reader.read(READ_CHUNK_SIZE)
                if not data:
                    break
                driver.service(engine.receive_data(data, clock.time()))
        except OSError as exc:
            error = exc
        finally:
            self._transport_lost(error)

    def _transmit(self) -> None:
        data = self._engine.data_to_send()
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def _dispatch(self, events: list[h2e.Event]) -> None:
        for event in events:
            kind = type(event)
            if kind is h2e.DataReceived:
                assert isinstance(event, h2e.DataReceived)
                self._on_data(
                    event.stream_id, event.data, event.flow_controlled_length, event.end_stream
                )
            elif kind is h2e.ResponseReceived:
                assert isinstance(event, h2e.ResponseReceived)
                self._on_response(event.stream_id, event.headers, event.end_stream)
            elif kind is h2e.TrailersReceived:
                assert isinstance(event, h2e.TrailersReceived)
                self._on_trailers(event.stream_id, event.headers)
            elif kind is h2e.WindowUpdated:
                self._wake_window_waiters()
            elif kind is h2e.StreamReset:
                assert isinstance(event, h2e.StreamReset)
                # RFC 9113 §8.7: REFUSED_STREAM means the server did no processing.
                code = event.error_code
                self._on_reset(
                    event.stream_id,
                    code,
                    event.remote,
                    unprocessed=code == ErrorCode.REFUSED_STREAM,
                )
            elif kind is h2e.GoAwayReceived:
                assert isinstance(event, h2e.GoAwayReceived)
                last = event.last_processed_id
                notice = self._notice(
                    "remote",
                    "goaway",
                    last_processed_id=last,
                    error_code=event.error_code,
                    debug_data=event.debug_data,
                )
                why = f"is above the server's GOAWAY last id {last}"
                self._on_goaway(event.unprocessed_stream_ids, notice, why)
            elif kind is h2e.SettingsReceived:
                self._limit = self._engine.remote_settings.get(
                    SettingCode.MAX_CONCURRENT_STREAMS, _UNLIMITED
                )
                self._ready.set()
                if self._state is ConnState.READY:
                    self._owner.connection_changed(self)
            elif kind is h2e.DrainCompleted:
                self._close_transport()
            elif kind is h2e.ConnectionTerminated:
                assert isinstance(event, h2e.ConnectionTerminated)
                reason = event.debug_data.decode("utf-8", "replace")
                side = "the server" if event.remote else "we"
                self._fail_all(
                    RemoteProtocolError(
                        f"HTTP/2 connection ended with error {event.error_code} by {side}: {reason}",
                        error_code=event.error_code,
                    )
                )
                self._close_transport()
            # Pings are answered by the engine; informational responses and
            # SETTINGS ACKs need nothing from us.

    def _enter_draining(self) -> None:
        super()._enter_draining()
        if self._engine.is_drained:
            self._close_transport()

    # -- drain, abort, close ---------------------------------------------------------------------

    def _engine_drain(self, reason: str) -> None:
        self._engine.start_drain(self._driver.now(), reason.encode())

    def abort(self, exc: BaseException) -> None:
        """Cancel every stream (RST_STREAM(CANCEL), then GOAWAY), fail them with ``exc``, close."""
        if self._state is ConnState.CLOSED:
            return
        self._abort_exc = exc
        self._engine.cancel_remaining(b"client_close")
        self._engine.pop_events()
        self._fail_all(exc)
        self._close_transport()

    def _close_transport(self) -> None:
        """Flush what the engine queued (the last GOAWAY, resets) and close the socket."""
        if self._state is ConnState.CLOSED:
            return
        self._transmit()
        self._transport.close()
        self._mark_closed()

    def _transport_lost(self, error: BaseException | None) -> None:
        if self._state is not ConnState.CLOSED:
            if not self._transport.is_closing():
                self._transport.close()
            self._mark_closed()
        lost = ConnectionLost(
            f"the HTTP/2 connection closed mid-request{': ' + str(error) if error else ''}"
        )
        self._fail_all(self._abort_exc or lost)

    def _mark_closed(self) -> None:
        if self._engine.phase is not Phase.CLOSED:
            self._engine.transport_closed()
        super()._mark_closed()
        self._ready.set()

    async def wait_closed(self) -> None:
        await self._closed.wait()
        if not self._reader_task.done():
            await asyncio.wait({self._reader_task})

    def __repr__(self) -> str:
        return (
            f"<Http2Connection #{self.connection_id} {self._state.value} "
            f"streams={self._inflight}/{self._limit}>"
        )
