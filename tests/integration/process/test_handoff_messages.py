"""The upgrade socket's messages over a real Unix socket pair: descriptors travel, and a
newer or broken peer is read or refused, never misread (``process/handoff.py``)."""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from lastcall.process.handoff import (
    MAX_MESSAGE,
    PROTOCOL_VERSION,
    HandoffError,
    recv_message,
    send_message,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.settimeout(5)
    b.settimeout(5)
    yield a, b
    a.close()
    b.close()


def test_listening_sockets_travel_with_their_description(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        send_message(
            a, {"type": "sockets", "sockets": [{"bind": "127.0.0.1:0"}]}, [listener.fileno()]
        )
        message, fds = recv_message(b)
        assert message == {
            "v": PROTOCOL_VERSION,
            "type": "sockets",
            "sockets": [{"bind": "127.0.0.1:0"}],
        }
        assert len(fds) == 1
        with socket.socket(fileno=fds[0]) as received:
            # The same socket, not a copy of its address: it is already listening.
            assert received.getsockname() == listener.getsockname()
            with socket.create_connection(received.getsockname()):
                conn, _ = received.accept()
                conn.close()


def test_a_newer_peer_is_read_unknown_keys_and_all(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    body = json.dumps({"v": PROTOCOL_VERSION + 1, "type": "drain", "why": "new field"}).encode()
    a.sendall(struct.pack("!I", len(body)) + body)
    message, fds = recv_message(b)
    assert message["type"] == "drain" and fds == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",  # the peer went away
        struct.pack("!I", 10) + b"{}",  # cut short, then closed
        struct.pack("!I", 2) + b"[]",  # not an object
        struct.pack("!I", 9) + b'{"v": 1}\n',  # no type
        struct.pack("!I", MAX_MESSAGE + 1),  # over the limit
    ],
    ids=["eof", "truncated", "not-object", "no-type", "too-large"],
)
def test_broken_messages_are_refused(pair: tuple[socket.socket, socket.socket], raw: bytes) -> None:
    a, b = pair
    a.sendall(raw)
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(HandoffError):
        recv_message(b)


def test_descriptors_of_a_broken_message_are_closed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    r, w = os.pipe()
    os.close(w)
    socket.send_fds(a, [struct.pack("!I", 2) + b"[]"], [r])
    os.close(r)
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(HandoffError):
        recv_message(b)
    assert set(os.listdir("/proc/self/fd")) <= before
