"""lastcall's HTTP client: pools, HTTP/1.1 and HTTP/2 connections, drain on close.

See docs/client.md. The public names are re-exported here.
"""

from __future__ import annotations

from .client import DEFAULT, Client
from .config import ClientConfig, Lifetime, Limits, RetryPolicy, Timeouts
from .manager import PoolStats
from .models import URL, Headers, Request, Response
from .notices import ClosingNotice, ClosingSignal

__all__ = [
    "DEFAULT",
    "URL",
    "Client",
    "ClientConfig",
    "ClosingNotice",
    "ClosingSignal",
    "Headers",
    "Lifetime",
    "Limits",
    "PoolStats",
    "Request",
    "Response",
    "RetryPolicy",
    "Timeouts",
]
