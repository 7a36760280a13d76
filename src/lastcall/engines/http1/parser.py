"""A sans-IO HTTP/1.1 request parser over httptools (llhttp), with limits.

Why httptools and not h11: llhttp (Node.js's parser, in C) parses a request
about ten times faster than pure-Python h11, and it is what uvicorn uses in
production, so it has seen every malformed input the Internet sends. Its
strictness matches RFC 9112: it rejects obsolete line folding, bare CR, a
Transfer-Encoding that is not chunked-last, and Content-Length together with
Transfer-Encoding (request smuggling, RFC 9112 §6.1).

Bytes go in through ``feed``; events come out as a list. The parser never
decides anything about connections: keep-alive, ``Expect: 100-continue`` and
draining belong to the adapter (``lastcall.server.http1``). Any bytes either
parse or raise ``RemoteProtocolError`` with the status to answer
(``status_hint``) -- nothing else (the h11 fuzz invariant).

Bad bytes after good requests lose nothing: when a chunk holds complete
requests and then an error, ``feed`` returns the events of those requests and
keeps the error in ``pending_error`` (the next ``feed`` raises it), so the
adapter answers what was accepted before it answers the error.

Beyond llhttp's own checks: exactly one ``Host`` in an HTTP/1.1 request, at
most one in HTTP/1.0 (RFC 9112 §3.2: else 400), and 501 for a transfer coding
other than ``chunked`` (RFC 9112 §6.1: we would pass on a body still
gzip-coded). HTTP versions: a major version other than 1 gets 505
(``GET / HTTP/2.0`` as text); ``HTTP/1.2`` and later minors are served as
1.1 (RFC 9110 §2.5: "the highest minor version ... less than or equal").

Checks of whole fields (those 501, 413, 400 and the header count's 431) are
made when the head is complete, not as each field is reported: httptools
reports a field only once the next one starts, so a check made at that moment
would race llhttp's own 400 for a malformed next line, and the status would
depend on how the bytes were split into reads (found by the fuzzer).

Sizes are bounded as bytes arrive, never only once a line is complete: a
header line (name or value) that never ends, a chunk-size line with an
endless extension, or a trailer section that never ends would otherwise be
taken in without limit, and httptools joins the pieces of a field with
``bytes +=`` (quadratic). After each ``feed`` the parser knows which line
region it is in (head, chunk-size line, trailers) and how many bytes of the
current line have arrived: exactly when the feed holds a line feed of that
region (the line in progress is what follows the last one), else by adding
the whole feed. Past ``max_header_size`` (head, trailers: 431) or
``max_chunk_extension_size`` (a chunk-size line: 400), the error is raised
at once.
"""

from __future__ import annotations

from typing import Final

import httptools

from lastcall.errors import RemoteProtocolError

from .limits import Http1Limits

__all__ = ["BodyReceived", "Http1Parser", "RequestEnded", "RequestStarted", "UpgradeRequested"]

Headers = list[tuple[bytes, bytes]]


class RequestStarted:
    """A request head was parsed.

    ``keep_alive`` is llhttp's reading of RFC 9112 §9.3 (HTTP/1.1 default on,
    ``Connection: close`` off; HTTP/1.0 needs ``keep-alive``). ``expect_continue``
    is set for ``Expect: 100-continue`` (RFC 9110 §10.1.1). ``upgrade`` is
    the lowercased ``Upgrade`` token when ``Connection: upgrade`` asks for one.
    """

    __slots__ = (
        "expect_continue",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "target",
        "upgrade",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        http_version: str,
        headers: Headers,
        keep_alive: bool,
        expect_continue: bool,
        upgrade: bytes | None,
    ) -> None:
        self.method = method
        self.target = target
        self.http_version = http_version
        self.headers = headers
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        self.upgrade = upgrade


class BodyReceived:
    """A piece of the request body (de-chunked)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class RequestEnded:
    """The request (head and body) is complete."""

    __slots__ = ()


class UpgradeRequested:
    """The request asked to switch protocols (``Upgrade``) or was a CONNECT.

    Everything after the request is in ``trailing`` and belongs to the new
    protocol; the parser must not be fed again.
    """

    __slots__ = ("trailing",)

    def __init__(self, trailing: bytes) -> None:
        self.trailing = trailing


Event = RequestStarted | BodyReceived | RequestEnded | UpgradeRequested
_REQUEST_ENDED: Final = RequestEnded()

#: Where the parser is in a request, as far as line limits go (``_region``).
_IDLE: Final = 0  # between requests
_HEAD: Final = 1  # request line and header fields
_BODY: Final = 2  # body bytes (Content-Length, or a chunk's data)
_CHUNK_LINE: Final = 3  # a chunk-size line, extensions included
_AFTER_CHUNK_LINE: Final = 4  # after a chunk-size line: its data, or after the last one, trailers


class Http1Parser:
    """Parses one connection's stream of requests (pipelined ones included)."""

    __slots__ = (
        "_body_after_upgrade",
        "_body_size",
        "_deferred_error",
        "_events",
        "_expect",
        "_has_trailers",
        "_head_fields_in_feed",
        "_header_count",
        "_header_size",
        "_headers",
        "_host_count",
        "_is_chunked",
        "_limit_error",
        "_line",
        "_parser",
        "_region",
        "_region_changed",
        "_swallow_head",
        "_upgrade",
        "_url",
        "in_head",
        "in_message",
        "limits",
        "pending_error",
    )

    def __init__(self, limits: Http1Limits | None = None) -> None:
        self.limits = limits or Http1Limits()
        self._parser = self._new_llhttp()
        self._events: list[Event] = []
        self._url = b""
        self._headers: Headers = []
        self._header_size = 0
        self._header_count = 0
        self._host_count = 0
        self._body_size = 0
        self._expect = False
        self._upgrade: bytes | None = None
        #: An error met after the events ``feed`` last returned; raised next time.
        self.pending_error: RemoteProtocolError | None = None
        self._limit_error: RemoteProtocolError | None = None
        #: A whole-field check that failed; raised when the head is complete.
        self._deferred_error: RemoteProtocolError | None = None
        self._region = _IDLE
        self._region_changed = False
        self._head_fields_in_feed = False
        self._is_chunked = False
        self._has_trailers = False
        #: Bytes of the current line (header, chunk-size or trailer line) so far.
        self._line = 0
        self._body_after_upgrade = False
        self._swallow_head = False
        #: True from the first byte of a request until it is complete: a request
        #: "already arriving" when a drain starts is answered, not dropped.
        self.in_message = False
        #: True from the first byte of a request until its head is complete:
        #: the span the adapter's request head timeout bounds (slowloris).
        self.in_head = False

    def _new_llhttp(self) -> httptools.HttpRequestParser:
        parser = httptools.HttpRequestParser(self)
        # Any HTTP/x.y parses, so that on_headers_complete can answer 505 for
        # another major version and serve 1.2+ as 1.1 (llhttp says 400).
        parser.set_dangerous_leniencies(lenient_version=True)
        return parser

    @property
    def in_trailers(self) -> bool:
        """True while a chunked body's trailer section is arriving (bounded in
        time by the adapter like a head)."""
        return self._region == _AFTER_CHUNK_LINE and (self._line > 0 or self._has_trailers)

    def feed(self, data: bytes) -> list[Event]:
        """Parse ``data``; return the events it completed. Raises ``RemoteProtocolError``.

        If the error follows events in the same chunk, those are returned and
        the error waits in ``pending_error``.
        """
        if self.pending_error is not None:
            raise self.pending_error
        self._region_changed = False
        self._head_fields_in_feed = False
        try:
            self._parser.feed_data(data)
            region = self._region
            if region != _IDLE and region != _BODY:
                self._bound_line(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0] if exc.args else len(data)
            self._events.append(UpgradeRequested(bytes(data[offset:])))
        except (httptools.HttpParserError, RemoteProtocolError) as exc:
            error = self._limit_error or RemoteProtocolError(
                f"malformed HTTP/1.1 request: {exc}", status_hint=400
            )
            events, self._events = self._events, []
            if events:
                self.pending_error = error
                return events
            self.pending_error = error
            raise error from None
        events, self._events = self._events, []
        return events

    def _bound_line(self, data: bytes) -> None:
        """After a feed that ended inside a line region: count the line in
        progress and raise past its limit (see the module docstring)."""
        region = self._region
        newline = data.rfind(b"\n")
        if not self._region_changed:
            # The whole feed was in this region.
            self._line = self._line + len(data) if newline < 0 else len(data) - newline - 1
        elif region != _HEAD or self._head_fields_in_feed:
            # The region began after a line feed in this data (for a head: a
            # field of it completed here, so its lines are in this data).
            self._line = len(data) - newline - 1
        else:
            # A head began in this feed and no field of it completed: the
            # request line is bounded by on_url; the rest is counted from the
            # next feed on.
            self._line = 0
        limits = self.limits
        if region == _CHUNK_LINE:
            if self._line > limits.max_chunk_extension_size:
                self._fail(RemoteProtocolError("chunk extensions too large", status_hint=400))
        elif self._header_size + self._line > limits.max_header_size:
            what = "request header fields" if region == _HEAD else "request trailer fields"
            self._fail(RemoteProtocolError(f"{what} too large", status_hint=431))

    def decline_upgrade(self) -> None:
        """Serve an ``Upgrade`` request as plain HTTP/1.1 (the upgrade is optional).

        llhttp stops at the head of an upgrade request, treating everything
        after it as the new protocol's. When we decline, the request's body (if
        it has one) and any later requests follow: a fresh parser is primed with
        the request's framing fields so it parses that body, and the events
        continue as if nothing had happened (no second ``RequestStarted``).
        """
        framing = [
            (n, v) for n, v in self._headers if n in (b"content-length", b"transfer-encoding")
        ]
        self._parser = self._new_llhttp()
        self.in_message = False
        self.in_head = False
        self._region = _IDLE
        if self._body_after_upgrade and framing:
            self._body_after_upgrade = False
            self._swallow_head = True
            head = b"".join(n + b": " + v + b"\r\n" for n, v in framing)
            self._parser.feed_data(b"POST / HTTP/1.1\r\n" + head + b"\r\n")
            self._events = [e for e in self._events if not isinstance(e, RequestStarted)]

    # -- llhttp callbacks (hot path: keep them small) -------------------------------

    def _fail(self, error: RemoteProtocolError) -> None:
        self._limit_error = error
        raise error

    def on_message_begin(self) -> None:
        self.in_message = True
        self._region = _HEAD
        self._region_changed = True
        self._line = 0
        if self._swallow_head:
            return
        self._url = b""
        self._headers = []
        self._header_size = 0
        self._header_count = 0
        self._host_count = 0
        self._body_size = 0
        self._expect = False
        self._upgrade = None
        self._deferred_error = None
        self._is_chunked = False
        self._has_trailers = False
        self.in_head = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.limits.max_request_line_size:
            self._fail(RemoteProtocolError("request line too long", status_hint=414))

    def _defer(self, error: RemoteProtocolError) -> None:
        if self._deferred_error is None:
            self._deferred_error = error

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self._header_size += size
        self._header_count += 1
        self._line = 0
        if self._header_size > self.limits.max_header_size:
            # Bytes already taken in: stop now (the line limit's exact twin).
            what = "request header fields" if self.in_head else "request trailer fields"
            self._fail(RemoteProtocolError(f"{what} too large", status_hint=431))
        if not self.in_head:
            # A chunked body's trailer section (RFC 9112 §7.1.2): counted
            # against the limits, never added to the head (ASGI has no request
            # trailers, and a field here must not pass for a header).
            self._has_trailers = True
            if self._header_count > self.limits.max_header_count:
                self._fail(RemoteProtocolError("request trailer fields too many", status_hint=431))
            return
        self._head_fields_in_feed = True
        if self._header_count > self.limits.max_header_count:
            self._defer(RemoteProtocolError("request header fields too many", status_hint=431))
            return  # not kept: the head is refused once complete
        if value and (value[-1] == 0x20 or value[-1] == 0x09):
            # RFC 9112 §5: the OWS after a value is not part of it (llhttp
            # drops only the OWS before it); an HTTP/2 peer the proxy forwards
            # it to would find the value malformed (RFC 9113 §8.2.1).
            value = value.rstrip(b" \t")
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self._expect = True
        elif name == b"upgrade":
            self._upgrade = value.lower()
        elif name == b"host":
            self._host_count += 1
        elif name == b"content-length":
            limit = self.limits.max_body_size
            if limit is not None and value.isdigit() and int(value) > limit:
                self._defer(RemoteProtocolError("request body too large", status_hint=413))
        elif name == b"transfer-encoding":
            if value.strip().lower() != b"chunked":
                self._defer(
                    RemoteProtocolError(
                        f"transfer coding {value.decode('latin-1')!r} not implemented",
                        status_hint=501,
                    )
                )
            self._is_chunked = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.in_head = False
        self._region = _CHUNK_LINE if self._is_chunked else _BODY
        self._region_changed = True
        self._line = 0
        if self._swallow_head:
            self._swallow_head = False
            return
        parser = self._parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            if version[:2] != "1.":
                self._fail(
                    RemoteProtocolError(
                        f"HTTP/{version} not supported: HTTP/1.1 only on this connection",
                        status_hint=505,
                    )
                )
            version = "1.1"  # RFC 9110 §2.5: a later 1.x is answered as 1.1
        if self._deferred_error is not None:
            self._fail(self._deferred_error)
        hosts = self._host_count
        if hosts != 1 and (hosts > 1 or version != "1.0"):
            self._fail(
                RemoteProtocolError(
                    "more than one Host header" if hosts else "missing Host header",
                    status_hint=400,
                )
            )
        upgrade = self._upgrade if parser.should_upgrade() else None
        if upgrade is not None:
            self._body_after_upgrade = any(
                n == b"transfer-encoding" or (n == b"content-length" and v.strip() != b"0")
                for n, v in self._headers
            )
        self._events.append(
            RequestStarted(
                parser.get_method(),
                self._url,
                version,
                self._headers,
                parser.should_keep_alive(),
                self._expect,
                upgrade,
            )
        )

    def on_chunk_header(self) -> None:
        self._region = _AFTER_CHUNK_LINE
        self._region_changed = True
        self._line = 0

    def on_chunk_complete(self) -> None:
        self._region = _CHUNK_LINE
        self._region_changed = True
        self._line = 0

    def on_body(self, body: bytes) -> None:
        if self._region == _AFTER_CHUNK_LINE:
            self._region = _BODY  # chunk data, not trailers
            self._region_changed = True
        limit = self.limits.max_body_size
        if limit is not None:
            self._body_size += len(body)
            if self._body_size > limit:
                self._fail(RemoteProtocolError("request body too large", status_hint=413))
        self._events.append(BodyReceived(body))

    def on_message_complete(self) -> None:
        self._region = _IDLE
        self._region_changed = True
        if self._body_after_upgrade:
            return  # llhttp did not parse this body: see decline_upgrade()
        self.in_message = False
        self._events.append(_REQUEST_ENDED)
