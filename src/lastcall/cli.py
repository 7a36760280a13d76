"""The ``lastcall`` command: ``serve``, ``proxy``, ``drill`` and ``bench``.

``lastcall serve [MODULE:APP] [--bind HOST:PORT ...] [--quic-bind HOST:PORT ...] [--graceful-timeout S] ...``
Options follow hypercorn/gunicorn names so users feel at home. Settings may
also come from ``--config FILE.toml`` and ``LASTCALL_*`` environment
variables; the command line wins.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from lastcall import __version__
from lastcall._extensions import describe as describe_build
from lastcall.cli_options import add_process_options, add_server_options
from lastcall.errors import ConfigError

__all__ = [
    "add_process_options",
    "add_server_options",
    "build_parser",
    "import_app",
    "import_object",
    "main",
]

EXIT_USAGE = 2


def import_object(spec: str, what: str = "app", app_dir: str = ".") -> Any:
    """``lastcall.server.app_loading.import_object``, imported on use: ``--help`` stays light."""
    from lastcall.server.app_loading import import_object as _import_object

    return _import_object(spec, what, app_dir)


def import_app(spec: str, *, factory: bool = False, app_dir: str = ".") -> Any:
    """``lastcall.server.app_loading.import_app``, imported on use (see ``import_object``)."""
    from lastcall.server.app_loading import import_app as _import_app

    return _import_app(spec, factory=factory, app_dir=app_dir)


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
    p.add_argument(
        "--factory", action="store_true", default=None, help="APP is a function returning the app"
    )
    p.add_argument("--app-dir", metavar="DIR", help="import APP from DIR first (default .)")
    add_server_options(p)
    add_process_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lastcall", description="lastcall: HTTP that drains by the book"
    )
    parser.add_argument(
        "--version", action="version", version=f"lastcall {__version__} ({describe_build()})"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_serve(sub)
    from lastcall.drill import bench_cli
    from lastcall.proxy import run as proxy_run

    proxy_run.add_parser(sub)
    from lastcall.drill import cli as drill_cli

    drill_cli.add_parser(sub)
    bench_cli.add_parser(sub)
    from lastcall.process import reload_cli

    reload_cli.add_parser(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from lastcall.server import load_config
    from lastcall.server.app_loading import load_env_file
    from lastcall.server.run import run_config

    options = {
        key: value
        for key, value in vars(args).items()
        if key not in ("command", "config_file") and value is not None
    }
    config = load_config(options, config_file=args.config_file)
    if config.env_file is not None:
        load_env_file(config.env_file)
        config = load_config(options, config_file=args.config_file)  # its LASTCALL_* count
    from lastcall.process.sockets import apply_systemd_sockets

    apply_systemd_sockets(config)  # systemd's LISTEN_FDS replace the default --bind
    return run_config(config)


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
