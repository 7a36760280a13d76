"""HPACK encoding (RFC 7541 §3, §6) and its indexing policy: one ``HeaderEncoder`` per connection."""

from __future__ import annotations

from collections.abc import Iterable

from .primitives import (
    BLOCK_CACHE_LIMIT,
    ENTRY_OVERHEAD,
    FIELD_CACHES,
    INDEXED,
    MAX_CACHED_BLOCK,
    MAX_CACHED_STRING,
    NO_SEED,
    SENSITIVE_NAMES,
    SHORT_COOKIE,
    STATIC_COUNT,
    STATIC_NAME_INDEX,
    STATIC_REPS,
    STRING_CACHES,
    UNINDEXED_NAMES,
    Header,
    encode_integer,
    encode_string,
    indexed,
    remember,
)


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
        #: Oldest on the left: (field, size, insertion sequence number). A list
        #: for the reasons the decoder's is one (decoder.py).
        self._entries: list[tuple[Header, int, int]] = []
        self._inserted = 0  # insertions so far; index of seq s is _inserted + 61 - s
        self._field_seq: dict[Header, int] = {}
        self._name_seq: dict[bytes, int] = {}
        self._pending_min: int | None = None
        self._pending_final: int | None = None
        #: header list -> (block, ``_inserted`` when it was encoded); see encode().
        self._block_cache: dict[tuple[Header, ...], tuple[bytes, int]] = {}
        self._field_cache = FIELD_CACHES[int(huffman)]
        self._string_cache = STRING_CACHES[int(huffman)]

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
                    index = self._inserted + STATIC_COUNT - seq
                    rep = INDEXED[index] if index < len(INDEXED) else indexed(index)
            append(rep)
        block = b"".join(parts)
        if (
            is_pure
            and self._inserted == inserted
            and len(block) <= MAX_CACHED_BLOCK
            and self._remember_blocks
        ):
            if len(block_cache) >= BLOCK_CACHE_LIMIT:
                block_cache.clear()
            block_cache[fields] = (block, inserted)
        return block

    def _encode_field(self, field: Header) -> bytes:
        """A field with no exact match in either table: pick its literal form."""
        name, value = field
        if name in SENSITIVE_NAMES or (name == b"cookie" and len(value) < SHORT_COOKIE):
            return self._literal(0x10, 4, name, value, is_sensitive=True)
        if name in UNINDEXED_NAMES:
            # Names a static entry, so the bytes never depend on the table.
            rep = self._literal(0x00, 4, name, value)
            remember(self._field_cache, field, rep, STATIC_REPS)
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
        index = STATIC_NAME_INDEX.get(name)
        if index is None:
            seq = self._name_seq.get(name)
            if seq is not None:
                index = self._inserted + STATIC_COUNT - seq
        value_rep = encode_string(value, self._huffman) if is_sensitive else self._string(value)
        if index is None:
            return bytes((flags,)) + self._string(name) + value_rep
        return encode_integer(index, prefix_bits, flags) + value_rep

    def _string(self, data: bytes) -> bytes:
        rep = self._string_cache.get(data)
        if rep is None:
            rep = encode_string(data, self._huffman)
            if len(data) <= MAX_CACHED_STRING:
                remember(self._string_cache, data, rep, NO_SEED)
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
        size = self._size
        dropped = 0
        while size > target:
            field, entry_size, seq = entries[dropped]
            dropped += 1
            size -= entry_size
            # A newer entry with the same field or name keeps its mapping.
            if field_seq.get(field) == seq:
                del field_seq[field]
            if name_seq.get(field[0]) == seq:
                del name_seq[field[0]]
        if dropped:
            del entries[:dropped]
        self._size = size

    def _size_updates(self) -> bytes:
        """§6.3 size updates owed since the last block (§4.2), applied here."""
        low, final = self._pending_min, self._pending_final
        self._pending_min = self._pending_final = None
        self._block_cache.clear()  # evictions below change indices without an insertion
        assert low is not None and final is not None
        out = b""
        if low < final and low < self._max_size:
            # It went down and back up: the peer must evict to the low point too.
            out += encode_integer(low, 5, 0x20)
            self._max_size = low
            self._evict_to(low)
        if final != self._max_size:
            out += encode_integer(final, 5, 0x20)
            self._max_size = final
            self._evict_to(final)
        return out
