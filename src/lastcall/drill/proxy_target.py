"""The drill aimed at a proxy: load through it while its backends restart one by one.

``lastcall drill --start BACKEND_CMD --proxy PROXY_CMD --backends N`` starts N
backends (each ``BACKEND_CMD`` with its own ``{port}``), then the proxy
(``PROXY_CMD`` with ``{port}`` and ``{upstreams}``, which becomes
``--upstream SCHEME://127.0.0.1:PORT`` once per backend), drives load at the
proxy, and restarts the backends in turn (a rolling restart: SIGTERM one,
start its replacement on the same port once the old listener has closed,
then the next), spread evenly over the run.

What counts as lost here: what the plain drill counts (a request cut after
the proxy may have taken it), plus every 502, 503 and 504 -- the status a
proxy answers when it lost a request to a backend. The proxy must absorb
every backend drain: retry what a backend refused, finish what it promised.
The report says how many were sent, succeeded and lost, and how each
backend generation exited. A proxy command with ``{metrics}`` (which becomes
``--metrics-bind 127.0.0.1:PORT``, lastcall proxy's Prometheus endpoint) also
gets the proxy's own retries by reason, read from its metrics once the load
ends: how much of the backends' drains the proxy absorbed, and how.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field

from lastcall.client import Client

from .load import LoadStats, run_load
from .process import ServerProcess, free_port, wait_port_answers, wait_port_closed

__all__ = ["PROXY_FAILURE_STATUSES", "ProxyDrillConfig", "ProxyDrillReport", "run_proxy_drill"]

#: Statuses with which a proxy admits it lost a request.
PROXY_FAILURE_STATUSES = frozenset({502, 503, 504})
#: One sample of lastcall proxy's retry counter in Prometheus text format.
_RETRY_SAMPLE = re.compile(
    r'^\w*proxy_upstream_retries_total\{[^}]*reason="([^"]+)"[^}]*\} ([0-9.e+]+)$', re.M
)


@dataclass
class ProxyDrillConfig:
    """Settings of a drill through a proxy; the CLI flags map one to one."""

    #: Backend command with ``{port}``.
    backend: str
    #: Proxy command with ``{port}`` and ``{upstreams}``, and optionally ``{metrics}``.
    proxy: str = f"{sys.executable} -m lastcall proxy --bind 127.0.0.1:{{port}} {{upstreams}}"
    #: How many backends sit behind the proxy.
    backends: int = 2
    #: How the proxy reaches them: ``http`` (HTTP/1.1) or ``h2c``.
    backend_scheme: str = "h2c"
    #: Downstream protocol of the load: "h1" or "h2" (cleartext).
    protocol: str = "h2"
    concurrency: int = 20
    duration: float = 10.0
    #: Backend restarts, in turn (restart k restarts backend k mod ``backends``).
    restarts: int = 2
    path: str = "/slow?ms=50"
    method: str = "GET"
    host: str = "127.0.0.1"
    start_timeout: float = 20.0
    exit_timeout: float = 60.0
    log_dir: str | None = None

    def __post_init__(self) -> None:
        if self.backends < 1:
            raise ValueError("--backends must be >= 1")
        if self.backend_scheme not in ("http", "h2c"):
            raise ValueError("--backend-scheme must be http or h2c")
        if self.protocol not in ("h1", "h2"):
            raise ValueError("through a proxy the drill speaks h1 or h2")
        if "{upstreams}" not in self.proxy:
            raise ValueError("the proxy command needs {upstreams}")


@dataclass
class ProxyDrillReport:
    """What happened: counts, errors, and each backend generation's exit."""

    command: str
    proxy: str
    sent: int = 0
    succeeded: int = 0
    lost: int = 0
    safely_retried: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    #: (backend index, exit code, seconds from SIGTERM to exit) per restart.
    backend_exits: list[tuple[int, int | None, float | None]] = field(default_factory=list)
    proxy_exit_code: int | None = None
    #: The proxy's own retries by reason (``{metrics}`` in its command), else None.
    proxy_retries: dict[str, int] | None = None

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.succeeded > 0
            and all(code == 0 for _, code, _ in self.backend_exits)
            and self.proxy_exit_code == 0
        )

    def render(self) -> str:
        lines = [
            f"drill through a proxy: {self.proxy}",
            f"  backends: {self.command}",
            f"  sent {self.sent}, succeeded {self.succeeded}, lost {self.lost}, "
            f"safely retried by the load {self.safely_retried}",
        ]
        if self.proxy_retries is not None:
            by_reason = ", ".join(f"{k} {v}" for k, v in sorted(self.proxy_retries.items()))
            total = sum(self.proxy_retries.values())
            lines.append(f"  the proxy retried {total}" + (f" ({by_reason})" if by_reason else ""))
        for index, code, seconds in self.backend_exits:
            took = f"{seconds:.3f} s" if seconds is not None else "?"
            lines.append(f"  backend {index} restarted: exit {code} after {took}")
        lines.append(f"  proxy exit code: {self.proxy_exit_code}")
        if self.errors:
            lines.append(
                "  errors: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.errors.items()))
            )
        lines.append("PASS" if self.passed else "FAIL")
        return "\n".join(lines)

    def dumps(self) -> str:
        return json.dumps(asdict(self) | {"passed": self.passed}, indent=2)


async def run_proxy_drill(config: ProxyDrillConfig) -> ProxyDrillReport:
    """Run the drill through a proxy; see the module docstring."""
    host = config.host
    log_dir = config.log_dir or tempfile.mkdtemp(prefix="lastcall-proxy-drill-")
    ports = [free_port(host) for _ in range(config.backends)]
    upstreams = " ".join(f"--upstream {config.backend_scheme}://{host}:{p}" for p in ports)
    proxy_port = free_port(host)
    report = ProxyDrillReport(config.backend, config.proxy)
    generations = [0] * config.backends

    def log(name: str) -> str:
        return os.path.join(log_dir, f"{name}.log")

    backends = [ServerProcess(config.backend, port) for port in ports]
    for i, backend in enumerate(backends):
        await backend.start(log(f"backend-{i}-0"))
    command = config.proxy.replace("{upstreams}", upstreams)
    metrics_port = free_port(host) if "{metrics}" in command else None
    command = command.replace("{metrics}", f"--metrics-bind {host}:{metrics_port}")
    proxy = ServerProcess(command, proxy_port)
    await proxy.start(log("proxy"))
    try:
        for port in (*ports, proxy_port):
            if not await wait_port_answers(host, port, config.start_timeout):
                raise RuntimeError(f"nothing answers on {host}:{port}; logs in {log_dir}")
        load = asyncio.create_task(
            run_load(
                f"http://{host}:{proxy_port}{config.path}",
                config.protocol,
                concurrency=config.concurrency,
                duration=config.duration,
                method=config.method,
                failing_statuses=PROXY_FAILURE_STATUSES,
            )
        )
        started = time.monotonic()
        exits: list[asyncio.Task[None]] = []
        for k in range(config.restarts):
            at = started + config.duration * (k + 1) / (config.restarts + 1)
            await asyncio.sleep(max(0.0, at - time.monotonic()))  # the schedule, not a guess
            index = k % config.backends
            old = backends[index]
            old.terminate()
            await wait_port_closed(host, old.port, config.exit_timeout)
            generations[index] += 1
            replacement = ServerProcess(config.backend, old.port)
            await replacement.start(log(f"backend-{index}-{generations[index]}"))
            await wait_port_answers(host, old.port, config.start_timeout)
            backends[index] = replacement

            async def finish(old: ServerProcess = old, index: int = index) -> None:
                await old.wait_exit(config.exit_timeout)
                report.backend_exits.append((index, old.returncode, old.exit_seconds))

            exits.append(asyncio.create_task(finish()))
        stats: LoadStats = await load
        await asyncio.gather(*exits)
        if metrics_port is not None:
            async with asyncio.timeout(config.start_timeout):
                report.proxy_retries = await _proxy_retries(host, metrics_port)
    finally:
        proxy.terminate()
        await proxy.wait_exit(config.exit_timeout)
        report.proxy_exit_code = proxy.returncode
        for backend in backends:
            backend.terminate()
        for backend in backends:
            await backend.wait_exit(config.exit_timeout)
    report.sent, report.succeeded, report.lost = stats.sent, stats.succeeded, stats.lost
    report.safely_retried = stats.safely_retried
    report.errors = dict(stats.errors)
    return report


async def _proxy_retries(host: str, port: int) -> dict[str, int]:
    """The proxy's ``proxy_upstream_retries_total`` by reason (summed over groups)."""
    async with Client() as client:
        text = (await client.get(f"http://{host}:{port}/metrics")).text
    retries: dict[str, int] = {}
    for reason, value in _RETRY_SAMPLE.findall(text):
        retries[reason] = retries.get(reason, 0) + int(float(value))
    return retries
