"""The engine's public surface: what adapters call, what they may rely on, and
the aioquic internals it reads (pinned to the tested aioquic release)."""

from __future__ import annotations

import aioquic
import pytest
from aioquic.quic.connection import QuicConnectionState

import lastcall.engines.http3 as h3
from lastcall.engines.http3 import ErrorCode, Http3Config, Http3Engine, Phase, Role
from lastcall.engines.http3 import _aioquic as seam
from lastcall.engines.http3 import events as ev
from lastcall.errors import ConfigError, ConnectionDraining, LocalProtocolError
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import (
    EngineSide,
    Wire,
    client_quic_configuration,
    our_client,
    our_server,
    request_headers,
    server_has,
)


def test_exported_members() -> None:
    assert sorted(h3.__all__) == sorted(
        [
            "H3_ALPN",
            "MAX_CLIENT_BIDI_STREAM_ID",
            "TESTED_AIOQUIC_VERSION",
            "DrainInitiator",
            "DrainPhase",
            "ErrorCode",
            "FrameType",
            "Http3Config",
            "Http3Engine",
            "Phase",
            "Role",
            "SettingCode",
            "StreamType",
            "events",
        ]
    )
    for name in [
        "receive_datagram",
        "datagrams_to_send",
        "get_timer",
        "handle_timer",
        "pop_events",
        "connect",
        "open_stream",
        "send_headers",
        "send_data",
        "send_trailers",
        "end_stream",
        "reset_stream",
        "acknowledge_received_data",
        "start_drain",
        "cancel_remaining",
        "close",
        "outbound_buffered",
        "is_stream_open",
    ]:
        assert callable(getattr(Http3Engine, name)), name
    for name in [
        "phase",
        "active_stream_count",
        "available_stream_capacity",
        "is_drained",
        "first_rejected_id",
        "peer_first_rejected_id",
        "drain_phase",
        "drain_initiator",
        "host_cid",
        "peer_address",
    ]:
        assert isinstance(getattr(Http3Engine, name), property), name


def test_aioquic_is_the_tested_release() -> None:
    """The engine reads four aioquic internals (see ``_aioquic.py``); they were
    checked against this release only. Upgrade aioquic and this pin together."""
    assert aioquic.__version__ == seam.TESTED_AIOQUIC_VERSION == "1.7.2"


def test_aioquic_internals_still_mean_what_we_read(cert: SelfSignedCertificate) -> None:
    client = our_client(cert)
    wire = Wire(client, our_server(cert, Http3Config(max_concurrent_streams=7)))
    quic = client.engine._quic
    assert seam.probe_timeout(quic) is None  # no RTT sample yet
    assert seam.state(quic) is QuicConnectionState.FIRSTFLIGHT
    wire.run_until(lambda: bool(client.of(ev.SettingsReceived)))
    assert seam.state(quic) is QuicConnectionState.CONNECTED
    pto = seam.probe_timeout(quic)
    assert pto is not None and 0 < pto < 1
    assert seam.remote_max_streams_bidi(quic) == 7  # our server's advertised limit
    assert client.engine.available_stream_capacity == 7
    sid = client.engine.open_stream(request_headers(b"/", b"POST"))
    client.engine.send_data(sid, b"x" * 3000)
    assert seam.unacknowledged_bytes(quic, sid) > 3000
    assert not seam.is_send_side_finished(quic, sid)
    client.engine.end_stream(sid)
    wire.run_until(lambda: seam.is_send_side_finished(quic, sid))
    assert seam.unacknowledged_bytes(quic, sid) == 0
    assert client.engine.outbound_buffered(sid) == 0
    assert client.engine.available_stream_capacity == 6
    client.engine.close(ErrorCode.H3_INTERNAL_ERROR, "test")
    wire.pump()
    assert seam.state(quic) is QuicConnectionState.CLOSING
    close = seam.close_event(quic)
    assert close is not None and close.error_code == ErrorCode.H3_INTERNAL_ERROR
    assert wire.server is not None
    server_quic = wire.server.engine._quic  # type: ignore[attr-defined]
    assert seam.state(server_quic) is QuicConnectionState.DRAINING


def test_construction_errors(cert: SelfSignedCertificate) -> None:
    with pytest.raises(ConfigError):
        Http3Engine(Role.SERVER)  # no certificate
    with pytest.raises(ConfigError):
        Http3Engine(Role.SERVER, None, client_quic_configuration(cert))
    engine = Http3Engine(Role.CLIENT)  # aioquic defaults, system trust store
    assert engine.phase is Phase.OPEN and not engine.is_drained
    assert engine.datagrams_to_send(0.0) == []  # not connected yet: nothing to send


def test_role_and_order_errors(cert: SelfSignedCertificate) -> None:
    client = our_client(cert)
    wire = Wire(client, our_server(cert))
    wire.run_until(lambda: server_has(wire, ev.SettingsReceived))
    server = wire.server
    assert isinstance(server, EngineSide)
    with pytest.raises(LocalProtocolError):
        server.engine.open_stream(request_headers())
    with pytest.raises(LocalProtocolError):
        server.engine.connect(("127.0.0.1", 1), 0.0)
    with pytest.raises(LocalProtocolError):
        server.engine.send_headers(0, [(b":status", b"200")])  # no such stream
    sid = client.engine.open_stream(request_headers(), end_stream=True)
    with pytest.raises(LocalProtocolError):
        client.engine.send_data(sid, b"after the FIN")
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    with pytest.raises(LocalProtocolError):
        server.engine.send_data(sid, b"before headers")
    with pytest.raises(LocalProtocolError):
        server.engine.send_trailers(sid, [(b"x", b"y")])
    with pytest.raises(LocalProtocolError):
        server.engine.send_headers(sid, [(b":status", b"100")], end_stream=True)
    server.engine.send_headers(sid, [(b":status", b"200")])
    with pytest.raises(LocalProtocolError):
        server.engine.send_headers(sid, [(b"x", b"y")])  # trailers must end the stream
    server.engine.send_headers(sid, [(b"x", b"y")], end_stream=True)  # ... and then they do
    server.engine.acknowledge_received_data(sid, 10)  # harmless no-op
    server.engine.reset_stream(sid)  # already finished: nothing to do
    wire.run_until(lambda: bool(client.of(ev.TrailersReceived)))


def test_close_is_idempotent_and_final(cert: SelfSignedCertificate) -> None:
    client = our_client(cert)
    wire = Wire(client, our_server(cert))
    wire.run_until(lambda: bool(client.of(ev.SettingsReceived)))
    client.engine.close()
    client.engine.close(ErrorCode.H3_INTERNAL_ERROR)
    client.engine.cancel_remaining()
    client.engine.start_drain(wire.now)
    assert client.of(ev.ConnectionTerminated) == [
        ev.ConnectionTerminated(ErrorCode.H3_NO_ERROR, "", False)
    ]
    assert client.engine.phase is Phase.CLOSING and client.engine.is_drained
    with pytest.raises(ConnectionDraining):
        client.engine.open_stream(request_headers())
    wire.run_until(lambda: client.engine.phase is Phase.CLOSED)
    assert client.engine.get_timer() is None
    assert client.engine.receive_datagram(b"late", ("10.0.0.2", 443), wire.now) == []


def test_failed_handshake_is_a_transport_error(cert: SelfSignedCertificate) -> None:
    from lastcall.testing.quic_certs import make_self_signed

    stranger = make_self_signed()  # the client trusts another certificate
    client = EngineSide(
        Http3Engine(Role.CLIENT, None, client_quic_configuration(stranger)), ("10.0.0.2", 443)
    )
    client.engine.connect(("10.0.0.2", 443), 100.0)
    wire = Wire(client, our_server(cert))
    wire.run_until(lambda: bool(client.of(ev.ConnectionTerminated)))
    (terminated,) = client.of(ev.ConnectionTerminated)
    assert terminated.transport_error and not terminated.remote
    assert 0x100 <= terminated.error_code <= 0x1FF  # CRYPTO_ERROR: a TLS alert (RFC 9001 §4.8)
    assert not client.of(ev.HandshakeCompleted)
