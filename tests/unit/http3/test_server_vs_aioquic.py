"""Our server engine against aioquic's own HTTP/3 client (a peer we did not write),
over an in-memory wire with a fake clock: RFC 9114 §5.2 drain, frame by frame."""

from __future__ import annotations

from typing import Any

from aioquic.h3 import events as h3e
from aioquic.quic import events as qe

from lastcall.engines.http3 import MAX_CLIENT_BIDI_STREAM_ID, ErrorCode, Http3Config, Phase
from lastcall.engines.http3 import events as ev
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import (
    AioquicSide,
    EngineSide,
    Wire,
    aioquic_client,
    our_server,
    request_headers,
    server_has,
)


def connected(
    cert: SelfSignedCertificate, config: Http3Config | None = None
) -> tuple[AioquicSide, EngineSide, Wire]:
    client = aioquic_client(cert)
    wire = Wire(client, our_server(cert, config))
    wire.run_until(lambda: bool(client.of(qe.HandshakeCompleted)))
    wire.run_until(lambda: server_has(wire, ev.SettingsReceived))
    assert isinstance(wire.server, EngineSide)
    return client, wire.server, wire


def send_request(client: AioquicSide, path: bytes = b"/", body: bytes | None = None) -> int:
    stream_id = client.quic.get_next_available_stream_id()
    method = b"GET" if body is None else b"POST"
    client.h3.send_headers(stream_id, request_headers(path, method), end_stream=body is None)
    if body is not None:
        client.h3.send_data(stream_id, body, end_stream=True)
    return stream_id


def respond(server: EngineSide, stream_id: int, body: bytes = b"ok") -> None:
    server.engine.send_headers(
        stream_id, [(b":status", b"200"), (b"content-length", str(len(body)).encode())]
    )
    server.engine.send_data(stream_id, body, end_stream=True)


def requests(server: EngineSide) -> list[int]:
    return [e.stream_id for e in server.of(ev.RequestReceived)]


def resets_seen_by_client(client: AioquicSide) -> dict[int, int]:
    return {e.stream_id: e.error_code for e in client.of(qe.StreamReset)}


def test_request_and_response(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = send_request(client, b"/hello", body=b"x" * 5000)
    wire.run_until(lambda: any(e.end_stream for e in server.of(ev.DataReceived)))
    (request,) = server.of(ev.RequestReceived)
    assert (b":path", b"/hello") in request.headers
    assert b"".join(e.data for e in server.of(ev.DataReceived)) == b"x" * 5000
    server.engine.send_headers(sid, [(b":status", b"200")])
    server.engine.send_data(sid, b"hello ")
    server.engine.send_trailers(sid, [(b"x-checksum", b"1")])
    wire.run_until(lambda: client.stream_data(sid)[1])
    headers = client.of(h3e.HeadersReceived)
    assert headers[0].headers == [(b":status", b"200")]
    assert headers[1].headers == [(b"x-checksum", b"1")] and headers[1].stream_ended
    assert server.engine.active_stream_count == 0 or server.engine.is_stream_open(sid) is False


def test_request_in_flight_during_drain_completes_both_ways(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = client.quic.get_next_available_stream_id()
    client.h3.send_headers(sid, request_headers(b"/upload", b"POST"))
    client.h3.send_data(sid, b"first ", end_stream=False)
    wire.run_until(lambda: bool(server.of(ev.DataReceived)))
    server.engine.start_drain(wire.now)
    wire.run_until(lambda: any(e.final for e in server.of(ev.GoAwaySent)))
    assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, sid + 4]
    # The accepted stream goes on in both directions after the final GOAWAY.
    client.h3.send_data(sid, b"second", end_stream=True)
    wire.run_until(lambda: any(e.end_stream for e in server.of(ev.DataReceived)))
    assert b"".join(e.data for e in server.of(ev.DataReceived)) == b"first second"
    assert server.engine.phase is Phase.DRAINING and not server.of(ev.DrainCompleted)
    respond(server, sid, b"done")
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
    assert client.stream_data(sid) == (b"done", True)
    server.engine.close()
    wire.run_until(lambda: bool(client.of(qe.ConnectionTerminated)))
    (close,) = client.of(qe.ConnectionTerminated)
    assert close.error_code == ErrorCode.H3_NO_ERROR and close.error_code == 0x100
    assert close.frame_type is None  # an application CONNECTION_CLOSE (0x1d), not a transport one
    assert not client.of(qe.StreamReset)


def test_request_after_goaway_is_rejected_and_never_surfaced(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    first = send_request(client)
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    server.engine.start_drain(wire.now)
    wire.run_until(lambda: any(e.final for e in server.of(ev.GoAwaySent)))
    # aioquic ignores GOAWAY, so it sends anyway: exactly the racing request of §5.2.
    late = send_request(client, b"/late")
    wire.run_until(lambda: late in resets_seen_by_client(client))
    assert resets_seen_by_client(client)[late] == ErrorCode.H3_REQUEST_REJECTED
    assert resets_seen_by_client(client)[late] == 0x10B
    stop = [e for e in client.of(qe.StopSendingReceived) if e.stream_id == late]
    assert stop and stop[0].error_code == ErrorCode.H3_REQUEST_REJECTED
    assert server.of(ev.StreamRefused) == [ev.StreamRefused(late, "draining")]
    assert requests(server) == [first]
    respond(server, first)
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
    assert client.stream_data(first) == (b"ok", True)


def test_goaway_ids_never_increase_and_drain_is_idempotent(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sids = [send_request(client) for _ in range(3)]
    wire.run_until(lambda: len(requests(server)) == 3)
    server.engine.start_drain(wire.now)
    server.engine.start_drain(wire.now)
    wire.run_until(lambda: any(e.final for e in server.of(ev.GoAwaySent)))
    server.engine.start_drain(wire.now)
    for sid in sids:
        respond(server, sid)
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
    ids = client.goaway_ids()
    assert ids == [MAX_CLIENT_BIDI_STREAM_ID, 12]
    assert ids == sorted(ids, reverse=True)
    assert [(e.first_rejected_id, e.final) for e in server.of(ev.GoAwaySent)] == [
        (MAX_CLIENT_BIDI_STREAM_ID, False),
        (12, True),
    ]
    assert server.engine.first_rejected_id == 12


def test_idle_drain_sends_goaway_zero(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    server.engine.start_drain(wire.now)
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
    assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, 0]


def test_final_goaway_follows_the_ping_ack_before_the_settle_timeout(
    cert: SelfSignedCertificate,
) -> None:
    _client, server, wire = connected(cert, Http3Config(goaway_settle_timeout=5.0))
    started = wire.now
    server.engine.start_drain(started)
    settle_at = server.engine._drain.settle_at
    assert settle_at is not None and settle_at - started >= 0.05  # at least two PTOs
    wire.run_until(lambda: any(e.final for e in server.of(ev.GoAwaySent)))
    # The client acknowledges the drain PING after its 1 ms ACK delay; that, not
    # the settle allowance, sent the final GOAWAY.
    assert wire.now - started < 0.01 < settle_at - started


def test_final_goaway_is_bounded_when_nothing_comes_back(cert: SelfSignedCertificate) -> None:
    _client, server, wire = connected(cert, Http3Config(goaway_settle_timeout=0.5))
    wire.drop_to_server = lambda data: True  # the client's ACKs are all lost
    started = wire.now
    server.engine.start_drain(started)
    wire.run_until(lambda: any(e.final for e in server.of(ev.GoAwaySent)), within=2.0)
    assert wire.now - started <= 0.5


def test_late_stream_below_the_final_id_is_processed_not_rejected(
    cert: SelfSignedCertificate,
) -> None:
    """QUIC does not order streams: stream 4 may arrive after stream 8 and after
    the final GOAWAY(12). The client may think it processed, so it must be."""
    # No QPACK dynamic table: stream 8's header section must not wait for
    # encoder instructions that travel with the lost stream 4.
    client, server, wire = connected(cert, Http3Config(qpack_max_table_capacity=0))
    send_request(client)  # stream 0
    wire.run_until(lambda: requests(server) == [0])
    lost = send_request(client, b"/lost")  # stream 4: every datagram carrying it is lost
    blocking = True
    carried = [False]
    sender = client.quic._streams[lost].sender
    get_frame = sender.get_frame

    def spy(*args: Any, **kwargs: Any) -> Any:
        frame = get_frame(*args, **kwargs)
        carried[0] = carried[0] or frame is not None
        return frame

    sender.get_frame = spy  # type: ignore[method-assign]
    datagrams = client.datagrams

    def lose_stream_4(now: float) -> list[bytes]:
        carried[0] = False
        out = datagrams(now)
        return [] if blocking and carried[0] else out

    client.datagrams = lose_stream_4  # type: ignore[method-assign]
    wire.run_until(lambda: sender.highest_offset > 0)  # sent, and lost
    send_request(client, b"/later")  # stream 8
    wire.run_until(lambda: 8 in requests(server))
    assert requests(server) == [0, 8]
    server.engine.start_drain(wire.now)
    respond(server, 0)
    respond(server, 8)
    wire.run_until(
        lambda: (
            client.goaway_ids()[-1:] == [12]
            and client.stream_data(8)[1]
            and server.engine.active_stream_count == 0
        )
    )
    assert lost not in requests(server)
    assert not server.of(ev.DrainCompleted)  # stream 4 is still owed
    blocking = False
    wire.run_until(lambda: lost in requests(server), within=10.0)  # aioquic retransmits it
    assert not server.of(ev.StreamRefused)
    respond(server, lost)
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
    assert client.stream_data(lost) == (b"ok", True)


def test_no_connection_close_before_accepted_responses_are_delivered(
    cert: SelfSignedCertificate,
) -> None:
    """The layered close: with a large response and heavy loss, the caller closes
    as soon as DrainCompleted arrives, and the client still gets every byte."""
    client, server, wire = connected(cert)
    body = bytes(range(256)) * 1024  # 256 KiB: many flights
    sid = send_request(client)
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    server.engine.start_drain(wire.now)
    respond(server, sid, body)
    count = [0]

    def lossy(data: bytes) -> bool:
        count[0] += 1
        return count[0] % 3 == 0

    wire.drop_to_client = lossy
    closed_when: list[tuple[int, bool]] = []

    def close_on_drain() -> bool:
        if server.of(ev.DrainCompleted) and not closed_when:
            closed_when.append((len(client.stream_data(sid)[0]), client.stream_data(sid)[1]))
            server.engine.close()
            wire.drop_to_client = lambda data: False  # so the CONNECTION_CLOSE itself arrives
        return bool(client.of(qe.ConnectionTerminated))

    wire.run_until(close_on_drain, within=30.0)
    assert closed_when == [(len(body), True)]  # everything was there before the close
    assert client.stream_data(sid) == (body, True)
    assert client.of(qe.ConnectionTerminated)[0].error_code == ErrorCode.H3_NO_ERROR


def test_closing_without_waiting_would_lose_the_response(cert: SelfSignedCertificate) -> None:
    """The control for the test above: aioquic drops unacknowledged stream data
    when CONNECTION_CLOSE is sent, so waiting for ACKs is what saves it."""
    client, server, wire = connected(cert)
    body = b"z" * 262_144
    sid = send_request(client)
    wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
    respond(server, sid, body)
    server.engine.close()
    wire.run_until(lambda: bool(client.of(qe.ConnectionTerminated)), within=30.0)
    assert len(client.stream_data(sid)[0]) < len(body)


def test_cancel_remaining_at_grace_expiry(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    done = send_request(client)
    stuck = send_request(client, b"/stream")
    wire.run_until(lambda: len(requests(server)) == 2)
    server.engine.start_drain(wire.now)
    respond(server, done)
    server.engine.send_headers(stuck, [(b":status", b"200")])
    server.engine.send_data(stuck, b"partial")
    wire.run_until(lambda: client.stream_data(done)[1])
    server.engine.cancel_remaining()
    server.engine.cancel_remaining()  # idempotent
    assert server.of(ev.StreamReset) == [
        ev.StreamReset(stuck, ErrorCode.H3_REQUEST_CANCELLED, False)
    ]
    (terminated,) = server.of(ev.ConnectionTerminated)
    assert terminated.error_code == ErrorCode.H3_REQUEST_CANCELLED and not terminated.remote
    wire.run_until(lambda: bool(client.of(qe.ConnectionTerminated)))
    assert resets_seen_by_client(client).get(stuck) == 0x10C  # H3_REQUEST_CANCELLED
    assert client.of(qe.ConnectionTerminated)[0].error_code == ErrorCode.H3_REQUEST_CANCELLED
    assert client.stream_data(done) == (b"ok", True)
    wire.run_until(lambda: server.engine.phase is Phase.CLOSED)


def test_cancel_remaining_with_nothing_left_closes_cleanly(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    server.engine.cancel_remaining()
    wire.run_until(lambda: bool(client.of(qe.ConnectionTerminated)))
    assert client.of(qe.ConnectionTerminated)[0].error_code == ErrorCode.H3_NO_ERROR
    assert client.goaway_ids() == [0]


def test_client_goaway_makes_the_server_drain_too(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = send_request(client)
    wire.run_until(lambda: bool(requests(server)))
    control = client.h3._local_control_stream_id
    assert control is not None
    client.quic.send_stream_data(control, b"\x07\x01\x00")  # GOAWAY(push id 0)
    wire.run_until(lambda: bool(server.of(ev.GoAwayReceived)))
    assert server.of(ev.GoAwayReceived) == [ev.GoAwayReceived(0, [])]
    respond(server, sid)
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
    assert client.goaway_ids() == [MAX_CLIENT_BIDI_STREAM_ID, 4]


def test_peer_close_is_seen_at_once(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = send_request(client)
    wire.run_until(lambda: bool(requests(server)))
    client.quic.close(error_code=ErrorCode.H3_NO_ERROR, reason_phrase="bye")
    wire.pump()  # no time passes: QUIC's draining period has not ended
    assert server.of(ev.ConnectionTerminated) == [
        ev.ConnectionTerminated(ErrorCode.H3_NO_ERROR, "bye", True)
    ]
    assert server.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_NO_ERROR, True)]
    assert server.engine.phase is Phase.CLOSING
    wire.run_until(lambda: server.engine.phase is Phase.CLOSED)
    assert server.engine.get_timer() is None


def test_client_cancelling_a_request(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    sid = send_request(client, body=None)
    wire.run_until(lambda: bool(requests(server)))
    client.quic.reset_stream(sid, ErrorCode.H3_REQUEST_CANCELLED)
    client.quic.stop_stream(sid, ErrorCode.H3_REQUEST_CANCELLED)
    wire.run_until(lambda: bool(server.of(ev.StreamReset)))
    assert server.of(ev.StreamReset) == [ev.StreamReset(sid, ErrorCode.H3_REQUEST_CANCELLED, True)]
    assert server.engine.active_stream_count == 0
    server.engine.start_drain(wire.now)
    wire.run_until(lambda: bool(server.of(ev.DrainCompleted)))
