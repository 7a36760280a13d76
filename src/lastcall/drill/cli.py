"""``lastcall drill`` command-line options; registered by ``lastcall.cli``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .config import DrillConfig
from .html_report import render_html
from .proxy_target import ProxyDrillConfig, ProxyDrillReport, run_proxy_drill
from .report import DrillReport
from .runner import run_drill
from .target import DEFAULT_RESTART_TIMEOUT, DEFAULT_SETTLE_PERIOD


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``drill`` subcommand."""
    parser = subparsers.add_parser(
        "drill",
        help="prove zero lost requests through restarts of any server",
        description=(
            "Start a server command (--start), or aim at a deployment you run (--url with "
            "--restart), drive load at it with lastcall's GOAWAY-aware client, restart it K "
            "times, and report lost requests and a report card of its drain behaviour. Exit "
            "status 0 only if nothing was lost and no check failed."
        ),
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--start",
        help='server command with {port}, e.g. "lastcall serve --bind 127.0.0.1:{port}"',
    )
    target.add_argument(
        "--url",
        help="a deployment the drill does not start, e.g. http://web.internal:8000/slow?ms=200 "
        "(its path is the load's; needs --restart)",
    )
    parser.add_argument(
        "--restart",
        dest="restart_commands",
        action="append",
        default=[],
        metavar="CMD",
        help='--url: shell command that restarts the deployment, e.g. "kubectl rollout restart '
        'deploy/web && kubectl rollout status deploy/web"; repeat it to alternate commands',
    )
    parser.add_argument(
        "--restart-timeout",
        type=float,
        default=DEFAULT_RESTART_TIMEOUT,
        help="--url: longest wait for one restart command, then it is killed "
        f"(default {DEFAULT_RESTART_TIMEOUT:g})",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=DEFAULT_SETTLE_PERIOD,
        help="--url: seconds of load and observation after each restart command ends "
        f"(default {DEFAULT_SETTLE_PERIOD:g})",
    )
    parser.add_argument(
        "--protocol",
        choices=["h1", "h2", "h3"],
        default="h2",
        help="h1, h2 (cleartext) or h3 (QUIC on UDP, see --quic-port)",
    )
    parser.add_argument(
        "--quic-port",
        type=int,
        default=None,
        help="h3: the server's UDP port (default: the same number as {port}; "
        "the command may also say {quic_port})",
    )
    parser.add_argument(
        "--cafile",
        default=None,
        help="h3: verify the server's certificate with this CA bundle (default: no check)",
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10)")
    parser.add_argument("--restarts", type=int, default=1)
    parser.add_argument(
        "--path", default="/slow?ms=200", help="path for load and the probe's in-flight request"
    )
    parser.add_argument(
        "--warm-path", default="/", help="path the HTTP/1.1 probe warms its connections with"
    )
    parser.add_argument("--method", default="GET", choices=["GET", "POST", "PUT", "DELETE"])
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="start the replacement before SIGTERM (SO_REUSEPORT servers)",
    )
    parser.add_argument(
        "--signal",
        default="TERM",
        help="signal asking for a graceful shutdown (default TERM; nginx: QUIT); HUP reloads"
        " in place (a supervisor: no replacement is started, the process must stay)",
    )
    parser.add_argument(
        "--upgrade",
        metavar="CMD",
        default=None,
        help='instead of a signal, start CMD, which takes the server over, e.g. "lastcall serve'
        ' --bind 127.0.0.1:{port} --upgrade --upgrade-socket /tmp/up.sock"; the old one'
        " must drain and exit by itself",
    )
    parser.add_argument("--port", type=int, default=None, help="fixed port (default: a free one)")
    parser.add_argument(
        "--exit-timeout",
        type=float,
        default=60.0,
        help="longest wait for a signalled server to exit (default 60)",
    )
    parser.add_argument(
        "--json", dest="json_path", default=None, help="also write the report as JSON to this file"
    )
    parser.add_argument(
        "--html",
        dest="html_path",
        default=None,
        help="also write a self-contained page with the timeline to this file",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    proxy = parser.add_argument_group(
        "through a proxy",
        "aim at a proxy in front of --backends servers (each --start with its own {port}) "
        "and restart the backends in turn; 502/503/504 count as lost",
    )
    proxy.add_argument(
        "--proxy",
        metavar="CMD",
        help='proxy command with {port} and {upstreams}, e.g. "lastcall proxy --bind '
        '127.0.0.1:{port} {upstreams} {metrics}" ({metrics}: --metrics-bind on a free port, '
        "so the report adds the proxy's retries by reason)",
    )
    proxy.add_argument("--backends", type=int, default=2, help="backends behind it (default 2)")
    proxy.add_argument(
        "--backend-scheme", choices=["http", "h2c"], default="h2c", help="default h2c"
    )
    parser.set_defaults(handler=run_from_args)


def _run_through_proxy(args: argparse.Namespace) -> int:
    if not args.start or args.url or args.html_path:
        print(
            "lastcall drill: --proxy needs --start (the backend command) and takes no --url "
            "or --html",
            file=sys.stderr,
        )
        return 2
    try:
        config = ProxyDrillConfig(
            backend=args.start,
            proxy=args.proxy,
            backends=args.backends,
            backend_scheme=args.backend_scheme,
            protocol=args.protocol,
            concurrency=args.concurrency,
            duration=args.duration,
            restarts=args.restarts,
            path=args.path,
            method=args.method,
            exit_timeout=args.exit_timeout,
        )
    except ValueError as exc:
        print(f"lastcall drill: {exc}", file=sys.stderr)
        return 2
    return _print(asyncio.run(run_proxy_drill(config)), args)


def run_from_args(args: argparse.Namespace) -> int:
    """Run the drill for parsed ``args``; print the table; return the exit status."""
    if args.proxy:
        return _run_through_proxy(args)
    try:
        config = DrillConfig(
            start=args.start or "",
            url=args.url,
            restart_commands=args.restart_commands,
            restart_timeout=args.restart_timeout,
            settle_period=args.settle,
            protocol=args.protocol,
            concurrency=args.concurrency,
            duration=args.duration,
            restarts=args.restarts,
            path=args.path,
            warm_path=args.warm_path,
            method=args.method,
            reuse_port=args.reuse_port,
            stop_signal=args.signal,
            upgrade=args.upgrade,
            port=args.port,
            exit_timeout=args.exit_timeout,
            progress=False if args.no_progress else None,
            quic_port=args.quic_port,
            cafile=args.cafile,
        )
    except ValueError as exc:
        print(f"lastcall drill: {exc}", file=sys.stderr)
        return 2
    return _print(asyncio.run(run_drill(config)), args)


def _print(report: DrillReport | ProxyDrillReport, args: argparse.Namespace) -> int:
    """Print the report (and write its JSON); the exit status: 0 only if it passed."""
    print(report.render())
    if args.json_path:
        with open(args.json_path, "w") as fh:
            fh.write(report.dumps() + "\n")
    if args.html_path and isinstance(report, DrillReport):
        with open(args.html_path, "w", encoding="utf-8") as fh:
            fh.write(render_html(report))
    sys.stdout.flush()
    return 0 if report.passed else 1
