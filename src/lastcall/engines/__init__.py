"""lastcall's sans-IO protocol engines: bytes in, events out, bytes to send.

The vocabulary every engine shares lives at this root: ``role`` (client or
server), ``phases`` (the connection phase table: OPEN, DRAINING, CLOSING,
CLOSED) and ``fields`` (HTTP/2 and HTTP/3 field validation, RFC 9113 §8.2 and
RFC 9114 §4.2). ``http1``, ``http2`` and ``http3`` each import from here and
never from one another.
"""
