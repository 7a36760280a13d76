"""What the proxy changes in the header sections it forwards: pure functions.

Requests (downstream -> backend):

* hop-by-hop fields are removed (RFC 9110 §7.6.1): ``Connection`` and every
  field it names, ``Keep-Alive``, ``Proxy-Connection``, ``TE`` (but
  ``TE: trailers`` is kept: gRPC needs it, RFC 9113 §8.2.2 allows it),
  ``Transfer-Encoding``, ``Upgrade``, ``HTTP2-Settings``;
* framing is never passed through: ``Transfer-Encoding`` is dropped and the
  upstream connection frames the body itself (chunked or DATA frames); a
  ``Content-Length`` is forwarded only as one plain decimal (the server has
  already checked it against the body: RFC 9112 §6.3, RFC 9113 §8.1.1), so a
  request that smuggled a second length or a chunked coding past a lenient
  parser still cannot reach a backend with two framings;
* ``X-Forwarded-For`` is appended to (like nginx's
  ``$proxy_add_x_forwarded_for``), ``X-Forwarded-Proto``/``-Host`` are set,
  and/or ``Forwarded`` (RFC 7239) is appended to; ``Via`` is appended to
  (RFC 9110 §7.6.3).

Responses (backend -> downstream): the same hop-by-hop fields go, and ``Via``
is added. ``Date`` goes too: the server sends its own on every response
(RFC 9110 §6.6.1), and two would be a malformed field. The server validates
what remains (names, values, length) before it reaches the wire.

Every function takes and returns lists of ``(name, value)`` bytes with
lowercase names, as ASGI and the client use them, and copies only once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "HOP_BY_HOP",
    "ForwardingPolicy",
    "response_headers",
    "upstream_request_headers",
]

Headers = list[tuple[bytes, bytes]]

#: RFC 9110 §7.6.1 (and the pre-standard ones still seen): never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"transfer-encoding",
        b"upgrade",
        b"http2-settings",
    }
)

_TOKEN_CHARS = frozenset(
    b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)


@dataclass(frozen=True, slots=True)
class ForwardingPolicy:
    """What the proxy adds; built once from ``ProxyConfig``."""

    x_forwarded: bool = True
    rfc7239: bool = False
    #: ``Via`` pseudonym, or ``None`` for no ``Via``.
    via_name: bytes | None = b"lastcall"
    preserve_host: bool = True


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> frozenset[bytes] | None:
    """Field names a ``Connection`` header lists (RFC 9110 §7.6.1); None when there is none."""
    names: set[bytes] | None = None
    for name, value in headers:
        if name == b"connection":
            if names is None:
                names = set()
            names.update(t.strip().lower() for t in value.split(b","))
    return frozenset(names) if names is not None else None


def _quoted(value: bytes) -> bytes:
    """An RFC 7239 value: a token as is, anything else as a quoted-string."""
    if value and all(c in _TOKEN_CHARS for c in value):
        return value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def upstream_request_headers(
    headers: Sequence[tuple[bytes, bytes]],
    policy: ForwardingPolicy,
    *,
    client_host: str | None,
    scheme: str,
    http_version: str,
    backend_authority: bytes,
) -> Headers:
    """The header section to send a backend for a request that arrived with ``headers``."""
    nominated = _connection_tokens(headers)
    out: Headers = []
    host: bytes | None = None
    has_length = False
    xff: bytes | None = None
    forwarded: bytes | None = None
    via: bytes | None = None
    trailers = False
    for name, value in headers:
        if name in HOP_BY_HOP or (nominated is not None and name in nominated):
            if name == b"te" and b"trailers" in value.lower():
                trailers = True
            continue
        if name == b"host":
            if host is None:
                host = value
            continue
        if name == b"content-length":
            if has_length or not value.isdigit():
                continue  # one plain length or none (checked by the server already)
            has_length = True
        elif name == b"x-forwarded-for" and policy.x_forwarded:
            xff = value if xff is None else xff + b", " + value
            continue
        elif name in (b"x-forwarded-proto", b"x-forwarded-host") and policy.x_forwarded:
            continue
        elif name == b"forwarded" and policy.rfc7239:
            forwarded = value if forwarded is None else forwarded + b", " + value
            continue
        elif name == b"via" and policy.via_name is not None:
            via = value if via is None else via + b", " + value
            continue
        out.append((name, value))
    authority = host if host is not None and policy.preserve_host else backend_authority
    out.insert(0, (b"host", authority))
    if trailers:
        out.append((b"te", b"trailers"))
    client = client_host.encode("latin-1") if client_host else None
    scheme_b = scheme.encode("ascii")
    if policy.x_forwarded:
        if client is not None:
            xff = client if xff is None else xff + b", " + client
        if xff is not None:
            out.append((b"x-forwarded-for", xff))
        out.append((b"x-forwarded-proto", scheme_b))
        if host is not None:
            out.append((b"x-forwarded-host", host))
    if policy.rfc7239:
        node = (
            b"unknown" if client is None else (b"[" + client + b"]" if b":" in client else client)
        )
        element = b"for=" + _quoted(node) + b";proto=" + scheme_b
        if host is not None:
            element += b";host=" + _quoted(host)
        out.append((b"forwarded", element if forwarded is None else forwarded + b", " + element))
    if policy.via_name is not None:
        entry = http_version.encode("ascii") + b" " + policy.via_name
        out.append((b"via", entry if via is None else via + b", " + entry))
    return out


def response_headers(
    headers: Sequence[tuple[bytes, bytes]], policy: ForwardingPolicy, http_version: str
) -> Headers:
    """The header section to send downstream for a backend's response (or trailers)."""
    nominated = _connection_tokens(headers)
    out: Headers = []
    via: bytes | None = None
    for name, value in headers:
        if name in HOP_BY_HOP or name == b"date" or (nominated is not None and name in nominated):
            continue
        if name == b"via" and policy.via_name is not None:
            via = value if via is None else via + b", " + value
            continue
        out.append((name, value))
    if policy.via_name is not None:
        entry = http_version.encode("ascii") + b" " + policy.via_name
        out.append((b"via", entry if via is None else via + b", " + entry))
    return out
