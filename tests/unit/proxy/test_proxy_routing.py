"""Routing: first match wins; hosts without port and case; prefixes on segment boundaries."""

from __future__ import annotations

from lastcall.proxy.config import RouteConfig
from lastcall.proxy.routing import Router, host_of

API = RouteConfig("api", host="api.example.org", path_prefix="/v1")
WILD = RouteConfig("wild", host="*.example.org")
CANARY = RouteConfig("canary", path_prefix="/", headers=(("x-canary", "1"),))
REST = RouteConfig("rest")
ROUTER = Router([API, WILD, CANARY, REST])


def test_host_of() -> None:
    assert host_of(b"API.Example.org:8443") == b"api.example.org"
    assert host_of(b"[::1]:80") == b"[::1]"
    assert host_of(b"") == b""


def test_first_match_wins() -> None:
    assert ROUTER.match(b"api.example.org", b"/v1/users", []) is API
    assert ROUTER.match(b"API.example.org:443", b"/v1", []) is API
    assert ROUTER.match(b"api.example.org", b"/v1?x=1", []) is API
    assert ROUTER.match(b"api.example.org", b"/v10", []) is WILD  # not a segment of /v1
    assert ROUTER.match(b"www.example.org", b"/", []) is WILD
    assert ROUTER.match(b"example.org", b"/", [(b"x-canary", b"1")]) is CANARY
    assert ROUTER.match(b"example.org", b"/", [(b"x-canary", b"2")]) is REST
    assert ROUTER.match(b"evil-example.org", b"/", []) is REST


def test_no_route() -> None:
    router = Router([RouteConfig("a", path_prefix="/a/")])
    assert router.match(b"h", b"/a/b", []) is not None
    assert router.match(b"h", b"/a", []) is not None
    assert router.match(b"h", b"/b", []) is None


def test_single_catch_all_is_a_shortcut() -> None:
    router = Router([REST])
    assert router.match(b"", b"anything", []) is REST
