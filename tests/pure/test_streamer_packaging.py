"""Pure packaging core: H.264 parsing, fMP4 boxes, packager, segmenter, HLS playlists.

No event loop, no sockets. Output is checked by parsing it back with PyAV.
"""

from __future__ import annotations

import io
from functools import cache

import av
import pytest

from livecart.streamer.errors import BitstreamError
from livecart.streamer.fmp4 import Sample, media_fragment, opus_init_segment, read_boxes
from livecart.streamer.h264 import parse_access_unit, parse_sps, split_annexb
from livecart.streamer.hls import PlaylistEntry, master_playlist, media_playlist
from livecart.streamer.packager import Fragment, InitSegment, PackagerEvent, VideoPackager
from livecart.streamer.segmenter import Segmenter
from livecart.streamer.synthetic import EncodedFrame, encode_clip


@cache
def clip(
    width: int = 320, height: int = 180, frames: int = 90, gop: int = 30
) -> list[EncodedFrame]:
    return encode_clip(width=width, height=height, frames=frames, gop=gop)


def run(
    packager: VideoPackager, frames: list[EncodedFrame], offset: int = 0
) -> list[PackagerEvent]:
    events: list[PackagerEvent] = []
    for f in frames:
        events += packager.push(f.data, f.timestamp + offset, 1000.0)
    return events


def demux(data: bytes) -> list[av.Packet]:
    container = av.open(io.BytesIO(data))
    try:
        return [p for p in container.demux(container.streams.video[0]) if p.size]
    finally:
        container.close()


def test_split_annexb_handles_3_and_4_byte_start_codes_and_leading_garbage() -> None:
    data = (
        b"\xaa\xbb"
        + b"\x00\x00\x00\x01\x67\x01"
        + b"\x00\x00\x01\x68\x02"
        + b"\x00\x00\x01\x65\x03\x00"
    )
    assert split_annexb(data) == [b"\x67\x01", b"\x68\x02", b"\x65\x03"]


@pytest.mark.parametrize(("width", "height"), [(320, 180), (640, 360), (1280, 720), (176, 144)])
def test_sps_gives_size_and_codec(width: int, height: int) -> None:
    unit = parse_access_unit(clip(width, height, 2, 30)[0].data)
    assert unit.keyframe and unit.sps is not None and unit.pps is not None
    info = parse_sps(unit.sps)
    assert (info.width, info.height) == (width, height)
    assert info.codec.startswith("avc1.42")


def test_garbage_is_a_bitstream_error_not_a_crash() -> None:
    with pytest.raises(BitstreamError):
        parse_access_unit(b"\x00\x00\x01\x09\xf0")  # AUD only, no slice
    with pytest.raises(BitstreamError):
        parse_sps(b"\x67\x42")
    with pytest.raises(BitstreamError):
        parse_sps(b"\x67\x42\xc0\x1e" + b"\x00" * 3)


def test_packager_output_demuxes_with_pyav_and_keeps_every_frame() -> None:
    frames = clip()
    packager = VideoPackager()
    events = run(packager, frames) + packager.flush()
    inits = [e for e in events if isinstance(e, InitSegment)]
    frags = [e for e in events if isinstance(e, Fragment)]
    assert len(inits) == 1 and inits[0].width == 320 and inits[0].height == 180
    assert len(frags) == len(frames)
    assert [f.keyframe for f in frags] == [f.keyframe for f in frames]
    assert all(f.duration == 3000 for f in frags)
    packets = demux(inits[0].data + b"".join(f.data for f in frags))
    assert len(packets) == len(frames)
    assert [p.pts for p in packets] == [f.timestamp for f in frames]
    assert packets[0].is_keyframe and packets[30].is_keyframe and not packets[1].is_keyframe


def test_packager_waits_for_a_keyframe_and_asks_for_one() -> None:
    frames = clip()
    packager = VideoPackager()
    assert packager.wants_keyframe
    events = run(packager, frames[5:30])  # starts mid-GOP
    assert events == [] and packager.wants_keyframe
    events = run(packager, frames[30:32])
    assert isinstance(events[0], InitSegment) and not packager.wants_keyframe


def test_resolution_change_starts_a_new_generation() -> None:
    packager = VideoPackager()
    small = clip(320, 180, 30, 30)
    large = clip(640, 360, 30, 30)
    events = run(packager, small) + run(packager, large, offset=small[-1].timestamp + 3000)
    events += packager.flush()
    inits = [e for e in events if isinstance(e, InitSegment)]
    assert [(i.generation, i.width) for i in inits] == [(1, 320), (2, 640)]
    first_large = events.index(inits[1]) + 1
    frag = events[first_large]
    assert isinstance(frag, Fragment) and frag.keyframe and frag.generation == 2


def test_non_increasing_timestamps_are_dropped() -> None:
    frames = clip()
    packager = VideoPackager()
    run(packager, frames[:3])
    assert packager.push(frames[1].data, frames[1].timestamp, 0.0) == []
    assert packager.dropped == 1


def test_segments_start_on_keyframes_and_mark_discontinuities() -> None:
    packager = VideoPackager()
    segmenter = Segmenter(target=2.0)
    small = clip(320, 180, 150, 45)  # keyframe every 1.5 s, 5 s
    large = clip(640, 360, 60, 30)
    events = run(packager, small) + run(packager, large, offset=small[-1].timestamp + 3000)
    events += packager.flush()
    segments = [s for e in events for s in segmenter.push(e)] + segmenter.flush()
    # keyframes at 0, 1.5, 3, 4.5 s; the size change cuts the last small segment short
    assert [round(s.duration, 2) for s in segments] == [1.5, 1.5, 1.5, 0.5, 2.0]
    assert [s.discontinuity for s in segments] == [False, False, False, False, True]
    assert [s.generation for s in segments] == [1, 1, 1, 1, 2]
    for seg in segments:
        kinds = [k for k, _ in read_boxes(seg.data)]
        assert kinds[0] == b"moof" and set(kinds) == {b"moof", b"mdat"}
    init2 = segmenter.inits[2].data
    packets = demux(init2 + segments[4].data)
    assert len(packets) == 60 and packets[0].is_keyframe


def test_live_playlist_window_and_discontinuity_sequence() -> None:
    entries = [
        PlaylistEntry(i, f"s{i}.m4s", "init-1.mp4" if i < 4 else "init-2.mp4", 2.0, i == 4)
        for i in range(8)
    ]
    text = media_playlist(entries, ended=False, window=3)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U"
    assert "#EXT-X-MEDIA-SEQUENCE:5" in lines
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in lines
    assert "#EXT-X-ENDLIST" not in lines
    assert lines.count("#EXTINF:2.000,") == 3
    assert '#EXT-X-MAP:URI="init-2.mp4"' in lines

    full = media_playlist(entries, ended=True).splitlines()
    assert full[-1] == "#EXT-X-ENDLIST" and "#EXT-X-PLAYLIST-TYPE:VOD" in full
    change = full.index('#EXT-X-MAP:URI="init-2.mp4"')
    assert full[change - 1] == "#EXT-X-DISCONTINUITY"
    assert full.count("#EXT-X-DISCONTINUITY") == 1


def test_target_duration_covers_the_longest_segment() -> None:
    entries = [PlaylistEntry(0, "a.m4s", "i.mp4", 4.2, False)]
    assert "#EXT-X-TARGETDURATION:5" in media_playlist(entries, ended=True)


def test_fragment_and_opus_init_box_layout() -> None:
    frag = media_fragment(7, 123456, [Sample(b"\x00\x00\x00\x01\x65", 3000, True)])
    assert [k for k, _ in read_boxes(frag)] == [b"moof", b"mdat"]
    assert [k for k, _ in read_boxes(opus_init_segment())] == [b"ftyp", b"moov"]
    with pytest.raises(ValueError):
        list(read_boxes(frag[:-1]))


def test_master_playlist_names_the_video_variant_and_the_aac_rendition() -> None:
    text = master_playlist(
        codecs="avc1.42e01f,mp4a.40.2", bandwidth=1_600_000, resolution=(640, 360), audio=True
    )
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and lines[-1] == "video.m3u8"
    media = next(line for line in lines if line.startswith("#EXT-X-MEDIA:"))
    assert "TYPE=AUDIO" in media and 'URI="audio.m3u8"' in media and "DEFAULT=YES" in media
    inf = lines[-2]
    assert inf.startswith("#EXT-X-STREAM-INF:BANDWIDTH=1600000,")
    assert 'CODECS="avc1.42e01f,mp4a.40.2"' in inf and 'AUDIO="audio"' in inf
    silent = master_playlist(codecs="avc1.42e01f", bandwidth=1, resolution=None, audio=False)
    assert "#EXT-X-MEDIA" not in silent and "AUDIO=" not in silent
