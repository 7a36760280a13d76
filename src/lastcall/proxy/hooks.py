"""Hooks: customise the proxy per request, in Python (Pingora's ``ProxyHttp`` idea).

Subclass ``ProxyHooks``, override what you need, and point the proxy at an
instance (``lastcall proxy --hooks mymodule:hooks`` or ``hooks = "..."`` under
``[proxy]``)::

    from lastcall.proxy import HookResponse, ProxyHooks, ProxyRequest, ProxyResponse

    class Hooks(ProxyHooks):
        async def request_filter(self, request: ProxyRequest) -> HookResponse | None:
            if request.path.startswith(b"/admin") and request.header(b"x-token") != b"s3cret":
                return HookResponse(403, body=b"forbidden\\n")      # short-circuit
            request.headers.append((b"x-request-source", b"edge"))  # add a header
            return None

        def choose_upstream(self, request: ProxyRequest) -> str | None:
            return "canary" if request.header(b"x-canary") == b"1" else None

        def response_filter(self, request: ProxyRequest, response: ProxyResponse) -> None:
            response.headers.append((b"x-served-by", response.backend.encode()))

    hooks = Hooks()

Order per request: the route is matched; ``request_filter`` runs (it may
answer by itself, or change ``method``, ``path``, ``headers``); then
``choose_upstream`` may name another group; the request is forwarded (with
retries); ``response_filter`` sees each response head before it goes
downstream and may change its status or headers, or replace the whole
response. A hook that raises makes the proxy answer 502 and log the error,
as a failed backend would: a bug in a hook never takes the proxy down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lastcall.errors import ConfigError

from .config import RouteConfig

__all__ = ["HookResponse", "ProxyHooks", "ProxyRequest", "ProxyResponse", "load_hooks"]

Headers = list[tuple[bytes, bytes]]


@dataclass(slots=True)
class ProxyRequest:
    """The request as the proxy will forward it; hooks may change the mutable fields."""

    #: ``GET``, ``POST`` ...
    method: str
    #: Request target as sent upstream: raw path and query (``/a%20b?x=1``).
    path: bytes
    #: Header fields (lowercase names), before hop-by-hop removal and forwarding headers.
    headers: Headers
    #: The route that matched.
    route: RouteConfig
    #: The upstream group it goes to (``route.upstream`` unless a hook changed it).
    upstream: str
    #: The ASGI scope (client address, scheme, HTTP version, extensions); read-only.
    scope: Any = field(repr=False)

    def header(self, name: bytes) -> bytes | None:
        """The first value of ``name`` (lowercase), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class ProxyResponse:
    """A backend's response head as the proxy will send it downstream."""

    status: int
    #: Header fields (lowercase names), hop-by-hop fields already removed.
    headers: Headers
    #: URL of the backend that answered.
    backend: str


@dataclass(slots=True)
class HookResponse:
    """A response a hook gives instead of the backend's."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""


class ProxyHooks:
    """Base class of proxy hooks: every method does nothing by default."""

    async def request_filter(self, request: ProxyRequest) -> HookResponse | None:
        """Before forwarding: return a response to answer without a backend, else None."""
        return None

    def choose_upstream(self, request: ProxyRequest) -> str | None:
        """The name of the group to forward to, or None for ``request.upstream``."""
        return None

    def response_filter(
        self, request: ProxyRequest, response: ProxyResponse
    ) -> HookResponse | None:
        """Before the response head goes downstream: change ``response`` in place,
        or return a response to send instead (the backend's body is then dropped)."""
        return None


def load_hooks(spec: str) -> ProxyHooks:
    """Import ``module:object``: a ``ProxyHooks`` instance (or a subclass, instantiated)."""
    from lastcall.server.app_loading import import_object  # the same rules as an app's

    obj = import_object(spec, "hooks")
    if isinstance(obj, type) and issubclass(obj, ProxyHooks):
        obj = obj()
    if not isinstance(obj, ProxyHooks):
        raise ConfigError(
            f"hooks {spec!r} is a {type(obj).__name__}, not a lastcall.proxy.ProxyHooks"
        )
    return obj
