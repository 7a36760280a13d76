"""Run a server on its own SO_REUSEPORT socket: the start-then-stop switch, for comparison.

    python -m lastcall.testing.reuseport 127.0.0.1:8000 -- lastcall serve app:app --fd 3

binds a fresh socket with SO_REUSEPORT on the address, listens, and execs the
command with the socket as descriptor 3. Two of them run side by side on one
port, which is how servers without a socket hand-off replace themselves: start
the new one, then SIGTERM the old. The drill (``--reuse-port``) measures what
that costs: the kernel spreads new connections over both sockets by a hash,
and when the old server closes its socket, the connections still waiting in
*its* accept queue are reset (Linux does not move them to the other socket).
The supervisor's reload and the upgrade hand-off never close a listening
socket, which is the difference (docs/server/processes.md).
"""

from __future__ import annotations

import os
import socket
import sys

__all__ = ["main"]

#: The descriptor the socket is passed as (systemd's first, like ``--fd 3``).
FD = 3
#: listen() backlog, as ``lastcall serve``'s default.
BACKLOG = 2048


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 3 or args[1] != "--":
        print(
            "usage: python -m lastcall.testing.reuseport HOST:PORT -- COMMAND ...", file=sys.stderr
        )
        return 2
    host, _, port = args[0].rpartition(":")
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), int(port)))
    sock.listen(BACKLOG)
    if sock.fileno() != FD:
        os.dup2(sock.fileno(), FD)
        sock.close()
    os.set_inheritable(FD, True)
    os.execvp(args[2], args[2:])
    return 1  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())
