"""Group one-frame fragments into HLS/recording segments.

Sans-I/O. A segment starts on a keyframe and closes at the first keyframe
after ``target - slack`` seconds, or when a new init segment (generation)
arrives, in which case the next segment is marked as a discontinuity. The
publisher is asked for a keyframe every ~2 s; the slack (a quarter of the
target) keeps a keyframe that lands just before the 2 s mark from doubling the
segment, so segments are 1.5–2.5 s long.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from livecart.streamer.fmp4 import VIDEO_TIMESCALE, Sample, media_fragment
from livecart.streamer.packager import Fragment, InitSegment, PackagerEvent

AAC_FRAME = 1024
"""Samples in one AAC-LC access unit."""


@dataclass(frozen=True, slots=True)
class AacFrame:
    """One AAC access unit at ``decode_time`` (48 kHz units), :data:`AAC_FRAME` long."""

    data: bytes
    decode_time: int


@dataclass(frozen=True, slots=True)
class Segment:
    """A closed segment: fragments from one keyframe up to the next boundary.

    ``index`` counts from 0 within a show; ``start``/``duration`` are seconds on
    the media timeline; ``discontinuity`` is set on the first segment after a
    generation change (not on the very first segment of a show). ``audio`` holds
    the audio fragments that arrived while the segment was open (empty if none),
    ``aac`` the AAC rendition's fragments for the same span (empty if none).
    """

    index: int
    generation: int
    start: float
    duration: float
    discontinuity: bool
    data: bytes
    audio: bytes = b""
    aac: bytes = b""
    program_time: float | None = None
    """Server (wall-clock) time, in seconds, at which the segment's first frame reached
    the packager: with ``start`` it maps media time to server time."""


@dataclass(slots=True)
class _Open:
    generation: int
    start: int
    end: int
    discontinuity: bool
    program_time: float
    parts: list[bytes] = field(default_factory=list)
    audio: list[bytes] = field(default_factory=list)
    aac: list[AacFrame] = field(default_factory=list)


def _aac_fragments(index: int, frames: list[AacFrame]) -> bytes:
    """AAC frames as fragments: one per run of back-to-back frames."""
    out: list[bytes] = []
    run: list[AacFrame] = []
    for frame in frames:
        if run and frame.decode_time != run[-1].decode_time + AAC_FRAME:
            out.append(_aac_run(index, len(out), run))
            run = []
        run.append(frame)
    if run:
        out.append(_aac_run(index, len(out), run))
    return b"".join(out)


def _aac_run(index: int, part: int, run: list[AacFrame]) -> bytes:
    samples = [Sample(f.data, AAC_FRAME, True) for f in run]
    return media_fragment(index * 16 + part + 1, run[0].decode_time, samples)


class Segmenter:
    """Feeds on packager events; returns segments as they close."""

    def __init__(self, target: float = 2.0) -> None:
        self.target = target
        self.inits: dict[int, InitSegment] = {}
        self._open: _Open | None = None
        self._next_index = 0
        self._discontinuity = False

    def push(self, event: PackagerEvent) -> list[Segment]:
        """Feed one event; return zero or one closed segment."""
        closed: list[Segment] = []
        if isinstance(event, InitSegment):
            if self.inits:
                self._discontinuity = True
            self.inits[event.generation] = event
            closed.extend(self._close())
            return closed
        return self._fragment(event)

    def push_audio(self, data: bytes) -> None:
        """Add an audio fragment to the open segment (dropped if none is open)."""
        if self._open is not None:
            self._open.audio.append(data)

    def push_aac(self, frame: AacFrame) -> None:
        """Add an AAC frame to the open segment (dropped if none is open)."""
        if self._open is not None:
            self._open.aac.append(frame)

    def flush(self) -> list[Segment]:
        """Close the open segment (end of show)."""
        return self._close()

    def gap(self) -> list[Segment]:
        """Media was lost: close the open segment; the next one is a discontinuity.

        The segment that follows starts at the next keyframe pushed, after a hole in
        the timeline (the first segment of a show is never marked).
        """
        closed = self._close()
        if self._next_index > 0:
            self._discontinuity = True
        return closed

    def _fragment(self, frag: Fragment) -> list[Segment]:
        closed: list[Segment] = []
        seg = self._open
        elapsed = (frag.decode_time - seg.start) / VIDEO_TIMESCALE if seg is not None else 0.0
        if seg is not None and frag.keyframe and elapsed >= self.target * 0.75:
            closed.extend(self._close())
            seg = None
        if seg is None:
            if not frag.keyframe:
                return closed  # wait for a keyframe to start a segment
            seg = _Open(
                frag.generation,
                frag.decode_time,
                frag.decode_time,
                self._discontinuity,
                frag.produced_at,
            )
            self._discontinuity = False
            self._open = seg
        seg.parts.append(frag.data)
        seg.end = frag.decode_time + frag.duration
        return closed

    def _close(self) -> list[Segment]:
        seg, self._open = self._open, None
        if seg is None or not seg.parts:
            return []
        index = self._next_index
        self._next_index += 1
        return [
            Segment(
                index=index,
                generation=seg.generation,
                start=seg.start / VIDEO_TIMESCALE,
                duration=(seg.end - seg.start) / VIDEO_TIMESCALE,
                discontinuity=seg.discontinuity,
                data=b"".join(seg.parts),
                audio=b"".join(seg.audio),
                aac=_aac_fragments(index, seg.aac),
                program_time=seg.program_time,
            )
        ]
