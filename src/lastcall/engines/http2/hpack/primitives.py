"""HPACK's shared parts (RFC 7541): the static table, the integer and string
representations (§5), the indexing policy (§7.1.3) and the caches both
codecs share across connections. The package docstring says why they exist.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, TypeVar

from lastcall.errors import HpackError

from ..huffman import huffman_decode, huffman_encode

Header = tuple[bytes, bytes]
_K = TypeVar("_K", bound=Hashable)

#: RFC 7541 Appendix A; ``STATIC_TABLE[i - 1]`` is static index ``i``.
STATIC_TABLE: tuple[Header, ...] = tuple(
    (name.encode(), value.encode())
    for name, value in (
        (":authority", ""),
        (":method", "GET"),
        (":method", "POST"),
        (":path", "/"),
        (":path", "/index.html"),
        (":scheme", "http"),
        (":scheme", "https"),
        (":status", "200"),
        (":status", "204"),
        (":status", "206"),
        (":status", "304"),
        (":status", "400"),
        (":status", "404"),
        (":status", "500"),
        ("accept-charset", ""),
        ("accept-encoding", "gzip, deflate"),
        ("accept-language", ""),
        ("accept-ranges", ""),
        ("accept", ""),
        ("access-control-allow-origin", ""),
        ("age", ""),
        ("allow", ""),
        ("authorization", ""),
        ("cache-control", ""),
        ("content-disposition", ""),
        ("content-encoding", ""),
        ("content-language", ""),
        ("content-length", ""),
        ("content-location", ""),
        ("content-range", ""),
        ("content-type", ""),
        ("cookie", ""),
        ("date", ""),
        ("etag", ""),
        ("expect", ""),
        ("expires", ""),
        ("from", ""),
        ("host", ""),
        ("if-match", ""),
        ("if-modified-since", ""),
        ("if-none-match", ""),
        ("if-range", ""),
        ("if-unmodified-since", ""),
        ("last-modified", ""),
        ("link", ""),
        ("location", ""),
        ("max-forwards", ""),
        ("proxy-authenticate", ""),
        ("proxy-authorization", ""),
        ("range", ""),
        ("referer", ""),
        ("refresh", ""),
        ("retry-after", ""),
        ("server", ""),
        ("set-cookie", ""),
        ("strict-transport-security", ""),
        ("transfer-encoding", ""),
        ("user-agent", ""),
        ("vary", ""),
        ("via", ""),
        ("www-authenticate", ""),
    )
)
STATIC_COUNT: Final = len(STATIC_TABLE)  # 61; dynamic indices start at 62 (§2.3.3)
#: Indexed by HPACK index directly (slot 0 is never read: index 0 is an error).
STATIC_BY_INDEX: Final[tuple[Header, ...]] = ((b"", b""), *STATIC_TABLE)
#: First (lowest) index per name, so the shortest integer is used.
STATIC_NAME_INDEX: Final[dict[bytes, int]] = {}
for _i, (_name, _) in enumerate(STATIC_TABLE, 1):
    STATIC_NAME_INDEX.setdefault(_name, _i)

#: §4.1: an entry's size is its name and value lengths plus 32 octets.
ENTRY_OVERHEAD: Final = 32

# -- policy (§7.1.3) ----------------------------------------------------------

#: Always sent as "never indexed" so no intermediary adds them to a table
#: where a compression oracle could probe them (§7.1.3, CRIME-style attacks).
SENSITIVE_NAMES: Final = frozenset({b"authorization", b"proxy-authorization", b"set-cookie"})
#: Cookies shorter than this are guessable, so never indexed (§7.1.3, and
#: what nghttp2 does); longer ones are indexed like any other field.
SHORT_COOKIE: Final = 20
#: Not indexed (literal without indexing): values that rarely repeat and would
#: only push useful entries out of the table. nghttp2's list.
UNINDEXED_NAMES: Final = frozenset(
    {
        b":path",
        b"age",
        b"content-length",
        b"etag",
        b"if-modified-since",
        b"if-none-match",
        b"location",
    }
)
assert UNINDEXED_NAMES.issubset(STATIC_NAME_INDEX)  # so their literals are cacheable

# -- caches -------------------------------------------------------------------

#: Bound on each module-level cache; a full cache is cleared, not evicted
#: entry by entry (cheaper, and a working set this large is not a hot one).
_CACHE_LIMIT: Final = 4096
#: Longest Huffman string (encoded octets) kept in the decode cache.
MAX_CACHED_STRING: Final = 256
#: Per-codec cache of whole blocks that left the table unchanged: at most this
#: many, of at most this many octets. A few kB per connection in practice;
#: the worst case (512 one-octet references each) is ~150 kB.
BLOCK_CACHE_LIMIT: Final = 32
MAX_CACHED_BLOCK: Final = 512


def encode_integer(value: int, prefix_bits: int, flags: int) -> bytes:
    """§5.1: ``value`` on an N-bit prefix, continued in 7-bit groups, low first."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((flags | value,))
    out = bytearray((flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def indexed(index: int) -> bytes:
    """§6.1: indexed header field representation."""
    return encode_integer(index, 7, 0x80)


#: Indexed representations of the first 256 indices (any 4 KiB table fits).
INDEXED: Final[tuple[bytes, ...]] = tuple(indexed(i) for i in range(256))
#: Exact static-table matches: the seed of each encoder field cache.
STATIC_REPS: Final[dict[Header, bytes]] = {f: INDEXED[i] for i, f in enumerate(STATIC_TABLE, 1)}
NO_SEED: Final[dict[bytes, bytes]] = {}
#: ``(name, value) -> representation`` for table-independent representations,
#: and ``string -> string literal``; one of each per Huffman setting.
FIELD_CACHES: Final[tuple[dict[Header, bytes], ...]] = (dict(STATIC_REPS), dict(STATIC_REPS))
STRING_CACHES: Final[tuple[dict[bytes, bytes], ...]] = ({}, {})
#: Decoded Huffman strings by their encoded octets.
huffman_decode_cache: dict[bytes, bytes] = {}


def decode_integer(block: bytes, pos: int, value: int) -> tuple[int, int]:
    """Continue a §5.1 integer whose prefix (``value``) was all ones.

    Five continuation octets (35 bits) cover every 32-bit quantity HTTP/2 can
    carry; more is rejected as exceeding an implementation limit (§5.1), which
    also stops a peer from making us build arbitrarily large ints.
    """
    shift = 0
    end = len(block)
    while pos < end:
        octet = block[pos]
        pos += 1
        value += (octet & 0x7F) << shift
        if not octet & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise HpackError("HPACK integer longer than 5 continuation octets (RFC 7541 §5.1)")
    raise HpackError("header block ends inside an integer (RFC 7541 §5.1)")


def decode_string(block: bytes, pos: int, cacheable: bool) -> tuple[bytes, int]:
    """§5.2: a string literal at ``pos``; returns it and the position after it."""
    if pos >= len(block):
        raise HpackError("header block ends before a string literal (RFC 7541 §5.2)")
    octet = block[pos]
    length = octet & 0x7F
    pos += 1
    if length == 0x7F:
        length, pos = decode_integer(block, pos, 0x7F)
    end = pos + length
    if end > len(block):
        raise HpackError("string literal runs past the end of the header block (RFC 7541 §5.2)")
    data = block[pos:end]
    if octet & 0x80:
        if not cacheable:
            return huffman_decode(data), end
        cache = huffman_decode_cache
        decoded = cache.get(data)
        if decoded is None:
            decoded = huffman_decode(data)
            if length <= MAX_CACHED_STRING:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[data] = decoded
        return decoded, end
    return data, end


def encode_string(data: bytes, huffman: bool) -> bytes:
    """§5.2: length-prefixed string, Huffman-coded only when that is shorter."""
    if huffman and data:
        coded = huffman_encode(data)
        if len(coded) < len(data):
            return encode_integer(len(coded), 7, 0x80) + coded
    return encode_integer(len(data), 7, 0x00) + data


def remember(cache: dict[_K, bytes], key: _K, rep: bytes, seed: dict[_K, bytes]) -> None:
    """Store in a bounded module-level cache, starting over (from ``seed``) when full."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
        cache.update(seed)
    cache[key] = rep
