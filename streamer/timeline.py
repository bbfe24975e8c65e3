"""One show's timeline: media time (the recording's seconds) <-> server time.

Pure. A recorded segment knows both: ``start`` on the media timeline and
``program_time``, the server time its first frame reached the packager
(:mod:`streamer.recording`). Inside a segment the two advance together, so a
lookup is a binary search over the segments and one subtraction. Segments
without ``program_time`` (older recordings) are left out; with none left the
timeline is empty and maps nothing.

Media time is what a player's ``currentTime`` shows when the segments are played
with their own timestamps (MSE): the first segment starts at ``first``, not 0.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """One segment on both timelines."""

    index: int
    start: float
    duration: float
    program_time: float


class Timeline:
    """The media/server time mapping of one show's segments (in recording order)."""

    def __init__(self, segments: Iterable[Mapping[str, Any]]) -> None:
        spans = []
        for seg in segments:
            program = seg.get("program_time")
            if not isinstance(program, int | float):
                continue
            spans.append(
                Span(int(seg["index"]), float(seg["start"]), float(seg["duration"]), program)
            )
        self.spans = spans
        self._servers = [s.program_time for s in spans]
        self._starts = [s.start for s in spans]

    def __bool__(self) -> bool:
        return bool(self.spans)

    @property
    def first(self) -> float:
        """Media time of the first frame (0.0 for an empty timeline)."""
        return self.spans[0].start if self.spans else 0.0

    @property
    def end(self) -> float:
        """Media time just after the last frame."""
        return self.spans[-1].start + self.spans[-1].duration if self.spans else 0.0

    @property
    def duration(self) -> float:
        """Media seconds from the first frame to just after the last."""
        return self.end - self.first

    def media_time(self, server: float) -> float | None:
        """Media time shown at ``server`` time (seconds); clamped to the recording, None
        for an empty timeline. A moment in a gap maps to the next segment's start."""
        if not self.spans:
            return None
        i = bisect.bisect_right(self._servers, server) - 1
        if i < 0:
            return self.first
        span = self.spans[i]
        offset = server - span.program_time
        if offset > span.duration:
            nxt = self.spans[i + 1] if i + 1 < len(self.spans) else None
            return nxt.start if nxt is not None else self.end
        return span.start + offset

    def server_time(self, media: float) -> float | None:
        """Server time (seconds) of media time ``media``, clamped; None when empty."""
        if not self.spans:
            return None
        i = max(0, bisect.bisect_right(self._starts, media) - 1)
        span = self.spans[i]
        return span.program_time + min(max(media - span.start, 0.0), span.duration)

    def covering(self, start: float, end: float) -> list[Span]:
        """The segments a cut from ``start`` to ``end`` (media time) needs: from the one
        holding ``start`` (it begins with a keyframe) to the one holding ``end``."""
        if not self.spans or end <= start:
            return []
        first = max(0, bisect.bisect_right(self._starts, start) - 1)
        last = max(first, bisect.bisect_left(self._starts, end) - 1)
        return self.spans[first : last + 1]
