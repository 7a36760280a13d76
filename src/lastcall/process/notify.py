"""systemd's readiness protocol (sd_notify(3)), written out: one datagram per state.

With ``Type=notify`` systemd waits for ``READY=1`` before it calls the start
done; ``RELOADING=1`` / ``READY=1`` bracket a reload; ``STOPPING=1`` starts a
stop; ``MAINPID=`` names a new main process after an upgrade hand-off (which
needs ``NotifyAccess=all``). Without ``NOTIFY_SOCKET`` every call does nothing,
so the supervisor calls them unconditionally.
"""

from __future__ import annotations

import os
import socket

__all__ = ["sd_notify"]


def sd_notify(*states: str) -> bool:
    """Send ``states`` (``"READY=1"``...) to systemd; False if not run by it or it failed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not states:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # the abstract namespace
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall("\n".join(states).encode())
    except OSError:
        return False
    return True
