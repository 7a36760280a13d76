"""HPACK (RFC 7541): header compression for HTTP/2, sans-IO and pure Python.

Two objects, one per direction of a connection, each owning one dynamic
table (§2.3.2) that must stay in step with the peer's:

- :class:`HeaderDecoder` turns a complete header block (HEADERS plus any
  CONTINUATION payloads, joined) into ``[(name, value), ...]`` as bytes,
  exactly as on the wire: no lowercasing and no validation, which is the
  engine's job (RFC 9113 §8.2).
- :class:`HeaderEncoder` turns such a list into a header block.

Any input to :meth:`HeaderDecoder.decode` either decodes or raises
:class:`~lastcall.errors.HpackError` (undecodable: COMPRESSION_ERROR) or
:class:`~lastcall.errors.HeaderListTooLarge`; after either, the decoder's
table may differ from the peer's, so the connection must end (§2.2,
RFC 9113 §4.3).

Theory of operation (why it is fast)
------------------------------------
A request on a warm connection is mostly one-octet indexed fields (§6.1), so
the decoder's loop handles that case first with no calls. Huffman strings
are decoded by an octet-at-a-time state machine (:mod:`.huffman`) and cached
by their encoded bytes.

Both codecs remember whole blocks that left the table untouched (all fields
indexed or not indexed; no size update; nothing never-indexed), until the
table next changes: clients repeat request blocks byte for byte, servers
repeat response header lists, and a block's meaning is a function of its
bytes and the table alone. A repeat then costs one dict lookup.

The encoder keeps the dynamic table as insertion sequence numbers, so the
index of an entry is ``insertions + 61 - seq`` and dict lookups find an exact
match or a name in O(1). Representations that do not depend on the table (a
static-table match; a literal without indexing that names a static entry) are
cached per ``(name, value)`` across connections.

Caches never hold never-indexed fields (§7.1.3): a sensitive value should not
outlive the block that carried it in a structure shared across connections.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import TypeVar

from lastcall.errors import HeaderListTooLarge, HpackError

from .huffman import huffman_decode, huffman_encode

__all__ = ["STATIC_TABLE", "HeaderDecoder", "HeaderEncoder"]

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
_STATIC_COUNT = len(STATIC_TABLE)  # 61; dynamic indices start at 62 (§2.3.3)
#: Indexed by HPACK index directly (slot 0 is never read: index 0 is an error).
_STATIC_BY_INDEX: tuple[Header, ...] = ((b"", b""), *STATIC_TABLE)
#: First (lowest) index per name, so the shortest integer is used.
_STATIC_NAME_INDEX: dict[bytes, int] = {}
for _i, (_name, _) in enumerate(STATIC_TABLE, 1):
    _STATIC_NAME_INDEX.setdefault(_name, _i)

#: §4.1: an entry's size is its name and value lengths plus 32 octets.
ENTRY_OVERHEAD = 32

# -- policy (§7.1.3) ----------------------------------------------------------

#: Always sent as "never indexed" so no intermediary adds them to a table
#: where a compression oracle could probe them (§7.1.3, CRIME-style attacks).
_SENSITIVE_NAMES = frozenset({b"authorization", b"proxy-authorization", b"set-cookie"})
#: Cookies shorter than this are guessable, so never indexed (§7.1.3, and
#: what nghttp2 does); longer ones are indexed like any other field.
_SHORT_COOKIE = 20
#: Not indexed (literal without indexing): values that rarely repeat and would
#: only push useful entries out of the table. nghttp2's list.
_UNINDEXED_NAMES = frozenset(
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
assert _UNINDEXED_NAMES.issubset(_STATIC_NAME_INDEX)  # so their literals are cacheable

# -- caches -------------------------------------------------------------------

#: Bound on each module-level cache; a full cache is cleared, not evicted
#: entry by entry (cheaper, and a working set this large is not a hot one).
_CACHE_LIMIT = 4096
#: Longest Huffman string (encoded octets) kept in the decode cache.
_MAX_CACHED_STRING = 256
#: Per-codec cache of whole blocks that left the table unchanged: at most this
#: many, of at most this many octets. A few kB per connection in practice;
#: the worst case (512 one-octet references each) is ~150 kB.
_BLOCK_CACHE_LIMIT = 32
_MAX_CACHED_BLOCK = 512


def _encode_integer(value: int, prefix_bits: int, flags: int) -> bytes:
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


def _indexed(index: int) -> bytes:
    """§6.1: indexed header field representation."""
    return _encode_integer(index, 7, 0x80)


#: Indexed representations of the first 256 indices (any 4 KiB table fits).
_INDEXED: tuple[bytes, ...] = tuple(_indexed(i) for i in range(256))
#: Exact static-table matches: the seed of each encoder field cache.
_STATIC_REPS: dict[Header, bytes] = {f: _INDEXED[i] for i, f in enumerate(STATIC_TABLE, 1)}
_NO_SEED: dict[bytes, bytes] = {}
#: ``(name, value) -> representation`` for table-independent representations,
#: and ``string -> string literal``; one of each per Huffman setting.
_FIELD_CACHES: tuple[dict[Header, bytes], ...] = (dict(_STATIC_REPS), dict(_STATIC_REPS))
_STRING_CACHES: tuple[dict[bytes, bytes], ...] = ({}, {})
#: Decoded Huffman strings by their encoded octets.
_huffman_decode_cache: dict[bytes, bytes] = {}


def _decode_integer(block: bytes, pos: int, value: int) -> tuple[int, int]:
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


def _decode_string(block: bytes, pos: int, cacheable: bool) -> tuple[bytes, int]:
    """§5.2: a string literal at ``pos``; returns it and the position after it."""
    if pos >= len(block):
        raise HpackError("header block ends before a string literal (RFC 7541 §5.2)")
    octet = block[pos]
    length = octet & 0x7F
    pos += 1
    if length == 0x7F:
        length, pos = _decode_integer(block, pos, 0x7F)
    end = pos + length
    if end > len(block):
        raise HpackError("string literal runs past the end of the header block (RFC 7541 §5.2)")
    data = block[pos:end]
    if octet & 0x80:
        if not cacheable:
            return huffman_decode(data), end
        cache = _huffman_decode_cache
        decoded = cache.get(data)
        if decoded is None:
            decoded = huffman_decode(data)
            if length <= _MAX_CACHED_STRING:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                cache[data] = decoded
        return decoded, end
    return data, end


class HeaderDecoder:
    """Decodes the header blocks one peer sends on one connection (RFC 7541 §3).

    ``max_table_size`` is the dynamic table size both sides start from, and the
    first value of :attr:`max_allowed_table_size`; ``max_header_list_size``
    bounds each decoded list (§4.1 sizing), checked field by field so a block
    that references one large entry thousands of times (an "HPACK bomb") is
    cut as soon as it crosses the limit. The defaults are the HTTP/2 initial
    SETTINGS_HEADER_TABLE_SIZE (4096, RFC 9113 §6.5.2) and 64 KiB, the
    order of what nginx (large_client_header_buffers 4 x 8k = 32 KiB) and
    h2o allow.
    """

    #: Whether whole blocks are remembered (see the module docstring); the
    #: benchmark turns it off to time the per-field path.
    _remember_blocks = True

    def __init__(self, max_table_size: int = 4096, max_header_list_size: int = 65536) -> None:
        #: Largest decoded header list accepted, in §4.1 octets (name + value + 32
        #: per field). Settable at any time; applies from the next block.
        self.max_header_list_size = max_header_list_size
        #: §4.1 size of the list the last successful ``decode`` returned. The
        #: engine reads it to refuse a block over its own (lower) limit *after*
        #: decoding it whole, which keeps the table in step (RFC 9113 §10.5.1).
        self.last_size = 0
        self._max_allowed = max_table_size
        self._max_size = max_table_size  # the table's current maximum (§4.2)
        self._size = 0
        #: Newest entry on the right: HPACK index 62 is ``_entries[-1]``.
        self._entries: deque[Header] = deque()
        self._size_update_required = False
        self._block_cache: dict[bytes, tuple[list[Header], int]] = {}

    @property
    def max_allowed_table_size(self) -> int:
        """What we advertised in SETTINGS_HEADER_TABLE_SIZE: a size update above
        it is a decoding error (§6.3).

        Set it when the peer acknowledges the SETTINGS frame that carries the
        new value: blocks the peer sent before that were encoded for the old
        one. Lowering it below the table's current maximum obliges the peer to
        open its next block with a size update (§4.2); a block without one is
        an error.
        """
        return self._max_allowed

    @max_allowed_table_size.setter
    def max_allowed_table_size(self, value: int) -> None:
        if value < 0:
            raise ValueError("table size cannot be negative")
        self._max_allowed = value
        self._size_update_required = value < self._max_size
        self._block_cache.clear()

    @property
    def max_table_size(self) -> int:
        """The dynamic table's current maximum size, as last set by the peer."""
        return self._max_size

    @property
    def table_size(self) -> int:
        """Octets the dynamic table holds now, in §4.1 sizing."""
        return self._size

    @property
    def dynamic_table(self) -> list[Header]:
        """The dynamic table, newest first (HPACK index 62 first)."""
        return list(reversed(self._entries))

    def decode(self, block: bytes | bytearray | memoryview) -> list[Header]:
        """Decode one complete header block into ``[(name, value), ...]``.

        Raises :class:`~lastcall.errors.HpackError` for anything undecodable
        and :class:`~lastcall.errors.HeaderListTooLarge` as soon as the list
        passes :attr:`max_header_list_size`. Any bytes-like block is taken; it
        is decoded as ``bytes`` (the block cache's key, and the type compiled
        code indexes fastest).
        """
        return self._decode(block if type(block) is bytes else bytes(block))

    def _decode(self, block: bytes) -> list[Header]:
        cached = self._block_cache.get(block)
        if cached is not None:
            headers, size = cached
            if size > self.max_header_list_size:
                raise HeaderListTooLarge(f"header list of {size} octets is over the limit")
            self.last_size = size
            return headers.copy()

        end = len(block)
        if self._size_update_required and (not end or block[0] & 0xE0 != 0x20):
            raise HpackError(
                "header block does not start with the dynamic table size update "
                "a lower SETTINGS_HEADER_TABLE_SIZE requires (RFC 7541 §4.2)"
            )
        entries = self._entries
        static = _STATIC_BY_INDEX
        limit = self.max_header_list_size
        headers = []
        append = headers.append
        size = 0
        pos = 0
        is_pure = True  # the table was not touched and nothing sensitive seen
        while pos < end:
            octet = block[pos]
            pos += 1
            if octet & 0x80:  # §6.1 indexed header field, 7-bit prefix
                index = octet & 0x7F
                if 0 < index < 62:  # static (§2.3.1); the commonest field of all
                    field = static[index]
                else:
                    if index == 0x7F:
                        index, pos = _decode_integer(block, pos, 0x7F)
                    elif not index:
                        raise HpackError("indexed header field with index 0 (RFC 7541 §6.1)")
                    offset = index - _STATIC_COUNT
                    if offset > len(entries):
                        raise HpackError(
                            f"index {index} is past the dynamic table (RFC 7541 §2.3.3)"
                        )
                    field = entries[-offset]
            elif octet & 0x40:  # §6.2.1 literal with incremental indexing, 6-bit prefix
                index = octet & 0x3F
                if index == 0x3F:
                    index, pos = _decode_integer(block, pos, 0x3F)
                if index:
                    name = self._name_at(index)
                else:
                    name, pos = _decode_string(block, pos, True)
                value, pos = _decode_string(block, pos, True)
                field = (name, value)
                self._insert(field)
                is_pure = False
            elif octet & 0x20:  # §6.3 dynamic table size update, 5-bit prefix
                if headers:
                    raise HpackError(
                        "dynamic table size update after a header field (RFC 7541 §4.2)"
                    )
                new_size = octet & 0x1F
                if new_size == 0x1F:
                    new_size, pos = _decode_integer(block, pos, 0x1F)
                if new_size > self._max_allowed:
                    raise HpackError(
                        f"dynamic table size update to {new_size} is above the "
                        f"{self._max_allowed} we allowed (RFC 7541 §6.3)"
                    )
                self._max_size = new_size
                self._evict_to(new_size)
                self._size_update_required = False
                is_pure = False
                continue
            else:  # §6.2.2 without indexing (0000), §6.2.3 never indexed (0001)
                is_sensitive = octet & 0x10
                index = octet & 0x0F
                if index == 0x0F:
                    index, pos = _decode_integer(block, pos, 0x0F)
                if index:
                    name = self._name_at(index)
                else:
                    name, pos = _decode_string(block, pos, True)
                value, pos = _decode_string(block, pos, not is_sensitive)
                field = (name, value)
                if is_sensitive:
                    is_pure = False
            size += len(field[0]) + len(field[1]) + ENTRY_OVERHEAD
            if size > limit:
                raise HeaderListTooLarge(
                    f"header list passes {limit} octets (RFC 7541 §4.1 sizing) while decoding"
                )
            append(field)

        if is_pure and end <= _MAX_CACHED_BLOCK and self._remember_blocks:
            cache = self._block_cache
            if len(cache) >= _BLOCK_CACHE_LIMIT:
                cache.clear()
            cache[block] = (headers.copy(), size)
        self.last_size = size
        return headers

    def _name_at(self, index: int) -> bytes:
        """The name at HPACK ``index`` (> 0), static or dynamic (§2.3.3)."""
        if index <= _STATIC_COUNT:
            return _STATIC_BY_INDEX[index][0]
        offset = index - _STATIC_COUNT
        if offset > len(self._entries):
            raise HpackError(f"name index {index} is past the dynamic table (RFC 7541 §2.3.3)")
        return self._entries[-offset][0]

    def _insert(self, field: Header) -> None:
        """§4.4: evict oldest entries until ``field`` fits, then add it.

        An entry larger than the whole table empties it and is not added;
        that is not an error.
        """
        self._block_cache.clear()
        entry_size = len(field[0]) + len(field[1]) + ENTRY_OVERHEAD
        if entry_size > self._max_size:
            self._entries.clear()
            self._size = 0
            return
        self._evict_to(self._max_size - entry_size)
        self._entries.append(field)
        self._size += entry_size

    def _evict_to(self, target: int) -> None:
        """§4.3/§4.4: drop the oldest entries until the table holds <= ``target``."""
        entries = self._entries
        size = self._size
        if size > target:
            self._block_cache.clear()
        while size > target:
            name, value = entries.popleft()
            size -= len(name) + len(value) + ENTRY_OVERHEAD
        self._size = size


class HeaderEncoder:
    """Encodes the header blocks we send on one connection (RFC 7541 §3).

    ``max_table_size`` is the dynamic table size both sides start from (4096
    unless the peer's SETTINGS said otherwise before the first block); later
    changes go through :meth:`set_max_table_size`. ``huffman=False`` sends
    every string as raw octets (the RFC C.3/C.5 examples); normally a string
    is Huffman-coded exactly when that is shorter (§5.2).

    Indexing policy, from nghttp2: everything is indexed except

    - ``authorization``, ``proxy-authorization``, ``set-cookie`` and cookies
      under 20 octets: never indexed (§7.1.3);
    - ``:path``, ``age``, ``content-length``, ``etag``, ``if-modified-since``,
      ``if-none-match``, ``location``: literal without indexing, as they
      rarely repeat;
    - fields larger than 3/4 of the table, which would evict most of it.
    """

    #: Whether whole blocks are remembered (see encode()); the benchmark turns
    #: it off to time the per-field path.
    _remember_blocks = True

    def __init__(self, max_table_size: int = 4096, *, huffman: bool = True) -> None:
        self._max_size = max_table_size
        self._size = 0
        self._huffman = huffman
        #: Oldest on the left: (field, size, insertion sequence number).
        self._entries: deque[tuple[Header, int, int]] = deque()
        self._inserted = 0  # insertions so far; index of seq s is _inserted + 61 - s
        self._field_seq: dict[Header, int] = {}
        self._name_seq: dict[bytes, int] = {}
        self._pending_min: int | None = None
        self._pending_final: int | None = None
        #: header list -> (block, ``_inserted`` when it was encoded); see encode().
        self._block_cache: dict[tuple[Header, ...], tuple[bytes, int]] = {}
        self._field_cache = _FIELD_CACHES[int(huffman)]
        self._string_cache = _STRING_CACHES[int(huffman)]

    @property
    def max_table_size(self) -> int:
        """The dynamic table's maximum size as the peer's decoder knows it."""
        return self._max_size

    @property
    def table_size(self) -> int:
        """Octets the dynamic table holds now, in §4.1 sizing."""
        return self._size

    @property
    def dynamic_table(self) -> list[Header]:
        """The dynamic table, newest first (HPACK index 62 first)."""
        return [field for field, _, _ in reversed(self._entries)]

    def set_max_table_size(self, size: int) -> None:
        """Adopt a new table size (the peer's SETTINGS_HEADER_TABLE_SIZE, or
        less). The change is signalled at the start of the next block (§4.2):
        if the size went down and back up since the last block, both the
        smallest and the final size are sent, so the peer evicts as we did.
        """
        if size < 0:
            raise ValueError("table size cannot be negative")
        if self._pending_min is None or size < self._pending_min:
            self._pending_min = size
        self._pending_final = size

    def encode(self, headers: Iterable[Header]) -> bytes:
        """Encode one header list into a header block.

        A list encoded before gives the same bytes if nothing was inserted or
        resized since and it inserted nothing itself (a server answering with
        the same headers, once they are all in the table), so such blocks are
        remembered per encoder, unless they carry a never-indexed field.
        """
        fields = headers if type(headers) is tuple else tuple(headers)
        block_cache = self._block_cache
        try:
            cached = block_cache.get(fields)
        except TypeError:  # a field is a list, say: work on hashable copies
            fields = tuple([(name, value) for name, value in fields])
            cached = block_cache.get(fields)
        inserted = self._inserted
        if cached is not None and cached[1] == inserted and self._pending_final is None:
            return cached[0]

        parts: list[bytes] = []
        is_pure = self._pending_final is None
        if not is_pure:
            parts.append(self._size_updates())
        append = parts.append
        field_cache = self._field_cache
        field_seq = self._field_seq
        for field in fields:
            rep = field_cache.get(field)
            if rep is None:
                seq = field_seq.get(field)
                if seq is None:
                    rep = self._encode_field(field)
                    if rep[0] & 0xF0 == 0x10:  # never indexed: keep out of the cache
                        is_pure = False
                else:
                    index = self._inserted + _STATIC_COUNT - seq
                    rep = _INDEXED[index] if index < len(_INDEXED) else _indexed(index)
            append(rep)
        block = b"".join(parts)
        if (
            is_pure
            and self._inserted == inserted
            and len(block) <= _MAX_CACHED_BLOCK
            and self._remember_blocks
        ):
            if len(block_cache) >= _BLOCK_CACHE_LIMIT:
                block_cache.clear()
            block_cache[fields] = (block, inserted)
        return block

    def _encode_field(self, field: Header) -> bytes:
        """A field with no exact match in either table: pick its literal form."""
        name, value = field
        if name in _SENSITIVE_NAMES or (name == b"cookie" and len(value) < _SHORT_COOKIE):
            return self._literal(0x10, 4, name, value, is_sensitive=True)
        if name in _UNINDEXED_NAMES:
            # Names a static entry, so the bytes never depend on the table.
            rep = self._literal(0x00, 4, name, value)
            _remember(self._field_cache, field, rep, _STATIC_REPS)
            return rep
        entry_size = len(name) + len(value) + ENTRY_OVERHEAD
        if entry_size * 4 > self._max_size * 3:
            return self._literal(0x00, 4, name, value)
        rep = self._literal(0x40, 6, name, value)
        self._insert(field, entry_size)
        return rep

    def _literal(
        self, flags: int, prefix_bits: int, name: bytes, value: bytes, is_sensitive: bool = False
    ) -> bytes:
        """§6.2: a literal field, naming an existing entry when there is one."""
        index = _STATIC_NAME_INDEX.get(name)
        if index is None:
            seq = self._name_seq.get(name)
            if seq is not None:
                index = self._inserted + _STATIC_COUNT - seq
        value_rep = _encode_string(value, self._huffman) if is_sensitive else self._string(value)
        if index is None:
            return bytes((flags,)) + self._string(name) + value_rep
        return _encode_integer(index, prefix_bits, flags) + value_rep

    def _string(self, data: bytes) -> bytes:
        rep = self._string_cache.get(data)
        if rep is None:
            rep = _encode_string(data, self._huffman)
            if len(data) <= _MAX_CACHED_STRING:
                _remember(self._string_cache, data, rep, _NO_SEED)
        return rep

    def _insert(self, field: Header, entry_size: int) -> None:
        """§4.4: evict until the entry fits, then add it (as the peer will)."""
        if entry_size > self._max_size:  # pragma: no cover - the 3/4 rule prevents it
            self._evict_to(0)
            return
        self._evict_to(self._max_size - entry_size)
        seq = self._inserted
        self._inserted = seq + 1
        self._entries.append((field, entry_size, seq))
        self._size += entry_size
        self._field_seq[field] = seq
        self._name_seq[field[0]] = seq

    def _evict_to(self, target: int) -> None:
        entries = self._entries
        field_seq = self._field_seq
        name_seq = self._name_seq
        while self._size > target:
            field, entry_size, seq = entries.popleft()
            self._size -= entry_size
            # A newer entry with the same field or name keeps its mapping.
            if field_seq.get(field) == seq:
                del field_seq[field]
            if name_seq.get(field[0]) == seq:
                del name_seq[field[0]]

    def _size_updates(self) -> bytes:
        """§6.3 size updates owed since the last block (§4.2), applied here."""
        low, final = self._pending_min, self._pending_final
        self._pending_min = self._pending_final = None
        self._block_cache.clear()  # evictions below change indices without an insertion
        assert low is not None and final is not None
        out = b""
        if low < final and low < self._max_size:
            # It went down and back up: the peer must evict to the low point too.
            out += _encode_integer(low, 5, 0x20)
            self._max_size = low
            self._evict_to(low)
        if final != self._max_size:
            out += _encode_integer(final, 5, 0x20)
            self._max_size = final
            self._evict_to(final)
        return out


def _encode_string(data: bytes, huffman: bool) -> bytes:
    """§5.2: length-prefixed string, Huffman-coded only when that is shorter."""
    if huffman and data:
        coded = huffman_encode(data)
        if len(coded) < len(data):
            return _encode_integer(len(coded), 7, 0x80) + coded
    return _encode_integer(len(data), 7, 0x00) + data


def _remember(cache: dict[_K, bytes], key: _K, rep: bytes, seed: dict[_K, bytes]) -> None:
    """Store in a bounded module-level cache, starting over (from ``seed``) when full."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
        cache.update(seed)
    cache[key] = rep
