"""The hand-written seed inputs each harness's corpus started from.

    python tests/fuzz/seeds.py tests/fuzz/corpus     # (re)write the seeds

Valid traffic for each layer (so the fuzzer starts deep, past the framing)
and the classic bad inputs (request smuggling, HPACK table games, frames on the
wrong stream). Header blocks come from the independent ``hpack`` encoder and
QPACK from ``pylsqpack``, not from our own encoders. The corpus directories
also hold what the fuzzer found interesting later (``run_fuzz.py -merge=1``);
file names of seeds start with ``seed-``.
"""

from __future__ import annotations

import pathlib
import sys

import hpack

from lastcall.engines.http2 import FrameType as F

REQUEST = [(":method", "GET"), (":scheme", "http"), (":authority", "a"), (":path", "/")]
POST = [(":method", "POST"), (":scheme", "http"), (":authority", "a"), (":path", "/u")]
RESPONSE = [(":status", "200"), ("content-type", "text/plain")]


def _frame(ftype: int, flags: int, sid: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return n.to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


def _block(fields: list[tuple[str, str]]) -> bytes:
    return bytes(hpack.Encoder().encode(fields))


def h2_server_seeds() -> dict[str, bytes]:
    get = _frame(F.HEADERS, 0x5, 1, _block(REQUEST))
    post = _frame(F.HEADERS, 0x4, 3, _block([*POST, ("content-length", "5")]))
    body = _frame(F.DATA, 0x1, 3, b"hello")
    split = _frame(F.HEADERS, 0x0, 5, _block(REQUEST)[:3]) + _frame(
        F.CONTINUATION, 0x4, 5, _block(REQUEST)[3:]
    )
    control = (
        _frame(F.PING, 0, 0, b"12345678")
        + _frame(F.WINDOW_UPDATE, 0, 0, (1000).to_bytes(4, "big"))
        + _frame(F.SETTINGS, 0, 0, (4).to_bytes(2, "big") + (70000).to_bytes(4, "big"))
        + _frame(F.PRIORITY, 0, 1, bytes(5))
    )
    reset = get + _frame(F.RST_STREAM, 0, 1, (8).to_bytes(4, "big"))
    goaway = _frame(F.GOAWAY, 0, 0, (0).to_bytes(4, "big") + (0).to_bytes(4, "big") + b"bye")
    padded = _frame(F.HEADERS, 0x5 | 0x8 | 0x20, 7, b"\x02" + bytes(5) + _block(REQUEST) + b"\0\0")
    return {
        "get": b"\x00" + get,
        "post": b"\x00" + post + body,
        "continuation": b"\x00" + split,
        "control": b"\x00" + control,
        "reset": b"\x00" + reset,
        "goaway": b"\x00" + get + goaway,
        "padded-priority": b"\x00" + padded,
        "respond": b"\x01" + get + post + body + _frame(F.WINDOW_UPDATE, 0, 1, bytes([0, 1, 0, 0])),
        "trailers": b"\x00"
        + post
        + _frame(F.DATA, 0, 3, b"hello")
        + _frame(F.HEADERS, 0x5, 3, _block([("x-t", "1")])),
    }


def h2_client_seeds() -> dict[str, bytes]:
    response = _frame(F.HEADERS, 0x4, 1, _block(RESPONSE)) + _frame(F.DATA, 0x1, 1, b"ok")
    informational = _frame(F.HEADERS, 0x4, 3, _block([(":status", "103")]))
    final = _frame(F.HEADERS, 0x4, 3, _block(RESPONSE)) + _frame(F.DATA, 0, 3, b"x")
    trailers = _frame(F.HEADERS, 0x5, 3, _block([("grpc-status", "0")]))
    goaway = _frame(F.GOAWAY, 0, 0, (1).to_bytes(4, "big") + bytes(4) + b"shutdown")
    push = _frame(F.PUSH_PROMISE, 0x4, 1, (2).to_bytes(4, "big") + _block(REQUEST))
    refused = _frame(F.RST_STREAM, 0, 3, (7).to_bytes(4, "big"))
    return {
        "response": response,
        "informational-trailers": informational + final + trailers,
        "goaway": goaway + response,
        "push-promise": push,
        "refused": refused + response,
        "ping-settings": _frame(F.PING, 0, 0, b"abcdefgh") + _frame(F.SETTINGS, 0, 0, bytes(6)),
    }


def h2_preface_seeds() -> dict[str, bytes]:
    return {
        "valid": b"\x00" + _frame(F.SETTINGS, 0, 0),
        "http1": b"\x02GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "almost": b"\x02PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r",
        "no-settings": b"\x00" + _frame(F.PING, 0, 0, bytes(8)),
    }


def hpack_seeds() -> dict[str, bytes]:
    encoder = hpack.Encoder()
    first = bytes(encoder.encode([*REQUEST, ("cookie", "a=1"), ("x-long", "v" * 40)]))
    second = bytes(encoder.encode([*REQUEST, ("cookie", "a=1")]))  # indexed from the table
    plain = bytes(hpack.Encoder().encode(RESPONSE, huffman=False))
    resize = b"\x3f\xe1\x1f" + bytes(hpack.Encoder().encode(REQUEST))  # size update to 4096
    return {
        "request": first,
        "two-blocks-dynamic-table": first + b"\xfe\xfe" + second,
        "no-huffman": plain,
        "table-size-update": resize,
        "never-indexed": b"\x10\x05x-key\x03val",
        "bad-index": b"\xff\xff\xff\x0f",
    }


def h1_seeds() -> dict[str, bytes]:
    return {
        "get": b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "post-length": b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        "chunked-trailers": b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        "pipelined-head": b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\nHost: a\r\n\r\n",
        "http10": b"GET / HTTP/1.0\r\n\r\n",
        "expect-continue": b"PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
        b"Content-Length: 2\r\n\r\nok",
        "smuggle-cl-te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        "obs-fold": b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        "websocket-upgrade": b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
        "two-hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "bare-cr": b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
    }


def proxy_seeds() -> dict[str, bytes]:
    """Requests a proxy must clean: hop-by-hop fields (listed, nominated, and
    ``TE: trailers``), forwarding fields to append to, an absolute-form target,
    gRPC; HTTP/2 blocks as plain literals, so mutated bytes land in names and
    values. The first byte: bit 0 HTTP/2, bit 1 the other policy, bit 2 whole body."""
    h1 = {
        "hop-by-hop": b"POST /a?b=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret\r\n"
        b"X-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers, deflate\r\nUpgrade: h2c\r\n"
        b"Proxy-Connection: x\r\nContent-Length: 5\r\n\r\nhello",
        "forwarded": b"GET /f HTTP/1.1\r\nHost: a:81\r\nX-Forwarded-For: 10.0.0.1\r\n"
        b"X-Forwarded-Proto: gopher\r\nForwarded: for=10.0.0.1\r\nVia: 1.0 b\r\n\r\n",
        "absolute-form": b"GET http://other/p?q HTTP/1.1\r\nHost: a\r\n\r\n",
        "chunked": b"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n",
        "http10": b"GET /old HTTP/1.0\r\n\r\n",
        "pipelined": b"GET / HTTP/1.1\r\nHost: a\r\n\r\nDELETE /d HTTP/1.1\r\nHost: a\r\n\r\n",
    }
    grpc = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "a"),
        (":path", "/pkg.Svc/Call"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "1S"),
    ]
    h2 = {
        "get": REQUEST,
        "post": [*POST, ("content-length", "5"), ("x-forwarded-for", "10.0.0.1")],
        "grpc": grpc,
        "host-and-authority": [*REQUEST, ("host", "b"), ("via", "2 x"), ("cookie", "a=1")],
        "query": [(":method", "GET"), (":scheme", "https"), (":authority", "a:1"),
                  (":path", "/p?x=1&y=%20")],
    }  # fmt: skip
    seeds = {}
    for name, data in h1.items():
        seeds[f"h1-{name}"] = b"\x00" + data
        seeds[f"h1-{name}-rfc7239-whole"] = b"\x06" + data
    for name, fields in h2.items():
        block = bytes(hpack.Encoder().encode(fields, huffman=False))
        seeds[f"h2-{name}"] = b"\x01" + block
        seeds[f"h2-{name}-rfc7239-whole"] = b"\x07" + block
    return seeds


def h3_seeds() -> dict[str, bytes]:
    import pylsqpack

    encoder = pylsqpack.Encoder()
    _, block = encoder.encode(0, [(k.encode(), v.encode()) for k, v in REQUEST])
    _, trailers = encoder.encode(0, [(b"x-t", b"1")])

    def frame(ftype: int, payload: bytes) -> bytes:
        assert ftype < 64 and len(payload) < 64
        return bytes([ftype, len(payload)]) + payload

    headers = frame(0x1, block)
    return {
        "request": b"\x00" + headers,
        "request-body-trailers": b"\x00" + headers + frame(0x0, b"hello") + frame(0x1, trailers),
        "data-first": b"\x00" + frame(0x0, b"x"),
        "reserved-frame": b"\x00" + bytes([0x21, 0x01, 0x00]) + headers,
        "qpack-encoder-stream": b"\x01\x02" + b"\x3f\xe1\x1f",
        "push-stream-from-client": b"\x01\x01\x00",
        "unknown-uni-stream": b"\x01\x21hello",
        "goaway": b"\x02" + frame(0x7, b"\x00"),
        "second-settings": b"\x02" + frame(0x4, b""),
        "max-push-id": b"\x02" + frame(0xD, b"\x04"),
        "data-on-control": b"\x02" + frame(0x0, b"x"),
    }


SEEDS = {
    "h2_server": h2_server_seeds,
    "h2_client": h2_client_seeds,
    "h2_preface": h2_preface_seeds,
    "hpack": hpack_seeds,
    "h1_parser": h1_seeds,
    "h1_server": lambda: {
        **{f"whole-{k}": b"\x00" + v for k, v in h1_seeds().items()},
        **{f"split-{k}": b"\x01" + v for k, v in list(h1_seeds().items())[:4]},
    },
    "h3_server": h3_seeds,
    "proxy": proxy_seeds,
}


def main() -> None:
    root = pathlib.Path(
        sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent / "corpus"
    )
    for harness, make in SEEDS.items():
        directory = root / harness
        directory.mkdir(parents=True, exist_ok=True)
        for name, data in make().items():
            (directory / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
