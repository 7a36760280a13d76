"""Every deadline and limit of the client, named, with its default and its precedent.

Durations are float seconds (``*_timeout``, ``*_delay``, ``*_age``); ``None``
means "no limit" only where a field says so. ``ClientConfig.from_env()`` reads
the documented environment variables; explicit arguments always win.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field

from lastcall.errors import ConfigError
from lastcall.lifecycle.retire import jittered as jittered  # shared with the server

#: Environment variable with the default drain on ``Client.aclose()``, in seconds.
DRAIN_ENV = "LASTCALL_CLIENT_DRAIN"

#: Default drain on close: 1 s, like Armeria's ``http2GracefulShutdownTimeout``
#: (which was 10 s before Armeria found it too long for client shutdown).
DEFAULT_DRAIN_TIMEOUT = 1.0


def _check_duration(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ConfigError(f"{name} must be a number of seconds")
        return
    if value != value or value < 0:  # NaN or negative
        raise ConfigError(f"{name} must be >= 0 seconds, got {value!r}")


@dataclass(frozen=True, slots=True)
class Timeouts:
    """The four named client timeouts, as httpx names them.

    Each is a duration in seconds, or ``None`` for no limit. 5 s each, like
    httpx and httpcore: long enough for a slow TLS handshake across a
    continent, short enough that a dead peer is noticed.
    """

    #: TCP connect plus TLS handshake (and, for HTTP/2, the server's first SETTINGS).
    connect: float | None = 5.0
    #: Longest wait for the next bytes of a response (headers or body chunk).
    read: float | None = 5.0
    #: Longest wait for the network or the peer's flow-control window to take more
    #: of the request (headers or body chunk).
    write: float | None = 5.0
    #: Longest wait for a connection (or an HTTP/2 stream slot) from the pool.
    pool: float | None = 5.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "write", "pool"):
            _check_duration(f"timeout {name}", getattr(self, name))

    @classmethod
    def of(cls, value: Timeouts | float | None) -> Timeouts:
        """A ``Timeouts`` from the shorthand a caller passes: one number for all four."""
        if isinstance(value, Timeouts):
            return value
        return cls(value, value, value, value)


@dataclass(frozen=True, slots=True)
class Limits:
    """How many connections and requests the pool allows, per origin.

    An origin is (scheme, host, port). HTTP/2 concurrency per connection is the
    server's SETTINGS_MAX_CONCURRENT_STREAMS (RFC 9113 §6.5.2), not a local
    limit: the pool opens a second HTTP/2 connection only when the first is
    full, draining or gone.
    """

    #: Connections per origin (HTTP/1.1 requests run one per connection). 10,
    #: like browsers' 6 plus headroom and Go's unlimited default tamed; httpx's
    #: total default is 100.
    max_connections: int = 10
    #: Idle keep-alive HTTP/1.1 connections kept per origin. httpx keeps 20 in
    #: total; Go keeps 2 per host (``MaxIdleConnsPerHost``), which we find too few.
    max_keepalive_connections: int = 10
    #: An idle keep-alive connection older than this is closed instead of reused.
    #: 5 s like httpx; servers close idle connections after 5 s (Apache, uvicorn),
    #: 60-75 s (nginx ``keepalive_timeout``), so reusing an older one risks a race.
    keepalive_expiry: float = 5.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ConfigError("max_connections must be >= 1")
        if self.max_keepalive_connections < 0:
            raise ConfigError("max_keepalive_connections must be >= 0")
        _check_duration("keepalive_expiry", self.keepalive_expiry, allow_none=False)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """When the client retires a connection of its own accord (then drains it).

    Like gRFC A9's MAX_CONNECTION_AGE on the server side: long-lived connections
    pin clients to one backend, so they are recycled; the jitter keeps a fleet
    of clients from reconnecting in lock-step.
    """

    #: Requests per connection, then the connection is drained (HTTP/1.1: the last
    #: request carries ``Connection: close``; HTTP/2: our GOAWAY). ``None``: no
    #: limit. nginx's server-side ``keepalive_requests`` is 1000.
    max_requests: int | None = None
    #: Seconds a connection is used for new requests, then drained. ``None``: no
    #: limit. nginx's ``keepalive_time`` is 1 h.
    max_age: float | None = None
    #: Both limits are varied per connection by up to this fraction either way.
    #: ±10 % like gRFC A9.
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_requests is not None and self.max_requests < 1:
            raise ConfigError("max_requests must be >= 1 or None")
        _check_duration("max_age", self.max_age)
        if not 0.0 <= self.jitter < 1.0:
            raise ConfigError("jitter must be within [0, 1)")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Replays of requests the server never processed, and of HTTP/1.1 keep-alive races.

    A request above a GOAWAY's last id, or reset with REFUSED_STREAM, was never
    processed (RFC 9113 §6.8, §8.7), so replaying it is safe for every method.
    A request that failed on a reused HTTP/1.1 connection before any response
    byte arrived may have been processed, so only idempotent methods are
    retried (RFC 9110 §9.2.2).
    """

    #: Replays per request before the last error is raised. gRPC-Go replays
    #: transparently without a count but bounded by its retry throttle; 5 covers
    #: a request that is unlucky on several GOAWAY bursts in a row.
    max_replays: int = 5
    #: Retries per request after a keep-alive race (idempotent methods only).
    #: 1, like httpcore's and Go's one silent retry on a stale connection.
    max_stale_retries: int = 1

    def __post_init__(self) -> None:
        if self.max_replays < 0 or self.max_stale_retries < 0:
            raise ConfigError("retry counts must be >= 0")


def _env_drain() -> float:
    raw = os.environ.get(DRAIN_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_DRAIN_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{DRAIN_ENV}={raw!r} is not a number of seconds") from None
    _check_duration(DRAIN_ENV, value, allow_none=False)
    return value


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything a ``Client`` can be told, with the defaults a newcomer would guess."""

    #: Speak HTTP/1.1 (over h11).
    http1: bool = True
    #: Speak HTTP/2: on ``https://`` offered by ALPN; on ``http://`` only when
    #: ``http1`` is False, then with prior knowledge (h2c, RFC 9113 §3.3).
    http2: bool = False
    #: Speak HTTP/3 over QUIC to ``https://`` origins (RFC 9114 §3.1): UDP to the
    #: URL's port, ALPN "h3", no fallback to TCP (like ``curl --http3-only``).
    #: ``http://`` origins still use ``http1``/``http2``. Needs the ``http3``
    #: extra (aioquic).
    http3: bool = False
    #: Follow ``Alt-Svc: h3=":port"`` advertisements on ``https://`` responses
    #: (RFC 7838, RFC 9114 §3.1.1): the origin's next new connection uses
    #: HTTP/3 on that UDP port until the advertisement's ``ma`` runs out,
    #: falling back to TCP at once if it cannot connect. Needs aioquic.
    alt_svc: bool = False
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    lifetime: Lifetime = field(default_factory=Lifetime)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Default drain of ``aclose()``: in-flight requests may finish for this long,
    #: then they are cancelled. From ``LASTCALL_CLIENT_DRAIN``, else 1 s.
    drain_timeout: float = field(default_factory=_env_drain)
    #: Verify TLS certificates (a path to a CA bundle is also accepted).
    verify: bool | str = True
    #: Outbound body bytes buffered per HTTP/2 stream (in our engine, waiting for
    #: the peer's window) before the sender waits: 64 KiB, the RFC's initial window.
    stream_write_high_water: int = 65_536

    def __post_init__(self) -> None:
        if not (self.http1 or self.http2 or self.http3):
            raise ConfigError("at least one of http1, http2 and http3 must be enabled")
        if (self.http3 or self.alt_svc) and importlib.util.find_spec("aioquic") is None:
            raise ConfigError('HTTP/3 needs aioquic: pip install "lastcall[http3]"')
        _check_duration("drain_timeout", self.drain_timeout, allow_none=False)
        if self.stream_write_high_water < 1:
            raise ConfigError("stream_write_high_water must be >= 1")
