"""User-space instructions per proxied request of ``lastcall proxy``, under callgrind.

``bench/proxy.py`` measures req/s and added latency against Envoy and nginx,
which needs a quiet machine. This counts what one proxied request costs the
proxy process in instructions, which does not depend on the load: the same
nginx backend as ``bench/proxy.py`` (``hello world``), ``lastcall proxy`` in
front of it under ``valgrind --tool=callgrind``, loaded by h2load over h2c
(``-c 10 -m 10``, as ``bench/proxy.py``) with a small and a large number of
requests; the difference of the two totals over the difference of the request
counts is one request, start-up and shut-down cancelled out.

    python bench/proxy_instructions.py [--upstream h1,h2c] [--small 1000] [--large 4000]
                                       [--clients 10] [--streams 10]

``lastcall`` is whatever the import path provides (the compiled build when
there is one; ``LASTCALL_NO_EXTENSIONS=1`` for pure Python): the first line
says which. Needs valgrind, h2load and nginx.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile

from instructions import wait_listening
from lastcall.drill.process import free_port
from proxy import backend_nginx


def total_instructions(
    upstream: str, backend: tuple[int, int], requests: int, clients: int, streams: int
) -> int:
    """Instructions of one whole run of the proxy forwarding ``requests`` requests."""
    port = free_port()
    target = (
        f"h2c://127.0.0.1:{backend[1]}" if upstream == "h2c" else f"http://127.0.0.1:{backend[0]}"
    )
    with tempfile.TemporaryDirectory() as workdir:
        out = os.path.join(workdir, "callgrind.out")
        # Callgrind runs the proxy ~50x slower: the connect (and pool) timeout, 5 s
        # by default, would turn queued requests into 503s.
        config = os.path.join(workdir, "proxy.toml")
        with open(config, "w") as fh:
            fh.write(
                f'[serve]\nbind = ["127.0.0.1:{port}"]\n'
                f'[upstreams.bench]\nbackends = ["{target}"]\n'
                '[[routes]]\nupstream = "bench"\nconnect_timeout = 600\n'
                "first_byte_timeout = 600\n"
            )
        proxy = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "lastcall",
                "proxy",
                "--config",
                config,
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(port, proxy, 600.0)
            args = ["h2load", "-n", str(requests), "-c", str(clients), "-m", str(streams)]
            result = subprocess.run(
                [*args, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=False
            )
            if f"{requests} succeeded" not in result.stdout:
                raise RuntimeError(f"h2load: {result.stdout[-400:]}")
        finally:
            proxy.send_signal(signal.SIGTERM)
            proxy.wait(300)
        with open(out) as fh:
            match = re.search(r"^summary: (\d+)", fh.read(), re.M)
    if match is None:
        raise RuntimeError("no callgrind summary")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", default="h1,h2c", help="h1, h2c or both (comma-separated)")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=10, help="h2load -c")
    parser.add_argument("--streams", type=int, default=10, help="h2load -m")
    args = parser.parse_args()
    from lastcall._extensions import describe

    print(f"lastcall: {describe()}", flush=True)
    workdir = tempfile.mkdtemp(prefix="lastcall-bench-proxy-instr-")
    ports = (free_port(), free_port())
    nginx = subprocess.Popen(
        backend_nginx(workdir, *ports).split(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(ports[0], nginx, 20.0)
        for upstream in args.upstream.split(","):
            load = (args.clients, args.streams)
            small = total_instructions(upstream, ports, args.small, *load)
            large = total_instructions(upstream, ports, args.large, *load)
            per = (large - small) / (args.large - args.small)
            print(
                f"lastcall proxy, h2c downstream (-c{args.clients} -m{args.streams}), "
                f"{upstream} upstream: "
                f"{per:>9,.0f} instructions/proxied request",
                flush=True,
            )
    finally:
        nginx.terminate()
        nginx.wait(10)


if __name__ == "__main__":
    main()
