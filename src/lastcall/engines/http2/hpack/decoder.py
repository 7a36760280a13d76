"""HPACK decoding (RFC 7541 §3, §6): one ``HeaderDecoder`` per connection."""

from __future__ import annotations

from lastcall.errors import HeaderListTooLarge, HpackError

from .primitives import (
    BLOCK_CACHE_LIMIT,
    ENTRY_OVERHEAD,
    MAX_CACHED_BLOCK,
    STATIC_BY_INDEX,
    STATIC_COUNT,
    Header,
    decode_integer,
    decode_string,
)


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
        #: Newest entry on the right: HPACK index 62 is ``_entries[-1]``. A list,
        #: not a deque: an empty one allocates nothing (most of an idle
        #: connection's decoder was an empty deque's 64-slot block), compiled
        #: code indexes it directly, and the table holds at most a few hundred
        #: entries, so evicting from the front is one short memmove.
        self._entries: list[Header] = []
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
        code indexes fastest: mypyc rejects a ``bytearray`` where ``bytes`` is
        declared).
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
        static = STATIC_BY_INDEX
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
                        index, pos = decode_integer(block, pos, 0x7F)
                    elif not index:
                        raise HpackError("indexed header field with index 0 (RFC 7541 §6.1)")
                    offset = index - STATIC_COUNT
                    if offset > len(entries):
                        raise HpackError(
                            f"index {index} is past the dynamic table (RFC 7541 §2.3.3)"
                        )
                    field = entries[-offset]
            elif octet & 0x40:  # §6.2.1 literal with incremental indexing, 6-bit prefix
                index = octet & 0x3F
                if index == 0x3F:
                    index, pos = decode_integer(block, pos, 0x3F)
                if index:
                    name = self._name_at(index)
                else:
                    name, pos = decode_string(block, pos, True)
                value, pos = decode_string(block, pos, True)
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
                    new_size, pos = decode_integer(block, pos, 0x1F)
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
                    index, pos = decode_integer(block, pos, 0x0F)
                if index:
                    name = self._name_at(index)
                else:
                    name, pos = decode_string(block, pos, True)
                value, pos = decode_string(block, pos, not is_sensitive)
                field = (name, value)
                if is_sensitive:
                    is_pure = False
            size += len(field[0]) + len(field[1]) + ENTRY_OVERHEAD
            if size > limit:
                raise HeaderListTooLarge(
                    f"header list passes {limit} octets (RFC 7541 §4.1 sizing) while decoding"
                )
            append(field)

        if is_pure and end <= MAX_CACHED_BLOCK and self._remember_blocks:
            cache = self._block_cache
            if len(cache) >= BLOCK_CACHE_LIMIT:
                cache.clear()
            cache[block] = (headers.copy(), size)
        self.last_size = size
        return headers

    def _name_at(self, index: int) -> bytes:
        """The name at HPACK ``index`` (> 0), static or dynamic (§2.3.3)."""
        if index <= STATIC_COUNT:
            return STATIC_BY_INDEX[index][0]
        offset = index - STATIC_COUNT
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
        if size <= target:
            return
        self._block_cache.clear()
        dropped = 0
        while size > target:
            name, value = entries[dropped]
            dropped += 1
            size -= len(name) + len(value) + ENTRY_OVERHEAD
        del entries[:dropped]
        self._size = size
