"""Huffman coding of HPACK string literals (RFC 7541 §5.2, code in Appendix B).

Theory of operation
-------------------
*Encoding* concatenates each octet's code, most significant bit first, and
pads the last octet with the most significant bits of EOS, which are all ones
(§5.2). Short strings accumulate the codes in one Python int; longer ones are
turned into a string of ``"0"``/``"1"`` characters by one ``str.translate``
and parsed with ``int(bits, 2)``, which runs in C and wins above ~16 octets.

*Decoding* runs a finite-state machine one input octet at a time. The states
are the 256 internal nodes of the code tree (257 leaves need 256 internal
nodes), plus one dead state. For each (state, octet) pair a table gives the
state reached after those eight bits and the zero, one or two symbols
completed on the way (the shortest code is 5 bits, so eight bits can finish a
symbol already begun and one more). Decoding is then two list lookups per
input octet, with no per-bit Python work (about 3x faster than the ``hpack``
package's decoder on 10-50 octet strings, as measured here).

The §5.2 error cases fall out of the machine:

- a string containing EOS: completing the EOS code moves to the dead state,
  which only leads to itself and is not accepting;
- padding longer than 7 bits, or padding that is not the EOS prefix: the
  final state is accepting only if it is the root or is reached from the root
  by one to seven ``1`` bits.

The two 65,792-entry tables take ~15 ms and ~1.7 MB to build, so they are
built on first use rather than at import (``lastcall --help`` should not pay
for them). Callers
cache decoded strings by their encoded bytes (:mod:`.hpack`), so the machine
only runs on strings it has not seen recently.
"""

from __future__ import annotations

from lastcall.errors import HpackError

from .huffman_table import CODES, EOS

__all__ = ["huffman_decode", "huffman_encode"]

# -- encoding -----------------------------------------------------------------

#: (code, bit length) per octet, EOS left out: it is never encoded (§5.2).
_CODE_AND_LENGTH: tuple[tuple[int, int], ...] = CODES[:EOS]
#: Each octet's code as a string of "0"/"1", for the ``str.translate`` path.
_CODE_BITS: tuple[str, ...] = tuple(format(code, f"0{n}b") for code, n in _CODE_AND_LENGTH)
#: Below this many octets the int-accumulating loop beats translate + int().
_TRANSLATE_THRESHOLD = 16


def huffman_encode(data: bytes) -> bytes:
    """Huffman-encode ``data``, padded to a whole octet with EOS bits (§5.2).

    Whether the result is worth sending (it may be longer than ``data``) is
    the caller's decision; HPACK only requires that the length prefix count
    the encoded octets.
    """
    if len(data) < _TRANSLATE_THRESHOLD:
        acc = 0
        nbits = 0
        for octet in data:
            code, length = _CODE_AND_LENGTH[octet]
            acc = (acc << length) | code
            nbits += length
        pad = -nbits & 7
        return ((acc << pad) | ((1 << pad) - 1)).to_bytes((nbits + pad) >> 3, "big")
    bits = data.decode("latin-1").translate(_CODE_BITS)
    pad = -len(bits) & 7
    return int(bits + "1111111"[:pad], 2).to_bytes((len(bits) + pad) >> 3, "big")


# -- decoding -----------------------------------------------------------------

#: Flat transition tables, built on first use, indexed by ``state * 256 +
#: octet``: the next state (also times 256, so the hot loop does one addition
#: per octet) and the symbols completed on the way (zero, one or two octets).
_NEXT_STATE: list[int] = []
_SYMBOLS: list[bytes] = []
#: Pre-multiplied states at which the input may end (root, or 1-7 one bits in).
_ACCEPTING: frozenset[int] = frozenset()


def _build_decoder() -> None:
    """Build the octet-at-a-time state machine from :data:`CODES`.

    First a 4-bit machine is built by walking the code tree bit by bit
    (257 x 16 entries), then each 8-bit entry is composed from two 4-bit
    steps; composing is several times cheaper than walking 8 bits per entry.
    """
    global _ACCEPTING
    # The code tree. Internal nodes are numbered from 0 (the root); a child
    # >= 0 is an internal node, a child < 0 is the leaf for symbol -1 - child.
    children: list[list[int | None]] = [[None, None]]
    for symbol, (code, length) in enumerate(CODES):
        node = 0
        for shift in range(length - 1, 0, -1):
            bit = (code >> shift) & 1
            child = children[node][bit]
            if child is None:
                children.append([None, None])
                child = children[node][bit] = len(children) - 1
            elif child < 0:  # pragma: no cover - only if CODES were not prefix-free
                raise AssertionError(f"code for symbol {symbol} is not prefix-free")
            node = child
        if children[node][code & 1] is not None:  # pragma: no cover - bad table
            raise AssertionError(f"code for symbol {symbol} collides")
        children[node][code & 1] = -1 - symbol
    dead = len(children)
    if dead != EOS:  # pragma: no cover - a complete code on 257 leaves has 256 nodes
        raise AssertionError(f"Huffman tree has {dead} internal nodes, expected {EOS}")

    accepting = {0}
    node = 0
    for _ in range(7):
        child = children[node][1]
        assert child is not None and child >= 0
        node = child
        accepting.add(node)

    # 4-bit machine: nibble_table[state * 16 + nibble] = (state, symbols).
    nibble_table: list[tuple[int, bytes]] = []
    for state in range(dead + 1):
        for nibble in range(16):
            node = state
            out = bytearray()
            if state != dead:
                for shift in (3, 2, 1, 0):
                    child = children[node][(nibble >> shift) & 1]
                    assert child is not None
                    if child >= 0:
                        node = child
                    elif child == -1 - EOS:
                        node = dead
                        out.clear()
                        break
                    else:
                        out.append(-1 - child)
                        node = 0
            nibble_table.append((node, bytes(out)))

    # Compose two 4-bit steps per octet. Each middle state's 16 second steps
    # are prepared once and copied as they are when the first step completed
    # no symbol (the common case). Next states are shared int objects and
    # symbol strings are interned, which keeps the tables near 1.7 MB, not 6.
    bases = [state << 8 for state in range(dead + 1)]
    dead_base = bases[dead]
    interned: dict[bytes, bytes] = {}
    row_next = [
        [bases[end] for end, _ in nibble_table[m * 16 : m * 16 + 16]] for m in range(dead + 1)
    ]
    row_symbols = [
        [interned.setdefault(syms, syms) for _, syms in nibble_table[m * 16 : m * 16 + 16]]
        for m in range(dead + 1)
    ]
    next_states: list[int] = []
    symbols: list[bytes] = []
    for state in range(dead + 1):
        for mid, first in nibble_table[state * 16 : state * 16 + 16]:
            next_states += row_next[mid]
            if not first:
                symbols += row_symbols[mid]
                continue
            for end, second in zip(row_next[mid], row_symbols[mid], strict=True):
                joined = first + second if end != dead_base else b""
                symbols.append(interned.setdefault(joined, joined))
    _ACCEPTING = frozenset(bases[state] for state in accepting)
    _SYMBOLS[:] = symbols
    _NEXT_STATE[:] = next_states  # last: huffman_decode() checks this one


def huffman_decode(data: bytes) -> bytes:
    """Decode a Huffman-coded string literal (RFC 7541 §5.2).

    Raises :class:`~lastcall.errors.HpackError` if the string contains EOS,
    or its padding is longer than 7 bits or not the most significant bits of
    EOS: all three are decoding errors under §5.2.
    """
    if not _NEXT_STATE:
        _build_decoder()
    next_state = _NEXT_STATE
    symbols = _SYMBOLS
    state = 0
    parts: list[bytes] = []
    append = parts.append
    for octet in data:
        index = state + octet
        state = next_state[index]
        append(symbols[index])
    if state not in _ACCEPTING:
        raise HpackError("invalid Huffman-coded string: EOS symbol or bad padding (RFC 7541 §5.2)")
    return b"".join(parts)
