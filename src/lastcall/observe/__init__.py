"""Observe: every drain step as one structured event, read by logs, metrics and tests.

``PrometheusSink`` imports ``prometheus-client`` only when one is created, so
this package imports without it (``pip install 'lastcall[metrics]'``).
"""

from . import events
from .metrics import PrometheusSink
from .observer import AccessLogSink, EventRecorder, LoggingSink, Observer, Sink

__all__ = [
    "AccessLogSink",
    "EventRecorder",
    "LoggingSink",
    "Observer",
    "PrometheusSink",
    "Sink",
    "events",
]
