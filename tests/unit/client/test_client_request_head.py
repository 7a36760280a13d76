"""The HTTP/1.1 request head the client writes (``client/http1.py`` ``request_head``)."""

from __future__ import annotations

import pytest

from lastcall.client import URL, Request
from lastcall.client.http1 import request_head
from lastcall.errors import LocalProtocolError


def test_framing_of_our_own_when_the_request_gives_none() -> None:
    head = request_head(Request("POST", "http://b:81/u?q", content=b"hello"), close=True)
    assert head.target == b"/u?q"
    assert list(head.headers) == [
        (b"host", b"b:81"),
        (b"content-length", b"5"),
        (b"connection", b"close"),
    ]


@pytest.mark.parametrize("value", [b"a\x14b", b"\x01", b"a\x7f", b"a\x0bb"])
def test_a_control_character_in_a_value_is_refused(value: bytes) -> None:
    """RFC 9110 §5.5: a field value holds no control character but HTAB. HTTP/2
    forbids only NUL, CR and LF (RFC 9113 §8.2.1), so the proxy can receive one
    from an HTTP/2 client; h11 writes it as it is, and an HTTP/1.1 backend that
    follows the RFC rejects the request (found by the ``proxy`` fuzz harness,
    docs/dev/fuzzing.md). Refused here, it is our error, never the backend's."""
    request = Request("GET", "http://b/", headers=[(b"x-value", value)])
    with pytest.raises(LocalProtocolError, match="control character"):
        request_head(request, close=False)


def test_tab_and_obs_text_are_kept() -> None:
    request = Request("GET", "http://b/", headers=[(b"x", b"a\tb\xe9")])
    assert (b"x", b"a\tb\xe9") in list(request_head(request, close=False).headers)


def test_a_non_ascii_target_is_our_protocol_error() -> None:
    """No request line carries it; before, ``UnicodeEncodeError`` escaped (the
    proxy answered 500 with a traceback: tests/integration/proxy)."""
    with pytest.raises(LocalProtocolError, match="non-ASCII"):
        URL("http://b/p?\xff")
