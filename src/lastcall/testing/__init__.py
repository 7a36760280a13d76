"""Public test kit: peers written for tests, independent of our engines."""

from .h2_raw_client import Frame, RawH2Client

__all__ = ["Frame", "RawH2Client"]
