"""RFC 9113 §8.1: a server that answers before the request body has arrived, and
what the client still sends on that stream -- the same answer however the
client's bytes are split into reads (#13, conformance class 3).

The server ends its response and sends RST_STREAM(NO_ERROR) to stop the
upload. Before, the stream was then forgotten as "reset by us" and everything
that followed on it was ignored (§5.1), so a malformed frame was answered
when it arrived in the same read as the request (the stream was still open)
and ignored when it arrived in the next one (the app had answered in
between). Now the engine keeps validating a stream it answered early until
the client's END_STREAM (bounded: ``streams.ANSWERED_MAX``): each
case below feeds the same bytes cut at every byte boundary and one byte at a
time, with an application that answers the moment it sees the request, and
asserts the same error frames every time.

One thing stays split-dependent, because RFC 9113 itself tells the two states
apart: a frame after the client's own END_STREAM is a stream error while our
response is unfinished (half-closed remote, §5.1) and a connection error once
both sides have ended the stream (closed). Whether the app answered in between
depends on the reads, and no choice of ours can change which state the RFC
puts the stream in.
"""

from __future__ import annotations

import itertools

import pytest

from lastcall.engines.http2 import ErrorCode
from lastcall.engines.http2 import events as ev
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    PeerEncoder,
    data_frame,
    headers_frame,
    parse_frames,
    rst_stream_frame,
    server_peer,
    window_update_frame,
)

POST = [(b":method", b"POST"), *DEFAULT_REQUEST[1:]]
RESPONSE = [(b":status", b"200")]


def _request(encoder: PeerEncoder, extra: list[tuple[bytes, bytes]] | None = None) -> bytes:
    return headers_frame(1, encoder.encode([*POST, *(extra or [])]), end_stream=False)


def _case(name: str) -> bytes:
    """The client's bytes for one case, after the handshake."""
    enc = PeerEncoder()
    if name == "window_update_of_zero":
        return _request(enc) + window_update_frame(1, 0)
    if name == "second_headers_without_end_stream":
        return _request(enc) + headers_frame(1, enc.encode([(b"x-t", b"1")]), end_stream=False)
    if name == "pseudo_header_in_trailers":
        return _request(enc) + headers_frame(1, enc.encode([(b":path", b"/")]), end_stream=True)
    if name == "more_data_than_content_length":
        return _request(enc, [(b"content-length", b"3")]) + data_frame(1, b"12345", end_stream=True)
    if name == "less_data_than_content_length":
        return _request(enc, [(b"content-length", b"9")]) + data_frame(1, b"123", end_stream=True)
    if name == "trailers_short_of_content_length":
        return (
            _request(enc, [(b"content-length", b"9")])
            + data_frame(1, b"123")
            + headers_frame(1, enc.encode([(b"x-t", b"1")]), end_stream=True)
        )
    assert name == "a_valid_body", name
    return (
        _request(enc, [(b"content-length", b"8")])
        + data_frame(1, b"body")
        + data_frame(1, b"body")
        + headers_frame(1, enc.encode([(b"x-t", b"1")]), end_stream=True)
    )


#: What every split must produce: the error frames the server sends.
EXPECTED = {
    "window_update_of_zero": ["RST_STREAM[1] PROTOCOL_ERROR"],
    "second_headers_without_end_stream": ["RST_STREAM[1] PROTOCOL_ERROR"],
    "pseudo_header_in_trailers": ["RST_STREAM[1] PROTOCOL_ERROR"],
    "more_data_than_content_length": ["RST_STREAM[1] PROTOCOL_ERROR"],
    "less_data_than_content_length": ["RST_STREAM[1] PROTOCOL_ERROR"],
    "trailers_short_of_content_length": ["RST_STREAM[1] PROTOCOL_ERROR"],
    "a_valid_body": [],
}


def _errors(reads: list[bytes]) -> list[str]:
    """Feed ``reads`` to a fresh server whose application answers each request the
    moment it arrives; return the error frames (RST_STREAM other than NO_ERROR,
    GOAWAY) the server sent."""
    peer = server_peer()
    out: list[str] = []
    for chunk in reads:
        for event in peer.engine.receive_data(chunk):
            # (A stream the same read already reset is not answered: the
            # application would have seen its StreamReset.)
            if isinstance(event, ev.RequestReceived) and peer.engine.is_stream_open(1):
                peer.engine.send_headers(event.stream_id, RESPONSE, end_stream=True)
        for frame in parse_frames(peer.engine.data_to_send()):
            summary = frame.summary()
            if summary.startswith("RST_STREAM") and not summary.endswith("NO_ERROR"):
                out.append(summary)
            elif summary.startswith("GOAWAY"):
                out.append("GOAWAY " + summary.split()[-1])
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_answer_does_not_depend_on_how_the_bytes_were_split(name: str) -> None:
    data = _case(name)
    expected = EXPECTED[name]
    assert _errors([data]) == expected, "whole"
    assert _errors([data[i : i + 1] for i in range(len(data))]) == expected, "byte by byte"
    for cut in range(1, len(data)):
        assert _errors([data[:cut], data[cut:]]) == expected, f"cut at byte {cut}"
    offsets = [0]
    for frame in parse_frames(data):
        offsets.append(offsets[-1] + 9 + len(frame.payload))
    assert _errors([data[a:b] for a, b in itertools.pairwise(offsets)]) == expected


def test_a_stream_answered_early_does_not_hold_the_drain() -> None:
    """The client may never finish its upload: the drain must not wait for it."""
    peer = server_peer()
    enc = PeerEncoder()
    for event in peer.send(_request(enc)):
        if isinstance(event, ev.RequestReceived):
            peer.engine.send_headers(1, RESPONSE, end_stream=True)
    assert not peer.engine.is_stream_open(1) and peer.engine.active_stream_count == 0
    peer.engine.start_drain(0.0)
    events = peer.engine.handle_timer(10.0)
    assert any(isinstance(e, ev.DrainCompleted) for e in events)


def test_a_peer_reset_ends_the_validation() -> None:
    """The client's RST_STREAM after ours is normal; a frame after it is STREAM_CLOSED,
    as after any reset the peer sent (§5.1)."""
    peer = server_peer()
    enc = PeerEncoder()
    data = _request(enc)
    for event in peer.send(data):
        if isinstance(event, ev.RequestReceived):
            peer.engine.send_headers(1, RESPONSE, end_stream=True)
    peer.frames()
    assert peer.send(rst_stream_frame(1, ErrorCode.CANCEL)) == []
    peer.send(data_frame(1, b"x"))
    assert peer.summaries() == ["RST_STREAM[1] STREAM_CLOSED"]
