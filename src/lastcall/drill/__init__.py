"""``lastcall drill``: prove zero lost requests through restarts, for our server and anyone's.

It starts a server command, drives load with lastcall's GOAWAY-aware client,
restarts the server K times and reports lost requests (accepted, then failed)
and a report card of the server's drain behaviour as seen by raw probes.
"""

from .config import DrillConfig
from .report import DrillReport
from .runner import run_drill

__all__ = ["DrillConfig", "DrillReport", "run_drill"]
