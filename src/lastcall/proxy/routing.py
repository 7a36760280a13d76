"""Which route a request takes: a pure function of its host, path and headers.

Routes are tried in their configured order and the first that matches wins,
as in nginx's ``location`` blocks written as prefixes and Envoy's route
tables. A request no route takes is answered 404 by the proxy itself.

Host matching ignores case and the port (RFC 9110 §4.2.3: host names are
case-insensitive; the port is the listener's business), and
``*.example.org`` matches any name that ends in ``.example.org``. A path
prefix matches on segment boundaries: ``/api`` takes ``/api``, ``/api/v1``
and ``/api?x``, never ``/apiary`` (a prefix that matched there would send a
request to a group that never expected it).
"""

from __future__ import annotations

from collections.abc import Sequence

from .config import RouteConfig

__all__ = ["Router", "host_of"]

Headers = Sequence[tuple[bytes, bytes]]


def host_of(authority: bytes) -> bytes:
    """``Host``/``:authority`` without port, lowercased (``[::1]:80`` -> ``[::1]``)."""
    if authority[:1] == b"[":
        end = authority.find(b"]")
        return authority[: end + 1].lower() if end > 0 else authority.lower()
    return authority.partition(b":")[0].lower()


class _Compiled:
    """One route, pre-encoded for matching bytes from the wire."""

    __slots__ = ("exact_host", "headers", "prefix", "route", "suffix")

    def __init__(self, route: RouteConfig) -> None:
        self.route = route
        host = route.host.lower().encode("idna") if route.host else None
        self.exact_host = host if host is not None and not host.startswith(b"*.") else None
        self.suffix = host[1:] if host is not None and host.startswith(b"*.") else None
        prefix = route.path_prefix.encode("ascii")
        self.prefix = prefix.rstrip(b"/") if prefix != b"/" else b""
        self.headers = [
            (n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in route.headers
        ]

    def matches(self, host: bytes, path: bytes, headers: Headers) -> bool:
        if self.exact_host is not None and host != self.exact_host:
            return False
        if self.suffix is not None and not (
            host.endswith(self.suffix) and len(host) > len(self.suffix)
        ):
            return False
        prefix = self.prefix
        if prefix and not (
            path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] in b"/?")
        ):
            return False
        for name, value in self.headers:
            if not any(n == name and v == value for n, v in headers):
                return False
        return True


class Router:
    """The routes of one proxy, compiled once."""

    __slots__ = ("_routes", "_single")

    def __init__(self, routes: Sequence[RouteConfig]) -> None:
        self._routes = [_Compiled(route) for route in routes]
        only = self._routes[0] if len(self._routes) == 1 else None
        #: The ``--upstream`` case: one route that takes everything.
        self._single = (
            only.route
            if only is not None
            and only.exact_host is None
            and only.suffix is None
            and not only.prefix
            and not only.headers
            else None
        )

    def match(self, authority: bytes, path: bytes, headers: Headers) -> RouteConfig | None:
        """The first route that takes the request (``path`` is the raw target), or None."""
        if self._single is not None:
            return self._single
        host = host_of(authority)
        for compiled in self._routes:
            if compiled.matches(host, path, headers):
                return compiled.route
        return None
