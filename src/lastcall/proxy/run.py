"""``lastcall proxy``: the command line of the reverse proxy.

``lastcall proxy --bind HOST:PORT --upstream URL [--upstream URL ...]`` for one
group that takes everything; ``lastcall proxy --config proxy.toml`` for
routes and named groups. Every option of ``lastcall serve`` (``--bind``,
``--graceful-timeout``, ``--pre-stop-delay``, TLS, ``--quic-bind`` ...) is the
same option here: the definitions are shared (``cli.add_server_options``), and
so is the server that runs -- with ``--workers``, ``--upgrade-socket`` and
``--reload`` too (``cli.add_process_options``): each worker builds the proxy
from the same arguments (``worker_app.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from lastcall.errors import ConfigError

__all__ = ["add_parser", "run_from_args"]

#: With workers: the environment variable that carries these arguments to each
#: worker, which builds the proxy from them (``worker_app.py``).
PROXY_ARGS_ENV = "LASTCALL_PROXY_ARGS"

#: Options of the proxy itself (not handed to the server).
_PROXY_OPTIONS = ("upstream", "hooks", "balancer", "health_check_path", "config_file")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``proxy`` subcommand."""
    from lastcall.cli_options import add_process_options, add_server_options

    p = subparsers.add_parser(
        "proxy",
        help="reverse proxy that drains both sides (HTTP/1.1, HTTP/2, h2c, gRPC, WebSocket)",
        description=(
            "Forward requests to upstream backends over HTTP/1.1, HTTP/2 or h2c, balancing and "
            "retrying what a draining backend refused; drain downstream on SIGTERM."
        ),
    )
    p.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        help="TOML file: [proxy], [upstreams.NAME], [[routes]] and [serve]",
    )
    p.add_argument(
        "--upstream",
        action="append",
        metavar="URL",
        help="backend http://HOST:PORT, https://HOST:PORT or h2c://HOST:PORT; repeatable",
    )
    p.add_argument("--balancer", choices=["round_robin", "least_outstanding", "p2c"])
    p.add_argument("--health-check-path", metavar="PATH", help="GET this on each backend every 5 s")
    p.add_argument("--hooks", metavar="MODULE:OBJECT", help="a lastcall.proxy.ProxyHooks")
    add_server_options(p)
    add_process_options(p)
    p.set_defaults(handler=run_from_args)


def build(args: argparse.Namespace) -> tuple[Any, Any]:
    """The ``ProxyConfig`` and ``ServerConfig`` the arguments describe."""
    from dataclasses import replace

    from lastcall.server import load_config

    from .config import HealthCheckSettings, load_proxy_file, simple_proxy_config

    serve_table: dict[str, Any] | None = None
    if args.config_file:
        if args.upstream:
            raise ConfigError("give --upstream or --config, not both")
        proxy_config, serve_table = load_proxy_file(args.config_file)
    elif args.upstream:
        proxy_config = simple_proxy_config(args.upstream)
    else:
        raise ConfigError("lastcall proxy needs --upstream URL or --config FILE")
    changes: dict[str, Any] = {}
    if args.balancer or args.health_check_path:
        groups = {}
        for name, group in proxy_config.upstreams.items():
            if args.balancer:
                group = replace(group, balancer=args.balancer)
            if args.health_check_path:
                group = replace(
                    group, health_check=HealthCheckSettings(path=args.health_check_path)
                )
            groups[name] = group
        changes["upstreams"] = groups
    if args.hooks:
        changes["hooks"] = args.hooks
    if changes:
        proxy_config = replace(proxy_config, **changes)
    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "handler", *_PROXY_OPTIONS) and value is not None
    }
    if serve_table is not None and "app" in serve_table:
        raise ConfigError("[serve] app: the proxy is the app; remove this key")
    server_config = load_config(options, file_settings=serve_table)
    return proxy_config, server_config


def run_from_args(args: argparse.Namespace) -> int:
    """Build the proxy and serve it until drained; return the exit code."""
    from lastcall.observe import Observer
    from lastcall.observe.logs import configure_logging
    from lastcall.server import serve

    from .app import ProxyApp

    proxy_config, server_config = build(args)
    if server_config.env_file is not None:
        from lastcall.server.app_loading import load_env_file

        load_env_file(server_config.env_file)
        proxy_config, server_config = build(args)  # its LASTCALL_* count
    configure_logging(server_config.log_level, server_config.log_format, server_config.log_config)
    if server_config.is_supervised:
        # Each worker builds the proxy from these same arguments (worker_app.py),
        # so a reload also reads the --config file again.
        import json
        import os

        os.environ[PROXY_ARGS_ENV] = json.dumps(
            {key: value for key, value in vars(args).items() if key != "handler"}
        )
        server_config.app = "lastcall.proxy.worker_app:app"
        from lastcall.process import supervise

        return supervise(server_config)
    observer = Observer()
    app = ProxyApp(proxy_config, observer=observer)
    return serve(app, server_config, observer=observer)
