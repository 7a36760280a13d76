"""Properties: differential against the ``hpack`` package in both directions
over whole connections, and the fuzz invariant (any bytes decode or raise one
of our two errors, nothing else)."""

from __future__ import annotations

import hpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.engines.http2.hpack import STATIC_TABLE, HeaderDecoder, HeaderEncoder
from lastcall.errors import HeaderListTooLarge, HpackError

H = list[tuple[bytes, bytes]]

# A small pool of fields makes repeats (dynamic-table hits, evictions) likely;
# arbitrary octets cover everything else, including non-ASCII and empties.
POOL: list[tuple[bytes, bytes]] = [
    *STATIC_TABLE[:20],
    (b":authority", b"example.com"),
    (b":path", b"/items/1"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64)"),
    (b"authorization", b"Bearer token"),
    (b"cookie", b"a=1"),
    (b"cookie", b"session=0123456789abcdef0123456789"),
    (b"set-cookie", b"id=1; Path=/"),
    (b"content-type", b"text/plain"),
    (b"content-length", b"12"),
    (b"x-custom", b"value"),
    (b"x-big", b"x" * 1000),
]
NAMES = st.one_of(
    st.sampled_from(sorted({n for n, _ in POOL})),
    st.binary(min_size=1, max_size=24),
)
VALUES = st.binary(max_size=48)
FIELDS = st.one_of(st.sampled_from(POOL), st.tuples(NAMES, VALUES))
LISTS = st.lists(FIELDS, max_size=12)
# (header list, table size change before it or None)
CONNECTION = st.lists(
    st.tuples(LISTS, st.one_of(st.none(), st.none(), st.integers(0, 4096))),
    min_size=1,
    max_size=10,
)
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def plain(headers: object) -> H:
    return [(bytes(n), bytes(v)) for n, v in headers]  # type: ignore[attr-defined]


def table_of(codec: hpack.Encoder | hpack.Decoder) -> H:
    """The ``hpack`` object's dynamic table, newest first, as ours reports it."""
    return plain(codec.header_table.dynamic_entries)


@SETTINGS
@given(CONNECTION)
def test_our_blocks_decode_with_hpack(connection: list[tuple[H, int | None]]) -> None:
    ours = HeaderEncoder()
    theirs = hpack.Decoder()
    for headers, new_size in connection:
        if new_size is not None:
            ours.set_max_table_size(new_size)
        assert plain(theirs.decode(ours.encode(headers), raw=True)) == headers
        assert table_of(theirs) == ours.dynamic_table


@SETTINGS
@given(CONNECTION)
def test_hpack_blocks_decode_with_ours(connection: list[tuple[H, int | None]]) -> None:
    theirs = hpack.Encoder()
    ours = HeaderDecoder()
    for headers, new_size in connection:
        if new_size is not None:
            theirs.header_table_size = new_size
        assert ours.decode(theirs.encode(headers)) == headers
        assert ours.dynamic_table == table_of(theirs)


@SETTINGS
@given(CONNECTION, st.booleans())
def test_round_trip_keeps_both_tables_in_step(
    connection: list[tuple[H, int | None]], huffman: bool
) -> None:
    enc = HeaderEncoder(huffman=huffman)
    dec = HeaderDecoder()
    for headers, new_size in connection:
        if new_size is not None:
            enc.set_max_table_size(new_size)
        block = enc.encode(headers)
        assert dec.decode(block) == headers
        assert dec.dynamic_table == enc.dynamic_table
        assert dec.table_size == enc.table_size
        assert dec.max_table_size == enc.max_table_size


# -- fuzz invariant -------------------------------------------------------------


def decode_or_refuse(decoder: HeaderDecoder, data: bytes) -> None:
    try:
        result = decoder.decode(data)
    except (HpackError, HeaderListTooLarge):
        return
    assert isinstance(result, list)
    size = 0
    for field in result:
        assert type(field) is tuple and len(field) == 2
        assert type(field[0]) is bytes and type(field[1]) is bytes
        size += len(field[0]) + len(field[1]) + 32
    assert size <= decoder.max_header_list_size
    assert decoder.table_size <= decoder.max_table_size <= decoder.max_allowed_table_size


def warm_decoder(max_table_size: int = 4096, max_header_list_size: int = 65536) -> HeaderDecoder:
    dec = HeaderDecoder(max_table_size)
    enc = hpack.Encoder()
    enc.header_table_size = max_table_size
    dec.decode(enc.encode([f for f in POOL if f[0] != b"x-big"]))
    dec.max_header_list_size = max_header_list_size
    return dec


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_our_errors(data: bytes) -> None:
    decode_or_refuse(HeaderDecoder(), data)
    decode_or_refuse(warm_decoder(), data)
    decode_or_refuse(warm_decoder(max_table_size=256, max_header_list_size=200), data)


@settings(deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8), st.integers(0, 4096))
def test_any_sequence_of_blocks(blocks: list[bytes], allowed: int) -> None:
    """Several blocks on one decoder: whatever state a bad block leaves, later
    blocks still only decode or raise our errors."""
    dec = warm_decoder()
    dec.max_allowed_table_size = allowed
    for block in blocks:
        decode_or_refuse(dec, block)
        decode_or_refuse(dec, block)  # and again, in case it was cached


@settings(max_examples=300, deadline=None)
@given(LISTS, st.data())
def test_mutated_valid_blocks(headers: H, data: st.DataObject) -> None:
    """Valid blocks with octets flipped, cut or inserted reach deeper code
    than random bytes do."""
    block = bytearray(hpack.Encoder().encode(headers) or b"\x82")
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(block) - 1, 0)))
        if op == "flip" and block:
            block[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del block[pos:]
        else:
            block.insert(pos, data.draw(st.integers(0, 255)))
    decode_or_refuse(warm_decoder(), bytes(block))


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=100))
def test_any_bytes_one_at_a_time_as_blocks(data: bytes) -> None:
    dec = HeaderDecoder()
    for i in range(len(data)):
        decode_or_refuse(dec, data[i : i + 1])


def hpack_result(decoder: hpack.Decoder, block: bytes) -> H | None:
    try:
        return plain(decoder.decode(block, raw=True))
    except hpack.HPACKError:
        return None


def our_result(decoder: HeaderDecoder, block: bytes) -> H | None:
    try:
        return decoder.decode(block)
    except (HpackError, HeaderListTooLarge):
        return None


@settings(max_examples=500, deadline=None)
@given(LISTS, st.data())
def test_mutated_blocks_agree_with_hpack(headers: H, data: st.DataObject) -> None:
    """On damaged blocks we accept exactly what ``hpack`` accepts and decode
    it the same way (so "decodes" in the fuzz invariant also means "right")."""
    block = bytearray(hpack.Encoder().encode(headers) or b"\x82")
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(block) - 1)) if block else 0
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if op == "flip" and block:
            block[pos] ^= data.draw(st.integers(1, 255))
        elif op == "cut":
            del block[pos:]
        else:
            block.insert(pos, data.draw(st.integers(0, 255)))
    theirs = hpack.Decoder()
    ours = HeaderDecoder()
    assert our_result(ours, bytes(block)) == hpack_result(theirs, bytes(block))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=80))
def test_any_bytes_agree_with_hpack(data: bytes) -> None:
    assert our_result(HeaderDecoder(), data) == hpack_result(hpack.Decoder(), data)
