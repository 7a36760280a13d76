"""A raw QUIC peer (aioquic's QuicConnection, every HTTP/3 byte written by the
test) breaks RFC 9114 rules; our server answers with the right error, at the
right scope (connection or stream), and never lets a bad request through.
"""

from __future__ import annotations

import pylsqpack
import pytest
from aioquic.quic import events as qe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.engines.http3 import ErrorCode
from lastcall.engines.http3 import events as ev
from lastcall.engines.http3.frames import encode_frame
from lastcall.testing.quic_certs import SelfSignedCertificate

from .helpers import request_headers
from .raw_peer import GET, SETTINGS, closed_with, connected, headers_frame, open_uni, send_request


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        pytest.param(
            encode_frame(0x0, b"body") + GET, ErrorCode.H3_FRAME_UNEXPECTED, id="data-first"
        ),
        pytest.param(GET + SETTINGS, ErrorCode.H3_FRAME_UNEXPECTED, id="settings-on-request"),
        pytest.param(GET + encode_frame(0x7, b"\x00"), ErrorCode.H3_FRAME_UNEXPECTED, id="goaway"),
        pytest.param(GET + encode_frame(0x2, b""), ErrorCode.H3_FRAME_UNEXPECTED, id="h2-priority"),
        pytest.param(GET + encode_frame(0x5, b"\x00"), ErrorCode.H3_FRAME_UNEXPECTED, id="push"),
        pytest.param(GET + b"\x00\x05ab", ErrorCode.H3_FRAME_ERROR, id="truncated-at-fin"),
        pytest.param(b"\x01\x03\xff\xff\xff", ErrorCode.QPACK_DECOMPRESSION_FAILED, id="bad-qpack"),
        pytest.param(
            GET + headers_frame([(b"x", b"1")]) + encode_frame(0x0, b"x"),
            ErrorCode.H3_FRAME_UNEXPECTED,
            id="data-after-trailers",
        ),
    ],
)
def test_request_stream_connection_errors(
    cert: SelfSignedCertificate, request_bytes: bytes, code: int
) -> None:
    client, server, wire = connected(cert)
    send_request(client, request_bytes)
    assert closed_with(client, server, wire) == code


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        pytest.param(
            [(0x00, encode_frame(0x7, b"\x00"))], ErrorCode.H3_MISSING_SETTINGS, id="no-settings"
        ),
        pytest.param(
            [(0x00, SETTINGS + SETTINGS)], ErrorCode.H3_FRAME_UNEXPECTED, id="second-settings"
        ),
        pytest.param(
            [(0x00, encode_frame(0x4, b"\x02\x00"))], ErrorCode.H3_SETTINGS_ERROR, id="h2-setting"
        ),
        pytest.param(
            [(0x00, encode_frame(0x4, b"\x01\x00\x01\x00"))],
            ErrorCode.H3_SETTINGS_ERROR,
            id="duplicate-setting",
        ),
        pytest.param(
            [(0x00, SETTINGS + encode_frame(0x0, b"x"))],
            ErrorCode.H3_FRAME_UNEXPECTED,
            id="data-on-control",
        ),
        pytest.param(
            [(0x00, SETTINGS + encode_frame(0x7, b"\x00\x00"))],
            ErrorCode.H3_FRAME_ERROR,
            id="goaway-with-junk",
        ),
        pytest.param(
            [(0x00, SETTINGS + encode_frame(0x3, b"\x00"))],
            ErrorCode.H3_ID_ERROR,
            id="cancel-unknown-push",
        ),
        pytest.param(
            [(0x00, SETTINGS + encode_frame(0xD, b"\x08") + encode_frame(0xD, b"\x04"))],
            ErrorCode.H3_ID_ERROR,
            id="max-push-id-reduced",
        ),
        pytest.param(
            [(0x00, SETTINGS), (0x00, SETTINGS)],
            ErrorCode.H3_STREAM_CREATION_ERROR,
            id="second-control-stream",
        ),
        pytest.param(
            [(0x00, SETTINGS), (0x02, b""), (0x02, b"")],
            ErrorCode.H3_STREAM_CREATION_ERROR,
            id="second-encoder-stream",
        ),
        pytest.param([(0x01, b"\x00")], ErrorCode.H3_STREAM_CREATION_ERROR, id="push-stream"),
        pytest.param(
            [(0x00, SETTINGS), (0x02, b"\x3f\xe9\x26")],  # capacity 5000 > 4096
            ErrorCode.QPACK_ENCODER_STREAM_ERROR,
            id="bad-encoder-stream",
        ),
    ],
)
def test_control_and_uni_stream_errors(
    cert: SelfSignedCertificate, setup: list[tuple[int, bytes]], code: int
) -> None:
    client, server, wire = connected(cert, control=None)
    for stream_type, data in setup:
        open_uni(client, stream_type, data)
    assert closed_with(client, server, wire) == code


def test_closing_the_control_stream_is_an_error(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, control=None)
    open_uni(client, 0x00, SETTINGS, fin=True)
    assert closed_with(client, server, wire) == ErrorCode.H3_CLOSED_CRITICAL_STREAM


def test_resetting_the_control_stream_is_an_error(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert, control=None)
    control = open_uni(client, 0x00, SETTINGS)
    wire.run_until(lambda: bool(server.of(ev.SettingsReceived)))
    client.quic.reset_stream(control, ErrorCode.H3_NO_ERROR)
    assert closed_with(client, server, wire) == ErrorCode.H3_CLOSED_CRITICAL_STREAM


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        pytest.param(b"", ErrorCode.H3_REQUEST_INCOMPLETE, id="fin-without-headers"),
        pytest.param(
            headers_frame([(b":method", b"GET"), (b":path", b"/")]),
            ErrorCode.H3_MESSAGE_ERROR,
            id="missing-scheme",
        ),
        pytest.param(
            headers_frame([*request_headers(), (b"Upper", b"x")]),
            ErrorCode.H3_MESSAGE_ERROR,
            id="uppercase-name",
        ),
        pytest.param(
            headers_frame([*request_headers(), (b"connection", b"close")]),
            ErrorCode.H3_MESSAGE_ERROR,
            id="connection-header",
        ),
        pytest.param(
            headers_frame([*request_headers(b"/", b"POST"), (b"content-length", b"3")])
            + encode_frame(0x0, b"four"),
            ErrorCode.H3_MESSAGE_ERROR,
            id="content-length-exceeded",
        ),
        pytest.param(
            headers_frame([*request_headers(b"/", b"POST"), (b"content-length", b"3")])
            + encode_frame(0x0, b"tw"),
            ErrorCode.H3_MESSAGE_ERROR,
            id="content-length-short",
        ),
        pytest.param(
            headers_frame([*request_headers(), *[(b"x-%d" % i, b"v" * 1000) for i in range(80)]]),
            ErrorCode.H3_EXCESSIVE_LOAD,
            id="header-section-too-large",
        ),
    ],
)
def test_stream_errors_leave_the_connection_up(
    cert: SelfSignedCertificate, request_bytes: bytes, code: int
) -> None:
    client, server, wire = connected(cert)
    bad = send_request(client, request_bytes)
    wire.run_until(lambda: any(e.stream_id == bad for e in client.of(qe.StreamReset)))
    assert [e.error_code for e in client.of(qe.StreamReset)] == [code]
    assert not [e for e in server.of(ev.DataReceived) if e.end_stream]
    assert server.engine.active_stream_count == 0
    # The connection lives on.
    good = send_request(client, GET)
    wire.run_until(lambda: any(e.stream_id == good for e in server.of(ev.RequestReceived)))
    assert client.close_code() is None


def test_unknown_frames_and_streams_are_ignored(cert: SelfSignedCertificate) -> None:
    """RFC 9114 §9: reserved frame types (0x1f*N+0x21) and unknown stream types."""
    client, server, wire = connected(cert, control=SETTINGS + encode_frame(0x21, b"grease"))
    unknown = open_uni(client, 0x21, b"whatever")
    body = encode_frame(0x0, b"hello")
    sid = send_request(
        client, encode_frame(0x40, b"x" * 100) + GET + encode_frame(0x21, b"") + body
    )
    wire.run_until(lambda: any(e.end_stream for e in server.of(ev.DataReceived)))
    assert [e.stream_id for e in server.of(ev.RequestReceived)] == [sid]
    assert b"".join(e.data for e in server.of(ev.DataReceived)) == b"hello"
    wire.run_until(lambda: bool(client.of(qe.StopSendingReceived)))
    (stop,) = client.of(qe.StopSendingReceived)
    assert (stop.stream_id, stop.error_code) == (unknown, ErrorCode.H3_STREAM_CREATION_ERROR)
    assert client.close_code() is None


def test_frames_split_across_packets_byte_by_byte(cert: SelfSignedCertificate) -> None:
    client, server, wire = connected(cert)
    data = headers_frame(request_headers(b"/", b"POST")) + encode_frame(0x0, b"abc")
    stream_id = client.quic.get_next_available_stream_id()
    for i in range(len(data)):
        client.quic.send_stream_data(stream_id, data[i : i + 1], end_stream=i == len(data) - 1)
        wire.pump()
    wire.run_until(lambda: any(e.end_stream for e in server.of(ev.DataReceived)))
    assert b"".join(e.data for e in server.of(ev.DataReceived)) == b"abc"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    GET,
                    encode_frame(0x0, b"body"),
                    headers_frame([(b"x", b"1")]),
                    encode_frame(0x21, b"g"),
                    b"\x01",
                    b"\x00\x40",
                    b"\xff",
                ]
            ),
            max_size=6,
        ).map(b"".join),
    ),
    fin=st.booleans(),
)
def test_fuzz_any_request_bytes_parse_or_fail_by_the_rules(
    cert: SelfSignedCertificate, data: bytes, fin: bool
) -> None:
    """Whatever arrives on a request stream, the engine raises nothing: it
    surfaces a request, resets the stream, or closes with an HTTP/3 code."""
    client, _server, wire = connected(cert)
    send_request(client, data, fin)
    wire.run_until(lambda: True)
    wire.pump()
    close = client.close_code()
    if close is not None:
        assert 0x100 <= close <= 0x202
    for reset in client.of(qe.StreamReset):
        assert reset.error_code in (
            ErrorCode.H3_REQUEST_INCOMPLETE,
            ErrorCode.H3_MESSAGE_ERROR,
            ErrorCode.H3_EXCESSIVE_LOAD,
        )


def test_blocked_header_section_resumes_when_encoder_instructions_arrive(
    cert: SelfSignedCertificate,
) -> None:
    """RFC 9204 §2.1.2: a header section referring to dynamic table entries not
    yet received waits, and is decoded (then acknowledged) once they arrive."""
    client, server, wire = connected(cert)
    encoder = pylsqpack.Encoder()
    encoder_stream = open_uni(client, 0x02, encoder.apply_settings(4096, 16))
    headers = [*request_headers(b"/", b"POST"), (b"x-custom", b"a value worth indexing")]
    _, first_block = encoder.encode(0, headers)  # lsqpack inserts on second sight
    send_request(client, encode_frame(0x1, first_block))
    wire.run_until(lambda: len(server.of(ev.RequestReceived)) == 1)
    instructions, block = encoder.encode(4, headers)
    assert instructions  # this section refers to an entry those instructions insert
    sid = send_request(client, encode_frame(0x1, block) + encode_frame(0x0, b"body"))
    wire.run_until(lambda: client.quic._streams[sid].sender.is_finished)  # delivered and acked
    assert len(server.of(ev.RequestReceived)) == 1  # blocked, not lost, not an error
    client.quic.send_stream_data(encoder_stream, instructions)
    wire.run_until(lambda: any(e.end_stream and e.data for e in server.of(ev.DataReceived)))
    assert server.of(ev.RequestReceived)[1] == ev.RequestReceived(sid, headers, False)
    assert [e.data for e in server.of(ev.DataReceived) if e.stream_id == sid] == [b"body"]
    wire.run_until(lambda: len(client.uni_bytes.get(11, b"")) > 1)
    encoder.feed_decoder(bytes(client.uni_bytes[11][1:]))  # valid acknowledgments (§4.4)
    assert client.close_code() is None


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream_type=st.sampled_from([0x00, 0x02, 0x03, 0x21]),
    data=st.binary(max_size=200),
    fin=st.booleans(),
)
def test_fuzz_any_unidirectional_stream_bytes(
    cert: SelfSignedCertificate, stream_type: int, data: bytes, fin: bool
) -> None:
    """Control, QPACK and unknown streams: anything parses or closes the
    connection with an HTTP/3 or QPACK code; the engine itself raises nothing."""
    client, _server, wire = connected(cert, control=None if stream_type == 0x00 else SETTINGS)
    open_uni(client, stream_type, data, fin)
    wire.run_until(lambda: True)
    close = client.close_code()
    assert close is None or 0x100 <= close <= 0x202
