"""Every streamer parser, fed garbage: a documented error or a value, never a crash."""

from __future__ import annotations

import contextlib

from hypothesis import example, given, settings
from hypothesis import strategies as st

from livecart.streamer.errors import BitstreamError, OfferRejected
from livecart.streamer.fmp4 import read_boxes
from livecart.streamer.h264 import parse_access_unit, parse_sps, split_annexb
from livecart.streamer.opus import AudioPackager, packet_duration
from livecart.streamer.packager import VideoPackager
from livecart.streamer.sdp_check import check_offer

NAL = st.binary(min_size=1, max_size=64)
START = st.sampled_from([b"\x00\x00\x01", b"\x00\x00\x00\x01"])
ANNEXB = st.lists(st.tuples(START, NAL), max_size=8).map(
    lambda parts: b"".join(code + unit for code, unit in parts)
)


@settings(max_examples=300, deadline=None)
@example(b"\x00\x00\x03")  # shrinks to 2 bytes once emulation prevention is removed
@given(st.one_of(st.binary(max_size=256), ANNEXB))
def test_h264_parsers_raise_only_bitstream_errors(data: bytes) -> None:
    split_annexb(data)
    with contextlib.suppress(BitstreamError):
        parse_access_unit(data)
    with contextlib.suppress(BitstreamError):
        parse_sps(b"\x67" + data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=128), ANNEXB), max_size=20))
def test_packager_survives_any_frames(frames: list[bytes]) -> None:
    packager = VideoPackager()
    for i, data in enumerate(frames):
        packager.push(data, i * 3000, 0.0)
    packager.flush()
    assert packager.frames_in == len(frames)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.integers(-5000, 5000))
def test_audio_packager_survives_any_packets(packets: list[bytes], start: int) -> None:
    packager = AudioPackager()
    for i, data in enumerate(packets):
        assert 0 <= packet_duration(data) <= 5760
        packager.push(data, start + i * 960, 0.0)
    packager.flush()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_offer_check_raises_only_offer_rejected(text: str) -> None:
    with contextlib.suppress(OfferRejected):
        check_offer(text)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=128))
def test_box_reader_raises_only_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        list(read_boxes(data))
