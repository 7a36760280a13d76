"""Requests, responses, headers and URLs of the client, shaped like httpx's.

An httpx user should feel at home: ``response.status_code``, ``response.headers``
(case-insensitive), ``await response.aread()``, ``async for chunk in
response.aiter_bytes()``. What differs is on purpose: a response also says
when its connection is closing (``response.closing``; see ``notices.py``).
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from lastcall.errors import LocalProtocolError

if TYPE_CHECKING:
    from .notices import ClosingSignal

RawHeaders = list[tuple[bytes, bytes]]
HeaderTypes = Mapping[str, str] | Sequence[tuple[str, str]] | Sequence[tuple[bytes, bytes]]

#: RFC 9110 §9.2.2: methods whose repetition has the same effect as one request.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: An origin-form target (RFC 9112 §3.2.1) of visible ASCII, no fragment: what
#: ``URL.with_target`` forwards byte for byte.
_ORIGIN_FORM = re.compile(rb"/[\x21\x22\x24-\x7e]*")


def _b(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


class URL:
    """An absolute ``http``/``https`` URL, split once into what the wire needs."""

    __slots__ = ("authority", "host", "origin", "port", "raw", "scheme", "target")

    def __init__(self, url: str | URL) -> None:
        if isinstance(url, URL):
            url = str(url.raw)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            raise LocalProtocolError(f"unsupported URL scheme {parts.scheme!r} in {url!r}")
        host = parts.hostname
        if not host:
            raise LocalProtocolError(f"no host in URL {url!r}")
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            raise LocalProtocolError(f"invalid port in URL {url!r}") from None
        self.raw: str = url
        self.scheme = scheme
        self.host = host
        self.port = port
        #: (scheme, host, port): the key of a connection pool.
        self.origin: tuple[str, str, int] = (scheme, host, port)
        hostport = f"[{host}]" if ":" in host else host
        if port != _DEFAULT_PORTS[scheme]:
            hostport = f"{hostport}:{port}"
        #: ``Host`` header (HTTP/1.1) and ``:authority`` (HTTP/2), RFC 9110 §7.2.
        self.authority = hostport.encode("ascii")
        path = parts.path or "/"
        #: Request target in origin-form (RFC 9112 §3.2.1).
        try:
            self.target = (path + "?" + parts.query if parts.query else path).encode("ascii")
        except UnicodeEncodeError:
            # No request line carries it (RFC 9112 §3.2); a caller with text
            # percent-encodes it first (RFC 3986 §2.1).
            raise LocalProtocolError(f"non-ASCII character in URL {url!r}") from None

    @classmethod
    def with_target(cls, origin: str | URL, target: bytes) -> URL:
        """``origin`` (``scheme://host[:port]``, or a ``URL`` of it) and ``target``
        exactly as given: a proxy forwards a request target byte for byte. Never
        re-parsed (``urlsplit`` would drop a fragment, tabs and newlines); one
        that no request line carries as it is raises ``LocalProtocolError``.
        Given a ``URL``, the origin is not split again either (once per proxied
        request, it showed in profiles)."""
        if _ORIGIN_FORM.fullmatch(target) is None:
            raise LocalProtocolError(f"request target {target!r} cannot be forwarded as it is")
        if isinstance(origin, str):
            url = cls(origin)
            url.target = target
            url.raw = origin + target.decode("ascii")
            return url
        url = cls.__new__(cls)
        url.scheme = origin.scheme
        url.host = origin.host
        url.port = origin.port
        url.origin = origin.origin
        url.authority = origin.authority
        url.target = target
        url.raw = f"{origin.scheme}://{origin.authority.decode('ascii')}{target.decode('ascii')}"
        return url

    def __str__(self) -> str:
        return self.raw

    def __repr__(self) -> str:
        return f"URL({self.raw!r})"


class Headers:
    """Case-insensitive, ordered, multi-valued headers; names are kept lowercase.

    Values are ``str`` at the API (latin-1, as RFC 9110 §5.5 allows for
    historic reasons) and bytes on the wire (``raw``).
    """

    __slots__ = ("raw",)

    def __init__(self, headers: HeaderTypes | Headers | None = None) -> None:
        self.raw: RawHeaders = []
        if headers is None:
            return
        if isinstance(headers, Headers):
            self.raw = list(headers.raw)
            return
        items: Iterable[tuple[str | bytes, str | bytes]]
        items = headers.items() if isinstance(headers, Mapping) else headers
        self.raw = [(_b(k).lower(), _b(v)) for k, v in items]

    @classmethod
    def from_raw(cls, raw: RawHeaders) -> Headers:
        """Wrap wire headers that are already lowercase (h11 and our engine give those)."""
        self = cls.__new__(cls)
        self.raw = raw
        return self

    def get(self, name: str, default: str | None = None) -> str | None:
        """All values of ``name`` joined by ``, `` (RFC 9110 §5.3), or ``default``."""
        key = name.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in self.raw if k == key]
        return ", ".join(values) if values else default

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, in order."""
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw if k == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower().encode("latin-1")
        return any(k == key for k, _ in self.raw)

    def __setitem__(self, name: str, value: str) -> None:
        key = name.lower().encode("latin-1")
        self.raw = [(k, v) for k, v in self.raw if k != key]
        self.raw.append((key, value.encode("latin-1")))

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for k, _ in self.raw:
            seen.setdefault(k.decode("latin-1"), None)
        return iter(seen)

    def __len__(self) -> int:
        return len(self.raw)

    def items(self) -> list[tuple[str, str]]:
        """Every (name, value) pair, names lowercase, repeated names kept."""
        return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self.raw) == sorted(other.raw)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


RequestStream = AsyncIterable[bytes] | Iterable[bytes]


class Request:
    """One HTTP request.

    ``content`` (bytes) can always be sent again. A ``stream`` can be replayed
    only if it is a list or tuple of chunks, or if not a byte of it was taken
    yet (``is_replayable``): a request the server never processed is replayed
    on another connection only when its body can be produced again.
    """

    __slots__ = (
        "_stream_started",
        "content",
        "headers",
        "method",
        "protocol",
        "stream",
        "trailers",
        "url",
    )

    def __init__(
        self,
        method: str,
        url: str | URL,
        *,
        headers: HeaderTypes | Headers | None = None,
        content: bytes | str | None = None,
        stream: RequestStream | None = None,
        trailers: HeaderTypes | Headers | None = None,
        protocol: str | None = None,
    ) -> None:
        if content is not None and stream is not None:
            raise LocalProtocolError("give content= or stream=, not both")
        if protocol is not None and method.upper() != "CONNECT":
            raise LocalProtocolError("protocol= is for an extended CONNECT (RFC 8441)")
        self.method = method.upper()
        self.url = url if isinstance(url, URL) else URL(url)
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.content: bytes | None = content.encode() if isinstance(content, str) else content
        self.stream = stream
        #: Fields sent after the body (RFC 9110 §6.5): HTTP/2 and HTTP/3 send them
        #: as a trailing HEADERS frame, HTTP/1.1 after a chunked body.
        self.trailers = trailers if isinstance(trailers, Headers) else Headers(trailers)
        #: An extended CONNECT's ``:protocol`` (RFC 8441 §4, RFC 9220), e.g.
        #: ``websocket``: a tunnel over one HTTP/2 stream, its body sent while the
        #: response is read (both ways at once), to a server that advertised
        #: SETTINGS_ENABLE_CONNECT_PROTOCOL. None for every other request.
        self.protocol = protocol
        self._stream_started = False

    @property
    def is_idempotent(self) -> bool:
        """RFC 9110 §9.2.2; a keep-alive race is retried only for these."""
        return self.method in IDEMPOTENT_METHODS

    @property
    def is_replayable(self) -> bool:
        """True when the body (if any) can be sent again in full."""
        return (
            self.stream is None or isinstance(self.stream, list | tuple) or not self._stream_started
        )

    @property
    def has_body(self) -> bool:
        """True when a body (possibly empty) is to be streamed or sent (trailers
        follow a body, so a request with trailers has one, if empty)."""
        return self.stream is not None or bool(self.content) or bool(self.trailers.raw)

    async def iter_body(self) -> AsyncIterator[bytes]:
        """The body chunks, in order; marks a one-shot stream as used."""
        if self.stream is None:
            if self.content:
                yield self.content
            return
        self._stream_started = True
        stream = self.stream
        if isinstance(stream, AsyncIterable):
            async for chunk in stream:
                if chunk:
                    yield chunk
        else:
            for chunk in stream:
                if chunk:
                    yield chunk

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url.raw}>"


class ResponseBody(Protocol):
    """What a connection hands a ``Response`` to read its body from."""

    async def receive(self) -> bytes:
        """The next chunk; ``b""`` at the end."""
        ...

    async def aclose(self) -> None:
        """Stop reading: the rest is discarded (HTTP/2: the stream is reset)."""
        ...

    @property
    def trailers(self) -> RawHeaders:
        """The trailer section, once the body was read to its end (else empty)."""
        ...


class Response:
    """One HTTP response; its body is read lazily unless the client read it for you."""

    __slots__ = (
        "_body",
        "_content",
        "closing",
        "headers",
        "http_version",
        "is_closed",
        "request",
        "status_code",
    )

    def __init__(
        self,
        status_code: int,
        headers: Headers,
        *,
        http_version: str,
        request: Request,
        body: ResponseBody,
        closing: ClosingSignal,
    ) -> None:
        self.status_code = status_code
        self.headers = headers
        self.http_version = http_version
        self.request = request
        self._body = body
        self._content: bytes | None = None
        self.is_closed = False
        #: Fires when this response's connection starts closing (GOAWAY received,
        #: ``Connection: close``, or our own drain): ``await response.closing``.
        self.closing = closing

    @property
    def url(self) -> URL:
        """The URL that was requested."""
        return self.request.url

    @property
    def is_success(self) -> bool:
        """2xx."""
        return 200 <= self.status_code < 300

    @property
    def trailers(self) -> Headers:
        """The trailer fields (RFC 9110 §6.5) that followed the body: gRPC's
        ``grpc-status`` and ``grpc-message``. Known once the body was read to its
        end (``aread()``, or ``aiter_bytes()`` exhausted); empty before that, and
        when the response had none. HTTP/2 and HTTP/3 trailers, and HTTP/1.1
        trailers after a chunked body (RFC 9112 §7.1.2)."""
        return Headers.from_raw(self._body.trailers)

    @property
    def content(self) -> bytes:
        """The whole body; only after ``aread()`` (or a non-streaming request)."""
        if self._content is None:
            raise LocalProtocolError("response body not read yet: await response.aread()")
        return self._content

    @property
    def text(self) -> str:
        """The body decoded with the charset the headers name, else UTF-8."""
        charset = "utf-8"
        ctype = self.headers.get("content-type") or ""
        for param in ctype.split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return _json.loads(self.content)

    async def aread(self) -> bytes:
        """Read the whole body (once) and return it."""
        if self._content is None:
            chunks = [chunk async for chunk in self.aiter_raw()]
            self._content = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._content

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk as it arrives (all at once if already read)."""
        if self._content is not None:
            if self._content:
                yield self._content
            return
        async for chunk in self.aiter_raw():
            yield chunk

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body as it arrives; no decoding is ever applied by lastcall."""
        if self.is_closed:
            raise LocalProtocolError("response is closed; its body can no longer be read")
        body = self._body
        try:
            while chunk := await body.receive():
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Release the connection; an unread body is discarded. Idempotent."""
        if not self.is_closed:
            self.is_closed = True
            await self._body.aclose()

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}] {self.http_version}>"
