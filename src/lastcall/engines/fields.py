"""Field validation for HTTP/2 and HTTP/3 messages (RFC 9113 §8.1-§8.3,
RFC 9114 §4.1-§4.3, RFC 8441 §4): both protocols carry the same fields with the
same rules, so both engines validate them here.

A request or response that breaks these rules is *malformed* (§8.1.1): the
engine answers it with a stream error of type PROTOCOL_ERROR and never hands
it to the application.

Validation runs for every request, so fields that passed once are
remembered in bounded sets: a connection that repeats ``user-agent``,
``accept`` or ``:authority`` pays one set lookup per field afterwards.
"""

from __future__ import annotations

import re

Headers = list[tuple[bytes, bytes]]

#: RFC 9110 §5.6.2 token characters, lowercase only: RFC 9113 §8.2.1 makes an
#: uppercase field name malformed.
_BAD_NAME = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9a-z]")
#: RFC 9113 §8.2.1: no NUL, CR or LF anywhere, no leading or trailing whitespace.
_BAD_VALUE = re.compile(rb"[\x00\r\n]|\A[ \t]|[ \t]\Z")
#: RFC 9113 §8.2.2: connection-specific fields are malformed in HTTP/2 (and in
#: HTTP/3, RFC 9114 §4.2). The server adapters drop them from what apps send.
CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)
_REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":path", b":authority", b":protocol"})
#: RFC 9110 §9.1: a method is a token (case-sensitive, so both cases).
_METHOD = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
#: RFC 3986 §3.1: ``scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )``.
_SCHEME = re.compile(rb"[A-Za-z][A-Za-z0-9+\-.]*\Z")

_VALID_FIELDS: set[tuple[bytes, bytes]] = set()
#: Pseudo-header fields whose value passed (``:method GET``, ``:scheme https``,
#: ``:authority``): kept apart from ``_VALID_FIELDS``, whose hits count as
#: regular fields for the "pseudo-headers first" rule.
_VALID_PSEUDO: set[tuple[bytes, bytes]] = set()
_VALID_FIELDS_MAX = 4096
#: Only values this short are remembered, so the caches stay under ~2 MiB
#: however long the fields a peer sends (up to the 64 KiB header limit).
_CACHED_VALUE_MAX = 256


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
    if len(value) <= _CACHED_VALUE_MAX:
        if len(_VALID_FIELDS) >= _VALID_FIELDS_MAX:
            _VALID_FIELDS.clear()
        _VALID_FIELDS.add((name, value))


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
    valid = _VALID_FIELDS
    for name, value in headers:
        if (name, value) in valid:
            seen_regular = True
            continue
        if name[:1] == b":":
            if seen_regular:
                raise MalformedMessage("pseudo-header after a regular field (RFC 9113 §8.3)")
            if name not in _REQUEST_PSEUDO:
                raise MalformedMessage(f"unknown request pseudo-header {name!r}")
            if (name, value) not in _VALID_PSEUDO:
                if _BAD_VALUE.search(value) is not None:
                    raise MalformedMessage(f"invalid value for {name!r}")
                # The server makes text of these two (the ASGI scope): bytes
                # that are no method or scheme must not get that far.
                if name == b":method" and _METHOD.match(value) is None:
                    raise MalformedMessage(":method is not a token (RFC 9110 §9.1)")
                if name == b":scheme" and _SCHEME.match(value) is None:
                    raise MalformedMessage(":scheme is not a URI scheme (RFC 3986 §3.1)")
                if len(value) <= _CACHED_VALUE_MAX:
                    if len(_VALID_PSEUDO) >= _VALID_FIELDS_MAX:
                        _VALID_PSEUDO.clear()
                    _VALID_PSEUDO.add((name, value))
            if name == b":method":
                if method is not None:
                    raise MalformedMessage("duplicate :method")
                method = value
            elif name == b":path":
                if path is not None:
                    raise MalformedMessage("duplicate :path")
                path = value
            elif name == b":scheme":
                if scheme is not None:
                    raise MalformedMessage("duplicate :scheme")
                scheme = value
            elif name == b":authority":
                if authority is not None:
                    raise MalformedMessage("duplicate :authority")
                authority = value
            else:
                if protocol is not None:
                    raise MalformedMessage("duplicate :protocol")
                protocol = value
            continue
        seen_regular = True
        if name == b"content-length":
            content_length = _parse_content_length(value, content_length)
            continue
        _check_regular(name, value)
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
    valid = _VALID_FIELDS
    for name, value in headers[1:]:
        if (name, value) in valid:
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
    valid = _VALID_FIELDS
    for name, value in headers:
        if (name, value) in valid:
            continue
        if name[:1] == b":":
            raise MalformedMessage("pseudo-header in trailers")
        _check_regular(name, value)
