"""The public API, pinned: each public module's ``__all__`` equals the list below, and every
name in it can be taken from the module (httpx's tests/test_exported_members.py does the same).

A change here is a change to what users import: add a name on purpose, and
remove or rename one only with a CHANGELOG line that says so.
"""

from __future__ import annotations

import importlib

import pytest

PUBLIC: dict[str, list[str]] = {
    "lastcall": [
        "Client",
        "ClientConfig",
        "ClosingNotice",
        "Headers",
        "Lifetime",
        "Limits",
        "Request",
        "Response",
        "RetryPolicy",
        "Server",
        "Timeouts",
        "__version__",
        "build_info",
        "errors",
        "run",
        "serve",
    ],
    "lastcall.client": [
        "DEFAULT",
        "URL",
        "Client",
        "ClientConfig",
        "ClosingNotice",
        "ClosingSignal",
        "Headers",
        "Lifetime",
        "Limits",
        "PoolStats",
        "Request",
        "Response",
        "RetryPolicy",
        "Timeouts",
    ],
    "lastcall.errors": [
        "ClientClosed",
        "ConfigError",
        "ConnectError",
        "ConnectTimeout",
        "ConnectionDraining",
        "ConnectionLost",
        "FloodDetected",
        "HeaderListTooLarge",
        "HpackError",
        "LastcallError",
        "LocalProtocolError",
        "PoolTimeout",
        "ProtocolError",
        "ReadTimeout",
        "RemoteProtocolError",
        "RequestCancelled",
        "RequestError",
        "StreamProtocolError",
        "StreamReset",
        "TimeoutError",
        "UnprocessedRequest",
        "WriteTimeout",
    ],
    "lastcall.server": [
        "DRAIN_EXTENSION",
        "EXIT_OK",
        "EXIT_STARTUP_FAILED",
        "DrainExtension",
        "Server",
        "ServerConfig",
        "load_config",
        "serve",
    ],
    "lastcall.observe": [
        "AccessLogSink",
        "EventRecorder",
        "LoggingSink",
        "Observer",
        "PrometheusSink",
        "Sink",
        "events",
    ],
    "lastcall.testing": ["FakeClock", "Frame", "RawH2Client"],
    "lastcall.proxy": [
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
    ],
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_is_pinned(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{module_name}.__all__ repeats a name"
    assert sorted(exported) == sorted(PUBLIC[module_name])


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_every_exported_name_exists(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module_name}.__all__ names what it lacks: {missing}"


def test_star_import_of_the_root_package() -> None:
    namespace: dict[str, object] = {}
    exec("from lastcall import *", namespace)
    assert set(PUBLIC["lastcall"]) <= set(namespace)
