"""One access-log line per answered request, whatever the protocol.

The line is the one HTTP/1.1 has always written, so a log that mixes
protocols reads the same and one parser serves them all::

    127.0.0.1:50412 - "GET /hello?x=1 HTTP/2" 200

client address, the request target as the client sent it (``raw_path``, not
decoded, and the query string, as uvicorn and nginx log it; ``path`` when
``raw_path`` is empty) with
``http_version`` from the scope, and the status we answered with. It goes to
the ``lastcall.access`` logger at INFO, so it can be routed or silenced
apart from ``lastcall.server``.

The line is the message of a ``RequestCompleted`` event (``observe/events.py``):
the server emits one per answered request while something reads it (the
access log, ``--metrics-bind``), and ``observe.AccessLogSink`` writes it, so
``--log-format json`` gives the same fields as an object. Callers check
``state.is_request_observed`` first: with neither on (the default) a request
costs one attribute test and never reaches this module.
"""

from __future__ import annotations

import logging

from lastcall.observe.events import RequestCompleted

from .asgi import Scope

__all__ = ["log_access", "request_completed"]

access_logger = logging.getLogger("lastcall.access")


def request_completed(scope: Scope, status: int, at: float, duration: float) -> RequestCompleted:
    """The event for the request in ``scope``, answered with ``status``."""
    client = scope.get("client")
    target = scope["raw_path"].decode("latin-1") or scope["path"]
    query = scope.get("query_string")
    if query:
        target += "?" + query.decode("latin-1")
    return RequestCompleted(
        at,
        f"{client[0]}:{client[1]}" if client else "-",
        scope["method"],
        target,
        scope["http_version"],
        status,
        duration,
    )


def log_access(scope: Scope, status: int) -> None:
    """Log the access line of the request in ``scope``, answered with ``status``."""
    event = request_completed(scope, status, 0.0, 0.0)
    access_logger.info(event.message(), extra={"drain_event": event})
