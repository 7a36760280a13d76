"""Every setting of ``lastcall proxy``: upstream groups, routes, and their deadlines.

The proxy's own settings live here; the server's (``--bind``,
``--graceful-timeout``, TLS, ``--quic-bind`` ...) are ``ServerConfig``'s and
work exactly as on ``lastcall serve``. A TOML file (``--config proxy.toml``)
holds both: the server's under ``[serve]``, the proxy's in ``[proxy]``,
``[upstreams.NAME]`` and ``[[routes]]``::

    [proxy]
    forwarded = "x-forwarded"       # "x-forwarded", "rfc7239", "both" or "none"

    [upstreams.api]
    backends = ["h2c://127.0.0.1:50051", "h2c://127.0.0.1:50052"]
    balancer = "least_outstanding"
    health_check = { path = "/healthz", interval = 5 }

    [[routes]]
    host = "api.example.org"
    path_prefix = "/"
    upstream = "api"

Validation is pure and happens before anything starts: an error names the
key it is about (``routes[1].upstream: no upstream group named 'apj'``), so a
typo in a deploy is a usage error (exit 2), never a proxy that answers 502.
docs/proxy.md lists every key; a test checks that the two agree.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

from lastcall.errors import ConfigError

from .grpc_retry import GRPC_RETRY_ON

__all__ = [
    "BALANCERS",
    "FORWARDED_MODES",
    "UPSTREAM_SCHEMES",
    "BudgetSettings",
    "EjectionSettings",
    "HealthCheckSettings",
    "ProxyConfig",
    "RouteConfig",
    "UpstreamConfig",
    "backend_origin",
    "load_proxy_file",
    "proxy_config_from_mapping",
    "simple_proxy_config",
]

#: How a group picks a backend (``balancer.py``).
BALANCERS = ("round_robin", "least_outstanding", "p2c")
#: Which forwarding headers the proxy adds (``headers.py``).
FORWARDED_MODES = ("x-forwarded", "rfc7239", "both", "none")
#: Backend URL schemes: HTTP/1.1 (``http``), TLS with ALPN h2 or http/1.1
#: (``https``), HTTP/2 with prior knowledge over cleartext (``h2c``, RFC 9113 §3.3).
UPSTREAM_SCHEMES = ("http", "https", "h2c")

#: Name of the group ``--upstream URL`` builds.
DEFAULT_GROUP = "default"


def _positive(key: str, value: float, *, zero_ok: bool = False) -> None:
    if value != value or value < 0 or (value == 0 and not zero_ok):
        raise ConfigError(f"{key} must be {'>= 0' if zero_ok else '> 0'}, got {value!r}")


@dataclass(frozen=True, slots=True)
class HealthCheckSettings:
    """Active health checks of one group's backends (off unless ``path`` is set)."""

    #: Path requested with GET on each backend; a 2xx is healthy. ``None``: no checks.
    path: str | None = None
    #: Seconds between two checks of one backend. 5 s (Envoy's examples use
    #: 5-10 s; nginx plus ``health_check interval`` 5 s).
    interval: float = 5.0
    #: A check that has no answer within this long failed. 1 s (Envoy requires
    #: one and its examples use 1-2 s).
    timeout: float = 1.0
    #: Failed checks in a row that make a backend unhealthy. 3, like nginx plus
    #: ``fails`` 1 and Envoy ``unhealthy_threshold`` (required; 3 in its docs).
    unhealthy_threshold: int = 3
    #: Passed checks in a row that make an unhealthy backend healthy again. 2.
    healthy_threshold: int = 2

    def validate(self, key: str) -> None:
        if self.path is not None and not self.path.startswith("/"):
            raise ConfigError(f"{key}.path must start with '/', got {self.path!r}")
        _positive(f"{key}.interval", self.interval)
        _positive(f"{key}.timeout", self.timeout)
        if self.unhealthy_threshold < 1 or self.healthy_threshold < 1:
            raise ConfigError(f"{key}: thresholds must be >= 1")


@dataclass(frozen=True, slots=True)
class EjectionSettings:
    """Passive ejection (outlier detection) of one group's backends (``health.py``)."""

    #: Failures in a row (connection refused or reset, 502/503/504) that eject a
    #: backend. 5 like Envoy's ``consecutive_5xx``. A refused connection
    #: ejects at once whatever this is: nothing listens there.
    consecutive_failures: int = 5
    #: First ejection lasts this long; the n-th lasts n times as long (Envoy's
    #: ``base_ejection_time`` 30 s and its multiplier).
    base_ejection_time: float = 30.0
    #: At most this share of a group's backends is ejected at once, so a fault
    #: that hits every backend (or the proxy's own network) cannot empty the
    #: group. 10 % like Envoy's ``max_ejection_percent``; at least one backend
    #: of a group of two or more may always be ejected.
    max_ejection_percent: float = 10.0

    def validate(self, key: str) -> None:
        if self.consecutive_failures < 1:
            raise ConfigError(f"{key}.consecutive_failures must be >= 1")
        _positive(f"{key}.base_ejection_time", self.base_ejection_time)
        if not 0.0 <= self.max_ejection_percent <= 100.0:
            raise ConfigError(f"{key}.max_ejection_percent must be within 0..100")


@dataclass(frozen=True, slots=True)
class BudgetSettings:
    """The retry budget of one group (``retry_budget.py``), as Envoy's retry budgets.

    It bounds retries of requests a backend may have processed; those it
    never processed (refused, connection refused) are bounded per request by
    ``max_retries`` only.
    """

    #: Retries in flight may be at most this share of the group's active
    #: requests. 20 % like Envoy's ``budget_percent``.
    budget_percent: float = 20.0
    #: ... but always at least this many. 10 (Envoy's ``min_retry_concurrency``
    #: is 3): a backend that cuts its connections as it stops (hypercorn does)
    #: fails everything in flight on it at once, and in a small group that
    #: burst is most of the active requests; measured with ``lastcall drill
    #: --proxy`` against two restarting hypercorn backends, 3 lost ~2 % of the
    #: requests as 503s, 10 lost none.
    min_retry_concurrency: int = 10

    def validate(self, key: str) -> None:
        if not 0.0 <= self.budget_percent <= 100.0:
            raise ConfigError(f"{key}.budget_percent must be within 0..100")
        if self.min_retry_concurrency < 0:
            raise ConfigError(f"{key}.min_retry_concurrency must be >= 0")


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    """A named group of interchangeable backends."""

    name: str
    #: ``http://host:port``, ``https://host:port`` or ``h2c://host:port``.
    backends: tuple[str, ...]
    #: ``round_robin``, ``least_outstanding`` or ``p2c`` (power of two choices).
    balancer: str = "round_robin"
    health_check: HealthCheckSettings = field(default_factory=HealthCheckSettings)
    ejection: EjectionSettings = field(default_factory=EjectionSettings)
    retry_budget: BudgetSettings = field(default_factory=BudgetSettings)
    #: Connections the proxy opens to one backend at most (HTTP/1.1 carries one
    #: request each; HTTP/2 opens a second one only when the first is full).
    #: 1024 like Envoy's ``max_connections`` circuit breaker.
    max_connections: int = 1024
    #: Verify backend TLS certificates (``https://``); a CA bundle path is also accepted.
    verify: bool | str = True

    def validate(self, key: str) -> None:
        if not self.backends:
            raise ConfigError(f"{key}.backends: at least one backend is needed")
        for i, url in enumerate(self.backends):
            backend_origin(url, f"{key}.backends[{i}]")
        if self.balancer not in BALANCERS:
            raise ConfigError(f"{key}.balancer must be one of {', '.join(BALANCERS)}")
        if self.max_connections < 1:
            raise ConfigError(f"{key}.max_connections must be >= 1")
        self.health_check.validate(f"{key}.health_check")
        self.ejection.validate(f"{key}.ejection")
        self.retry_budget.validate(f"{key}.retry_budget")


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """Which requests go to which group, and their per-route deadlines and retries.

    A request matches when its host (``Host`` / ``:authority`` without the
    port, case-insensitive; ``*.example.org`` matches one or more labels),
    its path prefix and every listed header match. Routes are tried in order;
    the first match wins.
    """

    upstream: str
    #: Host to match; ``None`` matches any.
    host: str | None = None
    #: Path prefix to match: ``/api`` matches ``/api``, ``/api/x`` and
    #: ``/api?q``, not ``/apix`` (segment boundary, like Envoy's ``path_separated_prefix``).
    path_prefix: str = "/"
    #: Header fields that must be present with exactly this value (names case-insensitive).
    headers: tuple[tuple[str, str], ...] = ()
    #: TCP connect (and TLS handshake) to a backend. 5 s like httpx and
    #: Envoy's ``connect_timeout`` (nginx ``proxy_connect_timeout`` 60 s).
    connect_timeout: float = 5.0
    #: From the request sent to the response head. 60 s like nginx
    #: ``proxy_read_timeout`` (Envoy's route timeout: 15 s for the whole response).
    first_byte_timeout: float = 60.0
    #: Longest time with no body bytes either way once the response head has
    #: arrived. 300 s like Envoy's ``stream_idle_timeout`` (5 min), long enough
    #: for server-streaming RPCs that send seldom. ``grpc-timeout`` in a request
    #: bounds the whole exchange as well (gRPC over HTTP/2 protocol spec).
    idle_timeout: float = 300.0
    #: Retry requests a backend may have processed (reset, connection lost
    #: before the response head) when their method is idempotent (RFC 9110
    #: §9.2.2). Requests a backend never processed are retried whatever this says.
    retry_idempotent: bool = True
    #: Attempts after the first, for any reason. 5, like the client's ``max_replays``.
    max_retries: int = 5
    #: gRPC statuses whose Trailers-Only answer is retried, in Envoy's names
    #: (``cancelled``, ``deadline-exceeded``, ``internal``, ``resource-exhausted``,
    #: ``unavailable``). Empty (off) by default: listing any says the route's
    #: RPCs are idempotent, since such a call may have been processed (``grpc_retry.py``).
    grpc_retry_on: tuple[str, ...] = ()

    def validate(self, key: str, groups: Mapping[str, UpstreamConfig]) -> None:
        if self.upstream not in groups:
            known = ", ".join(sorted(groups)) or "none"
            raise ConfigError(
                f"{key}.upstream: no upstream group named {self.upstream!r} (known: {known})"
            )
        if not self.path_prefix.startswith("/"):
            raise ConfigError(f"{key}.path_prefix must start with '/', got {self.path_prefix!r}")
        if self.host is not None and (not self.host or "/" in self.host):
            raise ConfigError(f"{key}.host must be a host name, got {self.host!r}")
        for name, value in self.headers:
            if not name or any(c in name for c in " :\r\n") or "\r" in value or "\n" in value:
                raise ConfigError(f"{key}.headers: bad header {name!r}")
        _positive(f"{key}.connect_timeout", self.connect_timeout)
        _positive(f"{key}.first_byte_timeout", self.first_byte_timeout)
        _positive(f"{key}.idle_timeout", self.idle_timeout)
        if self.max_retries < 0:
            raise ConfigError(f"{key}.max_retries must be >= 0")
        for name in self.grpc_retry_on:
            if name not in GRPC_RETRY_ON:
                known = ", ".join(GRPC_RETRY_ON)
                raise ConfigError(f"{key}.grpc_retry_on: unknown status {name!r} (known: {known})")


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """The whole proxy: groups, routes, and what it adds to what it forwards."""

    upstreams: Mapping[str, UpstreamConfig]
    routes: tuple[RouteConfig, ...]
    #: Forwarding headers added to requests: ``x-forwarded`` (X-Forwarded-For,
    #: -Proto, -Host, appended like nginx's ``$proxy_add_x_forwarded_for``),
    #: ``rfc7239`` (``Forwarded``), ``both`` or ``none``.
    forwarded: str = "x-forwarded"
    #: Add ``Via`` to requests and responses (RFC 9110 §7.6.3 asks every proxy to).
    via: bool = True
    #: The pseudonym in ``Via``.
    via_name: str = "lastcall"
    #: Keep the client's ``Host`` (Envoy does; nginx sends the backend's unless
    #: told). False sends the backend's ``host:port``.
    preserve_host: bool = True
    #: Request body bytes kept so a request can be sent again to another
    #: backend; a bigger body is streamed without a copy and is not retried
    #: once it began. 1 MiB like Envoy's per-connection buffer limit.
    retry_buffer_size: int = 1_048_576
    #: ``module:object`` of a ``ProxyHooks`` instance (``hooks.py``), or ``None``.
    hooks: str | None = None
    #: Upstream pools get this long to finish after the downstream drain, then
    #: they are cancelled. 1 s, the client's ``drain_timeout`` default.
    upstream_close_timeout: float = 1.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad key."""
        if not self.upstreams:
            raise ConfigError("upstreams: at least one upstream group is needed")
        for name, group in self.upstreams.items():
            group.validate(f"upstreams.{name}")
        if not self.routes:
            raise ConfigError("routes: at least one route is needed")
        for i, route in enumerate(self.routes):
            route.validate(f"routes[{i}]", self.upstreams)
        if self.forwarded not in FORWARDED_MODES:
            raise ConfigError(f"proxy.forwarded must be one of {', '.join(FORWARDED_MODES)}")
        if not self.via_name or any(c in self.via_name for c in " ,\r\n"):
            raise ConfigError(f"proxy.via_name must be one token, got {self.via_name!r}")
        if self.retry_buffer_size < 0:
            raise ConfigError("proxy.retry_buffer_size must be >= 0")
        _positive("proxy.upstream_close_timeout", self.upstream_close_timeout, zero_ok=True)
        if self.hooks is not None and ":" not in self.hooks:
            raise ConfigError(f"proxy.hooks must look like 'module:object', got {self.hooks!r}")


def backend_origin(url: str, key: str = "upstream") -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a backend URL; ``ConfigError`` naming ``key`` if bad.

    A backend is an origin: a path, query or user info would be silently
    dropped, so they are refused.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in UPSTREAM_SCHEMES:
        raise ConfigError(
            f"{key}: {url!r} must start with {', '.join(s + '://' for s in UPSTREAM_SCHEMES)}"
        )
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"{key}: bad port in {url!r}") from None
    if not parts.hostname or port is None:
        raise ConfigError(f"{key}: {url!r} needs a host and a port (e.g. {scheme}://10.0.0.1:8000)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(f"{key}: {url!r} must be scheme://host:port only")
    return scheme, parts.hostname, port


def simple_proxy_config(upstreams: list[str], **proxy: Any) -> ProxyConfig:
    """``--upstream URL ...``: one group ``default`` and one route for everything."""
    group = UpstreamConfig(DEFAULT_GROUP, tuple(upstreams))
    return ProxyConfig({DEFAULT_GROUP: group}, (RouteConfig(DEFAULT_GROUP),), **proxy)


# -- reading a mapping (TOML) ------------------------------------------------------------

_SECTIONS = {"health_check": HealthCheckSettings, "ejection": EjectionSettings}
_SECTIONS["retry_budget"] = BudgetSettings


def _build(cls: type[Any], raw: Any, key: str, fixed: Mapping[str, Any] | None = None) -> Any:
    """``cls(**raw)`` with every key checked: unknown keys and wrong types name themselves."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key} must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = dict(fixed or {})
    for name, value in raw.items():
        attr = name.replace("-", "_")
        sub = f"{key}.{name}"
        if attr not in known or attr in (fixed or {}):
            raise ConfigError(f"{sub}: unknown key (known: {', '.join(sorted(known))})")
        section = _SECTIONS.get(attr)
        if section is not None:
            kwargs[attr] = _build(section, value, sub)
            continue
        kwargs[attr] = _coerce(str(known[attr].type), value, sub)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def _coerce(kind: str, value: Any, key: str) -> Any:
    """Check a TOML value against a field's annotation (TOML already typed it)."""
    if kind.startswith("tuple[tuple"):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table of name = value")
        pairs = []
        for name, item in value.items():
            if not isinstance(item, str):
                raise ConfigError(f"{key}.{name} must be a string")
            pairs.append((str(name).lower(), item))
        return tuple(pairs)
    if kind.startswith("tuple"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key} must be a list of strings")
        return tuple(value)
    if kind == "bool | str":
        if not isinstance(value, bool | str):
            raise ConfigError(f"{key} must be true, false or a path")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key} must be a number of seconds, got {value!r}")
        return float(value)
    if "str" in kind:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unexpected value {value!r}")  # pragma: no cover


def proxy_config_from_mapping(data: Mapping[str, Any]) -> ProxyConfig:
    """A ``ProxyConfig`` from the ``proxy``, ``upstreams`` and ``routes`` of a TOML document."""
    for name in data:
        if name not in ("proxy", "upstreams", "routes"):
            raise ConfigError(f"{name}: unknown table (known: proxy, upstreams, routes, serve)")
    raw_groups = data.get("upstreams", {})
    if not isinstance(raw_groups, Mapping):
        raise ConfigError("upstreams must be a table of groups ([upstreams.NAME])")
    groups = {
        name: _build(UpstreamConfig, raw, f"upstreams.{name}", {"name": name})
        for name, raw in raw_groups.items()
    }
    raw_routes = data.get("routes", [])
    if not isinstance(raw_routes, list):
        raise ConfigError("routes must be an array of tables ([[routes]])")
    routes = tuple(_build(RouteConfig, raw, f"routes[{i}]") for i, raw in enumerate(raw_routes))
    settings = data.get("proxy", {})
    if not isinstance(settings, Mapping):
        raise ConfigError("proxy must be a table")
    for name in ("upstreams", "routes"):
        if name in settings:
            raise ConfigError(f"proxy.{name}: unknown key (use [{name}] at top level)")
    known = {f.name: f for f in fields(ProxyConfig)} if settings else {}
    kwargs: dict[str, Any] = {}
    for name, value in settings.items():
        attr = name.replace("-", "_")
        if attr not in known or attr in ("upstreams", "routes"):
            raise ConfigError(f"proxy.{name}: unknown key")
        kwargs[attr] = _coerce(str(known[attr].type), value, f"proxy.{name}")
    return ProxyConfig(groups, routes, **kwargs)


def load_proxy_file(path: str) -> tuple[ProxyConfig, dict[str, Any]]:
    """Read ``path``: the proxy's configuration, and the ``[serve]`` table for the server."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    serve = data.pop("serve", {})
    if not isinstance(serve, dict):
        raise ConfigError(f"{path}: [serve] must be a table")
    try:
        return proxy_config_from_mapping(data), serve
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
