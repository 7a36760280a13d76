"""``app_fields``: what an ASGI app's response fields become on HTTP/2 and HTTP/3.

RFC 9113 §8.2 and RFC 9114 §4.2: names are lowercase tokens, never
pseudo-headers; values hold no CR, LF or NUL and no leading or trailing
whitespace; connection-specific fields are not carried. Anything the app gets
wrong raises ``RuntimeError`` (the server then answers 500 or resets).
"""

from __future__ import annotations

from typing import Any

import pytest

from lastcall.server.response_fields import CONTENT_LENGTH, app_fields


def test_plain_fields_pass_through_with_their_content_length() -> None:
    fields = [(b"content-type", b"text/plain"), (b"content-length", b"12")]
    assert app_fields(fields) == (fields, 12)
    assert app_fields([]) == ([], -1)


def test_names_are_lowercased_and_values_lose_surrounding_whitespace() -> None:
    out, length = app_fields([(b"X-Trace", b" \tabc def\t "), (b"Content-Length", b"0")])
    assert out == [(b"x-trace", b"abc def"), (b"content-length", b"0")]
    assert length == 0 and out[1][0] is CONTENT_LENGTH


def test_bytearray_and_memoryview_are_accepted() -> None:
    out, _ = app_fields([(bytearray(b"x-a"), memoryview(b"1")), [b"x-b", bytearray(b"2")]])
    assert out == [(b"x-a", b"1"), (b"x-b", b"2")]
    assert all(type(n) is bytes and type(v) is bytes for n, v in out)


@pytest.mark.parametrize(
    "name",
    [b"connection", b"Keep-Alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"],
)
def test_connection_specific_fields_are_dropped(name: bytes) -> None:
    """RFC 9113 §8.2.2 / RFC 9114 §4.2: malformed on the wire, so never sent."""
    assert app_fields([(name, b"close"), (b"x-kept", b"1")]) == ([(b"x-kept", b"1")], -1)


@pytest.mark.parametrize(
    "value",
    [b"v\r\nSet-Cookie: evil=1", b"a\rb", b"a\nb", b"a\x00b", b"\r\n\r\nHTTP/1.1 200 OK"],
)
def test_cr_lf_or_nul_in_a_value_is_refused(value: bytes) -> None:
    with pytest.raises(RuntimeError, match="CR, LF or NUL"):
        app_fields([(b"x-a", value)])


@pytest.mark.parametrize(
    "name", [b"x-a: b\r\nx-evil", b"x a", b"", b"x\x00", b"caf\xc3\xa9", b"(x)", b"x:y"]
)
def test_a_name_that_is_not_a_token_is_refused(name: bytes) -> None:
    with pytest.raises(RuntimeError, match="invalid response header name"):
        app_fields([(name, b"1")])


@pytest.mark.parametrize("name", [b":status", b":path", b":Status"])
def test_pseudo_headers_from_the_app_are_refused(name: bytes) -> None:
    with pytest.raises(RuntimeError, match="pseudo-header"):
        app_fields([(name, b"200")])


@pytest.mark.parametrize("value", [b"abc", b"-1", b"+5", b"1_0", b" 5", b"1" * 19, b""])
def test_a_content_length_that_is_not_digits_is_refused(value: bytes) -> None:
    with pytest.raises(RuntimeError, match="invalid content-length"):
        app_fields([(b"content-length", value)])


def test_a_repeated_content_length_is_sent_once_or_refused_if_it_differs() -> None:
    same = [(b"content-length", b"5"), (b"Content-Length", b"5")]
    assert app_fields(same) == ([(b"content-length", b"5")], 5)
    with pytest.raises(RuntimeError, match="invalid content-length"):
        app_fields([(b"content-length", b"5"), (b"content-length", b"6")])


@pytest.mark.parametrize("field", [("x-a", b"1"), (b"x-a", "1"), (b"x-a", 1)])
def test_fields_that_are_not_byte_strings_are_refused(field: Any) -> None:
    with pytest.raises(RuntimeError, match="byte string"):
        app_fields([field])


def test_a_name_is_checked_every_time_until_it_passes() -> None:
    """The name cache only ever holds names that passed: a bad one raises again."""
    for _ in range(2):
        with pytest.raises(RuntimeError):
            app_fields([(b"bad name", b"1")])
    assert app_fields([(b"good-name", b"1")]) == ([(b"good-name", b"1")], -1)
    assert app_fields([(b"good-name", b"1")]) == ([(b"good-name", b"1")], -1)
