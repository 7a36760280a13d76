"""One HTTP/3 request stream seen by the application through ASGI (RFC 9114 §4).

The ASGI state machine is ``MultiplexedStream``'s (``multiplexed.py``),
shared with HTTP/2: the same messages, the same ``http.disconnect`` rules,
trailers through the ``http.response.trailers`` extension. What differs is
the transport underneath:

- **Send side.** QUIC flow and congestion control are aioquic's, and it
  buffers whatever they do not allow yet. The backpressure measure is
  ``engine.outbound_buffered(stream_id)``: bytes written that the peer has not
  *acknowledged*. ``send()`` waits while it is above ``SEND_HIGH_WATER``
  (``Http3Connection.is_send_backlogged``); the connection wakes waiting
  writers after each datagram it receives (that is when ACKs arrive). There
  is no WINDOW_UPDATE event to wait for in QUIC.
- **Receive side.** aioquic extends the QUIC windows as it delivers data, so
  there is no credit to give back (docs/http3.md, "Not (yet) done"): the
  connection feeds every body with a flow-controlled length of 0.
- **Response head.** ``content-length: 0`` (for an empty whole response)
  comes before ``Date``, and no ``Alt-Svc``: the client already speaks HTTP/3.
"""

from __future__ import annotations

from .date import date_header
from .multiplexed import Headers, MultiplexedStream

__all__ = ["Http3Stream"]


class Http3Stream(MultiplexedStream):
    """State of one request stream and its response."""

    __slots__ = ()

    def response_head(self, end_stream: bool) -> Headers:
        head = [(b":status", b"%d" % self.status), *self.headers]
        if end_stream and self.content_length < 0 and not self.bodiless:
            # Not for HEAD, 204, 304: their length (if any) is not this body's.
            head.append((b"content-length", b"0"))
        head.append((b"date", date_header()))
        head += self.conn.state.default_response_headers  # --header, server_header
        return head
