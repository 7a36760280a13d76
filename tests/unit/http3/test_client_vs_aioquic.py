"""Our client engine against aioquic's own HTTP/3 server (a peer we did not write).

aioquic cannot send GOAWAY, so where a test needs one it writes the frame
into aioquic's own control stream with ``QuicConnection.send_stream_data``:
the bytes on the wire are exactly what a server sends (RFC 9114 §7.2.6).
"""

from __future__ import annotations

import pytest
from aioquic.h3 import events as h3e
from aioquic.quic import events as qe

from lastcall.engines.http3 import ErrorCode, Phase
from lastcall.engines.http3 import events as ev
from lastcall.errors import ConnectionDraining
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import AioquicSide, EngineSide, Wire, aioquic_server, our_client, request_headers


def connected(cert: SelfSignedCertificate) -> tuple[EngineSide, AioquicSide, Wire]:
    client = our_client(cert)
    wire = Wire(client, aioquic_server(cert))
    wire.run_until(lambda: bool(client.of(ev.SettingsReceived)))
    assert isinstance(wire.server, AioquicSide)
    return client, wire.server, wire


def server_requests(server: AioquicSide) -> list[int]:
    return [e.stream_id for e in server.of(h3e.HeadersReceived)]


def respond(server: AioquicSide, stream_id: int, body: bytes = b"ok") -> None:
    server.h3.send_headers(stream_id, [(b":status", b"200")])
    server.h3.send_data(stream_id, body, end_stream=True)


def send_goaway(server: AioquicSide, first_rejected_id: int) -> None:
    control = server.h3._local_control_stream_id
    assert control is not None
    assert first_rejected_id < 64  # one-byte varint keeps the frame literal readable
    server.quic.send_stream_data(control, bytes([0x07, 0x01, first_rejected_id]))


def test_request_and_response(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    assert client.of(ev.HandshakeCompleted) == [ev.HandshakeCompleted("h3")]
    sid = client.engine.open_stream(request_headers(b"/up", b"POST"))
    client.engine.send_data(sid, b"body", end_stream=True)
    wire.run_until(lambda: any(getattr(e, "stream_ended", False) for e in server.h3_events))
    server.h3.send_headers(sid, [(b":status", b"103"), (b"link", b"</a>")])
    server.h3.send_headers(sid, [(b":status", b"200"), (b"content-length", b"5")])
    server.h3.send_data(sid, b"hello", end_stream=False)
    server.h3.send_headers(sid, [(b"grpc-status", b"0")], end_stream=True)
    wire.run_until(lambda: bool(client.of(ev.TrailersReceived)))
    assert client.of(ev.InformationalResponseReceived)[0].headers[0] == (b":status", b"103")
    assert client.of(ev.ResponseReceived)[0].headers[0] == (b":status", b"200")
    assert b"".join(e.data for e in client.of(ev.DataReceived)) == b"hello"
    assert client.of(ev.TrailersReceived) == [ev.TrailersReceived(sid, [(b"grpc-status", b"0")])]
    assert not client.engine.is_stream_open(sid)


def test_request_rejected_is_reported_with_its_code(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(), end_stream=True)
    wire.run_until(lambda: sid in server_requests(server))
    server.quic.reset_stream(sid, ErrorCode.H3_REQUEST_REJECTED)
    server.quic.stop_stream(sid, ErrorCode.H3_REQUEST_REJECTED)
    wire.run_until(lambda: bool(client.of(ev.StreamReset)))
    assert client.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_REQUEST_REJECTED, True)]
    assert client.engine.active_stream_count == 0


def test_goaway_is_honoured(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sids = [client.engine.open_stream(request_headers(), end_stream=True) for _ in range(3)]
    assert sids == [0, 4, 8]
    wire.run_until(lambda: len(server_requests(server)) == 3)
    send_goaway(server, 4)  # stream 0 will be answered; 4 and 8 were not processed
    wire.run_until(lambda: bool(client.of(ev.GoAwayReceived)))
    assert client.of(ev.GoAwayReceived) == [ev.GoAwayReceived(4, [4, 8])]
    assert client.engine.phase is Phase.DRAINING
    assert client.engine.peer_first_rejected_id == 4
    assert client.engine.available_stream_capacity == 0
    with pytest.raises(ConnectionDraining) as raised:
        client.engine.open_stream(request_headers())
    assert raised.value.is_safe_to_retry
    # The unprocessed streams were closed by us: the requests were fully sent, so
    # only reading is aborted (STOP_SENDING H3_REQUEST_CANCELLED).
    wire.run_until(lambda: {e.stream_id for e in server.of(qe.StopSendingReceived)} == {4, 8})
    codes = {e.error_code for e in server.of(qe.StopSendingReceived)}
    assert codes == {ErrorCode.H3_REQUEST_CANCELLED}
    respond(server, 0)
    wire.run_until(lambda: bool(client.of(ev.DrainCompleted)))
    assert [e.stream_id for e in client.of(ev.ResponseReceived)] == [0]
    client.engine.close()
    wire.run_until(lambda: bool(server.of(qe.ConnectionTerminated)))
    assert server.of(qe.ConnectionTerminated)[0].error_code == ErrorCode.H3_NO_ERROR
    wire.run_until(lambda: client.engine.phase is Phase.CLOSED)


def test_goaway_that_increases_is_a_connection_error(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    send_goaway(server, 8)
    send_goaway(server, 12)
    wire.run_until(lambda: bool(client.of(ev.ConnectionTerminated)))
    (terminated,) = client.of(ev.ConnectionTerminated)
    assert terminated.error_code == ErrorCode.H3_ID_ERROR and not terminated.remote
    wire.run_until(lambda: bool(server.of(qe.ConnectionTerminated)))
    assert server.of(qe.ConnectionTerminated)[0].error_code == ErrorCode.H3_ID_ERROR


def test_goaway_with_a_non_request_stream_id_is_an_id_error(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    send_goaway(server, 6)
    wire.run_until(lambda: bool(client.of(ev.ConnectionTerminated)))
    assert client.of(ev.ConnectionTerminated)[0].error_code == ErrorCode.H3_ID_ERROR


def test_server_close_is_seen_at_once(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(), end_stream=True)
    wire.run_until(lambda: sid in server_requests(server))
    server.quic.close(error_code=ErrorCode.H3_INTERNAL_ERROR, reason_phrase="boom")
    wire.pump()
    assert client.of(ev.ConnectionTerminated) == [
        ev.ConnectionTerminated(ErrorCode.H3_INTERNAL_ERROR, "boom", True)
    ]
    assert client.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_INTERNAL_ERROR, True)]
    with pytest.raises(ConnectionDraining):
        client.engine.open_stream(request_headers())


def test_early_response_stops_the_request_body(cert: SelfSignedCertificate) -> None:
    """RFC 9114 §4.1: the server answers before the whole request and asks the
    client to stop sending with STOP_SENDING(H3_NO_ERROR); that is no error."""
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(b"/up", b"POST"))
    client.engine.send_data(sid, b"part")
    wire.run_until(lambda: sid in server_requests(server))
    respond(server, sid, b"too large")
    server.quic.stop_stream(sid, ErrorCode.H3_NO_ERROR)
    wire.run_until(lambda: any(e.end_stream for e in client.of(ev.DataReceived)))
    wire.run_until(lambda: not client.engine.is_stream_open(sid))
    assert not client.of(ev.StreamReset)
