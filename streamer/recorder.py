"""One show's recording on a thread of its own: segmenter, AAC transcode, disk writes.

The event loop hands the recorder every packager event, Opus fragment and Opus
packet (:meth:`ShowRecorder.video`, :meth:`~ShowRecorder.audio`,
:meth:`~ShowRecorder.opus`); each call only queues the item, stamped with the
loop's clock where a time is recorded. One worker thread per show takes the items
in the order the loop queued them and does what used to block the loop: the
segmenter, the PyAV Opus -> AAC transcode (:mod:`streamer.aac`) and every file
write (:class:`streamer.recording.ShowFiles`). One thread per show keeps the
order, so the recording is what the loop alone would have written.

Live state, read on the loop only: :attr:`~ShowRecorder.index` (header fields and
``segments``), :attr:`~ShowRecorder.entries` and :attr:`~ShowRecorder.aac_entries`
(the live playlists). The worker posts each change back with
``loop.call_soon_threadsafe`` once it is on disk, so a playlist never lists a
file that cannot be served yet.

Bounded: at most :data:`MAX_PENDING_BYTES` of media wait for the worker. Past
that (a disk slower than the stream) the *recording* drops media, video and
audio alike, until a video keyframe arrives with the queue back under half the
bound; the segment open at the gap is closed as it was and the next one is marked
as a discontinuity. Init segments are never dropped. The live fan-out is not
affected: it does not go through the recorder.

Close: :meth:`ShowRecorder.close` queues the end of the show. Everything queued
before it is written (the open segment becomes the last one), then ``index.json``
gets ``ended_at`` and the thread exits; :meth:`~ShowRecorder.wait_closed` waits
for that without blocking the loop. Nothing queued is dropped at close. The
thread is not a daemon, so an interpreter that exits without waiting still
finishes the files first. If the event loop closes without :meth:`close` (a bug,
or a test that failed half way), the idle thread notices within
:data:`OWNER_CHECK_INTERVAL`, leaves ``ended_at`` null as a crash would, and
exits, so it never holds the process open. A write that fails (disk full) is logged; the segment
it was for is not listed, and the show goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livecart.streamer.aac import AacTranscoder
from livecart.streamer.hls import PlaylistEntry
from livecart.streamer.packager import InitSegment, PackagerEvent
from livecart.streamer.recording import (
    AAC_INIT,
    AUDIO_INIT,
    ShowFiles,
    entries_from_index,
    init_name,
)
from livecart.streamer.segmenter import Segment, Segmenter

log = logging.getLogger(__name__)

MAX_PENDING_BYTES = 32 * 1024 * 1024
"""Media queued for the recorder thread at most (about a minute at 4 Mbit/s)."""
ITEM_OVERHEAD = 128
"""Bytes counted per queued item on top of its payload, so tiny items are bounded too."""

OWNER_CHECK_INTERVAL = 1.0
"""Seconds an idle thread waits before checking that its event loop still runs."""

_Job = Callable[[], None]


class ShowRecorder:
    """Records one show on its own thread; the loop-side mirror is the live playlist.

    Create and call it on the event loop; :meth:`start` starts the thread.
    ``audio_init`` (the Opus init segment) makes the show record audio and the AAC
    rendition. ``on_closed`` is called on the loop once the thread is done.
    """

    def __init__(
        self,
        data_dir: Path,
        room: str,
        show: str,
        *,
        started_at: float,
        segment_target: float,
        audio_init: bytes | None = None,
        channels: int = 2,
        on_closed: Callable[[ShowRecorder], None] | None = None,
    ) -> None:
        self.room = room
        self.show = show
        self.files = ShowFiles(data_dir, room, show, started_at)
        self.dir = self.files.dir
        self.index: dict[str, Any] = {**copy.deepcopy(self.files.header), "segments": []}
        self.entries: list[PlaylistEntry] = []
        self.aac_entries: list[PlaylistEntry] = []
        self.max_pending = MAX_PENDING_BYTES
        self.dropped = 0
        """Items the recording dropped because the queue was full."""
        self.gaps = 0
        """Times the recording lost media (each ends in a discontinuity)."""
        self.errors = 0
        """Items whose processing failed (logged); their segments are not listed."""
        self.on_closed = on_closed
        self.on_segment: Callable[[dict[str, Any], dict[str, bytes]], None] | None = None
        """Called on the loop with each listed segment's record and files (name -> bytes,
        with the init segments it needs): what another process needs to serve it."""
        self.on_header: Callable[[dict[str, Any]], None] | None = None
        """Called on the loop when the header changed (new init, end)."""
        self._init_files: dict[str, bytes] = {}
        self._audio_init = audio_init
        self._channels = channels
        self._segmenter = Segmenter(segment_target)
        self._aac: AacTranscoder | None = None
        self._loop = asyncio.get_running_loop()
        self._closed = self._loop.create_future()
        self._jobs: queue.SimpleQueue[tuple[_Job | None, int]] = queue.SimpleQueue()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._dropping = False
        self._closing = False
        self._thread = threading.Thread(
            target=self._run, name=f"recorder-{room}-{show}", daemon=False
        )

    # ------------------------------------------------------------ on the loop

    def start(self) -> None:
        """Start the thread; it creates the show's folder first."""
        self._put(self._open, 0)
        self._thread.start()

    @property
    def pending_bytes(self) -> int:
        """Bytes queued for the thread and not yet processed."""
        with self._pending_lock:
            return self._pending

    @property
    def closing(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closing

    @property
    def ended(self) -> bool:
        """True once ``ended_at`` is on disk."""
        return self.index["ended_at"] is not None

    def video(self, event: PackagerEvent, now: float) -> None:
        """Queue a packager event; ``now`` is recorded as the wallclock of a segment it closes."""
        if self._closing:
            return
        if isinstance(event, InitSegment) or self._admit(
            len(event.data), keyframe=event.keyframe, now=now
        ):
            self._put(functools.partial(self._video, event, now), len(event.data))

    def audio(self, fragment: bytes) -> None:
        """Queue an Opus fragment for the open segment's ``aseg`` file."""
        if self._audio_init is not None and self._admit(len(fragment)):
            self._put(functools.partial(self._segmenter.push_audio, fragment), len(fragment))

    def opus(self, packet: bytes, decode_time: int, duration: int) -> None:
        """Queue an Opus packet (on the show timeline) for the AAC rendition."""
        if self._audio_init is not None and self._admit(len(packet)):
            self._put(functools.partial(self._opus, packet, decode_time, duration), len(packet))

    def close(self, now: float) -> None:
        """End the show at ``now``: what is queued is written, then the thread exits."""
        if self._closing:
            return
        self._closing = True
        self._put(functools.partial(self._finish, now), 0)
        self._jobs.put((None, 0))

    async def wait_closed(self) -> None:
        """Wait until the thread wrote everything and exited (after :meth:`close`)."""
        await asyncio.shield(self._closed)

    def _admit(self, size: int, *, keyframe: bool = False, now: float = 0.0) -> bool:
        """The overflow policy: False drops the item from the recording."""
        if self._closing:
            return False
        pending = self.pending_bytes
        if self._dropping:
            if keyframe and pending <= self.max_pending // 2:
                self._dropping = False
                self._put(functools.partial(self._gap, now), 0)
                return True
            self.dropped += 1
            return False
        if pending + size + ITEM_OVERHEAD > self.max_pending:
            self._dropping = True
            self.gaps += 1
            self.dropped += 1
            log.warning(
                "recording %s/%s is %d bytes behind: dropping media until a keyframe",
                self.room,
                self.show,
                pending,
                extra={"room": self.room},
            )
            return False
        return True

    def _put(self, job: _Job, size: int) -> None:
        size += ITEM_OVERHEAD
        with self._pending_lock:
            self._pending += size
        self._jobs.put((job, size))

    def _listed(self, record: dict[str, Any], files: dict[str, bytes]) -> None:
        self.index["segments"].append(record)
        self.entries += entries_from_index({"segments": [record]})
        self.aac_entries += entries_from_index({"segments": [record]}, audio=True)
        if self.on_segment is not None:
            self.on_segment(record, files)

    def _header_changed(self, header: dict[str, Any]) -> None:
        self.index.update(header)
        if self.on_header is not None:
            self.on_header(header)

    def _done(self) -> None:
        if not self._closed.done():
            self._closed.set_result(None)
        if self.on_closed is not None:
            self.on_closed(self)

    # ------------------------------------------------------------ on the thread

    def _run(self) -> None:
        while True:
            try:
                job, size = self._jobs.get(timeout=OWNER_CHECK_INTERVAL)
            except queue.Empty:
                if self._loop.is_closed():  # nobody will close us: stop as after a crash
                    log.error(
                        "recording %s/%s abandoned unclosed",
                        self.room,
                        self.show,
                        extra={"room": self.room},
                    )
                    return
                continue
            if job is None:
                break
            try:
                job()
            except Exception:
                self.errors += 1
                if self.errors == 1:
                    log.exception(
                        "recording %s/%s failed", self.room, self.show, extra={"room": self.room}
                    )
            finally:
                with self._pending_lock:
                    self._pending -= size
        if self.errors > 1:
            log.error(
                "recording %s/%s: %d failures",
                self.room,
                self.show,
                self.errors,
                extra={"room": self.room},
            )
        self._post(self._done)

    def _post(self, callback: _Job) -> None:
        # A closed loop raises RuntimeError: nobody is left to read the live state.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(callback)

    def _publish_header(self) -> None:
        self._post(functools.partial(self._header_changed, copy.deepcopy(self.files.header)))

    def _open(self) -> None:
        self.files.open()
        if self._audio_init is not None:
            self.files.add_audio_init(self._audio_init, self._channels)
            self._aac = AacTranscoder(self._channels)
            self.files.add_aac_init(self._aac.init_segment, self._aac.channels)
            self._init_files[AUDIO_INIT] = self._audio_init
            self._init_files[AAC_INIT] = self._aac.init_segment
        self._publish_header()

    def _video(self, event: PackagerEvent, now: float) -> None:
        if isinstance(event, InitSegment):
            self.files.add_init(event)
            self._init_files[init_name(event.generation)] = event.data
            self._publish_header()
        self._record(self._segmenter.push(event), now)

    def _opus(self, packet: bytes, decode_time: int, duration: int) -> None:
        if self._aac is not None:
            for frame in self._aac.push(packet, decode_time, duration):
                self._segmenter.push_aac(frame)

    def _gap(self, now: float) -> None:
        self._record(self._segmenter.gap(), now)

    def _finish(self, now: float) -> None:
        try:
            self._record(self._segmenter.flush(), now)
        finally:
            self.files.finish(now)
            self._publish_header()

    def _record(self, segments: list[Segment], now: float) -> None:
        for seg in segments:
            record = self.files.add_segment(seg, now)
            init = str(record["init"])
            files = {str(record["uri"]): seg.data, init: self._init_files.get(init, b"")}
            if record["audio_uri"]:
                files[str(record["audio_uri"])] = seg.audio
            if record["aac_uri"]:
                files[str(record["aac_uri"])] = seg.aac
            for name in (AUDIO_INIT, AAC_INIT):
                if name in self._init_files:
                    files[name] = self._init_files[name]
            self._post(functools.partial(self._listed, record, files))
