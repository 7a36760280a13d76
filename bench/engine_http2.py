"""HTTP/2 engine benchmark: lastcall's engine against python-hyper ``h2``, in memory.

Two workloads, same process, same run, no sockets:

(a) full request/response cycles between a client engine and a server engine
    (ours <-> ours, h2 <-> h2), 100 concurrent streams per round;
(b) the server role alone, fed the same pre-encoded client bytes (preface,
    SETTINGS, a large WINDOW_UPDATE, then N GET requests, 50 per read),
    answering each request with the same three headers and a 12-byte body.

Each runs in interleaved rounds (ours and h2 back to back, alternating who goes
first); req/s and ratios are medians over the rounds, so a drift of the
machine's speed hits both sides of a ratio alike. Prints req/s for each and, as
the last line, ``ratio_vs_h2: X.XX`` for (b). ``lastcall`` is whatever the
install provides (the first line says compiled or pure; set
``LASTCALL_NO_EXTENSIONS=1`` for pure Python).

    python bench/engine_http2.py [--requests N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import struct
import time
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import hpack

from lastcall.engines.http2 import Http2Engine, Role
from lastcall.engines.http2 import events as ev

BODY = b"hello world\n"
RESPONSE = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"content-length", b"12")]
PATHS = [f"/items/{i}".encode() for i in range(10)]


def request_headers(i: int) -> list[tuple[bytes, bytes]]:
    return [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"example.com"),
        (b":path", PATHS[i % len(PATHS)]),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"*/*"),
    ]


def frame(ftype: int, flags: int, sid: int, payload: bytes) -> bytes:
    n = len(payload)
    return struct.pack(">HBBBL", n >> 8, n & 0xFF, ftype, flags, sid) + payload


def client_bytes(n: int, per_read: int = 50) -> list[bytes]:
    """What a client sends for n GETs, as reads of ``per_read`` requests each
    (a client keeping 50 requests in flight, within MAX_CONCURRENT_STREAMS)."""
    enc = hpack.Encoder()
    reads = [
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + frame(0x4, 0, 0, struct.pack(">HL", 0x4, 2**31 - 1))
        + frame(0x8, 0, 0, struct.pack(">L", 2**31 - 1 - 65535))
    ]
    reads.extend(
        b"".join(
            frame(0x1, 0x5, 2 * i + 1, enc.encode(request_headers(i)))
            for i in range(start, min(n, start + per_read))
        )
        for start in range(0, n, per_read)
    )
    return reads


def server_ours(chunks: list[bytes]) -> int:
    server = Http2Engine(Role.SERVER)
    server.initiate()
    served = 0
    request_received = ev.RequestReceived
    for chunk in chunks:
        for event in server.receive_data(chunk):
            if type(event) is request_received:
                sid = event.stream_id
                server.send_headers(sid, RESPONSE)
                server.send_data(sid, BODY, end_stream=True)
                served += 1
        server.data_to_send()
    return served


def server_h2(chunks: list[bytes]) -> int:
    config = h2.config.H2Configuration(client_side=False, header_encoding=None)
    server = h2.connection.H2Connection(config=config)
    server.initiate_connection()
    served = 0
    for chunk in chunks:
        for event in server.receive_data(chunk):
            if isinstance(event, h2.events.RequestReceived):
                sid = event.stream_id
                server.send_headers(sid, RESPONSE)
                server.send_data(sid, BODY, end_stream=True)
                served += 1
        server.data_to_send()
    return served


def cycles_ours(n: int, batch: int = 100) -> int:
    client, server = Http2Engine(Role.CLIENT), Http2Engine(Role.SERVER)
    client.initiate()
    server.initiate()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    done = 0
    i = 0
    while done < n:
        for _ in range(min(batch, n - i)):
            client.open_stream(request_headers(i), end_stream=True)
            i += 1
        for event in server.receive_data(client.data_to_send()):
            if type(event) is ev.RequestReceived:
                server.send_headers(event.stream_id, RESPONSE)
                server.send_data(event.stream_id, BODY, end_stream=True)
        for event in client.receive_data(server.data_to_send()):
            if type(event) is ev.DataReceived:
                client.acknowledge_received_data(event.stream_id, event.flow_controlled_length)
                if event.end_stream:
                    done += 1
    return done


def cycles_h2(n: int, batch: int = 100) -> int:
    cc = h2.config.H2Configuration(client_side=True, header_encoding=None)
    sc = h2.config.H2Configuration(client_side=False, header_encoding=None)
    client, server = h2.connection.H2Connection(cc), h2.connection.H2Connection(sc)
    client.initiate_connection()
    server.initiate_connection()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    server.receive_data(client.data_to_send())
    done = 0
    i = 0
    while done < n:
        for _ in range(min(batch, n - i)):
            sid = client.get_next_available_stream_id()
            client.send_headers(sid, request_headers(i), end_stream=True)
            i += 1
        for event in server.receive_data(client.data_to_send()):
            if isinstance(event, h2.events.RequestReceived):
                server.send_headers(event.stream_id, RESPONSE)
                server.send_data(event.stream_id, BODY, end_stream=True)
        for event in client.receive_data(server.data_to_send()):
            if isinstance(event, h2.events.DataReceived):
                client.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                done += 1
    return done


def rate(fn: Callable[[], int]) -> float:
    gc.collect()
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


def interleaved(ours: Callable[[], int], theirs: Callable[[], int], rounds: int) -> list[float]:
    """``[our req/s, their req/s, ratio]`` as medians over ``rounds`` rounds, each
    running both back to back (alternating who goes first), so a drift of the
    machine's speed hits both sides of a ratio alike."""
    ours_rates, their_rates, ratios = [], [], []
    for i in range(rounds):
        if i % 2:
            b, a = rate(theirs), rate(ours)
        else:
            a, b = rate(ours), rate(theirs)
        ours_rates.append(a)
        their_rates.append(b)
        ratios.append(a / b)
    return [statistics.median(x) for x in (ours_rates, their_rates, ratios)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    n = args.requests
    chunks = client_bytes(n)
    assert server_ours(chunks) == n and server_h2(chunks) == n
    cyc_n = max(n // 4, 100)
    from lastcall._extensions import describe

    print(f"lastcall: {describe()}")
    ours_c, h2_c, ratio_c = interleaved(
        lambda: cycles_ours(cyc_n), lambda: cycles_h2(cyc_n), args.repeat
    )
    ours_s, h2_s, ratio_s = interleaved(
        lambda: server_ours(chunks), lambda: server_h2(chunks), args.repeat
    )
    print(
        f"(a) full cycles   lastcall {ours_c:10.0f} req/s   h2 {h2_c:10.0f} req/s"
        f"   ratio {ratio_c:5.2f}"
    )
    print(f"(b) server role   lastcall {ours_s:10.0f} req/s   h2 {h2_s:10.0f} req/s")
    print(f"ratio_vs_h2: {ratio_s:.2f}")


if __name__ == "__main__":
    main()
