"""The ``lastcall`` command: ``serve``, ``proxy``, ``drill`` and ``bench``.

``lastcall serve [MODULE:APP] [--bind HOST:PORT ...] [--quic-bind HOST:PORT ...] [--graceful-timeout S] ...``
Options follow hypercorn/gunicorn names so users feel at home. Settings may
also come from ``--config FILE.toml`` and ``LASTCALL_*`` environment
variables; the command line wins.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from lastcall import __version__
from lastcall.errors import ConfigError
from lastcall.observe.logs import configure_logging

__all__ = ["add_server_options", "build_parser", "import_app", "import_object", "main"]

EXIT_USAGE = 2


def import_object(spec: str, what: str = "app") -> Any:
    """Import ``module:attribute`` (dots allowed in the attribute). The cwd is importable.

    A module or attribute that is not there is a usage error (``ConfigError``,
    exit 2) that says ``what`` was looked for, before anything starts.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"{what} must look like 'module:attribute', got {spec!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(f"cannot import module {module_name!r}: {exc}") from None
        raise
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def import_app(spec: str) -> Any:
    """Import an ASGI app from ``module:attribute`` (see ``import_object``).

    What is found must be callable: anything else would start, then answer
    every request with 500. Like a module or attribute that is not there, it
    is a usage error (exit 2), said before anything starts.
    """
    obj = import_object(spec)
    if not callable(obj):
        raise ConfigError(
            f"{spec!r} is not an ASGI app: it is a {type(obj).__name__}, not a callable"
            " (an app is called as app(scope, receive, send))"
        )
    return obj


def _add_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve an ASGI app (the built-in demo app if none is given)",
        description=(
            "Serve an ASGI app over HTTP/1.1, HTTP/2, HTTP/3 (--quic-bind) and WebSocket;"
            " drain on SIGTERM."
        ),
    )
    p.add_argument("app", nargs="?", default=None, help="MODULE:APP (default: built-in demo app)")
    p.add_argument("--config", dest="config_file", metavar="FILE", help="TOML config file")
    add_server_options(p)


def add_server_options(p: argparse.ArgumentParser) -> None:
    """The options of the server itself, shared by ``serve`` and ``proxy``: one definition."""
    p.add_argument(
        "-b",
        "--bind",
        action="append",
        metavar="ADDR",
        help="HOST:PORT, [IPv6]:PORT or unix:PATH; repeatable (default 127.0.0.1:8000)",
    )
    p.add_argument("--graceful-timeout", type=float, metavar="S", help="drain budget (default 30)")
    p.add_argument(
        "--pre-stop-delay",
        type=float,
        metavar="S",
        help="keep accepting this long while readiness fails (default 0)",
    )
    p.add_argument(
        "--close-timeout",
        type=float,
        metavar="S",
        help="after cancelling, abort after S (default 2)",
    )
    p.add_argument("--lingering-close-timeout", type=float, metavar="S", help="default 1")
    p.add_argument("--keep-alive-timeout", type=float, metavar="S", help="default 5")
    p.add_argument(
        "--request-head-timeout",
        type=float,
        metavar="S",
        help="HTTP/1.1 request head must arrive within S, else 408 (default 20)",
    )
    p.add_argument(
        "--request-body-timeout",
        type=float,
        metavar="S",
        help="HTTP/1.1: longest gap between body reads while the app waits, else 408 (default 60)",
    )
    p.add_argument(
        "--http2-idle-timeout",
        type=float,
        metavar="S",
        help="drain an HTTP/2 connection idle this long (default 60; 0: never)",
    )
    p.add_argument(
        "--max-connections", type=int, metavar="N", help="open at once (default 10000; 0: none)"
    )
    _add_retire_options(p)
    p.add_argument("--goaway-ping-timeout", type=float, metavar="S", help="HTTP/2, default 1")
    p.add_argument("--max-concurrent-streams", type=int, metavar="N", help="HTTP/2, default 100")
    p.add_argument("--max-body-size", type=int, metavar="BYTES", help="default 0 (no limit)")
    p.add_argument("--certfile", help="TLS certificate (PEM); enables TLS with ALPN h2, http/1.1")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", default=None, help="log every request")
    p.add_argument(
        "--readiness-path", metavar="PATH", help="e.g. /readyz: 200 serving, 503 draining"
    )
    p.add_argument("--root-path", metavar="PATH", help="ASGI root_path")
    p.add_argument("--proxy-headers", action="store_true", default=None, help="trust X-Forwarded-*")
    p.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="TCP peers trusted with --proxy-headers (default 127.0.0.1; unix-socket peers always)",
    )
    p.add_argument(
        "--no-http2", dest="http2", action="store_false", default=None, help="HTTP/1.1 only"
    )
    p.add_argument(
        "--quic-bind",
        action="append",
        metavar="ADDR",
        help="serve HTTP/3 on UDP HOST:PORT; repeatable; needs --certfile/--keyfile",
    )
    p.add_argument("--quic-idle-timeout", type=float, metavar="S", help="HTTP/3, default 30")
    p.add_argument(
        "--quic-max-concurrent-streams", type=int, metavar="N", help="HTTP/3, default 100"
    )
    p.add_argument(
        "--quic-max-data", type=int, metavar="BYTES", help="QUIC connection window, default 16 MiB"
    )
    p.add_argument(
        "--quic-max-stream-data",
        type=int,
        metavar="BYTES",
        help="QUIC stream window, default 1 MiB",
    )
    p.add_argument(
        "--alt-svc-max-age",
        type=int,
        metavar="S",
        help="Alt-Svc h3 freshness with --quic-bind, default 86400; 0: do not advertise",
    )
    p.add_argument("--lifespan", choices=["auto", "on", "off"])
    p.add_argument(
        "--lifespan-startup-timeout",
        type=float,
        metavar="S",
        help="lifespan startup must complete within S, else exit 3 (default 60)",
    )
    p.add_argument(
        "--lifespan-shutdown-timeout",
        type=float,
        metavar="S",
        help="give up on lifespan shutdown after S and exit (default 60)",
    )
    p.add_argument("--loop", choices=["auto", "uvloop", "asyncio"])
    _add_operations_options(p)


def _add_operations_options(p: argparse.ArgumentParser) -> None:
    """Logs, metrics and the options users of uvicorn, gunicorn and granian expect."""
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="json: one object per line, an event's fields for drain steps (default text)",
    )
    p.add_argument(
        "--log-config",
        metavar="FILE",
        help="logging config: .json (dictConfig) or .ini (fileConfig); replaces --log-format",
    )
    p.add_argument(
        "--metrics-bind",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on GET /metrics there; answers through the drain",
    )


def _add_retire_options(p: argparse.ArgumentParser) -> None:
    """Per-connection drains (age, count) and how the server-wide drain is spread."""
    p.add_argument(
        "--max-connection-age",
        type=float,
        metavar="S",
        help="drain each connection S (±10%%) after accept (default: off)",
    )
    p.add_argument(
        "--max-connection-age-grace",
        type=float,
        metavar="S",
        help="then cancel what it has left after S (default none, the graceful timeout)",
    )
    p.add_argument(
        "--max-requests-per-connection",
        type=int,
        metavar="N",
        help="drain a connection after its N-th request (default: off)",
    )
    p.add_argument(
        "--drain-strategy",
        choices=["immediate", "gradual"],
        help="tell connections to drain all at once, or one by one (default immediate)",
    )
    p.add_argument(
        "--drain-spread-fraction",
        type=float,
        metavar="F",
        help="gradual: part of the graceful timeout to spread over (default 0.5)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lastcall", description="lastcall: HTTP that drains by the book"
    )
    parser.add_argument("--version", action="version", version=f"lastcall {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_serve(sub)
    from lastcall.drill import bench_cli
    from lastcall.proxy import run as proxy_run

    proxy_run.add_parser(sub)
    from lastcall.drill import cli as drill_cli

    drill_cli.add_parser(sub)
    bench_cli.add_parser(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from lastcall.server import load_config, serve

    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "config_file") and value is not None
    }
    config = load_config(options, config_file=args.config_file)
    configure_logging(config.log_level, config.log_format, config.log_config)
    app = import_app(config.app) if config.app else None
    return serve(app, config)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lastcall`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        handler = getattr(args, "handler", None)
        if handler is not None:
            return int(handler(args))
    except ConfigError as exc:
        print(f"lastcall: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
