"""One HTTP/2 stream seen by the application through ASGI (RFC 9113 §8).

The ASGI state machine is ``MultiplexedStream``'s (``multiplexed.py``),
shared with HTTP/3. What is HTTP/2's own:

- **Receive side.** DATA is buffered per stream and its flow-control credit
  (padding included) is given back with ``acknowledge_received_data`` only as
  the app consumes it (``Http2Connection.acknowledge``).
- **Send side.** The engine queues what the peer's window does not allow;
  ``send()`` waits while that queue is above ``SEND_HIGH_WATER``
  (``Http2Connection.is_send_backlogged``) and is woken by ``WindowUpdated``
  (or by the stream ending), then waits for TCP's write pause.
- **Response head.** The server's extra fields (``Alt-Svc`` once QUIC is
  bound) and ``Date`` follow the app's fields, here below.
"""

from __future__ import annotations

from .date import date_header
from .multiplexed import Headers, MultiplexedStream

__all__ = ["Http2Stream"]


class Http2Stream(MultiplexedStream):
    """State of one request stream and its response."""

    __slots__ = ()

    def response_head(self, end_stream: bool) -> Headers:
        head = [
            (b":status", b"%d" % self.status),
            *self.headers,
            *self.conn.state.extra_response_headers,  # Alt-Svc when QUIC is bound
            (b"date", date_header()),  # RFC 9110 §6.6.1, as HTTP/1.1 and HTTP/3 send
        ]
        if end_stream and self.content_length < 0 and not self.bodiless:
            # Not for HEAD, 204, 304: their length (if any) is not this body's.
            head.append((b"content-length", b"0"))
        return head
