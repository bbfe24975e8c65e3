"""Encoded H.264 frames in, fMP4 init segments and one-frame fragments out.

Sans-I/O and clock-free: the caller passes each frame's RTP-derived 90 kHz
timestamp and the wall-clock time it was handed over; the packager returns
events. It never decodes: it only reads the SPS to learn size and codec string.

Rules (each one a test in tests/pure/test_streamer_packaging.py):

- Nothing is emitted before the first keyframe that carries SPS and PPS;
  :attr:`VideoPackager.wants_keyframe` tells the adapter to send a PLI.
- A frame is emitted when the next one arrives, so its duration is exact (one
  frame of latency, ~33 ms at 30 fps).
- A keyframe whose SPS/PPS differ from the current ones starts a new
  *generation*: an :class:`InitSegment` precedes its fragment (resolution change).
- Frames whose timestamp does not increase are dropped (no B-frames in WebRTC).
"""

from __future__ import annotations

from dataclasses import dataclass

from livecart.streamer.errors import BitstreamError
from livecart.streamer.fmp4 import Sample, media_fragment, video_init_segment
from livecart.streamer.h264 import AccessUnit, SpsInfo, parse_access_unit, parse_sps

MAX_FRAME_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class InitSegment:
    """A new decoder configuration: viewers must (re)initialise with ``data``."""

    generation: int
    codec: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Fragment:
    """One ``moof``+``mdat`` holding one frame.

    ``decode_time``/``duration`` are in 90 kHz units; ``produced_at`` is the
    wall-clock time (seconds) the frame reached the packager, the reference for
    "behind live" measurements.
    """

    generation: int
    sequence: int
    keyframe: bool
    decode_time: int
    duration: int
    produced_at: float
    data: bytes


PackagerEvent = InitSegment | Fragment


@dataclass(slots=True)
class _Pending:
    unit: AccessUnit
    timestamp: int
    arrived: float


class VideoPackager:
    """Turns one publisher's H.264 access units into fMP4 events."""

    def __init__(self) -> None:
        self.generation = 0
        self.sequence = 0
        self.frames_in = 0
        self.keyframes_in = 0
        self.dropped = 0
        self._params: tuple[bytes, bytes] | None = None
        self._info: SpsInfo | None = None
        self._pending: _Pending | None = None
        self._last_timestamp: int | None = None

    @property
    def wants_keyframe(self) -> bool:
        """True until a keyframe with parameter sets has been seen."""
        return self._info is None

    @property
    def info(self) -> SpsInfo | None:
        """Size and codec of the current generation, if any."""
        return self._info

    def push(self, data: bytes, timestamp: int, now: float) -> list[PackagerEvent]:
        """Feed one Annex B access unit; return the events it completes."""
        self.frames_in += 1
        if len(data) > MAX_FRAME_BYTES:
            self.dropped += 1
            return []
        try:
            unit = parse_access_unit(data)
        except BitstreamError:
            self.dropped += 1
            return []
        if unit.keyframe:
            self.keyframes_in += 1
        if self._last_timestamp is not None and timestamp <= self._last_timestamp:
            self.dropped += 1
            return []
        events: list[PackagerEvent] = []
        pending = self._pending
        if pending is not None:
            events.extend(self._emit(pending, timestamp - pending.timestamp))
            self._pending = None
        if self._info is None and not unit.keyframe:
            self.dropped += 1
            return events
        self._last_timestamp = timestamp
        self._pending = _Pending(unit, timestamp, now)
        return events

    def flush(self, duration: int = 3000) -> list[PackagerEvent]:
        """Emit the held-back frame (end of stream) with an assumed duration."""
        pending, self._pending = self._pending, None
        return self._emit(pending, duration) if pending is not None else []

    def _emit(self, pending: _Pending, duration: int) -> list[PackagerEvent]:
        events: list[PackagerEvent] = []
        unit = pending.unit
        sps, pps = unit.sps, unit.pps
        if unit.keyframe and sps is not None and pps is not None and (sps, pps) != self._params:
            try:
                info = parse_sps(sps)
            except BitstreamError:
                self.dropped += 1
                return events
            self.generation += 1
            self._params, self._info = (sps, pps), info
            init = video_init_segment(sps, pps, info)
            events.append(InitSegment(self.generation, info.codec, info.width, info.height, init))
        if self._info is None:
            self.dropped += 1
            return events
        self.sequence += 1
        sample = Sample(unit.sample, max(1, duration), unit.keyframe)
        data = media_fragment(self.sequence, pending.timestamp, [sample])
        events.append(
            Fragment(
                self.generation,
                self.sequence,
                unit.keyframe,
                pending.timestamp,
                sample.duration,
                pending.arrived,
                data,
            )
        )
        return events
