"""HTTP/3 wire vocabulary (RFC 9114 §7, RFC 9000 §16) and the named settings."""

from __future__ import annotations

import pytest
from aioquic.buffer import encode_uint_var
from aioquic.quic.configuration import QuicConfiguration
from hypothesis import given
from hypothesis import strategies as st

from lastcall.engines.http3 import Http3Config, Role
from lastcall.engines.http3.config import MAX_VARINT
from lastcall.engines.http3.frames import (
    DuplicateSetting,
    ErrorCode,
    FrameParseError,
    encode_goaway,
    encode_settings,
    encode_varint,
    parse_settings,
    parse_single_varint,
    read_varint,
)
from lastcall.errors import ConfigError


@given(st.integers(min_value=0, max_value=MAX_VARINT))
def test_varint_round_trip_and_matches_aioquic(value: int) -> None:
    encoded = encode_varint(value)
    assert encoded == encode_uint_var(value)
    assert read_varint(encoded, 0) == (value, len(encoded))
    assert read_varint(encoded[:-1], 0) is None
    assert read_varint(b"\x00" + encoded, 1) == (value, len(encoded) + 1)


def test_varint_out_of_range() -> None:
    with pytest.raises(ValueError, match="varint"):
        encode_varint(MAX_VARINT + 1)


def test_rfc9000_appendix_a_examples() -> None:
    assert read_varint(bytes.fromhex("c2197c5eff14e88c"), 0) == (151_288_809_941_952_652, 8)
    assert read_varint(bytes.fromhex("9d7f3e7d"), 0) == (494_878_333, 4)
    assert read_varint(bytes.fromhex("7bbd"), 0) == (15_293, 2)
    assert read_varint(bytes.fromhex("25"), 0) == (37, 1)
    assert read_varint(bytes.fromhex("4025"), 0) == (37, 2)


def test_goaway_and_settings_frames() -> None:
    assert encode_goaway(0) == b"\x07\x01\x00"
    assert encode_goaway(2**62 - 4) == b"\x07\x08" + encode_varint(2**62 - 4)
    frame = encode_settings({0x1: 4096, 0x6: 65_536})
    assert frame[:1] == b"\x04"
    length, start = read_varint(frame, 1) or (0, 0)
    assert parse_settings(frame[start : start + length]) == {0x1: 4096, 0x6: 65_536}


def test_bad_payloads() -> None:
    with pytest.raises(DuplicateSetting):
        parse_settings(b"\x01\x00\x01\x01")
    with pytest.raises(FrameParseError):
        parse_settings(b"\x01")
    with pytest.raises(FrameParseError):
        parse_single_varint(b"\x00\x00")
    with pytest.raises(FrameParseError):
        parse_single_varint(b"")


def test_error_codes_are_the_rfc_ones() -> None:
    assert int(ErrorCode.H3_NO_ERROR) == 0x100
    assert int(ErrorCode.H3_REQUEST_REJECTED) == 0x10B
    assert int(ErrorCode.H3_REQUEST_CANCELLED) == 0x10C
    assert int(ErrorCode.QPACK_DECODER_STREAM_ERROR) == 0x202


def test_config_defaults_and_clamps() -> None:
    config = Http3Config()
    assert config.idle_timeout == 30.0
    assert config.max_concurrent_streams == 100
    assert config.goaway_settle_timeout == 1.0
    assert config.close_flush_timeout == 1.0
    assert Http3Config(goaway_settle_timeout=60).goaway_settle_timeout == 5.0
    assert Http3Config(goaway_settle_timeout=-1).goaway_settle_timeout == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"idle_timeout": 0},
        {"max_concurrent_streams": -1},
        {"max_data": -1},
        {"max_stream_data": 2**62},
        {"max_field_section_size": 100},
        {"qpack_max_table_capacity": -1},
        {"qpack_blocked_streams": 70_000},
    ],
)
def test_config_rejects_out_of_range(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Http3Config(**kwargs)  # type: ignore[arg-type]


def test_quic_configuration_copies_limits_and_checks_roles() -> None:
    config = Http3Config(idle_timeout=12.0, max_data=1 << 20, max_stream_data=1 << 16)
    base = QuicConfiguration(is_client=True, server_name="example.org")
    quic = config.quic_configuration(Role.CLIENT, base)
    assert quic is not base and base.alpn_protocols is None
    assert quic.alpn_protocols == ["h3"]
    assert (quic.idle_timeout, quic.max_data, quic.max_stream_data) == (12.0, 1 << 20, 1 << 16)
    assert quic.server_name == "example.org"
    assert config.quic_configuration(Role.CLIENT, None).is_client
    with pytest.raises(ConfigError, match="certificate"):
        config.quic_configuration(Role.SERVER, None)
    with pytest.raises(ConfigError, match="is_client"):
        config.quic_configuration(Role.SERVER, base)
    with pytest.raises(ConfigError, match="h3"):
        config.quic_configuration(Role.CLIENT, QuicConfiguration(alpn_protocols=["h2"]))
