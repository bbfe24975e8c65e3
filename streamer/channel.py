"""One room's media: the current show's packaging, segments and viewers.

A :class:`Channel` lives while its room has a publisher or viewers. Viewers
stay attached across shows (they get ``ended`` and later a new ``init``). A
:class:`Show` is one publish session: packager -> (fan-out, segmenter ->
recorder/HLS). No aiohttp or aiortc here; the WHIP adapter feeds frames in and
supplies the function that sends a PLI.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from streamer.fanout import VideoFanout
from streamer.hls import LIVE_WINDOW, media_playlist
from streamer.packager import InitSegment, PackagerEvent, VideoPackager
from streamer.recording import ShowRecorder
from streamer.segmenter import Segmenter

KEYFRAME_INTERVAL = 2.0
"""Seconds between periodic keyframe requests (PLI); also the HLS segment target."""
JOIN_KEYFRAME_GAP = 0.5
"""At most one join-triggered keyframe request per this many seconds."""


def new_show_id(now: float) -> str:
    """A sortable, unguessable show id such as ``20261121T220300Z-3f9a1c``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(3)


@dataclass(slots=True)
class KeyframeClock:
    """When to ask the publisher for a keyframe: periodically and on joins, rate limited."""

    interval: float = KEYFRAME_INTERVAL
    min_gap: float = JOIN_KEYFRAME_GAP
    last: float = float("-inf")

    def periodic(self, now: float) -> bool:
        """True when ``interval`` passed since the last request (and records it)."""
        if now - self.last >= self.interval:
            self.last = now
            return True
        return False

    def urgent(self, now: float) -> bool:
        """True unless a request went out in the last ``min_gap`` (records it)."""
        if now - self.last >= self.min_gap:
            self.last = now
            return True
        return False


@dataclass(slots=True)
class Show:
    """One publish session's pipeline."""

    stream: str
    recorder: ShowRecorder
    packager: VideoPackager = field(default_factory=VideoPackager)
    segmenter: Segmenter = field(default_factory=lambda: Segmenter(KEYFRAME_INTERVAL))

    def playlist(self, window: int | None) -> str:
        """The show's HLS playlist with URIs relative to ``/hls/{room}/``."""
        prefix = self.recorder.show + "/" if window else ""
        entries = self.recorder.entries
        if prefix:
            entries = [
                replace(e, uri=prefix + e.uri, init_uri=prefix + e.init_uri) for e in entries
            ]
        return media_playlist(entries, ended=self.recorder.ended, window=window)


class Channel:
    """The media side of one room."""

    def __init__(
        self,
        room: str,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.room = room
        self.data_dir = data_dir
        self.clock = clock
        self.fanout = VideoFanout()
        self.show: Show | None = None
        self.keyframes = KeyframeClock()
        self.send_keyframe_request: Callable[[], None] | None = None
        self.last_init: InitSegment | None = None

    @property
    def live(self) -> bool:
        """True while a show is running."""
        return self.show is not None

    def start_show(self, stream: str) -> Show:
        """Begin a new show (ending any previous one) and return it."""
        if self.show is not None:
            self.end_show()
        recorder = ShowRecorder(self.data_dir, self.room, new_show_id(self.clock()))
        self.show = Show(stream=stream, recorder=recorder)
        return self.show

    def end_show(self) -> None:
        """Flush the last frame and segment, close the recording, tell viewers."""
        show, self.show = self.show, None
        self.send_keyframe_request = None
        if show is None:
            return
        for event in show.packager.flush():
            self._route(show, event)
        for seg in show.segmenter.flush():
            show.recorder.add_segment(seg)
        show.recorder.finish()
        self.fanout.end()

    def on_video_frame(self, data: bytes, timestamp: int) -> None:
        """Take one encoded access unit (Annex B, 90 kHz timestamp) from the publisher."""
        show = self.show
        if show is None:
            return
        now = self.clock()
        for event in show.packager.push(data, timestamp, now):
            self._route(show, event)
        if show.packager.wants_keyframe:
            self._request_keyframe(urgent=True)

    def tick(self) -> None:
        """Called about once a second: sends the periodic keyframe request."""
        if self.show is not None and self.keyframes.periodic(self.clock()):
            self._send_request()

    def viewer_joined(self) -> None:
        """A low-latency viewer joined: ask for a keyframe (rate limited)."""
        if self.show is not None:
            self._request_keyframe(urgent=True)

    def live_playlist(self) -> str | None:
        """The live HLS playlist, or None when no show is running."""
        return self.show.playlist(LIVE_WINDOW) if self.show is not None else None

    def _route(self, show: Show, event: PackagerEvent) -> None:
        if isinstance(event, InitSegment):
            self.last_init = event
            show.recorder.add_init(event)
            self.fanout.publish_init(event, show.stream)
            for seg in show.segmenter.push(event):
                show.recorder.add_segment(seg)
            return
        self.fanout.publish_fragment(event)
        for seg in show.segmenter.push(event):
            show.recorder.add_segment(seg)

    def _request_keyframe(self, *, urgent: bool) -> None:
        if urgent and self.keyframes.urgent(self.clock()):
            self._send_request()

    def _send_request(self) -> None:
        if self.send_keyframe_request is not None:
            self.send_keyframe_request()
