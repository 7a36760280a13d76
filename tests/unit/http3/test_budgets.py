"""The HTTP/3 abuse budgets aioquic lacks (RFC 9114 §10.5), frame by frame.

QUIC's MAX_STREAMS bounds how many request streams are open at once; nothing
in aioquic bounds how fast they churn, how many frames we must ignore, or how
much waits behind a QPACK-blocked header section. A raw QUIC peer (aioquic's
``QuicConnection``, every HTTP/3 byte written here) against our server engine
on the fake wire: no sockets, and time moves only when a test moves it.
"""

from __future__ import annotations

import pylsqpack
from aioquic.quic import events as qe

from lastcall.engines.http3 import ErrorCode, Http3Config
from lastcall.engines.http3 import events as ev
from lastcall.engines.http3.frames import encode_frame, encode_settings
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import EngineSide, QuicSide, Wire, request_headers
from .raw_peer import GET, closed_with, connected, headers_frame, open_uni, send_request

EXCESSIVE_LOAD = ErrorCode.H3_EXCESSIVE_LOAD
CANCELLED = ErrorCode.H3_REQUEST_CANCELLED
BAD = headers_frame([*request_headers(), (b"Upper", b"case")])  # malformed: §4.2


def budgets(**overrides: float) -> Http3Config:
    """Small budgets that never refill unless a test says so."""
    settings: dict[str, float] = {
        "reset_burst": 20,
        "reset_refill_per_second": 0.0,
        "ignored_frame_burst": 10,
        "ignored_frame_refill_per_second": 0.0,
    }
    settings.update(overrides)
    return Http3Config(**settings)  # type: ignore[arg-type]


def _terminated(server: EngineSide) -> ev.ConnectionTerminated:
    (terminated,) = server.of(ev.ConnectionTerminated)
    return terminated


def _reset_requests(
    client: QuicSide,
    server: EngineSide,
    wire: Wire,
    count: int,
    *,
    reset: bool = True,
    stop: bool = True,
) -> None:
    """``count`` GETs, each abandoned by the client once the server has it (Rapid
    Reset); stops early if the server closes the connection."""
    for _ in range(count):
        if server.of(ev.ConnectionTerminated):
            return
        seen = len(server.of(ev.RequestReceived))
        stream_id = send_request(client, GET, fin=False)
        wire.run_until(lambda seen=seen: len(server.of(ev.RequestReceived)) > seen)
        if reset:
            client.quic.reset_stream(stream_id, CANCELLED)
        if stop:
            client.quic.stop_stream(stream_id, CANCELLED)
        wire.run_until(lambda sid=stream_id: _answered(client, server, sid))


def _answered(client: QuicSide, server: EngineSide, stream_id: int) -> bool:
    """The server reset its side of ``stream_id`` back, or closed the connection."""
    if server.of(ev.ConnectionTerminated):
        return True
    return any(e.stream_id == stream_id for e in client.of(qe.StreamReset))


def test_rapid_reset_is_cut_past_the_reset_burst(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets())
    _reset_requests(client, server, wire, 20)  # RESET_STREAM and STOP_SENDING count once per stream
    assert client.close_code() is None
    assert len(server.of(ev.RequestReceived)) == 20
    _reset_requests(client, server, wire, 1)
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD
    assert _terminated(server).reason_phrase == "too many stream resets"


def test_stop_sending_alone_spends_the_reset_budget(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets())
    _reset_requests(client, server, wire, 21, reset=False)
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD


def test_a_reset_before_the_headers_spends_too(cert: SelfSignedCertificate) -> None:
    """RESET_STREAM on a stream whose bytes never came (aioquic drops them once reset)."""
    client, server, wire = connected(cert, budgets())
    for _ in range(21):
        stream_id = send_request(client, GET, fin=False)
        client.quic.reset_stream(stream_id, CANCELLED)  # the HEADERS are never sent
        wire.run_until(lambda sid=stream_id: _answered(client, server, sid))
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD
    assert not server.of(ev.RequestReceived)


def test_the_reset_budget_refills_with_time(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets(reset_refill_per_second=10.0))
    _reset_requests(client, server, wire, 20)
    wire.now += 1.0  # ten tokens back (and a few for the fake time the resets took)
    _reset_requests(client, server, wire, 10)
    assert client.close_code() is None
    _reset_requests(client, server, wire, 20)  # the fake time they take is well under 1 s
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD


def test_completed_requests_never_spend(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets(reset_burst=1))
    for _ in range(30):
        stream_id = send_request(client, GET)
        wire.run_until(lambda: bool(server.of(ev.RequestReceived)))
        server.engine.send_headers(stream_id, [(b":status", b"200")], end_stream=True)
        wire.pump()
        server.events.clear()
    assert client.close_code() is None


def test_made_you_reset_resets_we_are_provoked_into_spend(cert: SelfSignedCertificate) -> None:
    """CVE-2025-8671: malformed requests the server must reset (H3_MESSAGE_ERROR)."""
    client, server, wire = connected(cert, budgets())
    for n in range(20):
        send_request(client, BAD)
        wire.run_until(lambda n=n: len(server.of(ev.StreamReset)) > n)
    resets = server.of(ev.StreamReset)
    assert [r.error_code for r in resets] == [ErrorCode.H3_MESSAGE_ERROR] * 20
    assert client.close_code() is None
    send_request(client, BAD)
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD
    assert _terminated(server).reason_phrase == "too many stream errors"


def test_streams_refused_while_draining_spend(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets(reset_burst=3))
    server.engine.start_drain(wire.now)
    wire.run_until(lambda: any(e.final for e in server.of(ev.GoAwaySent)))
    for n in range(3):
        send_request(client, GET)
        wire.run_until(lambda n=n: len(server.of(ev.StreamRefused)) > n)
    assert len(server.of(ev.StreamRefused)) == 3
    send_request(client, GET)
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD
    assert _terminated(server).reason_phrase == "too many refused streams"


def test_a_request_stopped_in_its_own_datagram_never_surfaces(
    cert: SelfSignedCertificate,
) -> None:
    """HEADERS and STOP_SENDING in one datagram (aioquic writes the STOP_SENDING
    first): no handler is started for it, and it still spends."""
    client, server, wire = connected(cert, budgets())
    stream_id = send_request(client, GET)
    client.quic.stop_stream(stream_id, CANCELLED)
    wire.run_until(lambda: _answered(client, server, stream_id))  # our side was reset
    assert not server.of(ev.RequestReceived)
    assert not server.of(ev.StreamReset)
    assert not server.engine.is_stream_open(stream_id)
    assert server.engine._reset_budget.tokens == 19


def test_a_request_reset_later_is_surfaced_then_reset(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets())
    _reset_requests(client, server, wire, 1)
    (received,) = server.of(ev.RequestReceived)
    (reset,) = server.of(ev.StreamReset)
    assert reset.stream_id == received.stream_id and reset.remote


# -- what RFC 9114 §9 makes us ignore --------------------------------------------------


def test_unknown_frames_on_the_control_stream_are_cut(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets(), control=None)
    noise = encode_frame(0x21, b"")  # a reserved type (0x1f * N + 0x21): ignored, §7.2.8
    control = open_uni(client, 0x00, encode_settings({}) + noise * 10)
    wire.pump()
    assert client.close_code() is None
    client.quic.send_stream_data(control, noise)
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD
    assert _terminated(server).reason_phrase == "flood of ignored frames"


def test_unknown_stream_types_are_cut(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets())
    for _ in range(10):
        open_uni(client, 0x21, b"x")
        wire.pump()
    assert client.close_code() is None
    open_uni(client, 0x21, b"x")
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD
    assert _terminated(server).reason_phrase == "flood of unknown streams"


def test_one_ignored_frame_per_request_is_free(cert: SelfSignedCertificate) -> None:
    """A GREASE frame on every request (as browsers send) never spends."""
    client, server, wire = connected(cert, budgets(ignored_frame_burst=1))
    for n in range(30):
        send_request(client, encode_frame(0x21, b"grease") + GET)
        wire.run_until(lambda n=n: len(server.of(ev.RequestReceived)) > n)
    assert client.close_code() is None
    assert len(server.of(ev.RequestReceived)) == 30


def test_empty_data_frames_on_a_request_are_cut(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, budgets())
    post = headers_frame(request_headers(method=b"POST"))
    stream_id = send_request(client, post + encode_frame(0x0, b"") * 11, fin=False)
    wire.pump()
    assert client.close_code() is None  # the first is free, then ten tokens
    client.quic.send_stream_data(stream_id, encode_frame(0x0, b""))
    assert closed_with(client, server, wire) == EXCESSIVE_LOAD


def test_data_behind_a_blocked_header_section_is_bounded(cert: SelfSignedCertificate) -> None:
    """A header section waiting for encoder instructions that never come (RFC 9204
    §2.1.2), then DATA: aioquic keeps widening the stream window, so what is held
    for the section must be bounded by us (``max_stream_data``)."""
    client, server, wire = connected(cert, budgets(max_stream_data=65_536))
    encoder = pylsqpack.Encoder()
    encoder.apply_settings(max_table_capacity=4096, blocked_streams=16)
    stream_id = client.quic.get_next_available_stream_id()
    fields = [*request_headers(method=b"POST"), (b"x-dynamic", b"a value worth indexing")]
    encoder.encode(stream_id + 400, fields)  # pylsqpack indexes a field on its second use
    _, block = encoder.encode(stream_id, fields)  # the encoder instructions are never sent
    client.quic.send_stream_data(stream_id, encode_frame(0x1, block))
    chunk = encode_frame(0x0, b"x" * 16_000)
    for _ in range(5):
        client.quic.send_stream_data(stream_id, chunk)
    wire.run_until(lambda: bool(server.of(ev.StreamReset)))
    assert client.close_code() is None
    (reset,) = server.of(ev.StreamReset)
    assert (reset.stream_id, reset.error_code) == (stream_id, EXCESSIVE_LOAD)
    assert not server.of(ev.RequestReceived)
