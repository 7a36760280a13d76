"""The tiny-DATA budget (issue 13, attack suite: "empty and tiny DATA floods").

Flow control bounds the bytes a peer sends ahead, not the number of frames
that carry them. A non-final DATA frame under ``tiny_data_frame_size``
charges the connection's ``tiny_data_budget`` what it falls short of that
size; the charge comes back as the application consumes the frame
(``acknowledge_received_data``) or when its stream is gone. Past the budget:
GOAWAY(ENHANCE_YOUR_CALM). So a peer can keep only a bounded number of tiny
frames unconsumed, and a reading application's peer is never cut.

Most cases use a small budget: frames under 16 bytes, 150 bytes of budget, so
ten unconsumed one-byte frames (15 each) are allowed and the eleventh is cut.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lastcall.engines.http2 import ErrorCode, Http2Config
from lastcall.engines.http2 import events as ev
from lastcall.engines.http2.budgets import TinyDataLedger
from lastcall.testing.frames import (
    DEFAULT_REQUEST,
    ScriptedPeer,
    data_frame,
    event_types,
    rst_stream_frame,
)
from lastcall.testing.frames import client_peer as make_client
from lastcall.testing.frames import server_peer as make_server

CALM = ErrorCode.ENHANCE_YOUR_CALM
POST = [(b":method", b"POST"), *DEFAULT_REQUEST[1:]]
SMALL = Http2Config(tiny_data_frame_size=16, tiny_data_budget=150)


def posting(config: Http2Config = SMALL, *stream_ids: int) -> ScriptedPeer:
    """A server engine with requests open on ``stream_ids`` (1 if none), bodies to come."""
    peer = make_server(config)
    for sid in stream_ids or (1,):
        peer.send(peer.request(sid, POST, end_stream=False))
    peer.frames()
    return peer


def tiny(peer: ScriptedPeer, sid: int, count: int, size: int = 1) -> list[ev.Event]:
    return peer.send(*(data_frame(sid, b"x" * size) for _ in range(count)))


def not_cut(events: list[ev.Event]) -> bool:
    return not any(isinstance(e, ev.ConnectionTerminated | ev.GoAwaySent) for e in events)


def test_unconsumed_one_byte_frames_are_cut_past_the_budget() -> None:
    peer = posting()
    events = tiny(peer, 1, 10)
    assert events == [ev.DataReceived(1, b"x", 1, False)] * 10
    assert peer.summaries() == []
    goaway = peer.expect_connection_error(tiny(peer, 1, 1), CALM, last_stream_id=1)
    assert goaway.debug_data == b"flood of tiny DATA frames"


def test_the_default_budget_cuts_one_byte_frames_after_32896() -> None:
    """8 MiB at 255 a frame: the figure ``Http2Config.tiny_data_budget`` states."""
    peer = posting(Http2Config())
    assert not_cut(tiny(peer, 1, 32_896))
    peer.expect_connection_error(tiny(peer, 1, 1), CALM, last_stream_id=1)


def test_a_smaller_frame_costs_more_of_the_budget() -> None:
    """The charge is what the frame falls short of the tiny size: 16 - 6 = 10."""
    peer = posting()
    assert not_cut(tiny(peer, 1, 15, size=6))
    peer.expect_connection_error(tiny(peer, 1, 1, size=6), CALM, last_stream_id=1)


def test_frames_at_the_tiny_size_are_never_charged() -> None:
    peer = posting()
    assert not_cut(tiny(peer, 1, 2_000, size=16))
    assert peer.summaries() == []


def test_a_grpc_stream_of_600_byte_messages_unread_is_never_cut() -> None:
    """Default budget: 1,500 messages of 600 bytes, none consumed yet."""
    peer = posting(Http2Config())
    assert not_cut(tiny(peer, 1, 1_500, size=600))


def test_consumed_frames_are_refunded_so_a_reading_app_is_never_cut() -> None:
    peer = posting()
    for _ in range(1_000):
        events = tiny(peer, 1, 5)
        assert not_cut(events)
        for event in events:
            assert isinstance(event, ev.DataReceived)
            peer.engine.acknowledge_received_data(1, event.flow_controlled_length)
    assert not_cut(tiny(peer, 1, 10))


def test_consuming_what_came_before_the_tiny_frames_refunds_nothing() -> None:
    """Refunds follow the stream's order: a big frame read first frees no tiny charge."""
    peer = posting()
    peer.send(data_frame(1, b"b" * 1_000))
    assert not_cut(tiny(peer, 1, 10))
    peer.engine.acknowledge_received_data(1, 1_000)
    peer.frames()
    peer.expect_connection_error(tiny(peer, 1, 1), CALM, last_stream_id=1)


def test_a_run_consumed_in_part_is_refunded_in_proportion() -> None:
    peer = posting()
    assert not_cut(tiny(peer, 1, 10))
    peer.engine.acknowledge_received_data(1, 4)  # four frames' worth: 60 back
    assert not_cut(tiny(peer, 1, 4))
    peer.expect_connection_error(tiny(peer, 1, 1), CALM, last_stream_id=1)


def test_tiny_frames_between_big_ones_are_refunded_when_reached() -> None:
    peer = posting()
    peer.send(data_frame(1, b"b" * 100))
    assert not_cut(tiny(peer, 1, 5))
    peer.send(data_frame(1, b"b" * 100))
    assert not_cut(tiny(peer, 1, 5))
    peer.engine.acknowledge_received_data(1, 100 + 5 + 50)  # up to the middle of the 2nd big
    assert not_cut(tiny(peer, 1, 5))  # the first run's 75 came back
    peer.expect_connection_error(tiny(peer, 1, 1), CALM, last_stream_id=1)


def test_end_stream_frames_are_not_charged() -> None:
    """A body's last frame ends its stream: it cannot be repeated on it."""
    peer = make_server(SMALL)
    for sid in range(1, 61, 2):
        events = peer.send(
            peer.request(sid, POST, end_stream=False), data_frame(sid, b"x", end_stream=True)
        )
        assert event_types(events) == ["RequestReceived", "DataReceived"]


def test_padding_counts_toward_the_size() -> None:
    """One byte of data with 20 of padding uses 22 bytes of window: not tiny."""
    peer = posting()
    assert not_cut(peer.send(*(data_frame(1, b"x", pad_length=20) for _ in range(100))))


def test_charges_are_shared_by_the_streams_of_a_connection() -> None:
    peer = posting(SMALL, 1, 3)
    assert not_cut(tiny(peer, 1, 6))
    assert not_cut(tiny(peer, 3, 4))
    peer.expect_connection_error(tiny(peer, 3, 1), CALM, last_stream_id=3)


def test_a_stream_that_ends_gives_its_charges_back() -> None:
    """The peer resets stream 1 with ten tiny frames unconsumed: stream 3 may send ten."""
    peer = posting(SMALL, 1, 3)
    assert not_cut(tiny(peer, 1, 10))
    peer.send(rst_stream_frame(1, ErrorCode.CANCEL))
    assert not_cut(tiny(peer, 3, 10))
    peer.expect_connection_error(tiny(peer, 3, 1), CALM, last_stream_id=3)


def test_a_stream_answered_unread_gives_its_charges_back() -> None:
    """The app answers without reading the body (RST_STREAM(NO_ERROR) follows)."""
    peer = posting(SMALL, 1, 3)
    assert not_cut(tiny(peer, 1, 10))
    peer.engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    assert peer.summaries() == ["HEADERS[1] END_STREAM|END_HEADERS", "RST_STREAM[1] NO_ERROR"]
    assert not_cut(tiny(peer, 3, 10))
    peer.expect_connection_error(tiny(peer, 3, 1), CALM, last_stream_id=3)


def test_consumption_after_the_peer_ended_the_stream_still_refunds() -> None:
    peer = posting(SMALL, 1, 3)
    assert not_cut(tiny(peer, 1, 10))
    peer.send(data_frame(1, b"", end_stream=True))
    peer.engine.acknowledge_received_data(1, 10)
    assert not_cut(tiny(peer, 3, 10))


def test_tiny_frames_after_an_early_answer_come_from_the_empty_frame_bucket() -> None:
    """Nothing after our answer reaches the app, so nothing would ever refund them:
    they are paid like empty frames, from the time-refilled bucket."""
    peer = posting(Http2Config(tiny_data_frame_size=16, tiny_data_budget=150, empty_frame_burst=3))
    peer.engine.send_headers(1, [(b":status", b"200")], end_stream=True)
    peer.frames()
    assert not_cut(tiny(peer, 1, 3))
    goaway = peer.expect_connection_error(tiny(peer, 1, 1), CALM, last_stream_id=1)
    assert goaway.debug_data == b"flood of empty DATA frames"


def test_empty_frames_still_spend_the_empty_bucket_not_this_one() -> None:
    peer = posting(Http2Config(tiny_data_frame_size=16, tiny_data_budget=150, empty_frame_burst=2))
    assert not_cut(
        peer.send(data_frame(1), data_frame(1), *(data_frame(1, b"x") for _ in range(10)))
    )
    goaway = peer.expect_connection_error(peer.send(data_frame(1)), CALM, last_stream_id=1)
    assert goaway.debug_data == b"flood of empty DATA frames"


def test_a_tiny_size_of_zero_turns_the_budget_off() -> None:
    peer = posting(Http2Config(tiny_data_frame_size=0, tiny_data_budget=0))
    assert not_cut(tiny(peer, 1, 5_000))


def test_a_client_is_protected_from_a_server_too() -> None:
    client = make_client(SMALL)
    sid = client.engine.open_stream(DEFAULT_REQUEST, end_stream=True)
    client.frames()
    client.send(client.response(sid, end_stream=False))
    assert not_cut(tiny(client, sid, 10))
    client.expect_connection_error(tiny(client, sid, 1), CALM)


# -- the ledger alone -----------------------------------------------------------------------


@given(
    st.integers(1, 15),
    st.lists(st.tuples(st.sampled_from(["tiny", "big", "ack"]), st.integers(1, 300)), max_size=60),
)
def test_ledger_refunds_each_frame_once_in_stream_order(
    tiny_size: int, steps: list[tuple[str, int]]
) -> None:
    """Against a model that keeps every frame. Tiny frames of one size (a run of
    mixed sizes is refunded in proportion to its bytes, see ``TinyDataLedger``):
    when consumption stops on frame boundaries the ledger holds exactly the
    charges of the unconsumed tiny frames, and consuming everything refunds
    everything."""
    ledger = TinyDataLedger()
    frames: list[tuple[int, int]] = []  # (end, cost): 0 for a big frame
    received = consumed = refunded = charged = 0
    for kind, n in steps:
        if kind == "ack":
            # Up to the end of the n-th unconsumed frame (a frame boundary).
            ahead = [end for end, _ in frames if end > consumed]
            if not ahead:
                continue
            target = ahead[min(n, len(ahead)) - 1]
            refunded += ledger.consume(target - consumed)
            consumed = target
            held = sum(cost for end, cost in frames if end > consumed)
            assert ledger.outstanding == held == charged - refunded
        else:
            size = tiny_size if kind == "tiny" else n + 16
            received += size
            cost = 16 - size if kind == "tiny" else 0
            if cost:
                ledger.charge(received, size, cost)
                charged += cost
            frames.append((received, cost))
    refunded += ledger.consume(received - consumed)
    assert refunded == charged
    assert ledger.outstanding == 0 and not ledger.runs


@given(st.lists(st.tuples(st.integers(1, 15), st.integers(0, 40)), max_size=40))
def test_ledger_never_refunds_more_than_it_charged(steps: list[tuple[int, int]]) -> None:
    """Mixed sizes, consumption anywhere (inside frames too): what is held is
    never negative, and everything comes back once everything is consumed."""
    ledger = TinyDataLedger()
    received = consumed = refunded = charged = 0
    for size, ack in steps:
        received += size
        ledger.charge(received, size, 16 - size)
        charged += 16 - size
        ack = min(ack, received - consumed)
        consumed += ack
        refunded += ledger.consume(ack)
        assert 0 <= ledger.outstanding == charged - refunded
    refunded += ledger.consume(received - consumed)
    assert refunded == charged and ledger.outstanding == 0
