"""Fuzz property of the HTTP/2 engine (STYLE.md, after h11's fuzz/afl-server.py).

After a valid preface and SETTINGS, any bytes at all — fed whole, or one
octet at a time — either parse, or end in our own protocol errors
(``ConnectionTerminated`` with a GOAWAY we queued, ``StreamReset`` with a
RST_STREAM). ``receive_data`` never raises, in either role, and feeding the
same bytes in pieces changes nothing: the same events, the same output.
"""

from __future__ import annotations

import os

import hpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.engines.http2 import Http2Engine, Role
from lastcall.engines.http2 import events as ev
from lastcall.engines.http2.frames import CONNECTION_PREFACE, FrameType, frame, settings_payload
from lastcall.testing.frames import DEFAULT_REQUEST, parse_frames

#: Modest by default so the suite stays fast; scale it up for a campaign:
#: ``LASTCALL_HYPOTHESIS_SCALE=100 pytest tests/fuzz``.
SCALE = float(os.environ.get("LASTCALL_HYPOTHESIS_SCALE", "1"))
FUZZ = settings(
    max_examples=int(150 * SCALE),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

stream_ids = st.sampled_from([0, 1, 2, 3, 5, 7, 0x7FFFFFFF, 0x80000001])
header_fields = st.lists(
    st.tuples(
        st.sampled_from(
            [
                b":method",
                b":path",
                b":scheme",
                b":authority",
                b":status",
                b":protocol",
                b"content-length",
                b"te",
                b"connection",
                b"x-a",
                b"X-Up",
                b"",
            ]
        ),
        st.sampled_from(
            [
                b"GET",
                b"POST",
                b"CONNECT",
                b"/",
                b"https",
                b"h",
                b"200",
                b"100",
                b"0",
                b"5",
                b"trailers",
                b"a\r\nb",
                b" x",
                b"",
                b"websocket",
            ]
        ),
    ),
    max_size=8,
)


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    """Valid HPACK (from an independent encoder) of valid or invalid field lists, or noise."""
    if draw(st.booleans()):
        fields = (
            DEFAULT_REQUEST + draw(header_fields) if draw(st.booleans()) else draw(header_fields)
        )
        return bytes(hpack.Encoder().encode(fields))
    return draw(st.binary(max_size=40))


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    ftype = draw(st.integers(0, 12))
    flags = draw(st.sampled_from([0, 1, 4, 5, 8, 0x20, 0x25, 0x2D, 0xFF]) | st.integers(0, 255))
    sid = draw(stream_ids)
    if ftype in (FrameType.HEADERS, FrameType.CONTINUATION, FrameType.PUSH_PROMISE) and draw(
        st.booleans()
    ):
        payload = draw(header_blocks())
        if ftype == FrameType.PUSH_PROMISE:
            payload = b"\x00\x00\x00\x02" + payload
    elif ftype in (FrameType.RST_STREAM, FrameType.WINDOW_UPDATE) and draw(st.booleans()):
        payload = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    elif ftype == FrameType.SETTINGS and draw(st.booleans()):
        payload = settings_payload(
            draw(st.dictionaries(st.integers(0, 9), st.integers(0, 2**32 - 1), max_size=4))
        )
    elif ftype in (FrameType.PING, FrameType.GOAWAY) and draw(st.booleans()):
        payload = draw(st.binary(min_size=8, max_size=12))
    else:
        payload = draw(st.binary(max_size=40))
    return frame(ftype, flags, sid, payload)


inputs = st.one_of(
    st.binary(max_size=300),
    st.lists(frames(), max_size=25).map(b"".join),
    st.tuples(st.lists(frames(), max_size=10), st.binary(max_size=20)).map(
        lambda t: b"".join(t[0]) + t[1]
    ),
)


def ready(role: Role) -> Http2Engine:
    """An engine past the handshake; a client with two requests in flight."""
    engine = Http2Engine(role)
    engine.initiate()
    engine.data_to_send()
    hello = frame(FrameType.SETTINGS, 0, 0, b"") + frame(FrameType.SETTINGS, 1, 0, b"")
    if role is Role.SERVER:
        hello = CONNECTION_PREFACE + hello
    events = engine.receive_data(hello, 0.0)
    assert [type(e) for e in events] == [ev.SettingsReceived, ev.SettingsAcknowledged]
    if role is Role.CLIENT:
        engine.open_stream(DEFAULT_REQUEST, end_stream=True)
        engine.open_stream(DEFAULT_REQUEST, end_stream=False)
    engine.data_to_send()
    return engine


def feed(engine: Http2Engine, data: bytes, one_at_a_time: bool) -> tuple[list[ev.Event], bytes]:
    events: list[ev.Event] = []
    out = bytearray()
    pieces = [data[i : i + 1] for i in range(len(data))] if one_at_a_time else [data]
    for i, piece in enumerate(pieces):
        events += engine.receive_data(piece, i * 0.001 if one_at_a_time else 0.0)
        out += engine.data_to_send()
    return events, bytes(out)


def check(engine: Http2Engine, events: list[ev.Event], out: bytes) -> None:
    """Our output is whole frames; a connection error is one GOAWAY(error) and nothing after."""
    assert all(isinstance(e, ev.Event) for e in events)
    sent = parse_frames(out)
    terminated = [e for e in events if isinstance(e, ev.ConnectionTerminated)]
    error_goaways = [f for f in sent if f.type == FrameType.GOAWAY and f.error_code != 0]
    if terminated:
        assert len(terminated) == 1 and events[-1] is terminated[0]
        assert not terminated[0].remote or not error_goaways
        if not terminated[0].remote:
            assert len(error_goaways) == 1 and sent[-1] is error_goaways[0]
            assert error_goaways[0].error_code == terminated[0].error_code
        assert engine.is_drained
    else:
        assert not error_goaways
    # Whatever happened, the engine still takes actions without raising.
    engine.start_drain(10.0)
    engine.handle_timer(20.0)
    engine.cancel_remaining()
    parse_frames(engine.data_to_send())


def run(role: Role, data: bytes) -> None:
    whole = ready(role)
    events_whole, out_whole = feed(whole, data, one_at_a_time=False)
    check(whole, events_whole, out_whole)
    split = ready(role)
    events_split, out_split = feed(split, data, one_at_a_time=True)
    # Budgets refill with ``now``, which moves in the split run: compare only
    # when neither run hit one.
    if not any(
        isinstance(e, ev.ConnectionTerminated) and e.error_code == 0xB
        for e in events_whole + events_split
    ):
        assert events_split == events_whole
        assert out_split == out_whole
    check(split, events_split, out_split)


@FUZZ
@given(inputs)
def test_server_never_raises(data: bytes) -> None:
    run(Role.SERVER, data)


@FUZZ
@given(inputs)
def test_client_never_raises(data: bytes) -> None:
    run(Role.CLIENT, data)


@FUZZ
@given(
    st.binary(max_size=80)
    | st.just(CONNECTION_PREFACE).flatmap(lambda p: st.binary(max_size=60).map(lambda b: p + b))
)
def test_server_from_the_first_byte(data: bytes) -> None:
    """Before the preface, too: garbage ends in GOAWAY(PROTOCOL_ERROR) and nothing else."""
    for one_at_a_time in (False, True):
        engine = Http2Engine(Role.SERVER)
        engine.initiate()
        engine.data_to_send()
        events, out = feed(engine, data, one_at_a_time)
        check(engine, events, out)
