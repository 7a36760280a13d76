"""Observe: every drain step as one structured event, read by logs, metrics and tests."""

from . import events
from .observer import EventRecorder, LoggingSink, Observer, Sink

__all__ = ["EventRecorder", "LoggingSink", "Observer", "Sink", "events"]
