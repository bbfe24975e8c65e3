"""Recording off the event loop: the recorder thread, its clock, its bound, its close.

Real files under ``tmp_path``; a "slow disk" is a write held on a gate, so nothing
here measures time: the tests look at which thread wrote, what was listed when, and
what ended up on disk.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import av
import pytest

from livecart.streamer import recorder as recorder_module
from livecart.streamer.channel import Channel
from livecart.streamer.recorder import MAX_PENDING_BYTES, ShowRecorder
from livecart.streamer.recording import (
    INDEX_FILE,
    SEGMENTS_FILE,
    ShowFiles,
    read_index,
    render_playlist,
)
from livecart.streamer.segmenter import Segment
from livecart.streamer.synthetic import EncodedFrame, encode_clip, encode_opus
from tests.streamer_fixtures.harness import wait_for

T0 = 1_000_000.0
"""The fake clock's start (1970-01-12): a stray ``time.time()`` would stand out."""


@cache
def clip(frames: int = 150) -> list[EncodedFrame]:
    """30 fps, a keyframe every second: segments close at 2 s."""
    return encode_clip(width=320, height=180, frames=frames, gop=30)


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Gate:
    """Holds ``ShowFiles.add_segment`` until opened: a disk that stopped answering."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.threads: set[int] = set()

    def wrap(self, real: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        def add_segment(files: ShowFiles, seg: Segment, wallclock: float) -> dict[str, Any]:
            self.threads.add(threading.get_ident())
            if threading.get_ident() != threading.main_thread().ident:
                self.opened.wait(30)  # on the loop's thread this would hang the test
            return real(files, seg, wallclock)

        return add_segment


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    held = Gate()
    monkeypatch.setattr(ShowFiles, "add_segment", held.wrap(ShowFiles.add_segment))
    try:
        yield held
    finally:
        held.opened.set()  # a failing test must not leave a recorder thread waiting


def feed(channel: Channel, clock: FakeClock, frames: list[EncodedFrame], first: int = 0) -> None:
    """Video frames at 30 fps, the clock following the media time."""
    for i, frame in enumerate(frames, first):
        clock.now = T0 + i / 30
        channel.on_video_frame(frame.data, i * 3000)


def recorder_of(channel: Channel) -> ShowRecorder:
    assert channel.show is not None
    return channel.show.recorder


def live_show(data_dir: Path, *, audio: bool = False) -> tuple[Channel, FakeClock, ShowRecorder]:
    """A channel on a fake clock with a show started: the channel, its clock, its recorder."""
    clock = FakeClock()
    channel = Channel("room1", data_dir, clock=clock)
    channel.start_show("s1", audio=audio)
    return channel, clock, recorder_of(channel)


def demuxed_frames(show_dir: Path, index: dict[str, Any]) -> int:
    """Video packets in all segments, each demuxed with its init segment."""
    total = 0
    for seg in index["segments"]:
        data = (show_dir / seg["init"]).read_bytes() + (show_dir / seg["uri"]).read_bytes()
        container = av.open(io.BytesIO(data))
        try:
            packets = [p for p in container.demux(container.streams.video[0]) if p.size]
        finally:
            container.close()
        assert packets[0].is_keyframe
        total += len(packets)
    return total


async def test_a_stuck_disk_write_runs_on_the_recorder_thread_not_the_loop(
    tmp_path: Path, gate: Gate
) -> None:
    channel, clock, recorder = live_show(tmp_path)
    feed(channel, clock, clip()[:90])  # closes segment 0 (at 2 s); 2 s..3 s stays open
    # The loop went on: every frame reached the fan-out while the write hangs.
    assert channel.fanout.stats.fragments == 89  # the last frame waits for its successor
    await wait_for(lambda: gate.threads != set(), 10, "the recorder thread to write")
    assert threading.main_thread().ident not in gate.threads
    assert recorder.entries == [] and recorder.index["segments"] == []  # not on disk yet
    assert recorder.pending_bytes > 0
    gate.opened.set()
    await wait_for(lambda: len(recorder.entries) == 1, 10, "the segment listed once written")
    assert (recorder.dir / "seg-000000.m4s").is_file()
    channel.end_show()
    await recorder.wait_closed()
    assert gate.threads == {recorder._thread.ident}


async def test_the_injected_clock_stamps_the_recording(tmp_path: Path) -> None:
    channel, clock, recorder = live_show(tmp_path)
    assert recorder.show.startswith("19700112T")  # the show id is the clock's too
    feed(channel, clock, clip())
    clock.now = T0 + 100.0
    channel.end_show()
    await recorder.wait_closed()
    index = read_index(recorder.dir / INDEX_FILE)
    assert index is not None
    assert index["started_at"] == T0 and index["ended_at"] == T0 + 100.0
    # A segment closes when its successor's keyframe leaves the packager, which is when
    # the frame after that keyframe arrives (frames 61 and 121); the last one at the end.
    wallclocks = [s["wallclock"] for s in index["segments"]]
    assert wallclocks == [T0 + 61 / 30, T0 + 121 / 30, T0 + 100.0]
    assert recorder.index["ended_at"] == T0 + 100.0 and recorder.ended


async def test_closing_writes_everything_that_was_queued(tmp_path: Path, gate: Gate) -> None:
    channel, clock, recorder = live_show(tmp_path, audio=True)
    frames = clip()
    packets = encode_opus(250)  # 5 s of 20 ms packets
    for i, frame in enumerate(frames):
        clock.now = T0 + i / 30
        channel.on_video_frame(frame.data, i * 3000)
        for j in range(i * 5 // 3, (i + 1) * 5 // 3):  # 50 packets/s against 30 frames/s
            channel.on_audio_frame(packets[j], j * 960)
    channel.end_show()  # with the disk still stuck: all of it is queued
    assert recorder.entries == []
    gate.opened.set()
    await recorder.wait_closed()
    index = read_index(recorder.dir / INDEX_FILE)
    assert index is not None and index["ended_at"] is not None
    assert len(index["segments"]) == 3
    assert demuxed_frames(recorder.dir, index) == len(frames)
    assert all(s["audio_uri"] and s["aac_uri"] for s in index["segments"])
    aac = (recorder.dir / "aac-init.mp4").read_bytes() + b"".join(
        (recorder.dir / s["aac_uri"]).read_bytes() for s in index["segments"]
    )
    container = av.open(io.BytesIO(aac))
    try:
        samples = sum(f.samples for f in container.decode(container.streams.audio[0]))
    finally:
        container.close()
    assert samples > 4 * 48_000  # the AAC rendition covers the show, up to its last packets
    # The loop-side mirror is what is on disk.
    assert recorder.index["segments"] == index["segments"]
    assert len(recorder.entries) == len(recorder.aac_entries) == 3
    assert recorder.errors == 0 and recorder.dropped == 0


async def test_a_disk_slower_than_the_stream_drops_to_a_keyframe_and_marks_the_gap(
    tmp_path: Path, gate: Gate
) -> None:
    channel, clock, recorder = live_show(tmp_path)
    frames = clip(300)
    # Segment 0 is held at the gate. A bound just above what is queued: the next item
    # overflows it, and while the gate is shut the queue cannot shrink back under half
    # the bound (the held item alone is more), so nothing resumes.
    feed(channel, clock, frames[:62])
    await wait_for(lambda: gate.threads != set(), 10, "segment 0 at the gate")
    recorder.max_pending = recorder.pending_bytes + 1
    feed(channel, clock, frames[62:150], first=62)
    assert recorder.gaps == 1 and recorder.dropped > 0
    assert channel.fanout.stats.fragments == 149  # the viewers lost nothing
    # The disk is back and the bound wide again: the recording resumes at the next
    # keyframe (5 s), however fast the thread catches up.
    gate.opened.set()
    recorder.max_pending = MAX_PENDING_BYTES
    feed(channel, clock, frames[150:], first=150)
    assert recorder.gaps == 1
    channel.end_show()
    await recorder.wait_closed()
    index = read_index(recorder.dir / INDEX_FILE)
    assert index is not None
    segments = index["segments"]
    assert [s["discontinuity"] for s in segments].count(True) == 1
    after = next(s for s in segments if s["discontinuity"])
    assert after["start"] == 5.0  # the first keyframe once the queue had room again
    assert demuxed_frames(recorder.dir, index) < len(frames)
    playlist = render_playlist(index, "video") or ""
    assert playlist.count("#EXT-X-DISCONTINUITY\n") == 1


async def test_shutdown_waits_for_the_recordings(tmp_path: Path, gate: Gate) -> None:
    from livecart.streamer.service import StreamerService

    async def allow(room: str, token: str) -> bool:
        return True

    async def on_live(room: str, live: bool) -> None:
        return None

    service = StreamerService(authorize=allow, on_live=on_live, data_dir=tmp_path)
    channel = service.channel("room1")
    clock = FakeClock()
    channel.clock = clock
    channel.start_show("s1")
    recorder = recorder_of(channel)
    feed(channel, clock, clip()[:90])
    channel.end_show()
    service.forget_channel_if_idle("room1")  # the channel goes; its recording is still tracked
    assert "room1" not in service.channels and recorder in service.recordings
    assert not await service.recordings_written(timeout=0.05)  # the disk is stuck
    gate.opened.set()
    await service.close()
    assert service.recordings == set()
    index = read_index(recorder.dir / INDEX_FILE)
    assert index is not None and index["ended_at"] is not None and len(index["segments"]) == 2


def segment(i: int) -> Segment:
    return Segment(i, 1, 2.0 * i, 2.0, False, b"\0" * 1000, b"\1" * 100, b"")


def test_a_segment_appends_one_line_and_leaves_the_index_alone(tmp_path: Path) -> None:
    files = ShowFiles(tmp_path, "room1", "show1", started_at=T0)
    files.open()
    files.add_segment(segment(0), T0 + 2)
    index_file = files.dir / INDEX_FILE
    before = index_file.stat()
    for i in range(1, 200):
        files.add_segment(segment(i), T0 + 2 + 2 * i)
    after = index_file.stat()
    assert (after.st_ino, after.st_size) == (before.st_ino, before.st_size)  # not rewritten
    lines = (files.dir / SEGMENTS_FILE).read_text().splitlines()
    assert len(lines) == 200 and json.loads(lines[-1])["uri"] == "seg-000199.m4s"
    files.finish(T0 + 500)
    index = read_index(index_file)
    assert index is not None and index["ended_at"] == T0 + 500
    assert [s["index"] for s in index["segments"]] == list(range(200))
    assert index["segments"][5]["audio_uri"] == "aseg-000005.m4s"
    assert index["segments"][5]["aac_uri"] is None


def test_read_index_skips_a_torn_line_and_reads_version_1(tmp_path: Path) -> None:
    files = ShowFiles(tmp_path, "room1", "show1", started_at=T0)
    files.open()
    for i in range(3):
        files.add_segment(segment(i), T0)
    with (files.dir / SEGMENTS_FILE).open("a") as log:
        log.write('{"index": 3, "uri": "seg-0')  # the process died mid-append
    index = read_index(files.dir / INDEX_FILE)
    assert index is not None and [s["index"] for s in index["segments"]] == [0, 1, 2]

    old = tmp_path / "v1.json"
    old.write_text(json.dumps({"version": 1, "segments": index["segments"][:1]}))
    v1 = read_index(old)
    assert v1 is not None and len(v1["segments"]) == 1


def test_a_recorder_whose_loop_closed_without_closing_it_does_not_hold_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "OWNER_CHECK_INTERVAL", 0.05)

    async def start_and_forget() -> ShowRecorder:
        channel, clock, recorder = live_show(tmp_path)
        feed(channel, clock, clip()[:90])
        return recorder  # the show is never ended

    loop = asyncio.new_event_loop()
    try:
        recorder = loop.run_until_complete(start_and_forget())
    finally:
        loop.close()
    recorder._thread.join(30)
    assert not recorder._thread.is_alive()
    index = read_index(recorder.dir / INDEX_FILE)
    assert index is not None and index["ended_at"] is None  # as after a crash
    assert len(index["segments"]) == 1  # what was queued was still written
