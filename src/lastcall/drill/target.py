"""What the drill aims at: a server command it starts, or a URL it is given.

``--start CMD`` (``runner.py``): the drill owns the server. It starts it,
signals it, starts the replacement, and sees its exit code.

``--url URL --restart CMD`` (``url_drill.py``): somebody else owns the
server: a Kubernetes Deployment, a systemd unit, a fleet behind a load
balancer or a proxy. The drill only loads the URL and runs the restart command
(``kubectl rollout restart deploy/web && kubectl rollout status deploy/web``,
``systemctl reload web``, a deploy script), waits for it to finish, bounded by
``restart_timeout``, and reports what a client saw: lost requests, and what
its probe connections could see from outside (GOAWAY ids, REFUSED_STREAM,
``Connection: close``, resets).

This module holds the URL side's two pieces: parsing the URL into what the
load and the probes need (``UrlTarget``), and running one restart command
(``RestartCommand``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Default longest wait for one ``--restart`` command to finish, after which it
#: (and its process group) is killed and the restart marked failed. Kubernetes
#: gives a rollout ``progressDeadlineSeconds`` = 600 s before it calls it stuck;
#: a drill should not give up on a rollout sooner than the cluster would.
DEFAULT_RESTART_TIMEOUT = 600.0

#: Default time the drill keeps loading and watching after a restart command
#: has finished. ``kubectl rollout status`` returns once the new pods are
#: ready, while the old ones may still be draining (pre-stop delay + graceful
#: timeout), and ``systemctl reload`` returns before the old generation exits:
#: the requests and GOAWAYs of that tail belong to the restart.
DEFAULT_SETTLE_PERIOD = 5.0


@dataclass(frozen=True)
class UrlTarget:
    """A deployment the drill does not start, reached at ``url``."""

    url: str
    scheme: str
    host: str
    port: int
    #: The Host / ``:authority`` the probes send (as written in the URL).
    authority: str
    #: Path and query for the load and the probes' in-flight request.
    path: str

    @classmethod
    def parse(cls, url: str, protocol: str) -> UrlTarget:
        """Check ``url`` against ``protocol``: h3 needs ``https://``; h1 and h2 take either."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--url must be http://HOST[:PORT]/PATH or https://...: {url!r}")
        if protocol == "h3" and parts.scheme != "https":
            raise ValueError("h3 needs an https:// URL (QUIC always uses TLS)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(
            url=url,
            scheme=parts.scheme,
            host=parts.hostname,
            port=port,
            authority=parts.netloc.rsplit("@", 1)[-1],
            path=path,
        )

    def url_for(self, path: str) -> str:
        """The URL of ``path`` on this target."""
        return f"{self.scheme}://{self.authority}{path}"

    def tls_context(self, protocol: str, cafile: str | None) -> ssl.SSLContext | None:
        """TLS for the TCP probes of an ``https://`` target (ALPN h2 or http/1.1), else None.

        Without ``cafile`` the certificate is not checked: the drill grades
        drain behaviour, not PKI (the same rule as for h3).
        """
        if self.scheme != "https":
            return None
        context = ssl.create_default_context(cafile=cafile)
        if cafile is None:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"] if protocol == "h2" else ["http/1.1"])
        return context


@dataclass
class RestartCommand:
    """One run of a ``--restart`` command: started, awaited, bounded, logged."""

    command: str
    started_at: float = 0.0
    ended_at: float | None = None
    returncode: int | None = None
    timed_out: bool = False
    _process: asyncio.subprocess.Process | None = None

    async def start(self, log_path: str) -> None:
        """Run it under ``/bin/sh -c`` in its own process group, output to ``log_path``."""
        with open(log_path, "ab") as log:  # noqa: ASYNC230 - a local log file, opened once
            self._process = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        self.started_at = time.monotonic()

    async def wait(self, restart_timeout: float) -> bool:
        """Await its exit for at most ``restart_timeout``; kill its group after. True if exit 0."""
        process = self._process
        if process is None:
            return False
        try:
            self.returncode = await asyncio.wait_for(process.wait(), restart_timeout)
        except TimeoutError:
            self.timed_out = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            self.returncode = await process.wait()
        self.ended_at = time.monotonic()
        return self.returncode == 0 and not self.timed_out

    @property
    def seconds(self) -> float | None:
        """How long it ran."""
        return None if self.ended_at is None else self.ended_at - self.started_at

    def describe(self, restart_timeout: float) -> str:
        """One line for the report card."""
        if self.timed_out:
            return f"did not finish within {restart_timeout:.0f} s (--restart-timeout); killed"
        seconds = self.seconds or 0.0
        if self.returncode == 0:
            return f"exit 0 after {seconds:.2f} s"
        return f"exit code {self.returncode} after {seconds:.2f} s"
