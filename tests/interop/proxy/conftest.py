"""Real peers through the proxy (the harness is shared with the integration tests)."""

from __future__ import annotations

import sys
from pathlib import Path

_INTEGRATION = Path(__file__).resolve().parents[2] / "integration"
sys.path.insert(0, str(_INTEGRATION / "server"))
sys.path.insert(0, str(_INTEGRATION / "proxy"))

from proxy_harness import stack  # noqa: E402,F401
