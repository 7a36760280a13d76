"""Forwarded header sections: hop-by-hop removal, framing, X-Forwarded-*, Forwarded, Via."""

from __future__ import annotations

from lastcall.proxy.headers import ForwardingPolicy, response_headers, upstream_request_headers

POLICY = ForwardingPolicy()


def _up(
    headers: list[tuple[bytes, bytes]], policy: ForwardingPolicy = POLICY, **kw: object
) -> list[tuple[bytes, bytes]]:
    args: dict[str, object] = {
        "client_host": "10.0.0.9",
        "scheme": "https",
        "http_version": "2",
        "backend_authority": b"backend:8000",
    }
    args.update(kw)
    return upstream_request_headers(headers, policy, **args)  # type: ignore[arg-type]


def test_hop_by_hop_and_connection_nominated_fields_go() -> None:
    out = _up(
        [
            (b"host", b"example.org"),
            (b"connection", b"keep-alive, x-secret"),
            (b"keep-alive", b"timeout=5"),
            (b"x-secret", b"1"),
            (b"upgrade", b"h2c"),
            (b"http2-settings", b"AAA"),
            (b"proxy-connection", b"close"),
            (b"transfer-encoding", b"chunked"),
            (b"te", b"gzip, trailers"),
            (b"accept", b"*/*"),
        ]
    )
    names = [n for n, _ in out]
    assert names[0] == b"host" and out[0] == (b"host", b"example.org")
    for gone in (
        b"connection",
        b"keep-alive",
        b"x-secret",
        b"upgrade",
        b"http2-settings",
        b"proxy-connection",
        b"transfer-encoding",
    ):
        assert gone not in names
    assert (b"te", b"trailers") in out
    assert (b"accept", b"*/*") in out


def test_one_plain_content_length_at_most() -> None:
    out = _up([(b"host", b"h"), (b"content-length", b"5"), (b"content-length", b"6")])
    assert [v for n, v in out if n == b"content-length"] == [b"5"]
    out = _up([(b"host", b"h"), (b"content-length", b"+5")])
    assert not [v for n, v in out if n == b"content-length"]


def test_forwarding_headers_append_and_set() -> None:
    out = dict(
        _up(
            [
                (b"host", b"example.org"),
                (b"x-forwarded-for", b"1.2.3.4"),
                (b"x-forwarded-proto", b"gopher"),
                (b"via", b"1.1 edge"),
            ]
        )
    )
    assert out[b"x-forwarded-for"] == b"1.2.3.4, 10.0.0.9"
    assert out[b"x-forwarded-proto"] == b"https"
    assert out[b"x-forwarded-host"] == b"example.org"
    assert out[b"via"] == b"1.1 edge, 2 lastcall"


def test_rfc7239_and_none() -> None:
    policy = ForwardingPolicy(x_forwarded=False, rfc7239=True, via_name=None, preserve_host=False)
    out = dict(
        _up([(b"host", b"ex.org:8443"), (b"forwarded", b"for=1.2.3.4")], policy, client_host="::1")
    )
    assert out[b"forwarded"] == b'for=1.2.3.4, for="[::1]";proto=https;host="ex.org:8443"'
    assert out[b"host"] == b"backend:8000"
    assert b"via" not in out and b"x-forwarded-for" not in out


def test_response_headers() -> None:
    out = response_headers(
        [
            (b"content-type", b"text/plain"),
            (b"connection", b"close"),
            (b"transfer-encoding", b"chunked"),
            (b"date", b"x"),
            (b"content-length", b"3"),
            (b"keep-alive", b"5"),
        ],
        POLICY,
        "1.1",
    )
    assert out == [
        (b"content-type", b"text/plain"),
        (b"content-length", b"3"),
        (b"via", b"1.1 lastcall"),
    ]
