"""``lastcall proxy``: a reverse proxy that drains both sides, balances and carries gRPC.

Downstream it is lastcall's server (``ProxyApp`` is an ASGI app served by
``Server``); upstream it is lastcall's client. See docs/proxy.md.

Modules, one job each: ``config`` (settings and their validation),
``routing`` (which route), ``balancer`` (which backend), ``ejection`` and
``health`` (which backends are fit), ``retry`` and ``retry_budget`` (whether
to send again), ``headers`` (what changes in forwarded header sections),
``forward`` (one HTTP exchange), ``websocket`` (one WebSocket relay),
``hooks`` (the Python API), ``upstream`` (backends, groups, clients),
``app`` (the ASGI app) and ``run`` (the ``lastcall proxy`` command).
"""

from __future__ import annotations

from .app import ProxyApp
from .config import (
    BudgetSettings,
    EjectionSettings,
    HealthCheckSettings,
    ProxyConfig,
    RouteConfig,
    UpstreamConfig,
    load_proxy_file,
    simple_proxy_config,
)
from .hooks import HookResponse, ProxyHooks, ProxyRequest, ProxyResponse

__all__ = [
    "BudgetSettings",
    "EjectionSettings",
    "HealthCheckSettings",
    "HookResponse",
    "ProxyApp",
    "ProxyConfig",
    "ProxyHooks",
    "ProxyRequest",
    "ProxyResponse",
    "RouteConfig",
    "UpstreamConfig",
    "load_proxy_file",
    "simple_proxy_config",
]
