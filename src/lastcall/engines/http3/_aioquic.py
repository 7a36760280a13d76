"""Every place the HTTP/3 engine reaches past aioquic's public API, in one file.

aioquic's ``QuicConnection`` is the QUIC transport (RFC 9000/9001/9002) under
our HTTP/3 layer. Its public API (``receive_datagram``, ``datagrams_to_send``,
``send_stream_data``, ``reset_stream``, ``stop_stream``, ``send_ping``,
``close``, timers and events) carries almost everything. Four facts the drain
contract needs are not public, and are read here and nowhere else:

- whether the peer has *acknowledged* what we wrote on a stream (the layered
  close: no CONNECTION_CLOSE may overtake an accepted response, RFC 9114 §5.2
  and §5.3; aioquic would drop unacknowledged data on close);
- the RTT estimate (the probe timeout, RFC 9002 §6.2) that bounds how long
  the first GOAWAY is given to settle;
- the QUIC connection state, to see a peer's CONNECTION_CLOSE at once
  (``QuicConnectionState.DRAINING``, RFC 9000 §10.2.2) instead of three PTOs
  later, and the close it carried;
- the initial ``max_streams_bidi`` we advertise, which aioquic hard-codes to 128.

Each reader is written against aioquic 1.7.2 (``TESTED_AIOQUIC_VERSION``,
pinned in pyproject.toml); ``tests/unit/http3/test_aioquic_seam.py`` checks
the version and each reader against a live connection, so an upgrade that
moves any of them fails there first.
"""

from __future__ import annotations

from aioquic.quic.connection import QuicConnection, QuicConnectionState
from aioquic.quic.events import ConnectionTerminated

#: The aioquic release these readers were written and tested against.
TESTED_AIOQUIC_VERSION = "1.7.2"


def set_initial_max_streams_bidi(quic: QuicConnection, limit: int) -> None:
    """Advertise ``limit`` as initial_max_streams_bidi (RFC 9000 §18.2).

    Must run before the transport parameters are built (at ``connect`` or the
    first datagram). aioquic then raises MAX_STREAMS by one per closed stream,
    so ``limit`` is the peer's concurrency.
    """
    quic._local_max_streams_bidi.value = limit


def probe_timeout(quic: QuicConnection) -> float | None:
    """The current PTO (RFC 9002 §6.2.1), or None before the first RTT sample."""
    loss = quic._loss
    if not loss._rtt_initialized:
        return None
    return float(loss.get_probe_timeout())


def is_send_side_finished(quic: QuicConnection, stream_id: int) -> bool:
    """True once the peer acknowledged every byte and the FIN (or our RESET_STREAM)
    of ``stream_id``; also when aioquic already discarded the finished stream."""
    stream = quic._streams.get(stream_id)
    return stream is None or bool(stream.sender.is_finished)


def unacknowledged_bytes(quic: QuicConnection, stream_id: int) -> int:
    """Bytes written to ``stream_id`` that the peer has not acknowledged yet."""
    stream = quic._streams.get(stream_id)
    if stream is None:
        return 0
    sender = stream.sender
    return int(sender._buffer_stop - sender._buffer_start)


def state(quic: QuicConnection) -> QuicConnectionState:
    """aioquic's connection state (FIRSTFLIGHT ... CONNECTED, CLOSING,
    ``QuicConnectionState.DRAINING``, TERMINATED)."""
    return quic._state


def close_event(quic: QuicConnection) -> ConnectionTerminated | None:
    """The close that ended (or is ending) the connection, whoever sent it."""
    return quic._close_event


def remote_max_streams_bidi(quic: QuicConnection) -> int:
    """How many bidirectional streams the peer lets us open in total so far."""
    return int(quic._remote_max_streams_bidi)
