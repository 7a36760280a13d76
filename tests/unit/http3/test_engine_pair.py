"""Our client engine against our server engine: both halves of RFC 9114 §5.2."""

from __future__ import annotations

import pytest

from lastcall.engines.http3 import (
    MAX_CLIENT_BIDI_STREAM_ID,
    DrainInitiator,
    DrainPhase,
    ErrorCode,
    Http3Config,
    Phase,
)
from lastcall.engines.http3 import events as ev
from lastcall.errors import ConnectionDraining
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import EngineSide, Wire, our_client, our_server, request_headers, server_has


def connected(
    cert: SelfSignedCertificate, config: Http3Config | None = None
) -> tuple[EngineSide, EngineSide, Wire]:
    client = our_client(cert, config)
    wire = Wire(client, our_server(cert, config))
    wire.run_until(
        lambda: bool(client.of(ev.SettingsReceived)) and server_has(wire, ev.SettingsReceived)
    )
    assert isinstance(wire.server, EngineSide)
    return client, wire.server, wire


def test_exchange_with_bodies_and_trailers(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(b"/echo", b"POST"))
    client.engine.send_data(sid, b"ping " * 1000)
    client.engine.send_trailers(sid, [(b"x-sum", b"5000")])
    wire.run_until(lambda: bool(server.of(ev.TrailersReceived)))
    assert b"".join(e.data for e in server.of(ev.DataReceived)) == b"ping " * 1000
    assert server.of(ev.TrailersReceived) == [ev.TrailersReceived(sid, [(b"x-sum", b"5000")])]
    server.engine.send_headers(sid, [(b":status", b"100")])
    server.engine.send_headers(sid, [(b":status", b"200")])
    server.engine.send_data(sid, b"pong")
    server.engine.end_stream(sid)
    wire.run_until(lambda: any(e.end_stream for e in client.of(ev.DataReceived)))
    mine = [e for e in client.events if getattr(e, "stream_id", None) == sid]
    assert [type(e) for e in mine[:2]] == [ev.InformationalResponseReceived, ev.ResponseReceived]
    data = [e for e in mine[2:] if isinstance(e, ev.DataReceived)]
    assert len(data) == len(mine) - 2 and b"".join(e.data for e in data) == b"pong"
    assert data[-1].end_stream and not any(e.end_stream for e in data[:-1])
    wire.run_until(lambda: server.engine.active_stream_count == 0)
    assert client.engine.active_stream_count == 0


def test_goaway_honoured_and_unprocessed_streams_listed(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, Http3Config(goaway_settle_timeout=0.2))
    first = client.engine.open_stream(request_headers(), end_stream=True)
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    # The drain starts while two more requests are already on their way (held
    # on the wire): they race the GOAWAY, exactly the case §5.2 is about.
    server.engine.start_drain(wire.now)
    racing = [client.engine.open_stream(request_headers(), end_stream=True) for _ in range(2)]
    wire.hold_client = True
    wire.run_until(lambda: len(client.of(ev.GoAwayReceived)) == 2)
    assert client.of(ev.GoAwayReceived) == [
        ev.GoAwayReceived(MAX_CLIENT_BIDI_STREAM_ID, []),
        ev.GoAwayReceived(first + 4, racing),
    ]
    with pytest.raises(ConnectionDraining):
        client.engine.open_stream(request_headers())
    wire.hold_client = False
    wire.release_held()
    wire.run_until(lambda: len(server.of(ev.StreamRefused)) == 2)
    assert server.of(ev.StreamRefused) == [ev.StreamRefused(s, "draining") for s in racing]
    assert [e.stream_id for e in server.of(ev.RequestReceived)] == [first]
    server.engine.send_headers(first, [(b":status", b"204")], end_stream=True)
    wire.run_until(
        lambda: bool(server.of(ev.DrainCompleted)) and bool(client.of(ev.DrainCompleted))
    )
    assert client.of(ev.ResponseReceived)[0].end_stream
    server.engine.close()
    wire.run_until(lambda: bool(client.of(ev.ConnectionTerminated)))
    assert client.of(ev.ConnectionTerminated) == [
        ev.ConnectionTerminated(ErrorCode.H3_NO_ERROR, "", True)
    ]
    assert not client.of(ev.StreamReset)
    wire.run_until(
        lambda: server.engine.phase is Phase.CLOSED and client.engine.phase is Phase.CLOSED
    )


def test_rejected_request_is_reported_to_our_client(cert: SelfSignedCertificate) -> None:
    """A request the client opened before it saw any GOAWAY, arriving after the
    final one: the client learns from the reset code that it is safe to retry."""
    client, server, wire = connected(cert, Http3Config(goaway_settle_timeout=0))
    server.engine.start_drain(wire.now)  # final GOAWAY(0) at once: nothing accepted
    late = client.engine.open_stream(request_headers(), end_stream=True)
    wire.drop_to_client = lambda data: True  # the GOAWAYs do not reach the client yet
    wire.run_until(lambda: bool(server.of(ev.StreamRefused)))
    wire.drop_to_client = lambda data: False
    wire.run_until(lambda: bool(client.of(ev.StreamReset)) or bool(client.of(ev.GoAwayReceived)))
    wire.run_until(lambda: client.engine.active_stream_count == 0)
    reports = [e for e in client.events if isinstance(e, ev.StreamReset | ev.GoAwayReceived)]
    # Whichever arrives first, the stream ends as "not processed".
    assert reports[0] in (
        ev.StreamReset(late, ErrorCode.H3_REQUEST_REJECTED, True),
        ev.GoAwayReceived(MAX_CLIENT_BIDI_STREAM_ID, []),
        ev.GoAwayReceived(0, [late]),
    )
    assert not client.of(ev.ResponseReceived)


def test_client_drain(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(), end_stream=True)
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    client.engine.start_drain(wire.now)
    assert client.of(ev.GoAwaySent) == [ev.GoAwaySent(0, True)]
    assert client.engine.phase is Phase.DRAINING
    with pytest.raises(ConnectionDraining):
        client.engine.open_stream(request_headers())
    wire.run_until(lambda: bool(server.of(ev.GoAwayReceived)))
    assert server.of(ev.GoAwayReceived) == [ev.GoAwayReceived(0, [])]
    server.engine.send_headers(sid, [(b":status", b"200")], end_stream=True)
    wire.run_until(
        lambda: bool(client.of(ev.DrainCompleted)) and bool(server.of(ev.DrainCompleted))
    )
    assert [e.first_rejected_id for e in client.of(ev.GoAwayReceived)] == [
        MAX_CLIENT_BIDI_STREAM_ID,
        4,
    ]
    # Both drains are complete; only the initiator says whose GOAWAY came first.
    assert client.engine.drain_phase is server.engine.drain_phase is DrainPhase.COMPLETE
    assert client.engine.drain_initiator is DrainInitiator.LOCAL
    assert server.engine.drain_initiator is DrainInitiator.PEER
    client.engine.close()
    wire.run_until(lambda: bool(server.of(ev.ConnectionTerminated)))
    assert server.of(ev.ConnectionTerminated)[0].error_code == ErrorCode.H3_NO_ERROR
    assert client.engine.drain_initiator is DrainInitiator.LOCAL


def test_the_server_drain_is_the_peers_for_the_client(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    assert client.engine.drain_initiator is server.engine.drain_initiator is None
    server.engine.start_drain(wire.now)
    assert server.engine.drain_initiator is DrainInitiator.LOCAL
    wire.run_until(lambda: bool(client.of(ev.DrainCompleted)))
    assert client.engine.drain_initiator is DrainInitiator.PEER
    # The client's own GOAWAY now (it has none to send: the drain is over) changes nothing.
    client.engine.start_drain(wire.now)
    assert client.engine.drain_initiator is DrainInitiator.PEER


def test_a_close_before_any_goaway_is_no_drain(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    client.engine.cancel_remaining()
    wire.run_until(lambda: bool(server.of(ev.ConnectionTerminated)))
    assert client.engine.drain_initiator is server.engine.drain_initiator is None


def test_client_cancel_remaining(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(), end_stream=True)
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    client.engine.cancel_remaining()
    assert client.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_REQUEST_CANCELLED, False)]
    wire.run_until(lambda: bool(server.of(ev.ConnectionTerminated)))
    assert server.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_REQUEST_CANCELLED, True)]
    assert server.of(ev.ConnectionTerminated)[0] == ev.ConnectionTerminated(
        ErrorCode.H3_REQUEST_CANCELLED, "grace_expired", True
    )


def test_reset_stream_by_the_application(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.engine.open_stream(request_headers(b"/up", b"POST"))
    client.engine.send_data(sid, b"x")
    wire.run_until(lambda: bool(server.of(ev.DataReceived)))
    server.engine.reset_stream(sid, ErrorCode.H3_INTERNAL_ERROR)
    assert not server.engine.is_stream_open(sid)
    wire.run_until(lambda: bool(client.of(ev.StreamReset)))
    assert client.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_INTERNAL_ERROR, True)]
