"""Opus kept encoded: packet durations, fragments, and their place in segments."""

from __future__ import annotations

import io
import itertools

import av

from livecart.streamer.aac import AacTranscoder
from livecart.streamer.fmp4 import Sample, media_fragment
from livecart.streamer.opus import PACKETS_PER_FRAGMENT, AudioPackager, packet_duration
from livecart.streamer.segmenter import AacFrame, Segmenter
from livecart.streamer.synthetic import encode_opus


def opus_packets(count: int) -> list[bytes]:
    """Real 20 ms Opus packets from PyAV's libopus encoder."""
    return encode_opus(count)


def test_packet_duration_from_the_toc_byte() -> None:
    assert packet_duration(bytes([0xFC, 0])) == 960  # CELT 20 ms, one frame
    assert packet_duration(bytes([(1 << 3) | 0])) == 960  # SILK 20 ms
    assert packet_duration(bytes([(16 << 3) | 1])) == 240  # CELT 2.5 ms x 2
    assert packet_duration(bytes([(3 << 3) | 3, 2])) == 5760  # SILK 60 ms x 2
    assert packet_duration(bytes([(3 << 3) | 3, 3])) == 0  # 180 ms: invalid
    assert packet_duration(b"") == 0
    assert all(packet_duration(p) == 960 for p in opus_packets(5))


def test_fragments_group_packets_and_demux_as_opus() -> None:
    packets = opus_packets(30)
    packager = AudioPackager()
    frags = []
    for i, packet in enumerate(packets):
        frags += packager.push(packet, 4800 + i * 960, float(i))
    frags += packager.flush()
    assert len(frags) == 30 // PACKETS_PER_FRAGMENT
    assert [f.decode_time for f in frags[:2]] == [4800, 4800 + 3 * 960]
    container = av.open(io.BytesIO(packager.init_segment + b"".join(f.data for f in frags)))
    try:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        demuxed = [p for p in container.demux(stream) if p.size]
    finally:
        container.close()
    assert [bytes(p) for p in demuxed] == packets


def test_gaps_start_a_new_fragment_and_overlaps_are_dropped() -> None:
    packets = opus_packets(4)
    packager = AudioPackager()
    assert packager.push(packets[0], 0, 0.0) == []
    out = packager.push(packets[1], 960 * 10, 0.0)  # 180 ms gap
    assert len(out) == 1 and out[0].decode_time == 0 and out[0].duration == 960
    assert packager.push(packets[2], 960 * 5, 0.0) == []  # before what was sent
    assert packager.dropped == 1
    assert packager.push(packets[3], -960, 0.0) == [] and packager.dropped == 2


def test_audio_rides_in_the_open_segment() -> None:
    segmenter = Segmenter()
    segmenter.push_audio(b"dropped: no segment open yet")
    assert segmenter.flush() == []


def test_aac_rendition_is_continuous_and_decodes() -> None:
    transcoder = AacTranscoder()
    frames: list[AacFrame] = []
    for i, packet in enumerate(opus_packets(100)):
        frames += transcoder.push(packet, 4800 + i * 960, 960)
    assert len(frames) >= 90 and transcoder.errors == 0
    assert frames[0].decode_time == 4800 - 1024  # the encoder priming frame leads
    assert all(b.decode_time - a.decode_time == 1024 for a, b in itertools.pairwise(frames))
    segmenter = Segmenter()
    first = frames[0].decode_time
    data = transcoder.init_segment + media_fragment(
        1, first, [Sample(f.data, 1024, True) for f in frames]
    )
    container = av.open(io.BytesIO(data))
    try:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac" and stream.codec_context.channels == 2
        decoded = list(container.decode(stream))
    finally:
        container.close()
    assert sum(f.samples for f in decoded) == 1024 * len(frames)
    assert segmenter.flush() == []


def test_a_gap_in_the_opus_timeline_restarts_the_aac_timeline() -> None:
    transcoder = AacTranscoder()
    packets = opus_packets(40)
    frames: list[AacFrame] = []
    for i, packet in enumerate(packets[:20]):
        frames += transcoder.push(packet, i * 960, 960)
    later = 48_000 * 10
    resumed: list[AacFrame] = []
    for i, packet in enumerate(packets[20:]):
        resumed += transcoder.push(packet, later + i * 960, 960)
    assert frames and resumed
    assert resumed[0].decode_time == later - 1024
