"""The encoder's choices: what is indexed, never indexed (§7.1.3), Huffman-coded;
and that sensitive values stay out of the shared caches."""

from __future__ import annotations

import hpack
import pytest

from lastcall.engines.http2.hpack import HeaderDecoder, HeaderEncoder, primitives
from lastcall.engines.http2.huffman import huffman_encode


def never_indexed(block: bytes) -> list[bool]:
    """Which fields the reference decoder saw as never-indexed."""
    return [
        isinstance(h, hpack.NeverIndexedHeaderTuple)
        for h in hpack.Decoder().decode(block, raw=True)
    ]


@pytest.mark.parametrize(
    ("name", "value", "prefix"),
    [
        (b"authorization", b"Bearer abcdefghijklmnopqrstuvwxyz0123456789", "1f08"),
        (b"proxy-authorization", b"Basic dXNlcjpwYXNz", "1f22"),
        (b"set-cookie", b"session=0123456789abcdef0123456789; HttpOnly", "1f28"),
        (b"cookie", b"sid=12345", "1f11"),  # under 20 octets: guessable
    ],
)
def test_sensitive_fields_are_never_indexed(name: bytes, value: bytes, prefix: str) -> None:
    enc = HeaderEncoder()
    first = enc.encode([(name, value)])
    assert first.startswith(bytes.fromhex(prefix))
    assert enc.dynamic_table == []
    assert enc.encode([(name, value)]) == first  # still literal the second time
    assert never_indexed(first) == [True]
    assert HeaderDecoder().decode(first) == [(name, value)]


def test_long_cookies_are_indexed() -> None:
    enc = HeaderEncoder()
    cookie = (b"cookie", b"session=0123456789abcdef0123456789")
    assert enc.encode([cookie])[:1] == b"\x60"  # literal with indexing, name 32
    assert enc.encode([cookie]) == b"\xbe"


@pytest.mark.parametrize(
    "name",
    [
        b":path",
        b"age",
        b"content-length",
        b"etag",
        b"if-modified-since",
        b"if-none-match",
        b"location",
    ],
)
def test_rarely_repeated_fields_are_not_indexed(name: bytes) -> None:
    enc = HeaderEncoder()
    first = enc.encode([(name, b"/some/value/1234")])
    assert first[0] >> 4 == 0  # literal without indexing
    assert enc.dynamic_table == []
    assert enc.encode([(name, b"/some/value/1234")]) == first
    assert never_indexed(first) == [False]


def test_usual_fields_are_indexed_and_then_referenced() -> None:
    enc = HeaderEncoder()
    headers = [(b":authority", b"example.com"), (b"user-agent", b"curl/8.0"), (b"x-trace", b"abc")]
    first = enc.encode(headers)
    assert len(enc.dynamic_table) == 3
    assert enc.encode(headers) == bytes.fromhex("c0bfbe")
    dec = HeaderDecoder()
    assert dec.decode(first) == headers
    assert dec.decode(enc.encode(headers)) == headers


def test_new_value_reuses_a_dynamic_name() -> None:
    enc = HeaderEncoder(huffman=False)
    enc.encode([(b"x-trace", b"abc")])
    assert enc.encode([(b"x-trace", b"def")]) == bytes.fromhex("7e 03 646566")  # name = 62


def test_field_over_three_quarters_of_the_table_is_not_indexed() -> None:
    enc = HeaderEncoder(max_table_size=256)
    big = (b"x-big", b"v" * 200)  # 237 > 192
    block = enc.encode([big])
    assert block[0] == 0x00 and enc.dynamic_table == []
    assert HeaderDecoder(max_table_size=256).decode(block) == [big]


def test_huffman_only_when_shorter() -> None:
    enc = HeaderEncoder()
    name = huffman_encode(b"x-bin")
    assert len(name) == 4  # shorter than 5: Huffman; the value's codes are longer: raw
    expected = b"\x40" + bytes((0x80 | len(name),)) + name + b"\x03\x00\x01\x02"
    assert enc.encode([(b"x-bin", b"\x00\x01\x02")]) == expected
    coded = huffman_encode(b"www.example.com")
    assert (
        enc.encode([(b":authority", b"www.example.com")])
        == bytes((0x41, 0x80 | len(coded))) + coded
    )


def test_static_matches_win_over_everything() -> None:
    enc = HeaderEncoder()
    assert enc.encode([(b":status", b"200"), (b"authorization", b"")]) == b"\x88\x97"


def test_sensitive_values_stay_out_of_caches() -> None:
    secret = b"Bearer s3cr3t-t0ken-that-must-not-linger"
    coded = huffman_encode(secret)
    enc = HeaderEncoder()
    block = enc.encode([(b"authorization", secret)])
    assert coded in block
    enc.encode([(b"authorization", secret)])
    for field_cache in primitives.FIELD_CACHES:
        assert all(value != secret for _, value in field_cache)
        assert all(coded not in rep for rep in field_cache.values())
    for string_cache in primitives.STRING_CACHES:
        assert secret not in string_cache
        assert all(coded not in rep for rep in string_cache.values())
    assert enc._block_cache == {}

    dec = HeaderDecoder()
    assert dec.decode(block) == [(b"authorization", secret)]
    assert dec.decode(block) == [(b"authorization", secret)]
    assert coded not in primitives.huffman_decode_cache
    assert dec._block_cache == {}
