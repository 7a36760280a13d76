"""The drill's settings (``DrillConfig``, one field per CLI flag) and what the
runners share: the signal names and the progress bar.

Apart from ``runner.py`` (a server the drill starts) so that ``url_drill.py``
(a deployment it does not start) can use them without importing the runner,
which dispatches to it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field

from .target import DEFAULT_RESTART_TIMEOUT, DEFAULT_SETTLE_PERIOD, UrlTarget

__all__ = ["PROTOCOLS", "DrillConfig", "progress_bar", "signal_number"]

#: ``DrillConfig.protocol`` values.
PROTOCOLS = ("h1", "h2", "h3")


@dataclass
class DrillConfig:
    """Settings of one drill run; the CLI flags map one to one."""

    #: Command line of the server, with ``{port}`` where the port goes (and,
    #: for h3, optionally ``{quic_port}`` where its UDP port goes). Empty for
    #: a ``url`` target.
    start: str = ""
    #: "h1", "h2" (cleartext, prior knowledge) or "h3" (QUIC, TLS).
    protocol: str = "h2"
    #: Concurrent load workers.
    concurrency: int = 20
    #: Seconds of load.
    duration: float = 10.0
    #: How many SIGTERM + replacement cycles.
    restarts: int = 1
    #: Path requested by the load and by the probe's in-flight request.
    path: str = "/slow?ms=200"
    #: HTTP method of the load.
    method: str = "GET"
    #: Start the replacement before the SIGTERM (SO_REUSEPORT servers).
    reuse_port: bool = False
    #: The signal that asks for a graceful shutdown: TERM for most servers,
    #: QUIT for nginx (whose TERM is a fast shutdown).
    stop_signal: str = "TERM"
    host: str = "127.0.0.1"
    #: Fixed port, or None for a free one.
    port: int | None = None
    #: Longest wait for a server to answer after start.
    start_timeout: float = 20.0
    #: Longest wait for a signalled server to exit before it is killed.
    exit_timeout: float = 60.0
    #: Path the HTTP/1.1 probe warms its connections with.
    warm_path: str = "/"
    #: Show a progress bar on stderr (default: when stderr is a terminal).
    progress: bool | None = None
    #: Directory for the servers' output logs (default: a temporary one).
    log_dir: str | None = None
    #: h3: the server's QUIC (UDP) port; None for the same number as ``port``.
    quic_port: int | None = None
    #: h3: CA bundle to verify the server's certificate with; None: no
    #: verification (the drill grades drain behaviour, and test servers use
    #: self-signed certificates).
    cafile: str | None = None
    #: A deployment the drill does not start (``url_drill.py``): load this URL
    #: instead of ``start``, and restart it with ``restart_commands``.
    url: str | None = None
    #: ``url`` target: the shell commands that restart it, run in turn (cycling)
    #: for each of the ``restarts``.
    restart_commands: list[str] = field(default_factory=list)
    #: ``url`` target: longest wait for one restart command (then it is killed).
    restart_timeout: float = DEFAULT_RESTART_TIMEOUT
    #: ``url`` target: how long load and probe go on after a restart command ends.
    settle_period: float = DEFAULT_SETTLE_PERIOD
    #: A command (with ``{port}``) that takes the running server over
    #: (``lastcall serve ... --upgrade``): started instead of a signal, and the
    #: old server drains and exits by itself.
    upgrade: str | None = None

    @property
    def is_reload_in_place(self) -> bool:
        """SIGHUP to a supervisor: new workers, same process, no replacement."""
        return self.upgrade is None and signal_number(self.stop_signal) == signal.SIGHUP

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        if bool(self.start) == bool(self.url):
            raise ValueError("give either a server command to start or a --url, not both")
        if self.url:
            UrlTarget.parse(self.url, self.protocol)  # raises ValueError with the reason
            if not self.restart_commands:
                raise ValueError("--url needs a --restart command")
            if self.restart_timeout <= 0 or self.settle_period < 0:
                raise ValueError("--restart-timeout must be > 0 and --settle >= 0")
        if self.upgrade and (self.reuse_port or self.url):
            raise ValueError("--upgrade takes neither --reuse-port nor --url")
        if self.protocol == "h3" and self.reuse_port:
            raise ValueError(
                "--reuse-port does not work for h3: a second UDP socket in an SO_REUSEPORT "
                "group takes over some of the old server's QUIC connections"
            )


def signal_number(name: str) -> int:
    """``TERM``, ``SIGQUIT``, ``15`` -> the signal number."""
    if name.isdigit():
        return int(name)
    return int(getattr(signal, name if name.startswith("SIG") else "SIG" + name))


async def progress_bar(started: float, duration: float) -> None:
    """A progress bar on stderr while the load runs."""
    width = 30
    while True:
        done = min(1.0, (time.monotonic() - started) / duration) if duration > 0 else 1.0
        filled = int(done * width)
        sys.stderr.write(
            f"\r  drilling [{'#' * filled}{'.' * (width - filled)}] {done * 100:3.0f}%"
        )
        sys.stderr.flush()
        if done >= 1.0:
            sys.stderr.write("\n")
            return
        await asyncio.sleep(0.25)
