"""The command-line options of ``lastcall serve``, which ``lastcall proxy`` shares.

Both commands take every server option (``add_server_options``) and the
process options (``add_process_options``: workers, reload, hand-off), so they
live here, where ``lastcall.cli`` and ``lastcall.proxy.run`` both import them
without importing each other. Each option maps to a ``ServerConfig`` field of
the same name (``docs/server/reference.md`` lists them, checked by a test).
"""

from __future__ import annotations

import argparse

__all__ = ["add_process_options", "add_server_options", "fd_bind"]


def fd_bind(value: str) -> str:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a descriptor number, not {value!r}")
    return f"fd://{value}"


def add_process_options(p: argparse.ArgumentParser) -> None:
    """Workers, reload and upgrade (``lastcall.process``; docs/server/processes.md)."""
    group = p.add_argument_group("processes", "workers, reload and socket hand-off")
    group.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes behind a supervisor that owns the sockets; SIGHUP reloads"
        " (default 1, no supervisor: this process serves)",
    )
    group.add_argument(
        "--upgrade-socket",
        metavar="PATH",
        help="Unix socket on which this server hands its sockets to a new --upgrade one"
        " and takes `lastcall reload` (implies a supervisor)",
    )
    group.add_argument(
        "--upgrade",
        action="store_true",
        default=None,
        help="take the listening sockets over from the server on --upgrade-socket,"
        " then tell it to drain",
    )
    group.add_argument(
        "--reload",
        action="store_true",
        default=None,
        help="development: reload when a file under the working directory changes"
        " (needs watchfiles)",
    )
    group.add_argument(
        "--daemon",
        action="store_true",
        default=None,
        help="return once the new server serves (exit 0) or failed (exit 3), e.g. for ExecReload",
    )


def add_server_options(p: argparse.ArgumentParser) -> None:
    """The options of the server itself, shared by ``serve`` and ``proxy``: one definition."""
    p.add_argument(
        "-b",
        "--bind",
        action="append",
        metavar="ADDR",
        help="HOST:PORT, [IPv6]:PORT, unix:PATH or fd://N; repeatable (default 127.0.0.1:8000)",
    )
    p.add_argument(
        "--fd",
        dest="bind",
        action="append",
        type=fd_bind,
        metavar="N",
        help="serve the listening socket inherited as descriptor N (same as --bind fd://N)",
    )
    p.add_argument("--graceful-timeout", type=float, metavar="S", help="drain budget (default 30)")
    p.add_argument(
        "--pre-stop-delay",
        type=float,
        metavar="S",
        help="keep accepting this long while readiness fails (default 0)",
    )
    p.add_argument(
        "--close-timeout",
        type=float,
        metavar="S",
        help="after cancelling, abort after S (default 2)",
    )
    p.add_argument("--lingering-close-timeout", type=float, metavar="S", help="default 1")
    p.add_argument("--keep-alive-timeout", type=float, metavar="S", help="default 5")
    p.add_argument(
        "--request-head-timeout",
        type=float,
        metavar="S",
        help="HTTP/1.1 request head must arrive within S, else 408 (default 20)",
    )
    p.add_argument(
        "--tls-handshake-timeout",
        type=float,
        metavar="S",
        help="a TLS handshake must complete within S of accept, else close (default 10)",
    )
    p.add_argument(
        "--request-body-timeout",
        type=float,
        metavar="S",
        help="HTTP/1.1: longest gap between body reads while the app waits, else 408 (default 60)",
    )
    p.add_argument(
        "--drain-first-request-timeout",
        type=float,
        metavar="S",
        help="draining: wait this long for the first request on an unused HTTP/1.1 "
        "connection (default 1; 0: close at once)",
    )
    p.add_argument(
        "--send-timeout",
        type=float,
        metavar="S",
        help="close a connection whose peer reads nothing for S while our buffer is full, "
        "reset an HTTP/2 or HTTP/3 stream it takes nothing of for S (default 60; 0: never)",
    )
    p.add_argument(
        "--http2-idle-timeout",
        type=float,
        metavar="S",
        help="drain an HTTP/2 connection idle this long (default 60; 0: never)",
    )
    p.add_argument(
        "--max-connections", type=int, metavar="N", help="open at once (default 10000; 0: none)"
    )
    _add_retire_options(p)
    p.add_argument("--goaway-ping-timeout", type=float, metavar="S", help="HTTP/2, default 1")
    p.add_argument("--max-concurrent-streams", type=int, metavar="N", help="HTTP/2, default 100")
    _add_http2_budget_options(p)
    p.add_argument("--max-body-size", type=int, metavar="BYTES", help="default 0 (no limit)")
    p.add_argument("--certfile", help="TLS certificate (PEM); enables TLS with ALPN h2, http/1.1")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", default=None, help="log every request")
    p.add_argument(
        "--readiness-path", metavar="PATH", help="e.g. /readyz: 200 serving, 503 draining"
    )
    p.add_argument("--root-path", metavar="PATH", help="ASGI root_path")
    p.add_argument("--proxy-headers", action="store_true", default=None, help="trust X-Forwarded-*")
    p.add_argument(
        "--forwarded-allow-ips",
        metavar="IPS",
        help="TCP peers trusted with --proxy-headers (default 127.0.0.1; unix-socket peers always)",
    )
    p.add_argument(
        "--no-http2", dest="http2", action="store_false", default=None, help="HTTP/1.1 only"
    )
    p.add_argument(
        "--quic-bind",
        action="append",
        metavar="ADDR",
        help="serve HTTP/3 on UDP HOST:PORT; repeatable; needs --certfile/--keyfile",
    )
    p.add_argument("--quic-idle-timeout", type=float, metavar="S", help="HTTP/3, default 30")
    p.add_argument(
        "--quic-max-concurrent-streams", type=int, metavar="N", help="HTTP/3, default 100"
    )
    p.add_argument(
        "--quic-max-data", type=int, metavar="BYTES", help="QUIC connection window, default 16 MiB"
    )
    p.add_argument(
        "--quic-max-stream-data",
        type=int,
        metavar="BYTES",
        help="QUIC stream window, default 1 MiB",
    )
    # HTTP/3 abuse budgets (docs/http3.md "Budgets"); kept together, apart from HTTP/2's.
    p.add_argument(
        "--quic-reset-burst",
        type=int,
        metavar="N",
        help="HTTP/3 stream resets (Rapid Reset, MadeYouReset) before H3_EXCESSIVE_LOAD, default 1000",
    )
    p.add_argument(
        "--quic-reset-refill-per-second",
        type=float,
        metavar="N",
        help="HTTP/3 reset budget refill, default 33",
    )
    p.add_argument(
        "--quic-ignored-frame-burst",
        type=int,
        metavar="N",
        help="HTTP/3 unknown/empty frames and unknown streams before H3_EXCESSIVE_LOAD, default 1000",
    )
    p.add_argument(
        "--quic-ignored-frame-refill-per-second",
        type=float,
        metavar="N",
        help="HTTP/3 ignored-frame budget refill, default 100",
    )
    p.add_argument(
        "--http3-idle-timeout",
        type=float,
        metavar="S",
        help="drain an HTTP/3 connection with no request this long (default 60; 0: never)",
    )
    p.add_argument(
        "--alt-svc-max-age",
        type=int,
        metavar="S",
        help="Alt-Svc h3 freshness with --quic-bind, default 86400; 0: do not advertise",
    )
    p.add_argument("--lifespan", choices=["auto", "on", "off"])
    p.add_argument(
        "--lifespan-startup-timeout",
        type=float,
        metavar="S",
        help="lifespan startup must complete within S, else exit 3 (default 60)",
    )
    p.add_argument(
        "--lifespan-shutdown-timeout",
        type=float,
        metavar="S",
        help="give up on lifespan shutdown after S and exit (default 60)",
    )
    p.add_argument("--loop", choices=["auto", "uvloop", "asyncio"])
    _add_operations_options(p)


def _add_operations_options(p: argparse.ArgumentParser) -> None:
    """Logs, metrics and the options users of uvicorn, gunicorn and granian expect."""
    p.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="json: one object per line, an event's fields for drain steps (default text)",
    )
    p.add_argument(
        "--log-config",
        metavar="FILE",
        help="logging config: .json (dictConfig) or .ini (fileConfig); replaces --log-format",
    )
    p.add_argument(
        "--metrics-bind",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on GET /metrics there; answers through the drain",
    )
    p.add_argument(
        "--env-file", metavar="FILE", help="set environment variables from a dotenv file first"
    )
    p.add_argument(
        "--limit-concurrency",
        type=int,
        metavar="N",
        help="past N requests in flight answer 503 + Retry-After (default 0, none)",
    )
    p.add_argument("--backlog", type=int, metavar="N", help="listen() backlog (default 2048)")
    p.add_argument(
        "--header",
        dest="headers",
        action="append",
        metavar="NAME:VALUE",
        help="add this field to every response; repeatable",
    )
    p.add_argument(
        "--server-header",
        dest="server_header",
        action="store_true",
        default=None,
        help="send 'server: lastcall' (default off)",
    )
    p.add_argument("--no-server-header", dest="server_header", action="store_false", default=None)
    p.add_argument(
        "--ssl-ca-certs", metavar="FILE", help="CA certificates (PEM) for client certificates"
    )
    p.add_argument(
        "--ssl-cert-reqs",
        choices=["none", "optional", "required"],
        help="ask TLS clients for a certificate (default none)",
    )
    p.add_argument("--ssl-ciphers", metavar="LIST", help="OpenSSL cipher list for TLS 1.2")
    p.add_argument(
        "--ws-ping-interval",
        type=float,
        metavar="S",
        help="Ping an open WebSocket every S (default 20; 0: off)",
    )
    p.add_argument(
        "--ws-ping-timeout",
        type=float,
        metavar="S",
        help="no Pong within S: close 1011 (default 20; 0: wait forever)",
    )
    p.add_argument(
        "--ws-max-size",
        dest="ws_max_message_size",
        type=int,
        metavar="BYTES",
        help="WebSocket message limit, close 1009 over it (default 16 MiB)",
    )
    p.add_argument(
        "--ws-max-message-fragments",
        type=int,
        metavar="N",
        help="frames per WebSocket message, empty ones included; close 1009 over it (default 4096)",
    )
    p.add_argument(
        "--ws-control-frame-burst",
        type=int,
        metavar="N",
        help="WebSocket PING/PONG a peer may send at once (default 200) ...",
    )
    p.add_argument(
        "--ws-control-frame-refill-per-second",
        type=float,
        metavar="N",
        help="... refilled at N per second; close 1008 past it (default 20)",
    )


def _add_http2_budget_options(p: argparse.ArgumentParser) -> None:
    """HTTP/2 abuse budgets: past one, GOAWAY(ENHANCE_YOUR_CALM) and close."""
    group = p.add_argument_group(
        "HTTP/2 abuse budgets", "past one: GOAWAY(ENHANCE_YOUR_CALM) and close"
    )
    group.add_argument(
        "--http2-max-continuation-frames",
        type=int,
        metavar="N",
        help="CONTINUATION frames after one HEADERS (default 32)",
    )
    for name, what, burst, refill in (
        ("reset", "stream resets sent or provoked (Rapid Reset, MadeYouReset)", 1000, 33),
        ("control-frame", "PING and SETTINGS frames", 200, 20),
        ("empty-frame", "frames carrying nothing (empty DATA, header fragments)", 1000, 100),
    ):
        group.add_argument(
            f"--http2-{name}-burst",
            type=int,
            metavar="N",
            help=f"{what} a peer may send at once (default {burst}) ...",
        )
        group.add_argument(
            f"--http2-{name}-refill-per-second",
            type=float,
            metavar="N",
            help=f"... refilled at N per second (default {refill})",
        )
    group.add_argument(
        "--http2-tiny-data-frame-size",
        type=int,
        metavar="BYTES",
        help="a non-final DATA frame under BYTES charges what it falls short of BYTES ..."
        " (default 256; 0: off)",
    )
    group.add_argument(
        "--http2-tiny-data-budget",
        type=int,
        metavar="BYTES",
        help="... to this budget, refunded as the app reads (default 8388608)",
    )


def _add_retire_options(p: argparse.ArgumentParser) -> None:
    """Per-connection drains (age, count) and how the server-wide drain is spread."""
    p.add_argument(
        "--max-connection-age",
        type=float,
        metavar="S",
        help="drain each connection S (±10%%) after accept (default: off)",
    )
    p.add_argument(
        "--max-connection-age-grace",
        type=float,
        metavar="S",
        help="then cancel what it has left after S (default none, the graceful timeout)",
    )
    p.add_argument(
        "--max-requests-per-connection",
        type=int,
        metavar="N",
        help="drain a connection after its N-th request (default: off)",
    )
    p.add_argument(
        "--drain-strategy",
        choices=["immediate", "gradual"],
        help="tell connections to drain all at once, or one by one (default immediate)",
    )
    p.add_argument(
        "--drain-spread-fraction",
        type=float,
        metavar="F",
        help="gradual: part of the graceful timeout to spread over (default 0.5)",
    )
