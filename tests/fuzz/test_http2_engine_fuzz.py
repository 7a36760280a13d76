"""Fuzz property of the HTTP/2 engine (STYLE.md, after h11's fuzz/afl-server.py), by hypothesis.

After a valid preface and SETTINGS, any bytes at all — fed whole, or one
octet at a time — either parse, or end in our own protocol errors
(``ConnectionTerminated`` with a GOAWAY we queued, ``StreamReset`` with a
RST_STREAM). ``receive_data`` never raises, in either role, and feeding the
same bytes in pieces changes nothing: the same events, the same output.

The property itself (``h2_run``, ``h2_check``) lives in ``harnesses.py``,
shared with the coverage-guided atheris harnesses (``run_fuzz.py``):
hypothesis generates structured frames, atheris mutates bytes.
"""

from __future__ import annotations

import os

import hpack
from harnesses import PREFACE as CONNECTION_PREFACE
from harnesses import frame, h2_from_first_byte
from harnesses import h2_run as run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastcall.engines.http2 import FrameType, Role
from lastcall.testing.frames import DEFAULT_REQUEST

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
        settings = draw(st.dictionaries(st.integers(0, 9), st.integers(0, 2**32 - 1), max_size=4))
        payload = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in settings.items())
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
    h2_from_first_byte(data)
