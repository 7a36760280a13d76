"""lastcall: a Python HTTP stack in which draining a connection is a phase of its life."""

from __future__ import annotations

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
