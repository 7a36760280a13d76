"""Every setting of ``lastcall serve``: name, default, and where the number came from.

Settings come, lowest precedence first, from the defaults below, a TOML file
(``--config lastcall.toml``: keys at top level and under ``[serve]``, the
table winning; dashes or underscores), ``LASTCALL_*`` environment variables (``LASTCALL_GRACEFUL_TIMEOUT=10``,
``LASTCALL_BIND="0.0.0.0:8000 unix:/tmp/s.sock"``) and the command line.
docs/server/reference.md lists them all; a test checks the two agree.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lastcall.engines.http1 import Http1Limits
from lastcall.engines.http2 import Http2Config
from lastcall.errors import ConfigError
from lastcall.lifecycle import ConnectionLifetime, DrainSettings
from lastcall.lifecycle.drain import (
    DEFAULT_CLOSE_TIMEOUT,
    DEFAULT_GRACEFUL_TIMEOUT,
    DEFAULT_PRE_STOP_DELAY,
)

from .listeners import parse_bind

__all__ = ["ENV_PREFIX", "ServerConfig", "load_config"]

ENV_PREFIX = "LASTCALL_"
#: The characters of a field name (RFC 9110 §5.6.2 ``token``).
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(slots=True)
class ServerConfig:
    """Configuration of one ``Server``. Durations are float seconds."""

    #: ``module:attribute`` of the ASGI app; ``None`` serves the built-in demo app.
    app: str | None = None
    #: Listeners: ``HOST:PORT``, ``[::1]:PORT`` or ``unix:PATH``. Default like
    #: uvicorn/hypercorn: loopback only, port 8000.
    bind: list[str] = field(default_factory=lambda: ["127.0.0.1:8000"])
    #: Whole drain budget after listeners close; then what is left is cancelled.
    #: 30 s = Kubernetes' default terminationGracePeriodSeconds and gunicorn's
    #: graceful_timeout (hypercorn 3 s, Armeria 40 s, Envoy drain 600 s).
    graceful_timeout: float = DEFAULT_GRACEFUL_TIMEOUT
    #: Keep accepting this long after readiness starts failing, so load
    #: balancers stop routing first. 0 (off); Kubernetes guides use 5-15 s.
    pre_stop_delay: float = DEFAULT_PRE_STOP_DELAY
    #: After the cancel step, connections get this long to write their last
    #: bytes before their transports are aborted. 2 s (lingering close + margin).
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    #: After the last write of a closing connection: half-close, then read and
    #: discard for at most this long so a reset never destroys an unread
    #: response (RFC 9112 §9.6). 1 s like Go's goAwayTimeout and h2o.
    lingering_close_timeout: float = 1.0
    #: An idle keep-alive HTTP/1.1 connection is closed after this long.
    #: 5 s like uvicorn and hypercorn (nginx 75 s, gunicorn 2 s, Go: none).
    keep_alive_timeout: float = 5.0
    #: While draining, an HTTP/1.1 connection accepted but not used yet waits
    #: at most this long (and at most ``keep_alive_timeout``) for its first
    #: request, which is answered with ``Connection: close``; closing it at
    #: once lost a request its client had just sent. 1 s: a client sends its
    #: first request within milliseconds of connecting (Go's Shutdown counts a
    #: new connection as idle only after 5 s). 0 closes such connections at once.
    drain_first_request_timeout: float = 1.0
    #: From the first byte of an HTTP/1.1 request head to its end, at most
    #: this long; then 408 and close, so a client trickling a head (slowloris)
    #: cannot hold a connection. 20 s like Apache mod_reqtimeout's header
    #: timeout (nginx client_header_timeout and Node.js headersTimeout 60 s;
    #: uvicorn and Go: none by default).
    request_head_timeout: float = 20.0
    #: A TLS handshake must complete within this long from accept, else the
    #: connection is closed: a peer that connects and sends no ClientHello (or
    #: trickles it) holds a socket and ~50 KiB of TLS buffers at most this long
    #: (and counts against ``max_connections`` meanwhile).
    #: asyncio's own default is 60 s; 10 s covers a lossy mobile link's two
    #: round trips many times over (Go's crypto/tls: none; nginx bounds it with
    #: client_header_timeout, 60 s).
    tls_handshake_timeout: float = 10.0
    #: While an app waits for more of an HTTP/1.1 request body, the longest
    #: gap between two reads of it; then 408, ``http.disconnect`` and close
    #: (a client that stalls or trickles a body: slow POST). 60 s like nginx
    #: client_body_timeout (Apache mod_reqtimeout body 20 s; uvicorn none).
    request_body_timeout: float = 60.0
    #: A connection whose peer reads nothing while our write buffer is full
    #: (above the transport's high-water mark) is closed after this long.
    #: While the buffer is full the connection neither reads nor starts new
    #: work (io/flow.py), so the memory is bounded; this frees the
    #: connection itself. The same bound applies to one HTTP/2 or HTTP/3
    #: stream whose peer takes nothing of its response (no flow-control
    #: window, no ACKs): it is reset (CANCEL / H3_REQUEST_CANCELLED), also
    #: after its app finished, and any progress starts the time again. 60 s
    #: like nginx ``send_timeout``. 0 for none.
    send_timeout: float = 60.0
    #: An HTTP/2 connection with no open stream this long is drained (GOAWAY,
    #: debug data ``idle_timeout``) and closed; clients then open a new one.
    #: 60 s (nginx keepalive_timeout 75 s applies to HTTP/2 too, h2o 10 s,
    #: Apache 5 s, Envoy 1 h, Go: none). 0 for none. HTTP/3 has
    #: ``http3_idle_timeout``, HTTP/1.1 ``keep_alive_timeout``.
    http2_idle_timeout: float = 60.0
    #: A connection drains by itself this long after it was accepted, so that
    #: long-lived HTTP/2 and HTTP/3 connections (gRPC channels) rebalance onto
    #: new backends: the full drain contract on that one connection (HTTP/2
    #: GOAWAY debug data ``max_age``, HTTP/3 GOAWAY, HTTP/1.1 ``Connection:
    #: close`` on the response in flight, an idle one closed), reason
    #: ``max_age`` in ``lastcall.drain``. Varied by ±10 % per connection
    #: (gRFC A9) so connections opened together do not all go together.
    #: None (off), like gRPC's MAX_CONNECTION_AGE and Envoy's
    #: max_connection_duration (nginx keepalive_time 1 h).
    max_connection_age: float | None = None
    #: After a ``max_connection_age`` or ``max_requests_per_connection`` drain
    #: began, what the connection still has in flight is cancelled after this
    #: long, as at ``graceful_timeout`` expiry. None: ``graceful_timeout``
    #: (gRPC's MAX_CONNECTION_AGE_GRACE is unbounded; we never are).
    max_connection_age_grace: float | None = None
    #: Requests (HTTP/2, HTTP/3: streams) a connection accepts, then it drains
    #: as for ``max_connection_age`` (reason ``max_requests``; HTTP/1.1: the
    #: last response carries ``Connection: close``). None (off), like uvicorn
    #: and Go (nginx keepalive_requests 1000, Envoy max_requests_per_connection
    #: off).
    max_requests_per_connection: int | None = None
    #: How the server-wide drain tells its connections: ``immediate``, all at
    #: once (Envoy's default), or ``gradual``, one after the other (oldest
    #: first) over ``drain_spread_fraction`` of the grace period, so thousands
    #: of clients do not all reconnect elsewhere in the same millisecond.
    drain_strategy: str = "immediate"
    #: The part of ``graceful_timeout`` a ``gradual`` drain spreads over. 0.5:
    #: everyone is told by mid-grace and the last told has the other half.
    drain_spread_fraction: float = 0.5
    #: Connections open at once (TCP, TLS handshakes in progress included, and
    #: QUIC together); one accepted over it
    #: is closed at once, and those already open are untouched. 10,000: far
    #: above what one Python process serves well, low enough to stop a flood
    #: before file descriptors run out (nginx: 512 per worker; uvicorn and
    #: Go: none). The soft RLIMIT_NOFILE is raised towards it at start (as Go
    #: does since 1.19). 0 for no limit.
    max_connections: int = 10_000
    #: HTTP/2: first GOAWAY(2^31-1)+PING -> final GOAWAY if no PING ACK comes.
    #: 1 s like h2o and Armeria; capped at 5 s (gRPC-Go).
    goaway_ping_timeout: float = 1.0
    #: HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS. 100 (h2; nginx 128, Go 250).
    max_concurrent_streams: int = 100
    #: HTTP/2 abuse budgets, each ending the connection with GOAWAY
    #: (ENHANCE_YOUR_CALM) and a ``budgets_tripped_total`` count; the engine's
    #: ``Http2Config`` says where each default comes from. CONTINUATION frames
    #: after one HEADERS (CVE-2024-27316 class; nghttp2 8, h2 64).
    http2_max_continuation_frames: int = 32
    #: Stream resets, the peer's and those it provokes (Rapid Reset,
    #: CVE-2023-44487; MadeYouReset, CVE-2025-8671): a token bucket of this
    #: burst, refilled at this rate (nghttp2 1000 and 33/s).
    http2_reset_burst: int = 1000
    http2_reset_refill_per_second: float = 33.0
    #: PING and SETTINGS from the peer: burst and refill (gRPC keepalive pings
    #: every 10 s at most).
    http2_control_frame_burst: int = 200
    http2_control_frame_refill_per_second: float = 20.0
    #: Frames carrying nothing (empty DATA, empty header fragments; CVE-2019-9518):
    #: burst and refill.
    http2_empty_frame_burst: int = 1000
    http2_empty_frame_refill_per_second: float = 100.0
    #: Tiny DATA frames: one under this size (0: off) charges what it falls short
    #: of it against ``http2_tiny_data_budget`` bytes, refunded as the app reads
    #: (hyper's h2: 256, and half its connection window).
    http2_tiny_data_frame_size: int = 256
    http2_tiny_data_budget: int = 8_388_608
    #: HTTP/1.1 request line limit in bytes; over it: 414. 8 KiB like nginx.
    max_request_line_size: int = 8192
    #: Header fields limit in bytes (HTTP/1.1) and HTTP/2 header list size;
    #: over it: 431. 64 KiB like h2 (nginx 32 KiB, Envoy 60 KiB).
    max_header_size: int = 65_536
    #: HTTP/1.1 header field count; over it: 431. 100 like Apache.
    max_header_count: int = 100
    #: HTTP/1.1 chunk-size line (size and chunk extensions) in bytes, counted
    #: as it arrives; over it: 400 and close. 16 KiB like Node.js since
    #: CVE-2024-22019.
    max_chunk_extension_size: int = 16_384
    #: Request body limit in bytes (413 over it), 0 for none. Default none,
    #: like uvicorn, hypercorn and Go (nginx 1 MiB).
    max_body_size: int = 0
    #: WebSocket message size limit in bytes (close 1009 over it). 16 MiB like uvicorn.
    ws_max_message_size: int = 16 * 1024 * 1024
    #: Frames one WebSocket message may span, empty fragments included (close
    #: 1009 over it): without it a peer sends millions of empty continuation
    #: frames that never add to the message's size. 4096: a 16 MiB message in
    #: 4 KiB frames (browsers do not fragment what they send; uvicorn and the
    #: websockets library have no such limit).
    ws_max_message_fragments: int = 4096
    #: WebSocket control frames (PING, PONG) a peer may send: a token bucket of
    #: this burst ...
    ws_control_frame_burst: int = 200
    #: ... refilled at this many per second; a frame that finds it empty gets
    #: Close 1008 (policy violation). Our HTTP/2 PING budget (nghttp2's kind):
    #: keepalive pings come every few seconds at most.
    ws_control_frame_refill_per_second: float = 20.0
    #: Path answered by the server itself: 200 while serving, 503 with the
    #: reason while draining. Off by default; the Kubernetes recipe uses /readyz.
    readiness_path: str | None = None
    #: ASGI root_path, for an app mounted below a prefix by a proxy.
    root_path: str = ""
    #: Trust X-Forwarded-For/-Proto from ``forwarded_allow_ips``, and from
    #: every unix-socket peer (it has no address to list; see proxy_headers.py).
    #: Off, like hypercorn.
    proxy_headers: bool = False
    #: Comma-separated TCP peers trusted for proxy headers; ``*`` trusts all.
    #: 127.0.0.1 like uvicorn.
    forwarded_allow_ips: str = "127.0.0.1"
    #: TLS certificate chain (PEM); with ``keyfile`` enables TLS with ALPN h2, http/1.1.
    certfile: str | None = None
    #: TLS private key (PEM).
    keyfile: str | None = None
    #: Serve HTTP/2 (prior knowledge, Upgrade: h2c, ALPN h2) besides HTTP/1.1.
    http2: bool = True
    #: UDP listeners for HTTP/3 over QUIC (RFC 9114): ``HOST:PORT`` or
    #: ``[IPv6]:PORT``. Empty (off) by default. QUIC always uses TLS 1.3
    #: (RFC 9001), so this needs ``certfile``/``keyfile``; needs aioquic
    #: (``pip install 'lastcall[http3]'``).
    quic_bind: list[str] = field(default_factory=list)
    #: QUIC max_idle_timeout (RFC 9000 §10.1): a connection with no packet for
    #: this long closes silently. 30 s like quic-go and Chrome (aioquic 60 s).
    quic_idle_timeout: float = 30.0
    #: Request streams one HTTP/3 client may have open at once
    #: (initial_max_streams_bidi, RFC 9000 §4.6; raised by one as each closes).
    #: 100 like ``max_concurrent_streams``, quic-go and the RFC 9114 §6.1 minimum.
    quic_max_concurrent_streams: int = 100
    #: QUIC connection flow-control window in bytes (initial_max_data, RFC 9000
    #: §4.1). 16 MiB like our HTTP/2 connection window; quic-go 15 MiB.
    quic_max_data: int = 16_777_216
    #: QUIC per-stream flow-control window in bytes (initial_max_stream_data_*,
    #: RFC 9000 §4.1). 1 MiB like aioquic; quic-go starts at 512 KiB.
    quic_max_stream_data: int = 1_048_576
    # -- HTTP/3 abuse budgets (RFC 9114 §10.5; docs/http3.md "Budgets") ----------------
    #: Request streams one HTTP/3 client may reset or stop (RESET_STREAM or
    #: STOP_SENDING), or make us reset (malformed requests) or refuse, in a
    #: burst; past it: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD). Rapid Reset
    #: (CVE-2023-44487) and MadeYouReset (CVE-2025-8671): QUIC's MAX_STREAMS
    #: bounds open streams, not their churn. 1000 like nghttp2.
    quic_reset_burst: int = 1000
    #: Tokens per second the reset budget gets back (nghttp2: 33).
    quic_reset_refill_per_second: float = 33.0
    #: What RFC 9114 §9 makes us ignore (unknown frame and stream types, empty
    #: DATA; the first on each request is free), in a burst; past it:
    #: CONNECTION_CLOSE(H3_EXCESSIVE_LOAD). Like our HTTP/2 empty-frame budget.
    quic_ignored_frame_burst: int = 1000
    #: Tokens per second the ignored-frame budget gets back.
    quic_ignored_frame_refill_per_second: float = 100.0
    #: An HTTP/3 connection with no request this long is drained (GOAWAY, reason
    #: ``idle``) and closed, as ``http2_idle_timeout`` does for HTTP/2; QUIC's
    #: ``quic_idle_timeout`` only ends one that sends nothing (a client's PINGs
    #: keep it). 60 s like ``http2_idle_timeout``. 0 for none.
    http3_idle_timeout: float = 60.0
    #: With ``quic_bind``: HTTP/1.1 and HTTP/2 responses carry
    #: ``Alt-Svc: h3=":PORT"; ma=N`` (RFC 7838) so clients find HTTP/3. N in
    #: seconds; 86400 is RFC 7838's default freshness (Cloudflare sends the
    #: same); 0 advertises nothing.
    alt_svc_max_age: int = 86_400
    #: ASGI lifespan: ``auto`` (run it, tolerate apps that do not support it), ``on``, ``off``.
    lifespan: str = "auto"
    #: Lifespan startup must complete within this long, else the server stops
    #: without serving (exit 3). 60 s like hypercorn's ``startup_timeout``:
    #: room for migrations or loading a model, while a startup that hangs on
    #: an unreachable database still ends (uvicorn waits forever). A signal
    #: during startup stops it at once, whatever this is.
    lifespan_startup_timeout: float = 60.0
    #: Lifespan shutdown (after the drain) must complete within this long;
    #: then it is given up (logged) and the process exits 0, as the drain
    #: itself finished. 60 s like hypercorn's ``shutdown_timeout``; with the
    #: 30 s ``graceful_timeout`` that is 90 s, systemd's default
    #: ``TimeoutStopSec`` (under Kubernetes the pod's
    #: ``terminationGracePeriodSeconds`` cuts it sooner). A signal during
    #: shutdown exits at once.
    lifespan_shutdown_timeout: float = 60.0
    #: Log level of the ``lastcall`` loggers.
    log_level: str = "info"
    #: Log one line per request on the ``lastcall.access`` logger.
    access_log: bool = False
    #: ``text`` (a line a person reads) or ``json`` (one object per line: the
    #: event's fields for every drain step and access-log line, so a log
    #: pipeline reads what the metrics and the tests read). Text like uvicorn.
    log_format: str = "text"
    #: A logging configuration file that replaces ours (``log_format``):
    #: ``.json`` for ``logging.config.dictConfig``, else an ``ini`` file for
    #: ``fileConfig``. None: ours. Like uvicorn's ``--log-config``.
    log_config: str | None = None
    #: ``HOST:PORT`` of a Prometheus endpoint (``GET /metrics``), apart from
    #: the app's listeners: it keeps answering through the drain and closes
    #: after it. Off by default (needs ``pip install 'lastcall[metrics]'``).
    metrics_bind: str | None = None
    # -- what uvicorn, gunicorn and granian users type (app_loading.py, run.py) --
    #: ``app`` names a function that returns the app, called once with no
    #: argument. Off, like uvicorn's ``--factory``.
    factory: bool = False
    #: Directory put first on ``sys.path`` before ``app`` is imported. ``.``
    #: (the working directory), like uvicorn's ``--app-dir``.
    app_dir: str = "."
    #: A dotenv file loaded into the environment before the app is imported
    #: and ``LASTCALL_*`` settings are read; variables already set win (as
    #: python-dotenv does). None: no file. uvicorn ``--env-file``.
    env_file: str | None = None
    #: Requests (HTTP and WebSocket) being served at once, server-wide; one
    #: more is answered 503 with ``Retry-After: 1`` without reaching the app
    #: (a WebSocket is refused, 403), so an overload sheds work instead of
    #: queueing it into timeouts. 0 (no limit), like uvicorn's
    #: ``--limit-concurrency`` (which also counts connections: here
    #: ``max_connections`` does that).
    limit_concurrency: int = 0
    #: Response fields added to every HTTP/1.1, HTTP/2 and HTTP/3 response,
    #: each ``NAME:VALUE`` (``--header``, repeatable); none by default. uvicorn
    #: ``--header``.
    headers: list[str] = field(default_factory=list)
    #: Send ``server: lastcall`` on every response. Off: naming the software
    #: helps an attacker more than a client (RFC 9110 §10.2.4); uvicorn sends
    #: it, granian and Go do not.
    server_header: bool = False
    #: An open WebSocket is sent a Ping this often (one at a time, the next
    #: this long after the Pong), so a peer that vanished is found and idle
    #: NAT mappings stay. 20 s like uvicorn and the websockets library. 0: off.
    ws_ping_interval: float = 20.0
    #: No Pong this long after a Ping: Close 1011 and the app gets
    #: ``websocket.disconnect`` (1011). 20 s like uvicorn and websockets. 0: wait forever.
    ws_ping_timeout: float = 20.0
    #: CA certificates (PEM) that client certificates are checked against
    #: (with ``ssl_cert_reqs``). None: no client certificate is asked for.
    #: uvicorn ``--ssl-ca-certs``.
    ssl_ca_certs: str | None = None
    #: Client certificates: ``none`` (not asked), ``optional`` (checked if
    #: sent), ``required`` (a handshake without a valid one fails). ``none``
    #: like uvicorn (CERT_NONE); needs ``ssl_ca_certs`` otherwise. TCP only:
    #: refused with ``quic_bind``, as aioquic does not ask QUIC clients for one.
    ssl_cert_reqs: str = "none"
    #: OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's own).
    #: None: Python's default list (forward-secret AEAD suites first), where
    #: uvicorn's ``TLSv1`` default would allow CBC suites.
    ssl_ciphers: str | None = None
    #: Event loop: ``auto`` (uvloop when installed), ``uvloop``, ``asyncio``.
    loop: str = "auto"
    #: listen() backlog. 2048 like uvicorn and hypercorn.
    backlog: int = 2048
    #: Install SIGTERM/SIGINT/SIGHUP handlers (off when embedding in another program).
    handle_signals: bool = True
    # -- processes (``lastcall.process``; docs/server/processes.md) ----------------
    #: Worker processes. 1 serves in this process, as before (no supervisor,
    #: SIGHUP drains); N > 1 starts a supervisor that owns the listening
    #: sockets and N workers that share them (gunicorn, uvicorn, hypercorn and
    #: granian all offer ``--workers``; one Python process uses one core).
    workers: int = 1
    #: A Unix socket on which the running supervisor hands its listening
    #: sockets to a new ``lastcall serve --upgrade`` (Pingora's graceful
    #: upgrade) and takes ``lastcall reload``. Implies a supervisor. Off.
    upgrade_socket: str | None = None
    #: Start by taking the listening sockets over from the server running on
    #: ``upgrade_socket``, then tell it to drain. Off.
    upgrade: bool = False
    #: Development: reload (new workers, then the old drain) when a file
    #: under the working directory changes. Needs ``watchfiles``
    #: (``pip install 'lastcall[reload]'``), like uvicorn's ``--reload``. Off.
    reload: bool = False
    #: Fork, and return once the new server serves (exit 0) or failed to
    #: start (exit 3): for a systemd ``ExecReload`` that runs ``--upgrade``. Off.
    daemon: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` for any out-of-range value."""
        if not self.bind:
            raise ConfigError("at least one --bind is needed")
        for value in self.bind:
            parse_bind(value)  # a bad one is a usage error now, not after lifespan startup
        if self.lifespan not in ("auto", "on", "off"):
            raise ConfigError("lifespan must be auto, on or off")
        if self.loop not in ("auto", "uvloop", "asyncio"):
            raise ConfigError("loop must be auto, uvloop or asyncio")
        self._validate_operations()
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError("--certfile and --keyfile go together")
        for name in (
            "lingering_close_timeout",
            "keep_alive_timeout",
            "request_head_timeout",
            "http2_idle_timeout",
            "http3_idle_timeout",
            "goaway_ping_timeout",
            "graceful_timeout",
            "pre_stop_delay",
            "close_timeout",
            "send_timeout",
            "drain_first_request_timeout",
        ):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"{name} must be >= 0 seconds")
        self.connection_lifetime()
        if self.workers < 1:
            raise ConfigError("workers must be >= 1")
        if self.upgrade and not self.upgrade_socket:
            raise ConfigError("--upgrade needs --upgrade-socket PATH (where the running server is)")
        if self.max_connections < 0:
            raise ConfigError("max_connections must be >= 0 (0: no limit)")
        for name in ("ws_max_message_size", "ws_max_message_fragments", "ws_control_frame_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if not self.ws_control_frame_refill_per_second > 0.0:
            raise ConfigError("ws_control_frame_refill_per_second must be > 0")
        for name in (
            "request_head_timeout",
            "tls_handshake_timeout",
            "request_body_timeout",
            "lifespan_startup_timeout",
            "lifespan_shutdown_timeout",
        ):
            if not getattr(self, name) > 0.0:
                raise ConfigError(f"{name} must be > 0 seconds")
        self._validate_quic()
        if self.readiness_path is not None and not self.readiness_path.startswith("/"):
            raise ConfigError("readiness_path must start with '/'")
        self.http1_limits()
        self.http2_settings()
        self.drain_settings()

    def _validate_operations(self) -> None:
        if self.log_format not in ("text", "json"):
            raise ConfigError("log_format must be text or json")
        if self.metrics_bind is not None and parse_bind(self.metrics_bind).path is not None:
            raise ConfigError(f"bad --metrics-bind {self.metrics_bind!r}: expected HOST:PORT")
        self._validate_tls_options()
        for name in ("ws_ping_interval", "ws_ping_timeout"):
            if not getattr(self, name) >= 0.0:
                raise ConfigError(f"{name} must be >= 0 seconds (0: off)")
        if self.limit_concurrency < 0:
            raise ConfigError("limit_concurrency must be >= 0 (0: no limit)")
        self.default_response_headers()

    def _validate_tls_options(self) -> None:
        if self.ssl_cert_reqs not in ("none", "optional", "required"):
            raise ConfigError("ssl_cert_reqs must be none, optional or required")
        is_set = [n for n in ("ssl_ca_certs", "ssl_ciphers") if getattr(self, n) is not None]
        if self.ssl_cert_reqs != "none":
            is_set.append("ssl_cert_reqs")
            if self.ssl_ca_certs is None:
                raise ConfigError("--ssl-cert-reqs needs --ssl-ca-certs to check certificates with")
            if self.quic_bind:
                raise ConfigError(
                    "--ssl-cert-reqs with --quic-bind: HTTP/3 clients are not asked for a"
                    " certificate (aioquic), so they would get past the check"
                )
        if is_set and self.certfile is None:
            raise ConfigError(f"--{is_set[0].replace('_', '-')} needs --certfile and --keyfile")

    def default_response_headers(self) -> list[tuple[bytes, bytes]]:
        """``server_header`` and ``headers`` as wire fields; a bad one is a ``ConfigError``."""
        out = [(b"server", b"lastcall")] if self.server_header else []
        for value in self.headers:
            name, sep, text = value.partition(":")
            name, text = name.strip(), text.strip()
            if not sep or not name or not all(c in _TOKEN for c in name):
                raise ConfigError(f"bad --header {value!r}: expected NAME:VALUE (RFC 9110 §5.1)")
            if any(c in value for c in "\r\n\0"):
                raise ConfigError(f"bad --header {value!r}: CR, LF and NUL are not allowed")
            try:
                out.append((name.lower().encode("ascii"), text.encode("latin-1")))
            except UnicodeEncodeError:
                raise ConfigError(f"bad --header {value!r}: the value is not Latin-1") from None
        return out

    def _validate_quic(self) -> None:
        if self.quic_bind and self.certfile is None:
            raise ConfigError(
                "--quic-bind needs --certfile and --keyfile: QUIC always uses TLS 1.3 (RFC 9001)"
            )
        for value in self.quic_bind:
            if parse_bind(value).path is not None:
                raise ConfigError(f"bad --quic-bind {value!r}: QUIC listens on HOST:PORT (UDP)")
        if not self.quic_idle_timeout > 0.0:
            raise ConfigError("quic_idle_timeout must be > 0 seconds")
        if not 0 <= self.quic_max_concurrent_streams <= 2**60:
            raise ConfigError("quic_max_concurrent_streams must be within 0..2^60 (RFC 9000 §4.6)")
        for name in ("quic_max_data", "quic_max_stream_data"):
            if not 0 <= getattr(self, name) <= 2**62 - 1:
                raise ConfigError(f"{name} must be within 0..2^62-1 bytes (RFC 9000 §16)")
        for name in ("quic_reset_burst", "quic_ignored_frame_burst"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        for name in ("quic_reset_refill_per_second", "quic_ignored_frame_refill_per_second"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0 per second")
        if self.alt_svc_max_age < 0:
            raise ConfigError("alt_svc_max_age must be >= 0 seconds")
        if self.quic_bind and self.max_header_size < 1024:
            raise ConfigError("max_header_size must be >= 1024 with --quic-bind (HTTP/3 minimum)")

    def drain_settings(self) -> DrainSettings:
        """The lifecycle deadlines of this configuration."""
        return DrainSettings(
            self.graceful_timeout,
            self.pre_stop_delay,
            self.close_timeout,
            self.drain_strategy,
            self.drain_spread_fraction,
        )

    def connection_lifetime(self) -> ConnectionLifetime:
        """When one connection drains by itself (age, requests) and its grace then."""
        grace = self.max_connection_age_grace
        return ConnectionLifetime(
            max_age=self.max_connection_age,
            grace=self.graceful_timeout if grace is None else grace,
            max_requests=self.max_requests_per_connection,
        )

    def http1_limits(self) -> Http1Limits:
        """The HTTP/1.1 parser limits of this configuration."""
        return Http1Limits(
            max_request_line_size=self.max_request_line_size,
            max_header_size=self.max_header_size,
            max_header_count=self.max_header_count,
            max_chunk_extension_size=self.max_chunk_extension_size,
            max_body_size=self.max_body_size or None,
        )

    def http2_settings(self) -> Http2Config:
        """The HTTP/2 engine's settings of this configuration (one per server:
        the engine only reads them)."""
        return Http2Config(
            max_concurrent_streams=self.max_concurrent_streams,
            max_header_list_size=self.max_header_size,
            goaway_ping_timeout=self.goaway_ping_timeout,
            max_continuation_frames=self.http2_max_continuation_frames,
            reset_burst=self.http2_reset_burst,
            reset_refill_per_second=self.http2_reset_refill_per_second,
            control_frame_burst=self.http2_control_frame_burst,
            control_frame_refill_per_second=self.http2_control_frame_refill_per_second,
            empty_frame_burst=self.http2_empty_frame_burst,
            empty_frame_refill_per_second=self.http2_empty_frame_refill_per_second,
            tiny_data_frame_size=self.http2_tiny_data_frame_size,
            tiny_data_budget=self.http2_tiny_data_budget,
        )

    @property
    def is_supervised(self) -> bool:
        """Whether a supervisor runs worker processes (``lastcall.process``)."""
        return self.workers > 1 or self.upgrade_socket is not None or self.reload

    @property
    def is_tls(self) -> bool:
        return self.certfile is not None


_FIELDS = {f.name: f for f in dataclasses.fields(ServerConfig)}
_OFF = ("", "none", "off")


def _coerce(name: str, value: Any) -> Any:
    kind = str(_FIELDS[name].type)
    if kind in ("float | None", "int | None"):
        # A setting that is off by default: "none", "off" or "" turn it off again.
        if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
            return None
        kind = kind.split(" ")[0]
    if kind.startswith("list"):
        if isinstance(value, str):
            return value.split()
        return [str(v) for v in value]
    if kind == "bool" and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name}: expected a boolean, got {value!r}")
    try:
        if kind == "float":
            return float(value)
        if kind == "int":
            return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if value is None or isinstance(value, str | bool):
        return value
    raise ConfigError(f"{name}: unexpected value {value!r}")


def _normalise(raw: Mapping[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_").lower()
        if name not in _FIELDS:
            raise ConfigError(f"{source}: unknown setting {key!r}")
        out[name] = _coerce(name, value)
    return out


def from_toml(path: str) -> dict[str, Any]:
    """Settings from a TOML file: top-level keys and a ``[serve]`` table, merged.

    A key in ``[serve]`` wins over the same one at top level. (Top-level keys
    beside a ``[serve]`` table used to be ignored without a word, so a
    ``bind`` written above the table silently served on the default port.)
    """
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    table = data.pop("serve", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [serve] must be a table")
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(
                f"{path}: unknown table [{key}]: settings go at top level or under [serve]"
            )
    return _normalise(data, path) | _normalise(table, f"{path} [serve]")


def from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Settings from ``LASTCALL_*`` variables; unknown ones are ignored (other tools share the prefix)."""
    env = os.environ if environ is None else environ
    raw = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in _FIELDS
    }
    return _normalise(raw, "environment")


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    file_settings: Mapping[str, Any] | None = None,
) -> ServerConfig:
    """Defaults < TOML file < ``LASTCALL_*`` environment < ``overrides`` (the command line).

    ``file_settings`` stands for the file when a caller has read it already
    (``lastcall proxy`` reads its ``[serve]`` table beside its own).
    """
    env = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    if file_settings is not None:
        merged.update(_normalise(file_settings, "config file [serve]"))
    config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
    if config_file and file_settings is None:
        merged.update(from_toml(config_file))
    merged.update(from_env(env))
    if overrides:
        merged.update(_normalise({k: v for k, v in overrides.items() if v is not None}, "options"))
    return ServerConfig(**merged)
