"""One room's media: the current show's packaging, segments and viewers.

A :class:`Channel` lives while its room has a publisher or viewers. Viewers
stay attached across shows (they get ``ended`` and later a new ``init``). A
:class:`Show` is one publish session: packager -> (fan-out, recorder), plus the
audio track. No aiohttp or aiortc here, and nothing that blocks: the clock is
injected, and segmenting, the AAC transcode and every disk write happen on the
show's recorder thread (:mod:`streamer.recorder`), which this module only feeds.
The WHIP adapter feeds frames in and supplies the function that sends a PLI.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from livecart.streamer.fanout import VideoFanout
from livecart.streamer.fmp4 import OPUS_TIMESCALE
from livecart.streamer.hls import LIVE_WINDOW
from livecart.streamer.opus import AudioFragment, AudioPackager, packet_duration
from livecart.streamer.packager import InitSegment, PackagerEvent, VideoPackager
from livecart.streamer.recorder import ShowRecorder
from livecart.streamer.recording import render_playlist
from livecart.streamer.relay import RelayEnd, RelayInit, RelayItem

KEYFRAME_INTERVAL = 2.0
"""Seconds between periodic keyframe requests (PLI); also the HLS segment target."""
JOIN_KEYFRAME_GAP = 0.5
"""At most one join-triggered keyframe request per this many seconds."""
AUDIO_HOLD_BIAS = 0.080 - 0.033
"""How much later than video aiortc hands audio over: its audio jitter buffer holds
4 packets (80 ms), its video one a single frame (~33 ms). Subtracted when placing
audio on the video timeline."""


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
    audio: AudioPackager | None = None
    video_origin: float | None = None
    """Wall-clock arrival of the first video frame: video time 0."""
    audio_offset: int | None = None
    """Added to audio RTP time (48 kHz, 0 at the first packet) to land on video time."""

    def playlist(self, name: str) -> str | None:
        """Live playlist ``index``/``video``/``audio`` as served at ``/hls/{room}/``."""
        rec = self.recorder
        return render_playlist(
            rec.index,
            name,
            prefix=rec.show + "/",
            window=LIVE_WINDOW,
            video=rec.entries,
            aac=rec.aac_entries,
        )


class Channel:
    """The media side of one room."""

    def __init__(
        self,
        room: str,
        data_dir: Path,
        clock: Callable[[], float] = time.time,
        recordings: set[ShowRecorder] | None = None,
    ) -> None:
        self.room = room
        self.data_dir = data_dir
        self.clock = clock
        self.recordings: set[ShowRecorder] = set() if recordings is None else recordings
        """Recorders still writing (shared with the service, which awaits them on close)."""
        self.fanout = VideoFanout()
        self.show: Show | None = None
        self.keyframes = KeyframeClock()
        self.send_keyframe_request: Callable[[], None] | None = None
        self.last_init: InitSegment | None = None
        self.on_media: Callable[[RelayItem], None] | None = None
        """Set while this process relays the room to others (:mod:`streamer.cluster`):
        gets every init, fragment and end, the same objects the fan-out gets."""

    @property
    def live(self) -> bool:
        """True while a show is running."""
        return self.show is not None

    def start_show(self, stream: str, *, audio: bool = False) -> Show:
        """Begin a new show (ending any previous one) and return it.

        With ``audio`` the show carries an Opus track next to the video (recorded
        as is, and transcoded to AAC for HLS on the recorder thread).
        """
        if self.show is not None:
            self.end_show()
        now = self.clock()
        packager = AudioPackager() if audio else None
        recorder = ShowRecorder(
            self.data_dir,
            self.room,
            new_show_id(now),
            started_at=now,
            segment_target=KEYFRAME_INTERVAL,
            audio_init=packager.init_segment if packager is not None else None,
            channels=packager.channels if packager is not None else 2,
            on_closed=self.recordings.discard,
        )
        self.recordings.add(recorder)
        recorder.start()
        self.show = show = Show(stream=stream, recorder=recorder, audio=packager)
        return show

    def end_show(self) -> None:
        """Flush the last frame, close the recording, tell viewers.

        The recorder writes what it was given in the background (its last segment,
        then ``ended_at``); ``recordings`` holds it until it is done.
        """
        show, self.show = self.show, None
        self.send_keyframe_request = None
        if show is None:
            return
        now = self.clock()
        for event in show.packager.flush():
            self._route(show, event, now)
        if show.audio is not None:
            for frag in show.audio.flush():
                self._route_audio(show, frag)
        show.recorder.close(now)
        self.fanout.end()
        if self.on_media is not None:
            self.on_media(RelayEnd(show.stream))

    def on_video_frame(self, data: bytes, timestamp: int) -> None:
        """Take one encoded access unit (Annex B, 90 kHz timestamp) from the publisher."""
        show = self.show
        if show is None:
            return
        now = self.clock()
        if show.video_origin is None:
            show.video_origin = now - timestamp / 90_000
        for event in show.packager.push(data, timestamp, now):
            self._route(show, event, now)
        if show.packager.wants_keyframe:
            self._request_keyframe()

    def on_audio_frame(self, data: bytes, timestamp: int) -> None:
        """Take one Opus packet (48 kHz RTP time, 0 at the first packet).

        Audio is placed on the video timeline by arrival time: the first packet
        lands at its arrival minus video's origin (less :data:`AUDIO_HOLD_BIAS`),
        later ones follow by RTP time. Dropped until video has started.
        """
        show = self.show
        if show is None or show.audio is None or show.video_origin is None:
            return
        now = self.clock()
        if show.audio_offset is None:
            seconds = now - show.video_origin - AUDIO_HOLD_BIAS
            show.audio_offset = round(seconds * OPUS_TIMESCALE) - timestamp
        decode_time = timestamp + show.audio_offset
        for frag in show.audio.push(data, decode_time, now):
            self._route_audio(show, frag)
        duration = packet_duration(data)
        if duration and decode_time >= 0:
            show.recorder.opus(data, decode_time, duration)

    def _route_audio(self, show: Show, frag: AudioFragment) -> None:
        self.fanout.publish_audio(frag)
        if self.on_media is not None:
            self.on_media(frag)
        show.recorder.audio(frag.data)

    def tick(self) -> None:
        """Called about once a second: sends the periodic keyframe request."""
        if self.show is not None and self.keyframes.periodic(self.clock()):
            self._send_request()

    def viewer_joined(self) -> None:
        """A low-latency viewer joined: ask for a keyframe (rate limited)."""
        if self.show is not None:
            self._request_keyframe()

    def live_playlist(self, name: str = "index") -> str | None:
        """A live HLS playlist (``index``, ``video`` or ``audio``), or None if offline."""
        return self.show.playlist(name) if self.show is not None else None

    def _route(self, show: Show, event: PackagerEvent, now: float) -> None:
        if isinstance(event, InitSegment):
            self.last_init = event
            audio_init = show.audio.init_segment if show.audio is not None else None
            self.fanout.publish_init(event, show.stream, audio_init)
            if self.on_media is not None:
                self.on_media(RelayInit(event, show.stream, show.recorder.show, audio_init))
        else:
            self.fanout.publish_fragment(event)
            if self.on_media is not None:
                self.on_media(event)
        show.recorder.video(event, now)

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe now, unless one was asked for very recently."""
        if self.show is not None:
            self._request_keyframe()

    def _request_keyframe(self) -> None:
        if self.keyframes.urgent(self.clock()):
            self._send_request()

    def _send_request(self) -> None:
        if self.send_keyframe_request is not None:
            self.send_keyframe_request()
