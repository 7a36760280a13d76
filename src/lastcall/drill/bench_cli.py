"""``lastcall bench`` command-line options; registered by ``lastcall.cli``."""

from __future__ import annotations

import argparse
import asyncio

from .bench import KNOWN_TARGETS, BenchResult, bench_target, is_available, render


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark servers side by side (h2load, pinned cores)",
        description="Run named servers one after another on the same app, each pinned to "
        "core 0 with h2load on core 1, and print req/s, p99, idle memory and ratios.",
    )
    parser.add_argument(
        "--targets",
        default="lastcall,granian,uvicorn,hypercorn",
        help=f"comma-separated, from {', '.join(KNOWN_TARGETS)} (missing ones are skipped)",
    )
    parser.add_argument("--protocol", choices=["h1", "h2"], default="h2")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=10, help="h2load -c")
    parser.add_argument(
        "--streams", type=int, default=10, help="h2load -m (streams per connection)"
    )
    parser.add_argument("--idle-connections", type=int, default=1000)
    parser.set_defaults(handler=run_from_args)


def run_from_args(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``args`` and print the table."""
    names = [n.strip() for n in args.targets.split(",") if n.strip()]

    async def main() -> list[BenchResult]:
        results = []
        for name in names:
            if name not in KNOWN_TARGETS:
                results.append(BenchResult(name, args.protocol, error="unknown target"))
            elif args.protocol not in KNOWN_TARGETS[name][1]:
                results.append(
                    BenchResult(name, args.protocol, error=f"does not serve {args.protocol}")
                )
            elif not is_available(name):
                results.append(BenchResult(name, args.protocol, error="not installed"))
            else:
                results.append(
                    await bench_target(
                        name,
                        args.protocol,
                        requests=args.requests,
                        clients=args.clients,
                        streams=args.streams or (10 if args.protocol == "h2" else 1),
                        idle_connections=args.idle_connections,
                    )
                )
        return results

    print(render(asyncio.run(main())))
    return 0
