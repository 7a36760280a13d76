"""Engine bugs found by the HTTP/3 client adapter, kept as regression tests."""

from __future__ import annotations

from lastcall.engines.http3 import Http3Config, Http3Engine, Role
from lastcall.engines.http3 import events as ev
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import EngineSide, Wire, our_client, our_server, request_headers, server_has


def test_client_timer_before_connect_is_none() -> None:
    engine = Http3Engine(Role.CLIENT)
    assert engine.get_timer() is None
    assert engine.handle_timer(1.0) == []
    engine.close()  # e.g. a connect attempt abandoned before it started
    assert engine.get_timer() is None


def test_stop_sending_before_the_first_bytes_never_surfaces_the_request(
    cert: SelfSignedCertificate,
) -> None:
    """Found by the drain-table drive: a client that opens a request and cancels it
    before it went out sends STOP_SENDING and the HEADERS in one packet, STOP_SENDING
    first. aioquic resets our sending side at once; the engine used to ignore the
    STOP_SENDING (no stream yet), then hand the request to the application, whose
    answer raised aioquic's RuntimeError ("Cannot send data after the stream was
    reset")."""
    config = Http3Config(goaway_settle_timeout=0.0)
    client = our_client(cert, config)
    wire = Wire(client, our_server(cert, config))
    wire.run_until(
        lambda: bool(client.of(ev.SettingsReceived)) and server_has(wire, ev.SettingsReceived)
    )
    server = wire.server
    assert isinstance(server, EngineSide)
    client.engine.open_stream(request_headers(), end_stream=True)
    wire.advance()
    client.engine.cancel_remaining()
    wire.pump()
    for request in server.of(ev.RequestReceived):
        assert not server.engine.is_stream_open(request.stream_id)
    assert server.engine.active_stream_count == 0
