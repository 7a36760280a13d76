"""``lastcall reload --upgrade-socket PATH``: reload a running supervisor, and say if it worked.

SIGHUP does the same, but needs the supervisor's pid and cannot report
back; this waits until the new generation serves (exit 0) or failed to
start and the old one keeps serving (exit 1).
"""

from __future__ import annotations

import argparse
import sys

from lastcall.errors import ConfigError

__all__ = ["DEFAULT_RELOAD_TIMEOUT", "add_parser"]

#: Longest wait for the answer: the new generation's lifespan startup (60 s
#: by default) plus its import allowance (30 s), plus a margin.
DEFAULT_RELOAD_TIMEOUT = 100.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``reload`` subcommand."""
    p = subparsers.add_parser(
        "reload",
        help="reload a running `lastcall serve --upgrade-socket PATH` (new workers, old drain)",
        description=(
            "Ask the supervisor on --upgrade-socket to start a new generation of workers and"
            " drain the old one once it serves. Exit 0 if it did, 1 if the new generation"
            " failed to start (the old one keeps serving)."
        ),
    )
    p.add_argument("--upgrade-socket", required=True, metavar="PATH")
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_RELOAD_TIMEOUT,
        metavar="S",
        help=f"longest wait for the answer (default {DEFAULT_RELOAD_TIMEOUT:g})",
    )
    p.set_defaults(handler=run_from_args)


def run_from_args(args: argparse.Namespace) -> int:
    from .handoff import HandoffError
    from .upgrade import request_reload

    try:
        ok, generation = request_reload(args.upgrade_socket, args.timeout)
    except (OSError, HandoffError) as exc:
        raise ConfigError(f"reload: {exc}") from None
    if ok:
        print(f"reloaded: generation {generation} serves")
        return 0
    print(f"reload FAILED: generation {generation} keeps serving (see the server's log)")
    sys.stdout.flush()
    return 1
