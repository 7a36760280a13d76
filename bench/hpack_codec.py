"""HPACK micro-benchmark: lastcall's codec against the ``hpack`` package.

Two header lists, each encoded and decoded over and over on one connection
(one encoder, one decoder), as an HTTP/2 server sees them:

- a typical request (5 headers), as a client (``hpack.Encoder``, which is what
  h2 clients use) sends it: decoded by the server;
- a typical response (3 headers): encoded by the server.

Both directions are timed for both lists. Our encoder and decoder remember
whole blocks that leave the table unchanged, so ``warm`` (the same list
again and again, as a benchmark client sends it) is also shown with that
cache off (``no block cache``: the per-field path on a warm table). Decoding
is also timed

- ``first block``: a fresh decoder per block, so every field is a literal
  (Huffman results still cached, as they would be in a running server);
- ``cold``: a fresh decoder and empty Huffman caches (the worst case).

Prints microseconds per operation (best of ``--repeat`` runs) and how many
times faster than ``hpack`` we are.

    python bench/hpack_codec.py [--number N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

import hpack

from lastcall.engines.http2.hpack import HeaderDecoder, HeaderEncoder
from lastcall.engines.http2.hpack import primitives as ours

REQUEST = [
    (b":method", b"GET"),
    (b":scheme", b"https"),
    (b":path", b"/something"),
    (b":authority", b"example.com"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"),
]
RESPONSE = [(b":status", b"200"), (b"content-type", b"text/plain"), (b"content-length", b"12")]


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best mean time per call, in microseconds."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def clear_our_caches() -> None:
    ours.huffman_decode_cache.clear()


def cases(
    headers: list[tuple[bytes, bytes]],
) -> list[tuple[str, Callable[[], object], Callable[[], object]]]:
    """(label, ours, hpack) pairs for one header list."""
    # Encoding on a warm connection.
    our_enc, their_enc = HeaderEncoder(), hpack.Encoder()
    our_enc.encode(headers)
    their_enc.encode(headers)

    # Decoding what a client (hpack.Encoder) sends: first block, then warm.
    client = hpack.Encoder()
    first = client.encode(headers)
    warm = client.encode(headers)
    our_dec, their_dec = HeaderDecoder(), hpack.Decoder()
    our_dec.decode(first)
    their_dec.decode(first, raw=True)
    uncached = HeaderDecoder()
    uncached._remember_blocks = False
    uncached.decode(first)
    our_enc_uncached = HeaderEncoder()
    our_enc_uncached._remember_blocks = False
    our_enc_uncached.encode(headers)

    def cold_ours() -> object:
        clear_our_caches()
        return HeaderDecoder().decode(first)

    assert our_dec.decode(warm) == headers == uncached.decode(warm)
    assert HeaderDecoder().decode(first) == headers == cold_ours()

    return [
        ("encode (warm)", lambda: our_enc.encode(headers), lambda: their_enc.encode(headers)),
        (
            "encode (warm, no block cache)",
            lambda: our_enc_uncached.encode(headers),
            lambda: their_enc.encode(headers),
        ),
        ("decode (warm)", lambda: our_dec.decode(warm), lambda: their_dec.decode(warm, raw=True)),
        (
            "decode (warm, no block cache)",
            lambda: uncached.decode(warm),
            lambda: their_dec.decode(warm, raw=True),
        ),
        (
            "decode (first block)",
            lambda: HeaderDecoder().decode(first),
            lambda: hpack.Decoder().decode(first, raw=True),
        ),
        ("decode (cold)", cold_ours, lambda: hpack.Decoder().decode(first, raw=True)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--number", type=int, default=20_000, help="calls per timing run")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs; the best is kept")
    args = parser.parse_args()
    print(f"{'':52} {'lastcall':>10} {'hpack':>10} {'speed-up':>9}")
    for title, headers in (("request (5 headers)", REQUEST), ("response (3 headers)", RESPONSE)):
        for label, fn_ours, fn_hpack in cases(headers):
            t_ours = best_us(fn_ours, args.number, args.repeat)
            t_hpack = best_us(fn_hpack, args.number, args.repeat)
            name = f"{title} {label}"
            print(f"{name:52} {t_ours:8.2f}us {t_hpack:8.2f}us {t_hpack / t_ours:8.1f}x")


if __name__ == "__main__":
    main()
