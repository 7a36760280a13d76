"""Regenerate docs/drill-results.md: the drill against lastcall and its peers.

    python bench/drill_results.py [--duration 10] [--restarts 3] [--out docs/drill-results.md]

Every server runs the same demo app (``/`` and ``/slow?ms=``); each is drilled
over the protocols it speaks. Then the switches on one address that keep the
listening socket: a SIGHUP reload in place and lastcall's socket hand-off
upgrade, beside SO_REUSEPORT start-then-stop and the peers' own worker reloads. Servers that are not installed are listed as
such. The exact command lines are printed in the page so anyone can rerun one.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time
from typing import Any

from lastcall.drill import DrillConfig, DrillReport, run_drill

APP = "lastcall.server.demo:demo_app"
PY = sys.executable

NGINX_CONF = """daemon off; master_process off; worker_processes 1;
pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; client_body_temp_path {dir}; proxy_temp_path {dir};
  fastcgi_temp_path {dir}; uwsgi_temp_path {dir}; scgi_temp_path {dir};
  server {{ listen 127.0.0.1:@PORT@{http2}; root {dir}; location / {{ }} }} }}
"""


def nginx_command(protocol: str) -> str:
    """nginx serving a static file, as ``/`` (it has no /slow)."""
    workdir = tempfile.mkdtemp(prefix="lastcall-drill-nginx-")
    with open(os.path.join(workdir, "index.html"), "w") as fh:
        fh.write("ok\n")
    template = os.path.join(workdir, f"nginx-{protocol}.conf.in")
    with open(template, "w") as fh:
        fh.write(NGINX_CONF.format(dir=workdir, http2=" http2" if protocol == "h2" else ""))
    # The drill fills {port} in the command, not in files: render the config
    # per port, then exec so the drill's SIGTERM reaches nginx itself.
    conf = os.path.join(workdir, f"nginx-{protocol}-{{port}}.conf")
    return (
        f"sh -c 'sed s/@PORT@/{{port}}/ {template} > {conf} && exec nginx -c {conf} -p {workdir}'"
    )


#: (name, protocol, command, path, package for the version, DrillConfig overrides)
Target = tuple[str, str, str, str, str | None, dict[str, Any]]

UPGRADE_SOCKET = os.path.join(tempfile.gettempdir(), "lastcall-drill-results-upgrade.sock")


def switch_targets(proto: str) -> list[Target]:
    """One address, no gap: reload in place, socket hand-off, and SO_REUSEPORT start-then-stop
    (docs/server/processes.md), for lastcall and the peers that offer workers."""
    serve = f"{PY} -m lastcall serve {APP} --bind 127.0.0.1:{{port}} --workers 2"
    upgrade = f"{serve} --upgrade-socket {UPGRADE_SOCKET}"
    granian_http = "2" if proto == "h2" else "1"
    return [
        ("lastcall --workers 2, SIGHUP", proto, serve, "/slow?ms=200", "lastcall",
         {"stop_signal": "HUP"}),
        ("lastcall --workers 2, upgrade", proto, upgrade, "/slow?ms=200", "lastcall",
         {"upgrade": f"{upgrade} --upgrade"}),
        ("lastcall, SO_REUSEPORT", proto,
         f"{PY} -m lastcall.testing.reuseport 127.0.0.1:{{port}} -- "
         f"{PY} -m lastcall serve {APP} --fd 3", "/slow?ms=200", "lastcall",
         {"reuse_port": True}),
        ("granian --workers 2, SIGHUP", proto,
         f"granian --interface asgi --host 127.0.0.1 --port {{port}} --workers 2 "
         f"--http {granian_http} {APP}", "/slow?ms=200", "granian", {"stop_signal": "HUP"}),
        ("hypercorn --workers 2, SIGHUP", proto,
         f"hypercorn {APP} --bind 127.0.0.1:{{port}} --workers 2 --graceful-timeout 30",
         "/slow?ms=200", "hypercorn", {"stop_signal": "HUP"}),
    ]  # fmt: skip


def targets() -> list[Target]:
    """Every drilled server: plain SIGTERM restarts, then the one-address switches."""
    rows: list[Target] = []
    for proto in ("h2", "h1"):
        rows.append(
            (
                "lastcall",
                proto,
                f"{PY} -m lastcall serve {APP} --bind 127.0.0.1:{{port}}",
                "/slow?ms=200",
                "lastcall",
                {},
            )
        )
        rows.append(
            (
                "hypercorn",
                proto,
                f"hypercorn {APP} --bind 127.0.0.1:{{port}} --graceful-timeout 30",
                "/slow?ms=200",
                "hypercorn",
                {},
            )
        )
        rows.append(
            (
                "granian",
                proto,
                f"granian --interface asgi --host 127.0.0.1 --port {{port}} --workers 1 --http {'2' if proto == 'h2' else '1'} {APP}",
                "/slow?ms=200",
                "granian",
                {},
            )
        )
        uvicorn_flags = "--http zttp --http2" if proto == "h2" else "--http httptools"
        rows.append(
            (
                "uvicorn",
                proto,
                f"uvicorn {APP} --host 127.0.0.1 --port {{port}} {uvicorn_flags} --timeout-graceful-shutdown 30",
                "/slow?ms=200",
                "uvicorn",
                {},
            )
        )
        rows.append(("nginx", proto, nginx_command(proto), "/index.html", None, {}))
    for proto in ("h2", "h1"):
        rows += switch_targets(proto)
    return rows


def available(name: str) -> bool:
    program = name.split(",")[0].split()[0]
    if program == "lastcall":
        return True
    return shutil.which(program) is not None


def version(package: str | None) -> str:
    if package is None:
        return "Debian package"
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


async def main() -> tuple[str, str]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--only", default="", help="comma-separated server names")
    parser.add_argument("--out", default="docs/drill-results.md")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n}
    lines = [
        "# Drill results",
        "",
        f"Generated by `python bench/drill_results.py --duration {args.duration:g} --restarts {args.restarts}` "
        f"on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {platform.python_version()}.",
        f"Load: {args.concurrency} concurrent workers through lastcall's client; one probe connection per restart.",
        "",
        "| server | version | proto | sent | lost | safely retried | SIGTERM→exit | report card |",
        "|---|---|---|---|---|---|---|---|",
    ]
    details: list[str] = []
    for name, proto, command, path, package, overrides in targets():
        if only and name.split(",")[0].split()[0] not in only:
            continue
        if not available(name):
            lines.append(f"| {name} | not installed | {proto} | | | | | |")
            continue
        config = DrillConfig(
            start=command,
            protocol=proto,
            concurrency=args.concurrency,
            duration=args.duration,
            restarts=args.restarts,
            path=path,
            warm_path=path if name == "nginx" else "/",
            # nginx drains on QUIT; its TERM is a fast shutdown.
            stop_signal="QUIT" if name == "nginx" else "TERM",
            progress=False,
        )
        for key, value in overrides.items():
            setattr(config, key, value)
        print(f"drilling {name} {proto} ...", file=sys.stderr)
        try:
            report: DrillReport = await run_drill(config)
        except Exception as exc:  # one broken peer must not stop the page
            lines.append(f"| {name} | {version(package)} | {proto} | error: {exc} | | | | |")
            continue
        exits = ", ".join("-" if e is None else f"{e * 1000:.0f} ms" for e in report.exit_seconds)
        failed = [n for n, c in report.report_card.items() if c.verdict == "fail"]
        card = "all pass" if not failed else "FAIL: " + ", ".join(failed)
        lines.append(
            f"| {name} | {version(package)} | {proto} | {report.sent} | **{report.lost}** | "
            f"{report.safely_retried} | {exits} | {card} |"
        )
        details += [
            "",
            f"## {name} ({proto})",
            "",
            f"`{command}`",
            "",
            "```",
            report.render(),
            "```",
        ]
    return args.out, "\n".join(lines + details) + "\n"


if __name__ == "__main__":
    out, page = asyncio.run(main())
    pathlib.Path(out).write_text(page)
    print(page.split("\n## ")[0])
