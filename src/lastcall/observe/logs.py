"""How the ``lastcall`` command sets up logging: text or JSON lines, or the user's own config.

``--log-format json`` writes one JSON object per line. A record that carries
an event (the sinks attach it as ``extra={"drain_event": event}``: every
drain step, every access-log line) becomes the event's own fields, named
as in ``observe/events.py``, beside ``time``, ``level``, ``logger``, ``event``
(its name) and ``message`` (the text line). So a log pipeline reads exactly
what the metrics count and the tests assert; nothing is formatted twice.
Any other record is ``time``, ``level``, ``logger``, ``message`` (and
``exc_info`` when there is a traceback).

``--log-config FILE`` hands logging to the user instead, as uvicorn's does:
``.json`` is a ``logging.config.dictConfig`` dictionary, anything else an
``ini`` file for ``logging.config.fileConfig`` (YAML would add a dependency
for a format JSON already covers). ``JsonFormatter`` can be named in either
(``"()": "lastcall.observe.logs.JsonFormatter"``).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import fields
from typing import Any

from lastcall.errors import ConfigError

from .events import DrainEvent

__all__ = ["TEXT_FORMAT", "JsonFormatter", "configure_logging", "event_fields"]

#: The text line: what ``lastcall serve`` has always written.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def event_fields(event: DrainEvent) -> dict[str, Any]:
    """The event as plain JSON values: its name and its dataclass fields."""
    out: dict[str, Any] = {"event": event.name}
    for field in fields(event):
        value = getattr(event, field.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, float) and not math.isfinite(value):
            value = None  # JSON has no inf/nan
        out[field.name] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        event = getattr(record, "drain_event", None)
        if isinstance(event, DrainEvent):
            out.update(event_fields(event))
        out["message"] = record.getMessage()
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text", log_config: str | None = None) -> None:
    """Set up the root logger for the ``lastcall`` command (not for embedding:
    a program that runs ``Server`` keeps its own logging)."""
    if log_config is not None:
        _load_config_file(log_config)
        return
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


def _load_config_file(path: str) -> None:
    import logging.config  # only here: it imports socket and threading servers

    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                logging.config.dictConfig(json.load(f))
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ImportError) as exc:
        raise ConfigError(f"cannot use --log-config {path}: {exc}") from None
