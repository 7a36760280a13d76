"""Where a request's Python time goes, by layer: engine, HPACK, adapter, ASGI bridge, loop, app.

Callgrind (``bench/instructions.py``) says how much a request costs in total and
repeats to 0.1 %; it does not say which of our layers spends it. This runs
``lastcall serve`` under cProfile, loads it with h2load, and adds up each
function's own time (``tottime``) by the layer its file belongs to. C functions
(``{method 'send' of ...}``, ``len``...) are charged to the layer that called
them, so the split covers all the time the profiler saw. cProfile's overhead is
per call, so layers that make many small calls look bigger than they are: read
it as a map of where to look, and callgrind for how much was won.

    python bench/profile_layers.py [--protocol h1|h2] [--small 4000] [--large 24000] [--top 25]

Two runs, ``--small`` and ``--large`` requests; the split is of the difference,
so start-up (imports, building the Huffman table) and shut-down cancel out.
The loop's own C code (uvloop, or asyncio's selector) shows as the time of
``asyncio.runners.run``; a write to the socket as the adapter's ``write``.

A mypyc-compiled module is invisible to cProfile (its functions are C): run
with ``LASTCALL_NO_EXTENSIONS=1`` to see the pure-Python split.
"""

from __future__ import annotations

import argparse
import os
import pstats
import signal
import subprocess
import sys
import tempfile

from instructions import h2load_args, wait_listening  # bench/, the script's directory
from lastcall.drill.process import free_port

APP = "lastcall.testing.bench_app:app"

#: (layer, path fragments), first match wins: the order matters.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("HPACK", ("engines/http2/hpack", "engines/http2/huffman")),
    ("engine h2", ("engines/http2/",)),
    ("engine h1", ("engines/http1/", "httptools")),
    ("adapter h2", ("server/http2", "server/multiplexed", "server/stream_scope")),
    ("adapter h1", ("server/http1",)),
    (
        "ASGI bridge",
        ("server/response_fields", "server/date", "server/asgi", "server/access_log"),
    ),
    ("server other", ("lastcall/server/", "lastcall/lifecycle/", "lastcall/observe/")),
    ("io", ("lastcall/io/",)),
    ("app", ("testing/bench_app",)),
    ("event loop", ("asyncio/", "uvloop", "selectors", "socket.py", "contextvars")),
    ("start-up", ("importlib", "<frozen", "re/_", "sre_", "enum.py", "typing.py")),
]


def layer_of(filename: str, function: str = "") -> str:
    if function == "write" and "lastcall/server/http" in filename:
        return "socket writes"  # the adapter's write() is where the send syscall is timed
    if filename.endswith("asyncio/runners.py") and function == "run":
        return "event loop"  # uvloop's C loop runs inside asyncio.run
    for name, fragments in LAYERS:
        if any(fragment in filename for fragment in fragments):
            return name
    return "other"


def by_layer(stats: pstats.Stats) -> dict[str, float]:
    """Seconds per layer; a C function's own time goes to its callers' layers,
    in proportion to how often each called it."""
    table = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for (filename, _line, function), (_cc, calls, tottime, _ct, callers) in table.items():
        if filename != "~":
            layer = layer_of(filename, function)
            totals[layer] = totals.get(layer, 0.0) + tottime
            continue
        counted = sum(c[1] if isinstance(c, tuple) else c for c in callers.values()) or calls
        for (caller_file, _l, caller), info in callers.items():
            share = (info[1] if isinstance(info, tuple) else info) / counted if counted else 0
            layer = layer_of(caller_file, caller) if caller_file != "~" else "C (nested)"
            totals[layer] = totals.get(layer, 0.0) + tottime * share
    return totals


def profile(protocol: str, requests: int, out: str) -> None:
    port = free_port()
    serve = ["serve", APP, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    server = subprocess.Popen(
        [sys.executable, "-m", "cProfile", "-o", out, "-m", "lastcall", *serve],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, server, 120.0)
        done = subprocess.run(
            h2load_args(port, protocol, requests), capture_output=True, text=True, check=False
        )
        if f"{requests} succeeded" not in done.stdout:
            raise RuntimeError(done.stdout[-400:])
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["h1", "h2"], default="h2")
    parser.add_argument("--small", type=int, default=4000)
    parser.add_argument("--large", type=int, default=24000)
    parser.add_argument("--top", type=int, default=20, help="also list the N costliest functions")
    args = parser.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as workdir:
        for requests in (args.small, args.large):
            out = os.path.join(workdir, f"serve-{requests}.prof")
            profile(args.protocol, requests, out)
            runs.append(pstats.Stats(out))
    small, large = (by_layer(stats) for stats in runs)
    totals = {k: large.get(k, 0.0) - small.get(k, 0.0) for k in large}
    totals = {k: v for k, v in totals.items() if v > 0}
    whole = sum(totals.values())
    per_request = whole / (args.large - args.small) * 1e6
    print(f"{args.protocol}: {per_request:.1f} us of profiled time per request")
    print("| layer | share |\n|---|---|")
    for layer, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {layer} | {seconds / whole:5.1%} |")
    if args.top:
        print()
        runs[1].sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
