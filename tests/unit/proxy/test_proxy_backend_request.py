"""The client request the proxy makes for one attempt (``forward.backend_request``)."""

from __future__ import annotations

import pytest

from lastcall.client import Request
from lastcall.errors import LocalProtocolError
from lastcall.proxy.forward import backend_request
from lastcall.proxy.headers import ForwardingPolicy

FIELDS = [(b"host", b"front"), (b"x-a", b"1")]
DEFAULT_POLICY = ForwardingPolicy()


def _request(method: str, target: bytes, policy: ForwardingPolicy = DEFAULT_POLICY) -> Request:
    return backend_request(
        method, target, FIELDS, policy, "http://10.0.0.7:8080", b"10.0.0.7:8080",
        content=None, stream=None,
    )  # fmt: skip


def test_method_and_target_go_as_they_came() -> None:
    """RFC 9110 §9.1: methods are case-sensitive; ``Request()`` upper-cases for
    its callers, the proxy must not. The target is not re-parsed."""
    request = _request("get", b"/a//b/../c?x=%20&y=|{}")
    assert request.method == "get"
    assert request.url.target == b"/a//b/../c?x=%20&y=|{}"
    assert request.url.authority == b"10.0.0.7:8080"
    assert request.headers.raw == FIELDS


def test_the_backend_host_replaces_the_client_one_unless_preserved() -> None:
    request = _request("GET", b"/", ForwardingPolicy(preserve_host=False))
    assert request.headers.raw == [(b"host", b"10.0.0.7:8080"), (b"x-a", b"1")]


@pytest.mark.parametrize("target", [b"/p#f", b"/a\tb", b"/a b", b"/\xff", b"*", b"", b"a"])
def test_a_target_no_request_line_carries_as_it_is_is_refused(target: bytes) -> None:
    with pytest.raises(LocalProtocolError, match="cannot be forwarded"):
        _request("GET", target)
