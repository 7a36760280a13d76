"""Which end of a connection an engine plays: shared by every engine.

HTTP/2 and HTTP/3 engines differ by role in the same places (who opens
streams, which ids are whose, who sends the two-step GOAWAY), so the role is
one vocabulary at the ``engines`` root rather than a name one protocol
borrows from another.
"""

from __future__ import annotations

import enum


class Role(enum.Enum):
    """Which end of the connection the engine plays."""

    CLIENT = "client"
    SERVER = "server"
