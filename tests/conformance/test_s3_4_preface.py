"""RFC 9113 §3.4: the connection preface.

"Clients and servers MUST treat an invalid connection preface as a connection
error (Section 5.4.1) of type PROTOCOL_ERROR." On the TLS port ALPN has
already said h2, so the engine reads the preface. On the shared HTTP/1.1 +
h2c port, bytes that start like ``PRI * HTTP/2.0`` and go wrong are sniffed by
the HTTP/1.1 side (``_sniff_preface`` in ``server/http1.py``), which once
answered them with an HTTP/1.1 400 (issue 13, class 1); they must get the
same GOAWAY as over TLS.
"""

from __future__ import annotations

import pytest

from .harness import SPLITS, Case, frame, open_case

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = frame(0x4, 0, 0)

BAD_PREFACES = {
    "wrong_magic_after_the_request_line": b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
    "wrong_version": b"PRI * HTTP/2.1\r\n\r\nSM\r\n\r\n",
    "truncated_then_garbage": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\x00\x01\x02",
}


@pytest.mark.parametrize(
    ("transport", "name"),
    [
        pytest.param(t, name, id=f"{t}-{name}")
        for t in ("h2c", "tls")
        for name in sorted(BAD_PREFACES)
    ],
)
async def test_invalid_preface_is_a_connection_error(
    request: pytest.FixtureRequest, transport: str, name: str
) -> None:
    async with open_case(request, transport, preface=False) as case:
        await case.send(BAD_PREFACES[name] + SETTINGS)
        await case.expect_connection_error("PROTOCOL_ERROR")


@pytest.mark.parametrize("transport", ["tls"])
async def test_garbage_instead_of_a_preface_is_a_connection_error(
    request: pytest.FixtureRequest, transport: str
) -> None:
    """Over TLS ALPN said h2, so any bytes are a preface, right or wrong. (On the
    h2c port, bytes that do not start like the preface are HTTP/1.1's.)"""
    async with open_case(request, transport, preface=False) as case:
        await case.send(b"\x16\x03\x01garbage that is no preface at all\r\n\r\n")
        await case.expect_connection_error("PROTOCOL_ERROR")


@pytest.mark.parametrize("split", SPLITS)
async def test_first_frame_not_settings_is_a_connection_error(
    request: pytest.FixtureRequest, transport: str, split: str
) -> None:
    """§3.4: the preface must be followed by SETTINGS."""
    async with open_case(request, transport, preface=False) as case:
        await case.send(PREFACE + frame(0x6, 0, 0, b"12345678"), split)
        await case.expect_connection_error("PROTOCOL_ERROR")


@pytest.mark.parametrize("split", SPLITS)
async def test_valid_preface_in_any_split_is_served(
    request: pytest.FixtureRequest, transport: str, split: str
) -> None:
    async with open_case(request, transport, preface=False) as case:
        await case.send(PREFACE + SETTINGS + case.request(1), split)
        await case.response_end(1)
        await case.expect_no_error()


async def test_settings_ack_is_sent(conn: Case) -> None:
    """§3.4/§6.5.3: the server acknowledges our SETTINGS (``ready`` waited for it)."""
    assert any(f.type == 0x4 and f.flags & 0x1 for f in conn.client.frames)
