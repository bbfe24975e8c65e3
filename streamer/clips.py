"""Product clips: an MP4 of one stretch of a recorded show, cut by stream copy.

The segments read are those from the one holding the clip's start to the one holding
its end (:meth:`streamer.timeline.Timeline.covering`), and nothing else. Within them
the clip runs from the keyframe nearest its start to the keyframe nearest its end, so
it is within one GOP of the span asked for. The segments' bytes (init + fragments,
and the AAC rendition when the show has one) are fed to PyAV's demuxer and every
packet is muxed unchanged into a plain (progressive, ``+faststart``) MP4: nothing
is decoded or encoded, no decoder is opened.

Clips are cached beside the recording (``clips/<name>.mp4``, written to a temporary
file and renamed): a second request for the same cut is a file read. Blocking: run
it in a worker thread.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from livecart.streamer.recording import AAC_INIT
from livecart.streamer.timeline import Span, Timeline

CLIPS_DIR = "clips"


@dataclass(frozen=True, slots=True)
class Clip:
    """A cut clip on disk: its file, media span (seconds) and whether it was cached."""

    path: Path
    start: float
    end: float
    cached: bool
    decoders_opened: int = 0


def _segment_bytes(folder: Path, records: Sequence[dict[str, Any]], audio: bool) -> bytes:
    parts: list[bytes] = []
    init: str | None = None
    for seg in records:
        name = AAC_INIT if audio else str(seg["init"])
        if name != init:
            parts.append((folder / name).read_bytes())
            init = name
        parts.append((folder / str(seg["aac_uri"] if audio else seg["uri"])).read_bytes())
    return b"".join(parts)


def cut(
    folder: Path, segments: Sequence[dict[str, Any]], start: float, end: float, name: str
) -> Clip | None:
    """The clip ``name`` of ``folder``'s show from media time ``start`` to ``end``.

    ``segments`` are the show's segment records (``segments.jsonl``). None when the
    span holds no segment.
    """
    spans = Timeline(segments).covering(start, end)
    if not spans:
        spans = _covering_without_times(segments, start, end)
    if not spans:
        return None
    out = folder / CLIPS_DIR / f"{name}.mp4"
    if out.is_file():
        span = _read_span(out)
        if span is not None:
            return Clip(out, span[0], span[1], cached=True)
    wanted = {s.index for s in spans}
    records = [seg for seg in segments if int(seg["index"]) in wanted]
    video = _segment_bytes(folder, records, audio=False)
    with_aac = [seg for seg in records if seg.get("aac_uri")]
    aac = _segment_bytes(folder, with_aac, audio=True) if len(with_aac) == len(records) else b""
    out.parent.mkdir(exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        clip_start, clip_end, opened = _remux(video, aac, tmp, start, end)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    _write_span(out, clip_start, clip_end)
    return Clip(out, clip_start, clip_end, False, opened)


def _write_span(out: Path, start: float, end: float) -> None:
    out.with_suffix(".span").write_text(f"{start:.6f} {end:.6f}\n")


def _read_span(out: Path) -> tuple[float, float] | None:
    try:
        start, end = out.with_suffix(".span").read_text().split()
        return float(start), float(end)
    except (OSError, ValueError):
        return None


def _covering_without_times(
    segments: Sequence[dict[str, Any]], start: float, end: float
) -> list[Span]:
    """Segments overlapping ``[start, end)`` for recordings without ``program_time``."""
    return [
        Span(int(s["index"]), float(s["start"]), float(s["duration"]), 0.0)
        for s in segments
        if float(s["start"]) < end and float(s["start"]) + float(s["duration"]) > start
    ]


def _remux(
    video: bytes, aac: bytes, path: Path, start: float, end: float
) -> tuple[float, float, int]:
    """Mux the packets of ``video`` (and ``aac``) between the keyframes nearest to
    ``start`` and ``end`` into the MP4 at ``path``, times moved so the clip starts at 0.

    One demuxing pass per input; returns the clip's media span and how many decoders
    ended up open (0)."""
    inputs = [av.open(io.BytesIO(video), "r", format="mp4")]
    if aac:
        inputs.append(av.open(io.BytesIO(aac), "r", format="mp4"))
    try:
        sources = [inputs[0].streams.video[0], *(c.streams.audio[0] for c in inputs[1:])]
        packets = [
            [p for p in container.demux(source) if p.dts is not None]
            for container, source in zip(inputs, sources, strict=True)
        ]
        cut_start, cut_end = _keyframe_span(packets[0], sources[0].time_base or 1, start, end)
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as output:
            targets = [output.add_stream_from_template(source) for source in sources]
            for source, target, run in zip(sources, targets, packets, strict=True):
                base = source.time_base or 1
                lo, hi = round(cut_start / base), round(cut_end / base)
                for packet in run:
                    assert packet.dts is not None
                    if not lo <= packet.dts < hi:
                        continue
                    packet.dts -= lo
                    if packet.pts is not None:
                        packet.pts -= lo
                    packet.stream = target
                    output.mux(packet)
        opened = sum(1 for source in sources if source.codec_context.is_open)
    finally:
        for container in inputs:
            container.close()
    return cut_start, cut_end, opened


def _keyframe_span(
    packets: list[av.Packet[Any]], base: Fraction | int, start: float, end: float
) -> tuple[float, float]:
    """The keyframes (seconds) nearest to ``start`` and to ``end``: the clip is then
    within one GOP of the span asked for. The end may be the end of the packets."""
    keys: list[float] = []
    last = 0.0
    for packet in packets:
        at = float((packet.dts or 0) * base)
        last = max(last, at + float((packet.duration or 0) * base))
        if packet.is_keyframe:
            keys.append(at)
    if not keys:
        return start, end
    first = min(keys, key=lambda k: abs(k - start))
    ends = [k for k in keys if k > first] + [last]
    return first, min(ends, key=lambda k: abs(k - end))
