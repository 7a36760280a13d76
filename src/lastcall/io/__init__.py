"""asyncio shell pieces shared by server, client and proxy: loop choice, TLS, backpressure."""

from .flow import OUTBOUND_FULL, ReadGate, WriteFlow
from .loop import loop_factory, uvloop_available
from .tls import negotiated_protocol, server_context

__all__ = [
    "OUTBOUND_FULL",
    "ReadGate",
    "WriteFlow",
    "loop_factory",
    "negotiated_protocol",
    "server_context",
    "uvloop_available",
]
