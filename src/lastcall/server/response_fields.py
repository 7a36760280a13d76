"""The header and trailer fields an ASGI app sends, checked for HTTP/2 and HTTP/3.

The engines encode what they are given; what an application hands
``send()`` is checked here first, because a malformed field costs the client
the stream (nghttp2, curl: "Invalid HTTP header field", RST_STREAM
PROTOCOL_ERROR; RFC 9113 §8.1.1, RFC 9114 §4.1.2), and because a CR or LF in
a value is how a response gets smuggled through a proxy that translates to
HTTP/1.1 (RFC 9110 §5.5, RFC 9113 §8.2.1). HTTP/1.1 has its own check in
``http1_cycle.py``, written into its head writer.

``app_fields`` runs once per response (and per trailer section) on the
server's hottest path, so it is written for cost, measured with callgrind:
names are cached, values are tested with int needles.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lastcall.engines.fields import CONNECTION_SPECIFIC, is_field_name

__all__ = ["CONTENT_LENGTH", "app_fields"]

#: The one ``content-length`` object ``app_fields`` hands out, tested by identity.
CONTENT_LENGTH = b"content-length"
#: Fields an app may send that HTTP/2 and HTTP/3 must not carry: the
#: connection-specific ones (RFC 9113 §8.2.2, RFC 9114 §4.2), dropped as every
#: HTTP/2 server does (the app may not know which protocol it answers), and
#: ``te``, a request field whose only HTTP/2 form is allowed in requests.
_DROPPED_NAMES = CONNECTION_SPECIFIC | {b"te"}
#: App field name -> wire name (lowercased; b"" when dropped): apps send the
#: same few names, so each is checked once. Bounded: names are the app's.
_WIRE_NAMES: dict[bytes, bytes] = {}
_WIRE_NAMES_MAX = 1024


def _wire_name(name: Any) -> bytes:
    """``app_fields``' slow path: check a field name not seen before, remember it.

    Called from ``app_fields``' ``except KeyError``: the errors are raised
    ``from None`` so the app's traceback does not show that lookup.
    """
    try:
        raw = bytes(memoryview(name))  # not bytes(n): bytes(3) is three NULs
    except TypeError:
        raise RuntimeError(f"response header name {name!r} is not a byte string") from None
    wire = raw.lower()  # ASGI asks apps for lowercase; HTTP/2 requires it (§8.2.1)
    if wire[:1] == b":":
        raise RuntimeError(f"pseudo-header {raw!r} from the application (RFC 9113 §8.3)") from None
    if not is_field_name(wire):
        raise RuntimeError(f"invalid response header name {raw!r} (RFC 9110 §5.1)") from None
    if wire in _DROPPED_NAMES:
        wire = b""
    elif wire == CONTENT_LENGTH:
        wire = CONTENT_LENGTH
    if type(name) is bytes:
        if len(_WIRE_NAMES) >= _WIRE_NAMES_MAX:
            _WIRE_NAMES.clear()
        _WIRE_NAMES[name] = wire
    return wire


def _value_bytes(name: Any, value: Any) -> bytes:
    try:
        return bytes(memoryview(value))  # bytes-like only: bytes(0) would be b""
    except TypeError:
        raise RuntimeError(f"value of response header {name!r} is not a byte string") from None


def app_fields(fields: Iterable[Any]) -> tuple[list[tuple[bytes, bytes]], int]:
    """An application's response header (or trailer) fields as HTTP/2 and
    HTTP/3 may carry them, and its ``content-length`` (-1: none).

    Names are lowercased and must be tokens, never pseudo-headers;
    connection-specific fields are dropped; a value must not hold CR, LF or
    NUL (RFC 9113 §8.2.1, RFC 9114 §4.2; RFC 9110 §5.5) and loses leading and
    trailing whitespace, which is not part of it (RFC 9110 §5.5) and which
    HTTP/2 forbids on the wire. A ``content-length`` must be digits, and a
    repeated one the same. Anything else raises ``RuntimeError``.

    This runs for every response: each name costs one dict lookup once seen,
    each value three ``in`` tests with *int* needles (``b"\\r" in v`` would
    first try ``b"\\r"`` as an int and raise and clear a TypeError inside
    CPython: 10x the cost) and a ``strip``. The engine's own validators
    (``engines/fields.py``) are for what a peer sends: they refuse
    what we must translate (uppercase, connection-specific fields), and pay
    a regex per new value; only their name rule and field set are shared.
    """
    out: list[tuple[bytes, bytes]] = []
    length = -1
    names = _WIRE_NAMES
    for name, value in fields:
        try:
            wire = names[name]
        except (KeyError, TypeError):
            wire = _wire_name(name)
        if type(value) is not bytes:
            value = _value_bytes(name, value)
        if 13 in value or 10 in value or 0 in value:
            raise RuntimeError(
                f"CR, LF or NUL in the value of response header {name!r} (RFC 9113 §8.2.1)"
            )
        if wire is CONTENT_LENGTH:
            if length >= 0 or len(value) > 18 or not value.isdigit():
                if value.isdigit() and len(value) <= 18 and int(value) == length:
                    continue  # the same again: send it once
                raise RuntimeError(f"invalid content-length {value!r} from the application")
            length = int(value)
        elif not wire:
            continue
        out.append((wire, value.strip(b" \t")))
    return out, length
