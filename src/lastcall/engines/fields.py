"""Field validation for HTTP/2 and HTTP/3 messages (RFC 9113 §8.1-§8.3,
RFC 9114 §4.1-§4.3, RFC 8441 §4): both protocols carry the same fields with the
same rules, so both engines validate them here.

A request or response that breaks these rules is *malformed* (§8.1.1): the
engine answers it with a stream error of type PROTOCOL_ERROR and never hands
it to the application.

Validation runs for every request, so fields that passed once are
remembered in bounded sets: a connection that repeats ``user-agent``,
``accept`` or ``:authority`` pays two lookups per field afterwards.
"""

from __future__ import annotations

import re
from typing import Final

Headers = list[tuple[bytes, bytes]]

#: RFC 9110 §5.6.2 token characters, lowercase only: RFC 9113 §8.2.1 makes an
#: uppercase field name malformed.
_BAD_NAME: Final = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9a-z]")
#: RFC 9113 §8.2.1: no NUL, CR or LF anywhere, no leading or trailing whitespace.
_BAD_VALUE: Final = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
#: RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2 (and in
#: HTTP/3, RFC 9114 §4.2). The server adapters drop them from what apps send.
CONNECTION_SPECIFIC: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
#: RFC 9110 §9.1: a method is a token (case-sensitive, so both cases).
_METHOD: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: RFC 3986 §3.1: ``scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )``.
_SCHEME: Final = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*\Z")
#: The request pseudo-headers, each with its slot in ``validate_request``.
_METHOD_SLOT: Final = 0
_SCHEME_SLOT: Final = 1
_PATH_SLOT: Final = 2
_AUTHORITY_SLOT: Final = 3
_PROTOCOL_SLOT: Final = 4
_REQUEST_PSEUDO: Final = {
    b":method": _METHOD_SLOT,
    b":scheme": _SCHEME_SLOT,
    b":path": _PATH_SLOT,
    b":authority": _AUTHORITY_SLOT,
    b":protocol": _PROTOCOL_SLOT,
}

#: Values that passed, by field name: regular fields, and (apart, since a hit
#: there counts as a regular field for the "pseudo-headers first" rule) the
#: request pseudo-headers (``:method GET``, ``:scheme https``, ``:authority``).
#: Keyed by name then value rather than by ``(name, value)``: two lookups of
#: bytes whose hashes are cached are cheaper than building and hashing a tuple
#: per field, which is what compiled code would do (it unboxes the tuples).
_VALID_VALUES: Final[dict[bytes, set[bytes]]] = {}
_VALID_PSEUDO_VALUES: Final[dict[bytes, set[bytes]]] = {}
#: Bounds on those caches: names, and values per name (a full one is cleared).
_VALID_NAMES_MAX: Final = 256
_VALID_PER_NAME_MAX: Final = 64
#: Only values this short are remembered, so the caches stay under ~4 MiB
#: however long the fields a peer sends (up to the 64 KiB header limit).
_CACHED_VALUE_MAX: Final = 256


def _remember(cache: dict[bytes, set[bytes]], name: bytes, value: bytes) -> None:
    """Add a field that passed to ``cache``, within its bounds."""
    if len(value) > _CACHED_VALUE_MAX:
        return
    values = cache.get(name)
    if values is None:
        if len(cache) >= _VALID_NAMES_MAX:
            cache.clear()
        values = cache[name] = set()
    elif len(values) >= _VALID_PER_NAME_MAX:
        values.clear()
    values.add(value)


def _is_valid(cache: dict[bytes, set[bytes]], name: bytes, value: bytes) -> bool:
    values = cache.get(name)
    return values is not None and value in values


class MalformedMessage(Exception):
    """A message broke §8; the engine turns this into RST_STREAM(PROTOCOL_ERROR)."""


def is_head_request(headers: Headers) -> bool:
    """A request whose response has no body, whatever its content-length says
    (RFC 9110 §9.3.2): both engines' clients need to know when they read it."""
    for name, value in headers:
        if name == b":method":
            return value == b"HEAD"
    return False


def is_field_name(name: bytes) -> bool:
    """A valid HTTP/2 and HTTP/3 field name: a non-empty token of lowercase
    characters (RFC 9110 §5.1, RFC 9113 §8.2.1, RFC 9114 §4.2)."""
    return bool(name) and _BAD_NAME.search(name) is None


def _check_regular(name: bytes, value: bytes) -> None:
    if not name or _BAD_NAME.search(name) is not None:
        raise MalformedMessage(f"invalid field name {name!r}")
    if name in CONNECTION_SPECIFIC:
        raise MalformedMessage(f"connection-specific field {name!r} (RFC 9113 §8.2.2)")
    if name == b"te" and value != b"trailers":
        raise MalformedMessage("te may only be 'trailers' (RFC 9113 §8.2.2)")
    if _BAD_VALUE.search(value) is not None:
        raise MalformedMessage(f"invalid value for field {name!r}")
    _remember(_VALID_VALUES, name, value)


def _parse_content_length(value: bytes, current: int) -> int:
    if not value.isdigit() or len(value) > 18:
        raise MalformedMessage("content-length is not a non-negative integer")
    length = int(value)
    if current >= 0 and current != length:
        raise MalformedMessage("conflicting content-length values")
    return length


def validate_request(headers: Headers, allow_extended_connect: bool) -> int:
    """Check a request header block; return its content-length, or -1 when absent.

    Rules: §8.3.1 pseudo-headers (exactly one :method, :scheme and :path except
    for CONNECT, pseudo-headers before regular ones, no unknown ones),
    §8.5 CONNECT (:authority only), RFC 8441 §4 extended CONNECT (:protocol
    only when we advertised SETTINGS_ENABLE_CONNECT_PROTOCOL).
    """
    method = scheme = path = authority = protocol = None
    seen_regular = False
    content_length = -1
    for name, value in headers:
        slot = _REQUEST_PSEUDO.get(name, -1)
        if slot < 0:
            seen_regular = True
            if _is_valid(_VALID_VALUES, name, value):
                continue
            if name[:1] == b":":
                raise MalformedMessage(f"unknown request pseudo-header {name!r}")
            if name == b"content-length":
                content_length = _parse_content_length(value, content_length)
                continue
            _check_regular(name, value)
            continue
        if seen_regular:
            raise MalformedMessage("pseudo-header after a regular field (RFC 9113 §8.3)")
        if not _is_valid(_VALID_PSEUDO_VALUES, name, value):
            if _BAD_VALUE.search(value) is not None:
                raise MalformedMessage(f"invalid value for {name!r}")
            # The server makes text of these two (the ASGI scope): bytes
            # that are no method or scheme must not get that far.
            if slot == _METHOD_SLOT and _METHOD.match(value) is None:
                raise MalformedMessage(":method is not a token (RFC 9110 §9.1)")
            if slot == _SCHEME_SLOT and _SCHEME.match(value) is None:
                raise MalformedMessage(":scheme is not a URI scheme (RFC 3986 §3.1)")
            _remember(_VALID_PSEUDO_VALUES, name, value)
        if slot == _METHOD_SLOT:
            if method is not None:
                raise MalformedMessage("duplicate :method")
            method = value
        elif slot == _PATH_SLOT:
            if path is not None:
                raise MalformedMessage("duplicate :path")
            path = value
        elif slot == _SCHEME_SLOT:
            if scheme is not None:
                raise MalformedMessage("duplicate :scheme")
            scheme = value
        elif slot == _AUTHORITY_SLOT:
            if authority is not None:
                raise MalformedMessage("duplicate :authority")
            authority = value
        else:
            if protocol is not None:
                raise MalformedMessage("duplicate :protocol")
            protocol = value
    if method is None:
        raise MalformedMessage("missing :method")
    if method == b"CONNECT" and protocol is None:
        # RFC 9113 §8.5: plain CONNECT carries :authority and nothing else.
        if scheme is not None or path is not None or not authority:
            raise MalformedMessage("CONNECT must carry :authority only")
        return content_length
    if protocol is not None:
        if not allow_extended_connect or method != b"CONNECT":
            raise MalformedMessage(":protocol without extended CONNECT (RFC 8441 §4)")
        if not authority:
            raise MalformedMessage("extended CONNECT needs :authority")
    if scheme is None or not path:
        raise MalformedMessage("missing :scheme or :path")
    if (
        path[:1] != b"/"
        and not (path == b"*" and method == b"OPTIONS")
        and scheme in (b"http", b"https")
    ):
        raise MalformedMessage(":path must be absolute or '*' for OPTIONS")
    return content_length


def validate_response(headers: Headers) -> tuple[int, int]:
    """Check a response header block; return (status, content-length or -1)."""
    if not headers or headers[0][0] != b":status":
        raise MalformedMessage("response must start with :status")
    raw = headers[0][1]
    if len(raw) != 3 or not raw.isdigit():
        raise MalformedMessage("invalid :status")
    content_length = -1
    for name, value in headers[1:]:
        if _is_valid(_VALID_VALUES, name, value):
            continue
        if name[:1] == b":":
            raise MalformedMessage(f"unexpected pseudo-header {name!r} in a response")
        if name == b"content-length":
            content_length = _parse_content_length(value, content_length)
            continue
        _check_regular(name, value)
    return int(raw), content_length


def validate_trailers(headers: Headers) -> None:
    """Trailers carry no pseudo-headers (RFC 9113 §8.1)."""
    for name, value in headers:
        if _is_valid(_VALID_VALUES, name, value):
            continue
        if name[:1] == b":":
            raise MalformedMessage("pseudo-header in trailers")
        _check_regular(name, value)
