"""``Server``: listeners, signals, lifespan, and the drain sequence carried out.

The decisions are the lifecycle's (``DrainController``); this module only
carries them out. It never sleeps and never polls: it waits on one future
that is resolved when the controller reaches STOPPING, and on one timer
(``loop.call_at``) set to the controller's next deadline. An idle server
therefore exits as soon as the signal handler has run: readiness flips,
listeners close, the (empty) registry means "connections gone", lifespan
shutdown runs, ``serve()`` returns.

With ``quic_bind`` the server also owns UDP endpoints
(``lastcall.io.quic_endpoint``), whose QUIC connections join the same
registry as TCP ones. Stopping to accept closes an endpoint's socket only
once its last QUIC connection is gone (the layered close of RFC 9114 §5.2),
and ``serve()`` waits for those sockets before lifespan shutdown.

The two ASGI lifespan waits are bounded too (``lifespan_startup_timeout``,
``lifespan_shutdown_timeout``), and a signal cuts either short: SIGTERM,
SIGINT or SIGHUP while startup is still running stops the server without serving
(exit 3: a startup that did not finish), and one while lifespan shutdown
runs (the drain is over by then) exits at once, 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lastcall.errors import ConfigError
from lastcall.io import server_context
from lastcall.io.driver import Clock, EngineDriver
from lastcall.lifecycle import (
    PRE_STOP_REASON,
    AbortConnections,
    Action,
    AnnouncePreStop,
    CancelConnections,
    ConnectionRegistry,
    DrainConnections,
    DrainController,
    FailReadiness,
    GradualDrainScheduled,
    PreStopElapsed,
    ServerPhase,
    ShutdownApplication,
    StopAccepting,
)
from lastcall.observe import AccessLogSink, Observer, PrometheusSink
from lastcall.observe import events as oe

from .asgi import ASGIApp
from .concurrency_limit import ConcurrencyLimit
from .config import ServerConfig
from .connection_limit import OverLimitConnection, raise_file_limit
from .lifespan import Lifespan, LifespanFailure
from .listeners import Listener, open_listener, parse_bind
from .metrics_endpoint import MetricsEndpoint, new_metrics_sink, open_metrics_endpoint
from .state import ServerState
from .tls_handshakes import TlsHandshakes

if TYPE_CHECKING:
    from lastcall.io.quic_endpoint import QuicEndpoint

__all__ = ["EXIT_OK", "EXIT_STARTUP_FAILED", "Server"]

logger = logging.getLogger("lastcall.server")

#: Exit code after a drain (whatever was cancelled: the drain itself worked).
EXIT_OK = 0
#: Exit code when lifespan startup failed or a listener could not be opened
#: (3 like uvicorn's startup failure).
EXIT_STARTUP_FAILED = 3

_SIGHUP: int | None = getattr(signal, "SIGHUP", None)  # absent on Windows
#: Signals that start the drain; a second one of any skips to the cancel step.
#: SIGHUP asks for a reload by convention; its default action would kill the
#: process at once (exit 129, nothing drained), so a lone server drains instead.
DRAIN_SIGNALS: tuple[int, ...] = (
    signal.SIGTERM,
    signal.SIGINT,
    *((_SIGHUP,) if _SIGHUP is not None else ()),
)

#: ``ssl_cert_reqs`` -> what ``ssl`` calls it.
_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

#: Bounds the wait for UDP sockets to report closed (one loop turn after
#: ``close()``), so a broken event loop cannot hold the exit forever.
QUIC_ENDPOINT_CLOSE_TIMEOUT = 1.0


class Server:
    """An ASGI server for HTTP/1.1, HTTP/2, HTTP/3 and WebSocket that drains by the book.

    >>> server = Server(app, bind=["127.0.0.1:0"], graceful_timeout=10)   # doctest: +SKIP
    >>> task = asyncio.create_task(server.serve())                      # doctest: +SKIP
    >>> await server.started                                              # doctest: +SKIP
    >>> server.drain(grace=5)                                             # doctest: +SKIP
    >>> exit_code = await task                                            # doctest: +SKIP
    """

    def __init__(
        self,
        app: ASGIApp | None = None,
        config: ServerConfig | None = None,
        *,
        observer: Observer | None = None,
        clock: Clock | None = None,
        **settings: Any,
    ) -> None:
        if config is None:
            config = ServerConfig(**settings)
        elif settings:
            raise TypeError("pass either config= or keyword settings, not both")
        if app is None:
            from .demo import demo_app

            app = demo_app
        if not callable(app):
            # Refused here: served, it would answer every request with 500.
            raise TypeError(f"app must be an ASGI callable, got a {type(app).__name__}")
        self.app: ASGIApp = app
        self.config = config
        self.observer = observer if observer is not None else Observer()
        self.registry = ConnectionRegistry()
        #: With ``metrics_bind``: the Prometheus sink and its endpoint, once open.
        self.metrics: PrometheusSink | None = None
        self.metrics_endpoint: MetricsEndpoint | None = None
        self._add_operations_sinks()
        self._limit_concurrency()
        self.controller = DrainController(self.registry, config.drain_settings())
        self.listeners: list[Listener] = []
        #: UDP endpoints serving HTTP/3 (``quic_bind``), once open.
        self.quic_endpoints: list[QuicEndpoint] = []
        self.state: ServerState | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: asyncio.Future[None] | None = None
        self._stopping: asyncio.Future[None] | None = None
        #: The drain controller's time and timers (graceful timeout, pre-stop
        #: delay, close timeout): the loop's unless a test injects a fake clock.
        self._clock = clock
        self._driver: EngineDriver | None = None
        self._signals_seen = 0
        self._early: list[tuple[str, float | None]] = []
        #: While a lifespan wait runs: resolved (with why) by a signal or
        #: ``cancel()``, so the wait ends at once instead of at its timeout.
        self._lifespan_stop: asyncio.Future[str] | None = None

    def _add_operations_sinks(self) -> None:
        """The access log and the metrics read the events like every other sink."""
        config, observer = self.config, self.observer
        if config.access_log and not any(isinstance(s, AccessLogSink) for s in observer.sinks):
            observer.add_sink(AccessLogSink())
        if config.metrics_bind is None:
            return
        self.metrics = new_metrics_sink()
        self.metrics.watch_connections(lambda: self.registry)
        watch = getattr(self.app, "watch_metrics", None)
        if callable(watch):  # the proxy reports its client pools' retries
            watch(self.metrics)
        observer.add_sink(self.metrics)

    def _limit_concurrency(self) -> None:
        if self.config.limit_concurrency > 0:
            self.app = ConcurrencyLimit(self.app, self.config.limit_concurrency)

    # -- public API -------------------------------------------------------------------

    @property
    def started(self) -> asyncio.Future[None]:
        """Resolves once listeners are open and lifespan startup is done."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
        return self._started

    @property
    def addresses(self) -> list[str]:
        """Where the server listens, with real ports (``127.0.0.1:53121``)."""
        return [name for listener in self.listeners for name in listener.names]

    @property
    def quic_addresses(self) -> list[str]:
        """Where HTTP/3 is served, with real ports (``127.0.0.1:4433/udp``)."""
        return [endpoint.name for endpoint in self.quic_endpoints]

    @property
    def quic_port(self) -> int:
        """The first UDP port HTTP/3 is served on (handy with ``--quic-bind 127.0.0.1:0``)."""
        if not self.quic_endpoints:
            raise RuntimeError("no QUIC endpoint")
        return self.quic_endpoints[0].port

    @property
    def port(self) -> int:
        """The first TCP port listened on (handy with ``--bind 127.0.0.1:0``)."""
        for listener in self.listeners:
            if listener.port is not None:
                return listener.port
        raise RuntimeError("no TCP listener")

    @property
    def phase(self) -> ServerPhase:
        return self.controller.phase

    def drain(self, grace: float | None = None, reason: str = "drain") -> None:
        """Start the shutdown sequence a SIGTERM starts; idempotent.

        ``grace`` overrides ``graceful_timeout`` (a shorter one given later
        tightens the deadline). Returns at once; ``serve()`` returns when done.
        """
        if self._loop is None:
            self._early.append((reason, grace))
            return
        self._feed(self.controller.drain(self._now(), reason, grace))

    def cancel(self, reason: str = "cancel") -> None:
        """Skip to the cancel step at once (what a second SIGTERM does).

        During lifespan startup or shutdown it also ends that wait at once.
        """
        if self._loop is None:
            return
        self._stop_lifespan_wait(reason)
        self._feed(self.controller.force(self._now(), reason))

    async def serve(self) -> int:
        """Run until drained; return the process exit code (0 after a drain)."""
        loop = self._loop = asyncio.get_running_loop()
        self._driver = EngineDriver(
            self.controller, transmit=None, handle=self._execute_all, loop=loop, clock=self._clock
        )
        if self._started is None:
            self._started = loop.create_future()
        self._stopping = loop.create_future()
        state = self.state = ServerState(
            self.config, self.app, loop, self.observer, self.registry, clock=self._clock
        )
        self.registry.on_empty = self._on_connections_gone
        config = self.config
        lifespan = Lifespan(
            self.app,
            config.lifespan,
            state.lifespan_state,
            startup_timeout=config.lifespan_startup_timeout,
            shutdown_timeout=config.lifespan_shutdown_timeout,
            clock=state.clock,
        )
        if config.http2 and not _http2_available():
            logger.warning("HTTP/2 engine not available: serving HTTP/1.1 only")
            config.http2 = False
        try:
            tls = self._tls_context()
        except ConfigError as exc:
            self._fail_started(exc)
            raise
        except ssl.SSLError as exc:
            logger.error(
                "cannot load the TLS certificate (--certfile %s, --keyfile %s): %s",
                config.certfile,
                config.keyfile,
                exc,
            )
            self.controller.startup_failed()
            self._fail_started(exc)
            return EXIT_STARTUP_FAILED
        installed = self._install_signals(loop) if config.handle_signals else []
        try:
            try:
                self._lifespan_stop = loop.create_future()
                await lifespan.startup(self._lifespan_stop)
            except LifespanFailure as exc:
                self.controller.startup_failed()
                logger.error("application startup failed: %s", exc)
                self._fail_started(exc)
                return EXIT_STARTUP_FAILED
            finally:
                self._lifespan_stop = None
            try:
                await self._open_listeners(state, tls)
            except (OSError, ssl.SSLError, ConfigError) as exc:
                logger.error("cannot listen: %s", exc)
                self.controller.startup_failed()
                self._lifespan_stop = loop.create_future()
                await lifespan.shutdown(self._lifespan_stop)
                self._fail_started(exc)
                return EXIT_STARTUP_FAILED
            self.observer.emit(
                oe.ServerStarted(loop.time(), (*self.addresses, *self.quic_addresses))
            )
            if not self._started.done():
                self._started.set_result(None)
            self._feed(self.controller.started(self._now()))
            for reason, grace in self._early:
                self.drain(grace, reason)
            await self._stopping
            await self._close_quic_endpoints()
            # ``_lifespan_stop`` was created with the ShutdownApplication
            # action, so a signal from then on already counts.
            ok = await lifespan.shutdown(self._lifespan_stop)
            self.observer.emit(oe.LifespanShutdown(loop.time(), ok))
            self.controller.shutdown_done()
            return EXIT_OK
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            self._driver.stop()
            for listener in self.listeners:
                listener.close()
            for endpoint in self.quic_endpoints:
                endpoint.close()
            if self.metrics_endpoint is not None:
                self.metrics_endpoint.close()  # last: it reported the whole drain

    # -- startup ----------------------------------------------------------------------

    def _fail_started(self, exc: BaseException) -> None:
        assert self._started is not None
        if not self._started.done():
            self._started.set_exception(RuntimeError(f"server failed to start: {exc}"))
            self._started.exception()  # retrieved: nobody may be awaiting it

    def _tls_context(self) -> ssl.SSLContext | None:
        """The TCP listeners' TLS context, loaded before lifespan startup.

        So a certificate that cannot be used stops the server before the
        app's startup runs (migrations, connections) for nothing. A file that
        cannot be read is a configuration error (``ConfigError``: exit 2)
        that names it: ``ssl`` itself reports only ``[Errno 2] No such file
        or directory``. A file that is not a usable certificate or key is a
        startup failure (``ssl.SSLError``: exit 3, as for QUIC's).
        """
        config = self.config
        if config.certfile is None or config.keyfile is None:
            return None
        for option, path in (("--certfile", config.certfile), ("--keyfile", config.keyfile)):
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(f"cannot read {option} {path}: {exc.strerror or exc}") from None
        if config.ssl_ca_certs is not None:
            try:
                with open(config.ssl_ca_certs, "rb"):
                    pass
            except OSError as exc:
                raise ConfigError(
                    f"cannot read --ssl-ca-certs {config.ssl_ca_certs}: {exc.strerror or exc}"
                ) from None
        if config.ssl_ciphers is not None:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).set_ciphers(config.ssl_ciphers)
            except ssl.SSLError:
                raise ConfigError(
                    f"--ssl-ciphers {config.ssl_ciphers!r}: no cipher matches"
                ) from None
        return server_context(
            config.certfile,
            config.keyfile,
            http2=config.http2,
            ca_certs=config.ssl_ca_certs,
            cert_reqs=_CERT_REQS[config.ssl_cert_reqs],
            ciphers=config.ssl_ciphers,
        )

    async def _open_listeners(self, state: ServerState, context: ssl.SSLContext | None) -> None:
        config = self.config
        if self.metrics is not None and config.metrics_bind is not None:
            self.metrics_endpoint = await open_metrics_endpoint(
                parse_bind(config.metrics_bind), self.metrics.registry
            )
            assert self._loop is not None
            self.observer.emit(oe.MetricsListening(self._loop.time(), self.metrics_endpoint.name))
        if config.quic_bind:
            # First, so the TCP listeners' very first response can carry Alt-Svc.
            await self._open_quic_endpoints(state)
        from .http1 import Http1Connection

        registry = self.registry
        limit = config.max_connections
        if limit:
            raise_file_limit(limit)
        # TLS: the handshake is ours (tls_handshakes.py), so it is counted from accept.
        handshakes = (
            None if context is None else TlsHandshakes(context, config.tls_handshake_timeout)
        )

        def factory() -> asyncio.Protocol:
            if limit and len(registry) + (handshakes.count if handshakes else 0) >= limit:
                return OverLimitConnection()
            connection = Http1Connection(state)
            if handshakes is not None:
                # Registered at connection_made, after the handshake: a failed
                # one never reaches it. Counted as a handshake until then.
                return handshakes.wrap(connection)
            # Register at accept time, not at connection_made (one loop turn
            # later): a connection accepted just as a drain begins must hold
            # the drain open, so a request already on its way is answered.
            connection.register()
            return connection

        for value in config.bind:
            listener = await open_listener(
                parse_bind(value), factory, ssl_context=None, backlog=config.backlog
            )
            self.listeners.append(listener)

    async def _open_quic_endpoints(self, state: ServerState) -> None:
        try:
            from .http3 import alt_svc_header, open_quic_endpoints
        except ImportError as exc:
            raise ConfigError(
                f"--quic-bind needs aioquic ({exc}): pip install 'lastcall[http3]'"
            ) from None
        self.quic_endpoints = await open_quic_endpoints(state, self._on_quic_endpoint_closed)
        limit, registry = self.config.max_connections, self.registry
        if limit:
            for endpoint in self.quic_endpoints:
                endpoint.can_admit = lambda: len(registry) < limit
        max_age = self.config.alt_svc_max_age
        if max_age > 0:
            ports = [endpoint.port for endpoint in self.quic_endpoints]
            state.extra_response_headers.append(alt_svc_header(ports, max_age))

    def _on_quic_endpoint_closed(self, endpoint: QuicEndpoint) -> None:
        if self._loop is not None:
            self.observer.emit(
                oe.QuicEndpointClosed(self._loop.time(), endpoint.name, endpoint.total_accepted)
            )

    async def _close_quic_endpoints(self) -> None:
        """The UDP sockets go last: every QUIC connection is gone by now (the
        registry is empty), so each endpoint has closed or closes here."""
        for endpoint in self.quic_endpoints:
            endpoint.close()
        if self.quic_endpoints:
            try:
                async with asyncio.timeout(QUIC_ENDPOINT_CLOSE_TIMEOUT):
                    for endpoint in self.quic_endpoints:
                        await endpoint.wait_closed()
            except TimeoutError:
                logger.error("UDP socket(s) did not report closed")

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed: list[int] = []
        for sig in DRAIN_SIGNALS:
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or no signals on this platform
            installed.append(sig)
        return installed

    def _on_signal(self, sig: int) -> None:
        assert self._loop is not None
        self._signals_seen += 1
        name = signal.Signals(sig).name
        self._stop_lifespan_wait(name if self._signals_seen == 1 else f"second {name}")
        if sig == _SIGHUP and self._signals_seen == 1:
            # Reload means a new generation taking over the listening sockets,
            # which takes a supervisor; one process alone can only drain.
            logger.warning("SIGHUP: a single process cannot reload; draining as on SIGTERM")
        if self._signals_seen == 1:
            self._feed(self.controller.drain(self._now(), f"shutdown ({name})"))
        else:
            self._feed(self.controller.force(self._now(), f"second {name}"))

    def _stop_lifespan_wait(self, reason: str) -> None:
        stop = self._lifespan_stop
        if stop is not None and not stop.done():
            stop.set_result(reason)

    # -- carrying out the controller's actions ----------------------------------------

    def _now(self) -> float:
        """The controller's time (the loop's, or the injected clock's)."""
        driver = self._driver
        assert driver is not None
        return driver.now()

    def _feed(self, actions: Sequence[Action]) -> None:
        """Carry out the controller's actions, then re-arm its one timer."""
        assert self._driver is not None
        self._driver.service(list(actions))

    def _execute_all(self, actions: list[Action]) -> None:
        for action in actions:
            self._execute(action)

    def _execute(self, action: Action) -> None:
        loop, state, emit = self._loop, self.state, self.observer.emit
        assert loop is not None and state is not None
        now = self._now()
        if isinstance(action, FailReadiness):
            state.drain_reason = action.reason
            settings = self.controller.settings
            emit(
                oe.DrainStarted(
                    now,
                    action.reason,
                    settings.graceful_timeout,
                    settings.pre_stop_delay,
                    len(self.registry),
                )
            )
        elif isinstance(action, AnnouncePreStop):
            state.announce_drain(PRE_STOP_REASON, action.deadline_at)
        elif isinstance(action, PreStopElapsed):
            emit(oe.PreStopElapsed(now, action.delay))
        elif isinstance(action, StopAccepting):
            for listener in self.listeners:
                listener.close()
                for name in listener.names:
                    emit(oe.ListenerClosed(now, name))
            for endpoint in self.quic_endpoints:
                # No new QUIC connection; the socket stays open for the ones
                # left and closes after the last (``quic_endpoint_closed``).
                emit(oe.ListenerClosed(now, endpoint.name))
                endpoint.stop_accepting()
        elif isinstance(action, DrainConnections):
            state.drain_deadline_at = action.deadline_at
            connections = action.connections
            for connection in self.registry if connections is None else connections:
                connection.begin_drain(action.deadline_at, action.reason)
        elif isinstance(action, GradualDrainScheduled):
            emit(oe.GradualDrainScheduled(now, action.connections, action.last_at))
        elif isinstance(action, CancelConnections):
            emit(
                oe.GraceExpired(
                    now, action.forced, action.remaining_connections, action.remaining_streams
                )
            )
            for connection in self.registry:
                connection.cancel("forced" if action.forced else "grace_expired")
        elif isinstance(action, AbortConnections):
            for connection in self.registry:
                connection.abort()
            if self.registry:
                logger.error(
                    "%d connection(s) did not close; giving up on them", len(self.registry)
                )
                self._feed(self.controller.connections_gone(now))
        elif isinstance(action, ShutdownApplication):
            started = self.controller.drain_requested_at
            emit(
                oe.Drained(
                    now, now - started if started is not None else 0.0, self.registry.total_accepted
                )
            )
            if self._stopping is not None and not self._stopping.done():
                self._lifespan_stop = loop.create_future()
                self._stopping.set_result(None)
        else:  # pragma: no cover - a new action type must be handled here
            raise AssertionError(f"unhandled lifecycle action {action!r}")

    def _on_connections_gone(self) -> None:
        if self._loop is not None:
            for endpoint in self.quic_endpoints:
                if not endpoint.is_accepting and len(endpoint) == 0:
                    # Layered close: the last QUIC connection is gone, so the UDP
                    # socket closes now, before the server reports "drained".
                    endpoint.close()
            self._feed(self.controller.connections_gone(self._now()))


def _http2_available() -> bool:
    try:
        from . import http2  # noqa: F401
    except ImportError:
        return False
    return True
