"""The Huffman code (RFC 7541 §5.2, Appendix B): the transcribed table, and
the encoder and decoder built from it."""

from __future__ import annotations

import itertools
from fractions import Fraction

import hpack.huffman
import hpack.huffman_constants
import hpack.huffman_table
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastcall.engines.http2.huffman import huffman_decode, huffman_encode
from lastcall.engines.http2.huffman_table import CODES, EOS
from lastcall.errors import HpackError

REFERENCE = hpack.huffman.HuffmanEncoder(
    hpack.huffman_constants.REQUEST_CODES, hpack.huffman_constants.REQUEST_CODES_LENGTH
)


# -- the table ------------------------------------------------------------------


def test_table_has_every_octet_and_eos() -> None:
    assert len(CODES) == 257 and EOS == 256
    assert CODES[EOS] == (0x3FFFFFFF, 30)
    assert all(0 < n <= 30 and code < (1 << n) for code, n in CODES)


def test_table_is_a_complete_prefix_code() -> None:
    # Kraft equality: a complete prefix code's 2^-len sum to exactly 1, so a
    # mistyped length shows up here.
    assert sum(Fraction(1, 2**n) for _, n in CODES) == 1
    as_bits = sorted(format(code, f"0{n}b") for code, n in CODES)
    for shorter, longer in itertools.pairwise(as_bits):
        assert not longer.startswith(shorter)


def test_table_is_canonical() -> None:
    # Appendix B is a canonical code: ordered by (length, symbol), each code
    # is the previous one plus one, shifted left to the new length. A mistyped
    # code (with the right length) shows up here.
    order = sorted(range(257), key=lambda s: (CODES[s][1], s))
    code, length = CODES[order[0]]
    assert code == 0
    for symbol in order[1:]:
        expected = (code + 1) << (CODES[symbol][1] - length)
        code, length = CODES[symbol]
        assert code == expected, symbol


def test_table_matches_an_independent_transcription() -> None:
    assert [c for c, _ in CODES] == list(hpack.huffman_constants.REQUEST_CODES)
    assert [n for _, n in CODES] == list(hpack.huffman_constants.REQUEST_CODES_LENGTH)


# -- encode / decode --------------------------------------------------------------

# RFC 7541 C.4 and C.6 strings.
RFC_STRINGS = [
    (b"www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"),
    (b"no-cache", "a8eb 1064 9cbf"),
    (b"custom-key", "25a8 49e9 5ba9 7d7f"),
    (b"custom-value", "25a8 49e9 5bb8 e8b4 bf"),
    (b"302", "6402"),
    (b"private", "aec3 771a 4b"),
    (b"Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"),
    (b"https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"),
    (b"307", "640e ff"),
    (b"gzip", "9bd9 ab"),
    (
        b"foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f"
        "9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ),
]


@pytest.mark.parametrize(("plain", "coded"), RFC_STRINGS)
def test_rfc_examples(plain: bytes, coded: str) -> None:
    assert huffman_encode(plain) == bytes.fromhex(coded)
    assert huffman_decode(bytes.fromhex(coded)) == plain


def test_every_single_octet_round_trips() -> None:
    for octet in range(256):
        data = bytes((octet,))
        coded = huffman_encode(data)
        assert coded == REFERENCE.encode(data)
        assert huffman_decode(coded) == data


def test_long_and_short_encoder_paths_agree() -> None:
    data = bytes(range(256)) * 2
    for n in (0, 1, 15, 16, 17, 100, 512):
        assert huffman_encode(data[:n]) == REFERENCE.encode(data[:n])


def test_empty() -> None:
    assert huffman_encode(b"") == b""
    assert huffman_decode(b"") == b""


@given(st.binary(max_size=200))
def test_round_trip_and_reference(data: bytes) -> None:
    coded = huffman_encode(data)
    assert coded == REFERENCE.encode(data)
    assert huffman_decode(coded) == data


@given(st.binary(max_size=64))
def test_decode_agrees_with_reference_on_any_bytes(data: bytes) -> None:
    """Any octets: the same result as the ``hpack`` package, or both refuse."""
    try:
        expected: bytes | None = hpack.huffman_table.decode_huffman(data)
    except Exception:
        expected = None
    try:
        got: bytes | None = huffman_decode(data)
    except HpackError:
        got = None
    assert got == expected


@pytest.mark.parametrize(
    "coded",
    [
        "18",  # 'a' + "000": padding not from EOS
        "1fff",  # 'a' + 11 ones: padding over 7 bits
        "ff",  # 8 ones, nothing else
        "ffffffff",  # EOS
        "fffffffc",  # 30 ones (EOS) then "00"
        "1ffffffffff0",  # 'a', EOS, ...
    ],
)
def test_invalid(coded: str) -> None:
    with pytest.raises(HpackError):
        huffman_decode(bytes.fromhex(coded))


def test_padding_up_to_seven_ones_is_fine() -> None:
    # '0' is 00000: one symbol then 3, or two symbols then 6 padding bits.
    assert huffman_decode(bytes.fromhex("07")) == b"0"
    assert huffman_decode(bytes.fromhex("003f")) == b"00"
    # 'e' is 00101 (5 bits) x 3 = 15 bits + 1 one.
    assert huffman_decode(huffman_encode(b"eee")) == b"eee"
