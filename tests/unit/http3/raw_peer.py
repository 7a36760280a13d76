"""A raw QUIC peer whose every HTTP/3 byte the test writes, against our server
engine on the fake wire: what the RFC 9114 error tests and the budget tests share."""

from __future__ import annotations

import pylsqpack
from aioquic.quic import events as qe

from lastcall.engines.http3 import Http3Config
from lastcall.engines.http3 import events as ev
from lastcall.engines.http3.frames import encode_frame, encode_settings, encode_varint
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import EngineSide, QuicSide, Wire, our_server, raw_client, request_headers, server_has

SETTINGS = encode_settings({})


def connected(
    cert: SelfSignedCertificate, config: Http3Config | None = None, control: bytes | None = SETTINGS
) -> tuple[QuicSide, EngineSide, Wire]:
    client = raw_client(cert)
    wire = Wire(client, our_server(cert, config))
    wire.run_until(lambda: bool(client.of(qe.HandshakeCompleted)))
    assert isinstance(wire.server, EngineSide)
    if control is not None:
        open_uni(client, 0x00, control)
        wire.run_until(lambda: server_has(wire, ev.SettingsReceived))
    return client, wire.server, wire


def open_uni(client: QuicSide, stream_type: int, data: bytes = b"", fin: bool = False) -> int:
    stream_id = client.quic.get_next_available_stream_id(is_unidirectional=True)
    client.quic.send_stream_data(stream_id, encode_varint(stream_type) + data, fin)
    return stream_id


def headers_frame(headers: list[tuple[bytes, bytes]]) -> bytes:
    _, block = pylsqpack.Encoder().encode(0, headers)  # static table only: no encoder stream
    return encode_frame(0x1, block)


def send_request(client: QuicSide, data: bytes, fin: bool = True) -> int:
    stream_id = client.quic.get_next_available_stream_id()
    client.quic.send_stream_data(stream_id, data, fin)
    return stream_id


def closed_with(client: QuicSide, server: EngineSide, wire: Wire) -> int:
    wire.run_until(lambda: client.close_code() is not None)
    code = client.close_code()
    assert code is not None
    (terminated,) = server.of(ev.ConnectionTerminated)
    assert terminated.error_code == code and not terminated.remote
    return code


GET = headers_frame(request_headers())
