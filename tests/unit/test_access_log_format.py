"""The access-log line every protocol writes (``lastcall.server.access_log``)."""

from __future__ import annotations

import logging

import pytest

from lastcall.server.access_log import log_access


def test_line_names_client_request_and_status(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    scope = {
        "client": ("10.0.0.7", 51000),
        "method": "DELETE",
        "raw_path": b"/items/caf\xc3\xa9",
        "path": "/items/café",
        "http_version": "2",
    }
    log_access(scope, 204)
    (record,) = caplog.records
    assert record.name == "lastcall.access" and record.levelno == logging.INFO
    # The path as the client sent it: bytes shown one character each, never decoded.
    assert record.getMessage() == '10.0.0.7:51000 - "DELETE /items/caf\xc3\xa9 HTTP/2" 204'


def test_unknown_client_and_empty_raw_path(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    log_access(
        {"client": None, "method": "GET", "raw_path": b"", "path": "/", "http_version": "3"}, 200
    )
    assert [r.getMessage() for r in caplog.records] == ['- - "GET / HTTP/3" 200']


def test_query_string_is_part_of_the_target(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lastcall.access")
    scope = {
        "client": ("127.0.0.1", 1),
        "method": "GET",
        "raw_path": b"/slow",
        "query_string": b"ms=200&x=%20",
        "path": "/slow",
        "http_version": "1.1",
    }
    log_access(scope, 200)
    assert [r.getMessage() for r in caplog.records] == [
        '127.0.0.1:1 - "GET /slow?ms=200&x=%20 HTTP/1.1" 200'
    ]
