"""HPACK codec against RFC 7541 Appendix C, byte for byte, plus the edge cases
of §4 (table sizing), §5 (primitive types) and §6 (representations)."""

from __future__ import annotations

import pytest

from lastcall.engines.http2 import hpack as hp
from lastcall.engines.http2.hpack import STATIC_TABLE, HeaderDecoder, HeaderEncoder, primitives
from lastcall.errors import HeaderListTooLarge, HpackError

H = list[tuple[bytes, bytes]]


def hx(dump: str) -> bytes:
    """Bytes from an RFC hex dump (whitespace ignored)."""
    return bytes.fromhex(dump)


# -- the API the HTTP/2 engine calls -------------------------------------------


def test_public_api() -> None:
    assert sorted(hp.__all__) == ["HeaderDecoder", "HeaderEncoder", "STATIC_TABLE"]
    dec = HeaderDecoder(max_table_size=4096, max_header_list_size=65536)
    assert dec.max_allowed_table_size == 4096 and dec.max_header_list_size == 65536
    dec.max_allowed_table_size = 8192
    dec.max_header_list_size = 1024
    assert dec.decode(b"\x82") == [(b":method", b"GET")]
    enc = HeaderEncoder(max_table_size=4096)
    enc.set_max_table_size(4096)
    assert enc.encode([(b":method", b"GET")]) == b"\x82"


# -- Appendix A ---------------------------------------------------------------


def test_static_table_matches_the_hpack_package() -> None:
    import hpack.table

    assert [(n, v) for n, v in hpack.table.HeaderTable.STATIC_TABLE] == list(STATIC_TABLE)
    assert len(STATIC_TABLE) == 61
    assert STATIC_TABLE[0] == (b":authority", b"")
    assert STATIC_TABLE[60] == (b"www-authenticate", b"")


# -- C.1: integers (§5.1) -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "prefix", "encoded"),
    [
        (10, 5, "0a"),  # C.1.1
        (1337, 5, "1f9a0a"),  # C.1.2
        (42, 8, "2a"),  # C.1.3
        (30, 5, "1e"),
        (31, 5, "1f00"),  # exactly 2^N - 1 needs a zero continuation octet
        (31 + 127, 5, "1f7f"),
        (31 + 128, 5, "1f8001"),
        (0, 1, "00"),
        (1, 1, "0100"),
        (126, 7, "7e"),
        (127, 7, "7f00"),
        (2**32 - 1, 8, "ff80feffff0f"),
    ],
)
def test_integer_representation(value: int, prefix: int, encoded: str) -> None:
    raw = hx(encoded)
    assert primitives.encode_integer(value, prefix, 0) == raw
    first = raw[0] & ((1 << prefix) - 1)
    if first < (1 << prefix) - 1:
        assert first == value
    else:
        assert primitives.decode_integer(raw, 1, first) == (value, len(raw))


def test_integer_length_limit() -> None:
    # Five continuation octets (35 bits) are accepted, a sixth is refused
    # before it is read, whatever follows.
    assert primitives.decode_integer(hx("ffffffff7f"), 0, 0) == (2**35 - 1, 5)
    with pytest.raises(HpackError, match="5 continuation"):
        primitives.decode_integer(hx("8080808080 01"), 0, 127)


def test_integer_flags_are_kept_in_the_prefix_octet() -> None:
    assert primitives.encode_integer(1337, 5, 0x20) == hx("3f9a0a")
    assert primitives.encode_integer(2, 7, 0x80) == hx("82")


def test_integer_accepts_non_minimal_continuation() -> None:
    # 0x80 0x00 is a wasteful but valid encoding of 0 (§5.1 does not forbid it).
    assert primitives.decode_integer(hx("8000"), 0, 127) == (127, 2)
    assert HeaderDecoder().decode(hx("0f8000 0161")) == [(b"accept-charset", b"a")]


@pytest.mark.parametrize(
    "block",
    [
        "ff",  # indexed field, integer continues past the end
        "ff80",  # ... still continuing
        "ff8080808080ff",  # more than five continuation octets
        "3f",  # size update, truncated
        "7f",  # literal with indexing, truncated name index
    ],
)
def test_bad_integers_are_hpack_errors(block: str) -> None:
    with pytest.raises(HpackError):
        HeaderDecoder().decode(hx(block))


# -- C.2: single representations ------------------------------------------------

C21 = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"
C22 = "040c 2f73 616d 706c 652f 7061 7468"
C23 = "1008 7061 7373 776f 7264 0673 6563 7265 74"


def test_c2_1_literal_with_indexing() -> None:
    field = [(b"custom-key", b"custom-header")]
    dec = HeaderDecoder()
    assert dec.decode(hx(C21)) == field
    assert dec.dynamic_table == field and dec.table_size == 55
    enc = HeaderEncoder(huffman=False)
    assert enc.encode(field) == hx(C21)
    assert enc.dynamic_table == field and enc.table_size == 55


def test_c2_2_literal_without_indexing() -> None:
    field = [(b":path", b"/sample/path")]
    dec = HeaderDecoder()
    assert dec.decode(hx(C22)) == field
    assert dec.dynamic_table == [] and dec.table_size == 0
    # Our policy does not index :path either, so the encoder matches.
    enc = HeaderEncoder(huffman=False)
    assert enc.encode(field) == hx(C22)
    assert enc.dynamic_table == []


def test_c2_3_literal_never_indexed() -> None:
    dec = HeaderDecoder()
    assert dec.decode(hx(C23)) == [(b"password", b"secret")]
    assert dec.dynamic_table == []
    # "password" is not on our never-indexed list; the same form is used for
    # the names that are (see test_hpack_policy.py).


def test_c2_4_indexed() -> None:
    assert HeaderDecoder().decode(hx("82")) == [(b":method", b"GET")]
    assert HeaderEncoder().encode([(b":method", b"GET")]) == hx("82")


# -- C.3 / C.4: requests, without and with Huffman ----------------------------

REQUESTS: list[H] = [
    [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
    ],
    [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
        (b"cache-control", b"no-cache"),
    ],
    [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":path", b"/index.html"),
        (b":authority", b"www.example.com"),
        (b"custom-key", b"custom-value"),
    ],
]
REQUEST_TABLES: list[tuple[H, int]] = [
    ([(b":authority", b"www.example.com")], 57),
    ([(b"cache-control", b"no-cache"), (b":authority", b"www.example.com")], 110),
    (
        [
            (b"custom-key", b"custom-value"),
            (b"cache-control", b"no-cache"),
            (b":authority", b"www.example.com"),
        ],
        164,
    ),
]
C3 = [
    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
    "8286 84be 5808 6e6f 2d63 6163 6865",
    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
]
C4 = [
    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
    "8286 84be 5886 a8eb 1064 9cbf",
    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
]


@pytest.mark.parametrize(("dumps", "huffman"), [(C3, False), (C4, True)], ids=["C.3", "C.4"])
def test_request_examples(dumps: list[str], huffman: bool) -> None:
    dec = HeaderDecoder()
    enc = HeaderEncoder(huffman=huffman)
    for dump, headers, (table, size) in zip(dumps, REQUESTS, REQUEST_TABLES, strict=True):
        assert dec.decode(hx(dump)) == headers
        assert (dec.dynamic_table, dec.table_size) == (table, size)
        assert enc.encode(headers) == hx(dump)
        assert (enc.dynamic_table, enc.table_size) == (table, size)


# -- C.5 / C.6: responses, table size 256, eviction ---------------------------

DATE1 = b"Mon, 21 Oct 2013 20:13:21 GMT"
DATE2 = b"Mon, 21 Oct 2013 20:13:22 GMT"
LOCATION = b"https://www.example.com"
COOKIE = b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
RESPONSES: list[H] = [
    [
        (b":status", b"302"),
        (b"cache-control", b"private"),
        (b"date", DATE1),
        (b"location", LOCATION),
    ],
    [
        (b":status", b"307"),
        (b"cache-control", b"private"),
        (b"date", DATE1),
        (b"location", LOCATION),
    ],
    [
        (b":status", b"200"),
        (b"cache-control", b"private"),
        (b"date", DATE2),
        (b"location", LOCATION),
        (b"content-encoding", b"gzip"),
        (b"set-cookie", COOKIE),
    ],
]
RESPONSE_TABLES: list[tuple[H, int]] = [
    (
        [
            (b"location", LOCATION),
            (b"date", DATE1),
            (b"cache-control", b"private"),
            (b":status", b"302"),
        ],
        222,
    ),
    (
        [
            (b":status", b"307"),
            (b"location", LOCATION),
            (b"date", DATE1),
            (b"cache-control", b"private"),
        ],
        222,
    ),
    ([(b"set-cookie", COOKIE), (b"content-encoding", b"gzip"), (b"date", DATE2)], 215),
]
C5 = [
    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133"
    "2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70"
    "6c65 2e63 6f6d",
    "4803 3330 37c1 c0bf",
    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d"
    "54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049"
    "5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e"
    "3d31",
]
C6 = [
    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6"
    "2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
    "4883 640e ffc1 c0bf",
    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab"
    "77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
    "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
]


@pytest.mark.parametrize("dumps", [C5, C6], ids=["C.5", "C.6"])
def test_response_examples_decode(dumps: list[str]) -> None:
    dec = HeaderDecoder(max_table_size=256)
    for dump, headers, (table, size) in zip(dumps, RESPONSES, RESPONSE_TABLES, strict=True):
        assert dec.decode(hx(dump)) == headers
        assert (dec.dynamic_table, dec.table_size) == (table, size)


# Our encoder differs from the RFC's example encoder in policy only: it does
# not index ``location`` (literal without indexing, index 46: 0f 1f) and sends
# ``set-cookie`` never indexed (index 55: 1f 28), and uses Huffman only when
# strictly shorter (so "307" goes raw). Everything else, including
# which entries are evicted when, is the RFC's bytes.
LOC_RAW = "17" + LOCATION.hex()
LOC_HUF = "91 9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"
OURS_C5 = [
    "4803 333032 5807 70726976617465 611d" + DATE1.hex() + "0f1f" + LOC_RAW,
    "4803 333037 c0bf 0f1f" + LOC_RAW,
    "88c0 611d" + DATE2.hex() + "0f1f" + LOC_RAW + "5a04 677a6970 1f28 38" + COOKIE.hex(),
]
OURS_C6 = [
    "4882 6402 5885 aec3771a4b 6196 d07abe941054d444a8200595040b8166e082a62d1bff 0f1f" + LOC_HUF,
    "4803 333037 c0bf 0f1f" + LOC_HUF,  # "307" codes to 3 octets: not shorter
    "88c0 6196 d07abe941054d444a8200595040b8166e084a62d1bff 0f1f"
    + LOC_HUF
    + "5a83 9bd9ab 1f28 ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1"
    + "ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
]
OUR_TABLES: list[tuple[H, int]] = [
    ([(b"date", DATE1), (b"cache-control", b"private"), (b":status", b"302")], 159),
    (
        [
            (b":status", b"307"),
            (b"date", DATE1),
            (b"cache-control", b"private"),
            (b":status", b"302"),
        ],
        201,
    ),
    (
        [(b"content-encoding", b"gzip"), (b"date", DATE2), (b":status", b"307"), (b"date", DATE1)],
        224,
    ),
]


@pytest.mark.parametrize(
    ("dumps", "huffman"), [(OURS_C5, False), (OURS_C6, True)], ids=["C.5", "C.6"]
)
def test_response_examples_encode(dumps: list[str], huffman: bool) -> None:
    enc = HeaderEncoder(max_table_size=256, huffman=huffman)
    dec = HeaderDecoder(max_table_size=256)
    for dump, headers, (table, size) in zip(dumps, RESPONSES, OUR_TABLES, strict=True):
        block = enc.encode(headers)
        assert block == hx(dump)
        assert (enc.dynamic_table, enc.table_size) == (table, size)
        assert dec.decode(block) == headers
        assert (dec.dynamic_table, dec.table_size) == (table, size)


# -- string literals (§5.2) -----------------------------------------------------


def test_long_strings_use_multi_octet_lengths() -> None:
    value = b"v" * 300
    for huffman in (False, True):
        block = HeaderEncoder(huffman=huffman).encode([(b"x-long", value)])
        assert HeaderDecoder().decode(block) == [(b"x-long", value)]
    # 300 raw octets: 7-bit prefix full (127), then 173 = 0xad 0x01.
    raw = HeaderEncoder(huffman=False).encode([(b"x-long", value)])
    assert raw[8:11] == hx("7fad01")


def test_empty_strings() -> None:
    # literal name "", value "" (empty Huffman string too)
    assert HeaderDecoder().decode(hx("0000 00")) == [(b"", b"")]
    assert HeaderDecoder().decode(hx("0000 80")) == [(b"", b"")]
    assert HeaderEncoder().encode([(b"x", b"")]) == hx("40 0178 00")


@pytest.mark.parametrize(
    "block",
    [
        "00",  # literal, name string missing
        "0003 6162",  # name length 3, only 2 octets
        "0001 61",  # value missing
        "0001 6105 6162",  # value length 5, only 2 octets
        "0001 6102 62",  # value one octet short, at the very end
        "0001 618a ffff",  # Huffman value length 10, 2 octets
        "007f",  # string length integer truncated
    ],
)
def test_truncated_strings_are_hpack_errors(block: str) -> None:
    with pytest.raises(HpackError):
        HeaderDecoder().decode(hx(block))


@pytest.mark.parametrize(
    "huffman",
    [
        "18",  # 'a' (00011) then "000": padding that is not EOS's prefix
        "1fff",  # 'a' then 11 one bits: padding longer than 7 bits
        "ffffffff",  # EOS (30 ones) inside the string
        "ffffffffff",
    ],
)
def test_bad_huffman_is_an_hpack_error(huffman: str) -> None:
    data = hx(huffman)
    with pytest.raises(HpackError):
        HeaderDecoder().decode(bytes((0x00, 0x01, 0x61, 0x80 | len(data))) + data)


# -- indices (§2.3.3, §6.1) -----------------------------------------------------


@pytest.mark.parametrize(
    "block",
    [
        "80",  # index 0
        "be",  # 62 with an empty dynamic table
        "ff00",  # 127
        "7e 00",  # literal with indexing naming entry 62 (absent)
        "0f30 00",  # literal without indexing naming 63 (absent)
        "1f30 00",  # never indexed naming 63 (absent)
    ],
)
def test_bad_indices_are_hpack_errors(block: str) -> None:
    with pytest.raises(HpackError):
        HeaderDecoder().decode(hx(block))


def test_dynamic_indices_count_from_newest() -> None:
    dec = HeaderDecoder()
    dec.decode(hx("40 0161 0131  40 0162 0132"))  # a: 1, then b: 2
    assert dec.decode(hx("be bf")) == [(b"b", b"2"), (b"a", b"1")]
    assert dec.decode(hx("7e 0133")) == [(b"b", b"3")]  # name by index 62 (b: 2)
    assert dec.decode(hx("7f01 0134")) == [(b"a", b"4")]  # 64 = 63 + 1 (a: 1)
    assert dec.dynamic_table == [(b"a", b"4"), (b"b", b"3"), (b"b", b"2"), (b"a", b"1")]
    assert dec.decode(hx("c1")) == [(b"a", b"1")]  # 65, the oldest
    with pytest.raises(HpackError):
        dec.decode(hx("c2"))  # 66: only 4 entries


# -- dynamic table size and eviction (§4) ---------------------------------------


def test_entry_larger_than_table_empties_it_without_error() -> None:
    dec = HeaderDecoder(max_table_size=64)
    dec.decode(hx("40 0161 0131"))
    assert dec.table_size == 34
    big = b"x" * 40
    block = bytes((0x40, 1, 0x62, len(big))) + big
    assert dec.decode(block) == [(b"b", big)]
    assert dec.dynamic_table == [] and dec.table_size == 0


def test_eviction_is_oldest_first() -> None:
    dec = HeaderDecoder(max_table_size=100)
    dec.decode(hx("40 0161 0131  40 0162 0132  40 0163 0133"))  # 34 each, 3rd evicts a
    assert dec.dynamic_table == [(b"c", b"3"), (b"b", b"2")]
    assert dec.table_size == 68


def test_size_update_evicts_and_allows_growth_back() -> None:
    dec = HeaderDecoder()
    dec.decode(hx("40 0161 0131  40 0162 0132"))
    assert dec.decode(hx("3f03 82")) == [(b":method", b"GET")]  # size 34: keep one
    assert (dec.dynamic_table, dec.max_table_size) == ([(b"b", b"2")], 34)
    assert dec.decode(hx("20 3fe11f")) == []  # 0 then 4096: min-then-final pair
    assert (dec.dynamic_table, dec.max_table_size) == ([], 4096)


def test_size_update_above_the_allowed_maximum() -> None:
    dec = HeaderDecoder(max_table_size=4096)
    with pytest.raises(HpackError, match="above"):
        dec.decode(hx("3fe21f"))  # 4097


def test_size_update_after_a_field_is_an_error() -> None:
    with pytest.raises(HpackError, match="after a header field"):
        HeaderDecoder().decode(hx("82 20"))


def test_lowered_allowance_requires_an_update_first() -> None:
    dec = HeaderDecoder()
    dec.decode(hx("40 0161 0131"))
    dec.max_allowed_table_size = 0
    with pytest.raises(HpackError, match="does not start"):
        dec.decode(hx("82"))
    dec2 = HeaderDecoder()
    dec2.max_allowed_table_size = 100
    with pytest.raises(HpackError):
        dec2.decode(hx("3f46"))  # 101 > 100
    dec3 = HeaderDecoder()
    dec3.max_allowed_table_size = 100
    assert dec3.decode(hx("3f45 82")) == [(b":method", b"GET")]
    assert dec3.decode(hx("82")) == [(b":method", b"GET")]  # obligation met once


def test_raised_allowance_needs_no_update() -> None:
    dec = HeaderDecoder(max_table_size=256)
    dec.max_allowed_table_size = 8192
    assert dec.decode(hx("82")) == [(b":method", b"GET")]
    assert dec.decode(hx("3fe13f")) == []  # grow to 8192
    assert dec.max_table_size == 8192


def test_encoder_signals_size_changes() -> None:
    enc = HeaderEncoder()
    enc.set_max_table_size(4096)
    assert enc.encode([(b":method", b"GET")]) == hx("82")  # no change, nothing sent
    enc.set_max_table_size(100)
    assert enc.encode([]) == hx("3f45")
    enc.set_max_table_size(0)
    enc.set_max_table_size(4096)
    assert enc.encode([]) == hx("20 3fe11f")  # minimum, then final (§4.2)
    enc.set_max_table_size(50)
    enc.set_max_table_size(200)
    enc.set_max_table_size(300)
    assert enc.encode([]) == hx("3f13 3f8d02")  # 50 then 300
    assert enc.encode([]) == b""


def test_encoder_evicts_on_shrink_and_decoder_agrees() -> None:
    enc, dec = HeaderEncoder(), HeaderDecoder()
    headers = [(b"x-a", b"1"), (b"x-b", b"2"), (b"x-c", b"3")]
    dec.decode(enc.encode(headers))
    enc.set_max_table_size(70)
    block = enc.encode(headers)
    assert dec.decode(block) == headers
    assert enc.dynamic_table == dec.dynamic_table
    assert enc.table_size == dec.table_size <= 70


# -- header list size (§4.1 sizing, RFC 9113 §6.5.2) ---------------------------


def test_header_list_size_limit_is_inclusive() -> None:
    headers = [(b":method", b"GET"), (b"x", b"y" * 50)]
    size = 7 + 3 + 32 + 1 + 50 + 32
    block = HeaderEncoder().encode(headers)
    assert HeaderDecoder(max_header_list_size=size).decode(block) == headers
    with pytest.raises(HeaderListTooLarge):
        HeaderDecoder(max_header_list_size=size - 1).decode(block)


def test_hpack_bomb_is_cut_as_soon_as_it_crosses_the_limit() -> None:
    # One 4000-octet entry, then referenced 10,000 times: 40 MB of headers from
    # a 10 kB block. The index 0 (0x80) after the 17th reference would be an
    # HpackError; getting HeaderListTooLarge proves the check ran field by
    # field and stopped before reaching it.
    value = b"A" * 4000
    block = bytes((0x40, 1, 0x62, 0x7F)) + primitives.encode_integer(4000, 7, 0)[1:] + value
    block += b"\xbe" * 16 + b"\x80" + b"\xbe" * 10_000
    dec = HeaderDecoder(max_header_list_size=65536)
    with pytest.raises(HeaderListTooLarge):
        dec.decode(block)


def test_max_header_list_size_is_settable_and_applies_to_cached_blocks() -> None:
    dec = HeaderDecoder()
    block = hx("8286 84")
    assert len(dec.decode(block)) == 3
    assert len(dec.decode(block)) == 3  # now from the block cache
    dec.max_header_list_size = 50
    with pytest.raises(HeaderListTooLarge):
        dec.decode(block)


def test_last_size_reports_the_decoded_list_size_cached_or_not() -> None:
    """The engine applies its own, lower limit to ``last_size`` after a block
    decoded whole (RFC 9113 §10.5.1), so it must be right on both paths."""
    dec = HeaderDecoder()
    block = hx("8286 84")  # :method GET, :scheme http, :path /
    assert dec.last_size == 0
    size = (7 + 3 + 32) + (7 + 4 + 32) + (5 + 1 + 32)
    dec.decode(block)
    assert dec.last_size == size
    dec.decode(hx("82"))
    assert dec.last_size == 7 + 3 + 32
    dec.decode(block)  # from the block cache
    assert dec.last_size == size


# -- the block cache never serves stale or shared results -----------------------


def test_block_cache_follows_table_changes() -> None:
    dec = HeaderDecoder()
    dec.decode(hx("40 0161 0131"))
    assert dec.decode(hx("be")) == [(b"a", b"1")]
    assert dec.decode(hx("be")) == [(b"a", b"1")]
    dec.decode(hx("40 0162 0132"))
    assert dec.decode(hx("be")) == [(b"b", b"2")]
    dec.decode(hx("20"))  # size 0 empties the table
    with pytest.raises(HpackError):
        dec.decode(hx("be"))


def test_decoded_lists_are_the_callers_to_mutate() -> None:
    dec = HeaderDecoder()
    first = dec.decode(hx("8286"))
    first.append((b"x", b"y"))
    assert dec.decode(hx("8286")) == [(b":method", b"GET"), (b":scheme", b"http")]


def test_decode_accepts_bytearray_and_memoryview() -> None:
    dec = HeaderDecoder()
    assert dec.decode(bytearray(hx("82"))) == [(b":method", b"GET")]
    assert dec.decode(memoryview(hx("82"))) == [(b":method", b"GET")]


def test_encoder_block_cache_follows_table_changes() -> None:
    enc = HeaderEncoder()
    a, b = (b"x-a", b"1"), (b"x-b", b"2")
    enc.encode([a])
    assert enc.encode([a]) == hx("be")
    assert enc.encode([a]) == hx("be")  # now from the block cache
    enc.encode([b])  # inserts: a moves to 63
    assert enc.encode([a]) == hx("bf")
    enc.set_max_table_size(0)
    assert enc.encode([a]) == hx("20 0003 782d61 0131")  # table emptied: literal again
    assert enc.encode([a]) == hx("0003 782d61 0131")
    enc.set_max_table_size(4096)
    assert enc.encode([a])[:3] == hx("3fe11f")


def test_encoder_accepts_any_iterable_of_pairs() -> None:
    enc = HeaderEncoder()
    expected = HeaderEncoder().encode([(b":method", b"GET"), (b"x-a", b"1")])
    pairs = [[b":method", b"GET"], [b"x-a", b"1"]]
    assert enc.encode(pairs) == expected  # type: ignore[arg-type]
    assert enc.encode(tuple(tuple(p) for p in pairs)) == hx("82be")  # type: ignore[misc]
    assert enc.encode(iter([(b":method", b"GET"), (b"x-a", b"1")])) == hx("82be")
