"""The upgrade socket's wire format: small versioned JSON messages, descriptors beside them.

A message is a 4-byte big-endian length and that many bytes of a UTF-8 JSON
object with at least ``v`` (the sender's protocol version) and ``type``.
Listening sockets travel as SCM_RIGHTS ancillary data (``socket.send_fds``)
on the first bytes of the ``sockets`` message, with one description per
descriptor in the message body. Receivers ignore keys they do not know and
answer an unknown ``type`` with ``error``, so an older and a newer lastcall
can hand over to each other: only a change that old peers would misread
bumps ``PROTOCOL_VERSION``.

The conversation (``upgrade.py``), new process N and running process O::

    N -> O  hello    {version, pid}
    O -> N  sockets  {version, pid, sockets: [{quic, bind, path}, ...]} + descriptors
            ... N starts its workers on them and waits until they are ready ...
    N -> O  drain                       (or abort {reason}: O keeps serving)
    O -> N  draining                    O has let go of the upgrade socket's path
                                        and drains; N binds the path next

and ``lastcall reload``: ``reload`` -> ``reloaded {ok, generation}``.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

__all__ = [
    "MAX_FDS",
    "MAX_MESSAGE",
    "PROTOCOL_VERSION",
    "HandoffError",
    "recv_message",
    "send_message",
]

#: Version of this format; a peer that speaks a higher one still reads ours.
PROTOCOL_VERSION = 1
#: Longest message accepted (a description of a few hundred sockets fits).
MAX_MESSAGE = 1 << 20
#: Most descriptors accepted with one message.
MAX_FDS = 1024

_LENGTH = struct.Struct("!I")


class HandoffError(Exception):
    """The peer closed, sent something unreadable, or refused."""


def send_message(
    sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None
) -> None:
    """Send one message (with ``fds`` attached to its first bytes)."""
    body = json.dumps({"v": PROTOCOL_VERSION, **message}).encode()
    data = _LENGTH.pack(len(body)) + body
    sent = socket.send_fds(sock, [data], fds) if fds else sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


def recv_message(sock: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """Receive one message and the descriptors that came with it.

    ``HandoffError`` at end of file or on a malformed message; descriptors
    received with a malformed one are closed.
    """
    data = b""
    fds: list[int] = []
    need = _LENGTH.size
    length: int | None = None
    try:
        while len(data) < need:
            chunk, new_fds, _, _ = socket.recv_fds(sock, need - len(data), MAX_FDS)
            fds.extend(new_fds)
            if not chunk:
                raise HandoffError("the peer closed the upgrade connection")
            data += chunk
            if length is None and len(data) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(data)
                if length > MAX_MESSAGE:
                    raise HandoffError(f"message of {length} bytes is over {MAX_MESSAGE}")
                need = _LENGTH.size + length
        message = json.loads(data[_LENGTH.size : need])
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise HandoffError("not a message: no type")
    except (HandoffError, ValueError, OSError) as exc:
        for fd in fds:
            socket.close(fd)
        if isinstance(exc, HandoffError):
            raise
        raise HandoffError(f"unreadable message: {exc}") from exc
    return message, fds
