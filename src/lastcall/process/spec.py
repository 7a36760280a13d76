"""What the supervisor tells a worker process, and what it answers (``worker.py``).

Kept apart from ``worker.py`` so the supervisor never imports the module
that runs as a worker's ``__main__``.
"""

from __future__ import annotations

import dataclasses
import json

from lastcall.server.config import ServerConfig

__all__ = ["READY_LINE", "WORKER_ENV", "encode_worker_spec"]

#: The environment variable carrying a worker's settings.
WORKER_ENV = "LASTCALL_WORKER"
#: What a worker writes on its control socket once it serves.
READY_LINE = b"ready\n"


def encode_worker_spec(config: ServerConfig, control_fd: int, generation: int, slot: int) -> str:
    """The ``LASTCALL_WORKER`` value for one worker."""
    return json.dumps(
        {
            "config": dataclasses.asdict(config),
            "control_fd": control_fd,
            "generation": generation,
            "worker": slot,
        }
    )
