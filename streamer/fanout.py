"""Video fan-out: build each WebSocket message once, write the same bytes to every viewer.

Never awaits a viewer. Each viewer is an ``asyncio`` transport (the socket under
an upgraded aiohttp WebSocket); a message is written with ``transport.write``
and the transport's own write buffer is the only per-viewer queue. The policy,
checked before every media fragment:

- write buffer above ``soft_limit`` -> the viewer *skips*: fragments are not
  written until a keyframe arrives while the buffer is back under the limit, so
  a slow viewer jumps forward to live instead of buffering without bound;
- still above ``soft_limit`` at ``max_missed_keyframes`` keyframes in a row (a
  viewer that stopped reading) or above ``hard_limit`` at any time -> the
  connection is aborted (the player reconnects and starts at the latest
  keyframe). A stalled viewer thus costs at most ~``soft_limit`` of memory for
  a few seconds.

Wire format (also in docs/streaming.md): a JSON text message ``{"type": "init",
...}`` announces codec and size, then binary messages, each a 16-byte header
followed by fMP4 bytes::

    u8  kind          1 = init segment, 2 = media fragment
    u8  flags         bit 0: fragment starts with a keyframe (always set for audio)
    u16 track         0 = video, 1 = audio (Opus)
    u32 generation    init segment generation the fragment belongs to
    u64 produced_at   wall-clock microseconds when the frame reached the packager

This module imports neither aiohttp nor aiortc; it frames WebSocket messages with
``livecart.wsframe`` (RFC 6455, server frames are unmasked, no compression).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from livecart.streamer.opus import OPUS_CODEC, OPUS_MIME, AudioFragment
from livecart.streamer.packager import Fragment, InitSegment
from livecart.transport import HARD_LIMIT_BYTES, SLOW_CONSUMER_BYTES, Transport
from livecart.wsframe import OP_BINARY, OP_TEXT, build_frame

KIND_INIT = 1
KIND_FRAGMENT = 2
FLAG_KEYFRAME = 1
TRACK_VIDEO = 0
TRACK_AUDIO = 1
HEADER = struct.Struct(">BBHIQ")

SOFT_LIMIT = SLOW_CONSUMER_BYTES
HARD_LIMIT = HARD_LIMIT_BYTES
MAX_MISSED_KEYFRAMES = 3
AUDIO_ALONE_AFTER = 0.1
"""Audio waits to ride with the next video fragment unless video is this far behind."""
GOP_CACHE_BYTES = 8 * 1024 * 1024


def text_message(obj: dict[str, object]) -> bytes:
    """A prebuilt text frame carrying ``obj`` as compact JSON."""
    return build_frame(OP_TEXT, json.dumps(obj, separators=(",", ":")).encode())


def init_messages(init: InitSegment, stream: str, audio_init: bytes | None = None) -> bytes:
    """The JSON announcement, the video init segment and the audio one, as wire bytes."""
    audio = {"codec": OPUS_CODEC, "mime": OPUS_MIME} if audio_init is not None else None
    announce = text_message(
        {
            "type": "init",
            "track": "video",
            "stream": stream,
            "generation": init.generation,
            "codec": init.codec,
            "mime": f'video/mp4; codecs="{init.codec}"',
            "width": init.width,
            "height": init.height,
            "audio": audio,
        }
    )
    header = HEADER.pack(KIND_INIT, 0, TRACK_VIDEO, init.generation, 0)
    out = announce + build_frame(OP_BINARY, header + init.data)
    if audio_init is not None:
        out += build_frame(OP_BINARY, HEADER.pack(KIND_INIT, 0, TRACK_AUDIO, 0, 0) + audio_init)
    return out


def fragment_message(frag: Fragment) -> bytes:
    """The binary frame for one media fragment."""
    flags = FLAG_KEYFRAME if frag.keyframe else 0
    produced = int(frag.produced_at * 1_000_000)
    header = HEADER.pack(KIND_FRAGMENT, flags, TRACK_VIDEO, frag.generation, produced)
    return build_frame(OP_BINARY, header + frag.data)


def audio_message(frag: AudioFragment) -> bytes:
    """The binary frame for one audio fragment."""
    produced = int(frag.produced_at * 1_000_000)
    header = HEADER.pack(KIND_FRAGMENT, FLAG_KEYFRAME, TRACK_AUDIO, 0, produced)
    return build_frame(OP_BINARY, header + frag.data)


@dataclass(eq=False, slots=True)
class Viewer:
    """One viewer socket and its delivery state."""

    transport: Transport
    skipping: bool = False
    missed_keyframes: int = 0
    sent: int = 0
    skipped: int = 0


@dataclass(slots=True)
class FanoutStats:
    """Counters since the fan-out was created."""

    fragments: int = 0
    writes: int = 0
    skipped: int = 0
    dropped: int = 0
    bytes_written: int = 0

    def add(self, other: FanoutStats) -> None:
        """Add ``other``'s counts to these (a channel forgotten keeps its share)."""
        self.fragments += other.fragments
        self.writes += other.writes
        self.skipped += other.skipped
        self.dropped += other.dropped
        self.bytes_written += other.bytes_written


@dataclass(slots=True)
class VideoFanout:
    """The viewers of one room and the state a joiner needs (init + current GOP)."""

    soft_limit: int = SOFT_LIMIT
    hard_limit: int = HARD_LIMIT
    max_missed_keyframes: int = MAX_MISSED_KEYFRAMES
    on_drop: Callable[[Viewer], None] | None = None
    stats: FanoutStats = field(default_factory=FanoutStats)
    viewers: set[Viewer] = field(default_factory=set)
    _init: bytes | None = None
    _gop: list[bytes] = field(default_factory=list)
    _gop_bytes: int = 0
    _audio_pending: list[bytes] = field(default_factory=list)
    _last_video_at: float | None = None

    @property
    def has_init(self) -> bool:
        """True while a show's init segment is known (a joiner starts at once)."""
        return self._init is not None

    def add(self, transport: Transport, *, offline: bool = True) -> Viewer:
        """Register a viewer and send it the init segment and the GOP so far.

        The joiner thus starts at the latest keyframe without waiting for the
        next one. Without a show it is told ``offline``, unless ``offline`` is False
        (the show runs on another process and its init is on its way).
        """
        viewer = Viewer(transport)
        self.viewers.add(viewer)
        if self._init is not None:
            self._write(viewer, self._init)
            for message in self._gop:
                self._write(viewer, message)
        elif offline:
            self._write(viewer, text_message({"type": "offline"}))
        return viewer

    def remove(self, viewer: Viewer) -> None:
        """Forget a viewer (idempotent)."""
        self.viewers.discard(viewer)

    def publish_init(self, init: InitSegment, stream: str, audio_init: bytes | None = None) -> None:
        """A new generation: every viewer reinitialises; the GOP cache restarts."""
        self._flush_audio()
        self._init = init_messages(init, stream, audio_init)
        self._gop.clear()
        self._gop_bytes = 0
        for viewer in list(self.viewers):
            viewer.skipping = True  # resume on this generation's first keyframe
            self._write(viewer, self._init)

    def publish_fragment(self, frag: Fragment) -> None:
        """Deliver one fragment to every viewer according to the skip/drop policy.

        Audio fragments waiting since the last video fragment go out in the same
        ``write`` (one system call per viewer per video frame).
        """
        message = fragment_message(frag)
        self.stats.fragments += 1
        self._last_video_at = frag.produced_at
        payload = message
        if self._audio_pending:
            payload = b"".join(self._audio_pending) + message
            self._audio_pending.clear()
        if frag.keyframe:
            self._gop.clear()
            self._gop_bytes = 0
        if self._gop_bytes + len(message) <= GOP_CACHE_BYTES and (self._gop or frag.keyframe):
            self._gop.append(message)
            self._gop_bytes += len(message)
        for viewer in list(self.viewers):
            transport = viewer.transport
            if transport.is_closing():
                self.viewers.discard(viewer)
                continue
            size = transport.get_write_buffer_size()
            if size > self.hard_limit:
                self._drop(viewer)
                continue
            if viewer.skipping:
                if frag.keyframe and size > self.soft_limit:
                    viewer.missed_keyframes += 1
                    if viewer.missed_keyframes >= self.max_missed_keyframes:
                        self._drop(viewer)
                        continue
                if not (frag.keyframe and size <= self.soft_limit):
                    viewer.skipped += 1
                    self.stats.skipped += 1
                    continue
                viewer.skipping = False
                viewer.missed_keyframes = 0
            elif size > self.soft_limit:
                viewer.skipping = True
                viewer.skipped += 1
                self.stats.skipped += 1
                continue
            transport.write(payload)
            viewer.sent += 1
            self.stats.writes += 1
            self.stats.bytes_written += len(payload)

    def publish_audio(self, frag: AudioFragment) -> None:
        """Queue one audio fragment to ride with the next video fragment.

        It is written on its own at once when video is more than
        :data:`AUDIO_ALONE_AFTER` behind (a frozen camera must not mute the
        host). Audio follows video's state: a skipping viewer gets no audio
        either and resumes with both at the next video keyframe.
        """
        message = audio_message(frag)
        if self._gop and self._gop_bytes + len(message) <= GOP_CACHE_BYTES:
            self._gop.append(message)
            self._gop_bytes += len(message)
        self._audio_pending.append(message)
        last = self._last_video_at
        if last is None or frag.produced_at - last > AUDIO_ALONE_AFTER:
            self._flush_audio()

    def _flush_audio(self) -> None:
        """Write waiting audio to every viewer that is not skipping."""
        if not self._audio_pending:
            return
        message = b"".join(self._audio_pending)
        self._audio_pending.clear()
        for viewer in list(self.viewers):
            transport = viewer.transport
            if viewer.skipping or transport.is_closing():
                continue
            size = transport.get_write_buffer_size()
            if size > self.hard_limit:
                self._drop(viewer)
                continue
            if size > self.soft_limit:
                viewer.skipping = True
                continue
            transport.write(message)
            self.stats.bytes_written += len(message)

    def end(self) -> None:
        """The publish ended: tell viewers, forget the init and GOP."""
        self._flush_audio()
        self._last_video_at = None
        self._init = None
        self._gop.clear()
        self._gop_bytes = 0
        message = text_message({"type": "ended"})
        for viewer in list(self.viewers):
            viewer.skipping = True
            self._write(viewer, message)

    def _write(self, viewer: Viewer, message: bytes) -> None:
        transport = viewer.transport
        if transport.is_closing():
            self.viewers.discard(viewer)
            return
        if transport.get_write_buffer_size() > self.hard_limit:
            self._drop(viewer)
            return
        transport.write(message)
        self.stats.bytes_written += len(message)

    def _drop(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        self.stats.dropped += 1
        viewer.transport.abort()
        if self.on_drop is not None:
            self.on_drop(viewer)
