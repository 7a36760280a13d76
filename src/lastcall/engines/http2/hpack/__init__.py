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

from .decoder import HeaderDecoder
from .encoder import HeaderEncoder
from .primitives import STATIC_TABLE

__all__ = ["STATIC_TABLE", "HeaderDecoder", "HeaderEncoder"]
