"""Product clips: cut from the recorded segments by stream copy, never decoded, reading
only the segments of the clip, cached."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import av
import pytest

from livecart.streamer.channel import Channel
from livecart.streamer.clips import cut
from livecart.streamer.recording import INDEX_FILE, read_index
from livecart.streamer.synthetic import EncodedFrame, encode_clip, encode_opus

T0 = 1_000_000.0
GOP = 1.0  # a keyframe a second; segments close at 2 s


@cache
def frames() -> list[EncodedFrame]:
    return encode_clip(width=320, height=180, frames=30 * 40, gop=30)


class Clock:
    now = T0

    def __call__(self) -> float:
        return self.now


async def _recorded(data_dir: Path) -> Path:
    clock = Clock()
    channel = Channel("room1", data_dir, clock=clock)
    channel.start_show("s1", audio=True)
    opus = encode_opus(2000)
    sent = 0
    for i, frame in enumerate(frames()):
        clock.now = T0 + i / 30
        channel.on_video_frame(frame.data, i * 3000)
        while sent < len(opus) and sent * 0.02 <= i / 30:
            channel.on_audio_frame(opus[sent], sent * 960)
            sent += 1
    assert channel.show is not None
    recorder = channel.show.recorder
    channel.end_show()
    await recorder.wait_closed()
    return recorder.dir


async def test_a_clip_is_remuxed_from_its_segments_only_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = await _recorded(tmp_path)
    index = read_index(folder / INDEX_FILE)
    assert index is not None and len(index["segments"]) == 20
    read: list[str] = []
    real = Path.read_bytes

    def spy(path: Path) -> bytes:
        read.append(path.name)
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", spy)
    clip = cut(folder, index["segments"], 27.3, 35.1, "p1-0")
    monkeypatch.undo()
    assert clip is not None and not clip.cached and clip.decoders_opened == 0
    # Cut at keyframes: from the segment holding 27.3 s to the one holding 35.1 s.
    assert (clip.start, clip.end) == (27.0, 35.0)  # the nearest keyframes
    segs = sorted(n for n in read if n.startswith("seg-"))
    assert segs == [f"seg-{i:06d}.m4s" for i in range(13, 18)]  # 5 of 20 segments
    assert not any(n.startswith("seg-0000") and n not in segs for n in read)

    with av.open(str(clip.path), "r") as mp4:
        video = mp4.streams.video[0]
        assert [s.type for s in mp4.streams] == ["video", "audio"]
        length = float((video.duration or 0) * (video.time_base or 1))
        assert video.codec_context.name == "h264"
    # The chapter asked for 7.8 s; the clip is within one GOP of it.
    assert abs(length - 7.8) <= GOP
    with av.open(str(clip.path), "r") as mp4:
        pictures = len(list(mp4.decode(video=0)))
    assert pictures == round(length * 30)  # every picture of the cut decodes

    again = cut(folder, index["segments"], 27.3, 35.1, "p1-0")
    assert again is not None and again.cached and again.path == clip.path
