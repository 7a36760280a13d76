"""Proxy configuration: every key validated, every error names the key (no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lastcall.errors import ConfigError
from lastcall.proxy.config import (
    ProxyConfig,
    RouteConfig,
    UpstreamConfig,
    backend_origin,
    load_proxy_file,
    proxy_config_from_mapping,
    simple_proxy_config,
)

GOOD = {
    "proxy": {"forwarded": "both", "via": False},
    "upstreams": {
        "api": {
            "backends": ["h2c://127.0.0.1:50051", "http://[::1]:8000"],
            "balancer": "p2c",
            "health_check": {"path": "/healthz", "interval": 2},
            "ejection": {"consecutive_failures": 3, "max_ejection_percent": 50},
            "retry_budget": {"budget_percent": 25.0, "min_retry_concurrency": 5},
        },
        "web": {"backends": ["https://example.org:443"], "verify": False},
    },
    "routes": [
        {
            "host": "*.example.org",
            "path_prefix": "/api",
            "upstream": "api",
            "headers": {"X-Canary": "1"},
        },
        {
            "upstream": "web",
            "first_byte_timeout": 10,
            "retry_idempotent": False,
            "grpc_retry_on": ["cancelled", "unavailable"],
        },
    ],
}


def test_a_full_document_loads() -> None:
    config = proxy_config_from_mapping(GOOD)
    api = config.upstreams["api"]
    assert api.balancer == "p2c"
    assert api.health_check.interval == 2.0 and api.health_check.path == "/healthz"
    assert api.ejection.max_ejection_percent == 50
    assert api.retry_budget.min_retry_concurrency == 5
    assert config.upstreams["web"].verify is False
    assert config.routes[0].headers == (("x-canary", "1"),)
    assert config.routes[1].first_byte_timeout == 10.0
    assert config.routes[1].grpc_retry_on == ("cancelled", "unavailable")
    assert config.routes[0].grpc_retry_on == ()  # off unless a route lists statuses
    assert config.forwarded == "both" and config.via is False


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            lambda d: d["routes"][1].update(upstream="wbe"),
            "routes[1].upstream: no upstream group named 'wbe'",
        ),
        (
            lambda d: d["routes"][0].update(path_prefix="api"),
            "routes[0].path_prefix must start with '/'",
        ),
        (lambda d: d["routes"][0].update(timeout=3), "routes[0].timeout: unknown key"),
        (
            lambda d: d["routes"][1].update(grpc_retry_on=["canceled"]),
            "routes[1].grpc_retry_on: unknown status 'canceled' (known: cancelled, ",
        ),
        (
            lambda d: d["routes"][1].update(grpc_retry_on="cancelled"),
            "routes[1].grpc_retry_on must be a list of strings",
        ),
        (lambda d: d["routes"][1].update(idle_timeout=-1), "routes[1].idle_timeout must be > 0"),
        (
            lambda d: d["routes"][1].update(idle_timeout="5"),
            "routes[1].idle_timeout must be a number",
        ),
        (
            lambda d: d["upstreams"]["api"].update(balancer="random"),
            "upstreams.api.balancer must be one of",
        ),
        (
            lambda d: d["upstreams"]["api"].update(backends=[]),
            "upstreams.api.backends: at least one",
        ),
        (
            lambda d: d["upstreams"]["api"].update(backends=["ftp://x:1"]),
            "upstreams.api.backends[0]: 'ftp://x:1' must start with",
        ),
        (
            lambda d: d["upstreams"]["api"].update(backends=["http://x"]),
            "upstreams.api.backends[0]: 'http://x' needs a host and a port",
        ),
        (
            lambda d: d["upstreams"]["api"].update(backends=["http://x:1/p"]),
            "upstreams.api.backends[0]: 'http://x:1/p' must be scheme://host:port only",
        ),
        (
            lambda d: d["upstreams"]["api"]["health_check"].update(path="healthz"),
            "upstreams.api.health_check.path must start with '/'",
        ),
        (
            lambda d: d["upstreams"]["api"]["health_check"].update(intervall=1),
            "upstreams.api.health_check.intervall: unknown key",
        ),
        (
            lambda d: d["upstreams"]["api"]["ejection"].update(max_ejection_percent=120),
            "upstreams.api.ejection.max_ejection_percent must be within 0..100",
        ),
        (
            lambda d: d["upstreams"]["api"]["retry_budget"].update(budget_percent=-1),
            "upstreams.api.retry_budget.budget_percent must be within 0..100",
        ),
        (
            lambda d: d["upstreams"]["api"].update(max_connections=True),
            "upstreams.api.max_connections must be an integer",
        ),
        (lambda d: d["proxy"].update(forwarded="yes"), "proxy.forwarded must be one of"),
        (
            lambda d: d["proxy"].update(hooks="nocolon"),
            "proxy.hooks must look like 'module:object'",
        ),
        (lambda d: d["proxy"].update(colour="red"), "proxy.colour: unknown key"),
        (lambda d: d.update(extra={}), "extra: unknown table"),
        (lambda d: d.update(routes=[]), "routes: at least one route is needed"),
        (lambda d: d.update(upstreams={}), "upstreams: at least one upstream group is needed"),
    ],
)
def test_errors_name_the_key(patch: object, message: str) -> None:
    import copy

    data = copy.deepcopy(GOOD)
    patch(data)  # type: ignore[operator]
    with pytest.raises(ConfigError) as info:
        proxy_config_from_mapping(data)
    assert message in str(info.value)


def test_simple_config_and_origins() -> None:
    config = simple_proxy_config(["h2c://127.0.0.1:9000"])
    assert list(config.upstreams) == ["default"]
    assert config.routes == (RouteConfig("default"),)
    assert backend_origin("HTTPS://Example.org:8443") == ("https", "example.org", 8443)
    with pytest.raises(ConfigError, match=r"--upstream: '127\.0\.0\.1:9000' must start with"):
        backend_origin("127.0.0.1:9000", "--upstream")


def test_dataclasses_validate_when_built_in_python() -> None:
    group = UpstreamConfig("a", ("http://127.0.0.1:1",))
    with pytest.raises(ConfigError, match=r"routes\[0\]\.upstream"):
        ProxyConfig({"a": group}, (RouteConfig("b"),))


def test_file_with_serve_table(tmp_path: Path) -> None:
    path = tmp_path / "proxy.toml"
    path.write_text(
        '[serve]\nbind = ["127.0.0.1:0"]\ngraceful-timeout = 3\n\n'
        '[upstreams.a]\nbackends = ["http://127.0.0.1:1"]\n\n[[routes]]\nupstream = "a"\n'
    )
    config, serve = load_proxy_file(str(path))
    assert serve == {"bind": ["127.0.0.1:0"], "graceful-timeout": 3}
    assert config.routes[0].upstream == "a"
    path.write_text('[[routes]]\nupstream = "a"\n')
    with pytest.raises(ConfigError, match=f"{path}: upstreams: at least one"):
        load_proxy_file(str(path))
