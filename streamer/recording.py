"""One show on disk: init segments, fMP4 segments, ``index.json`` and ``segments.jsonl``.

Layout (``data_dir/media/<room>/<show id>/``)::

    init-1.mp4          init segment of generation 1 (one per resolution)
    seg-000000.m4s      segments, ~2 s each, starting with a keyframe
    audio-init.mp4      Opus init segment (when the publisher sent audio)
    aseg-000000.m4s     the audio received while seg-000000 was open
    aac-init.mp4        AAC init segment of the HLS audio rendition (Opus transcoded)
    aac-000000.m4s      AAC audio for the span of seg-000000
    index.json          the show's header: rewritten atomically, only when it changes
    segments.jsonl      one line per segment, appended once the segment's files are in place

The same files back the live HLS playlist and the replay of the recording, so a
segment is written exactly once. :class:`ShowFiles` does the writing and blocks:
it runs on the show's recorder thread (:mod:`streamer.recorder`), never on the
event loop. A segment costs the same to record at any point of a show: its files
(write + rename) and one appended line; ``index.json`` stays a few hundred bytes
and is rewritten only at the start, per init segment and at the end. Nothing here
reads a clock: the times are passed in.

``index.json`` (version 2)::

    {"version": 2, "room": "...", "show": "...", "started_at": 1700000000.0,
     "ended_at": null | float, "codec": "avc1.42e01f",
     "inits": {"1": {"uri": "init-1.mp4", "codec": "...", "width": 640, "height": 480}},
     "audio": null | {"uri": "audio-init.mp4", "codec": "opus", "channels": 2},
     "aac": null | {"uri": "aac-init.mp4", "codec": "mp4a.40.2", "channels": 2},
     "segments_file": "segments.jsonl"}

``segments.jsonl``, one JSON object per line::

    {"index": 0, "uri": "seg-000000.m4s", "init": "init-1.mp4", "generation": 1,
     "start": 0.0, "duration": 2.0, "discontinuity": false, "wallclock": 1700000000.5,
     "bytes": 512345, "audio_uri": "aseg-000000.m4s" | null,
     "aac_uri": "aac-000000.m4s" | null, "program_time": 1700000000.412 | null}

``program_time`` is the server time of the segment's first frame (absent in older
recordings): media time ``t`` inside a segment is server time
``program_time + (t - start)``. This is the one timeline replay, chapters and the
playlists' ``EXT-X-PROGRAM-DATE-TIME`` share.

A line is appended only after the files it names were renamed into place, so a
listed segment always exists. A crash can leave a torn last line; readers ignore
it. Version 1 (``segments`` inline in ``index.json``) is still read.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from livecart.streamer.hls import (
    DEFAULT_BANDWIDTH,
    PlaylistEntry,
    master_playlist,
    media_playlist,
)
from livecart.streamer.packager import InitSegment
from livecart.streamer.segmenter import Segment

NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_NAME = re.compile(NAME_PATTERN)


def valid_name(name: str) -> bool:
    """True for a room or show id that is safe as one path component."""
    return bool(_NAME.fullmatch(name))


def show_dir(data_dir: Path, room: str, show: str) -> Path:
    """Where a show's files live; raises ValueError for unsafe names."""
    if not (valid_name(room) and valid_name(show)):
        raise ValueError("unsafe room or show name")
    return data_dir / "media" / room / show


def segment_name(index: int) -> str:
    """File name of segment ``index``."""
    return f"seg-{index:06d}.m4s"


def audio_segment_name(index: int) -> str:
    """File name of the audio part of segment ``index``."""
    return f"aseg-{index:06d}.m4s"


AUDIO_INIT = "audio-init.mp4"
AAC_INIT = "aac-init.mp4"


def aac_segment_name(index: int) -> str:
    """File name of the AAC rendition's segment ``index``."""
    return f"aac-{index:06d}.m4s"


SEGMENTS_FILE = "segments.jsonl"
INDEX_FILE = "index.json"
INDEX_VERSION = 2


def init_name(generation: int) -> str:
    """File name of the init segment of ``generation``."""
    return f"init-{generation}.mp4"


def entries_from_index(
    index: dict[str, Any], prefix: str = "", *, audio: bool = False
) -> list[PlaylistEntry]:
    """Playlist entries of a show index, URIs prefixed with ``prefix``.

    With ``audio`` the entries are the AAC rendition's (segments without AAC are
    left out), else the video's.
    """
    entries = []
    for seg in index["segments"]:
        if audio and not seg.get("aac_uri"):
            continue
        entries.append(
            PlaylistEntry(
                index=int(seg["index"]),
                uri=prefix + str(seg["aac_uri"] if audio else seg["uri"]),
                init_uri=prefix + (AAC_INIT if audio else str(seg["init"])),
                duration=float(seg["duration"]),
                discontinuity=bool(seg["discontinuity"]),
                program_time=_program_time(seg),
            )
        )
    return entries


def _program_time(seg: dict[str, Any]) -> float | None:
    value = seg.get("program_time")
    return float(value) if isinstance(value, int | float) else None


def render_playlist(
    index: dict[str, Any],
    name: str,
    *,
    prefix: str = "",
    window: int | None = None,
    video: list[PlaylistEntry] | None = None,
    aac: list[PlaylistEntry] | None = None,
) -> str | None:
    """``index``, ``video`` or ``audio`` playlist of a show; None if it has no such one.

    ``prefix`` goes before segment URIs (the live playlists at ``/hls/{room}/``
    name ``<show>/seg-...``); ``video``/``aac`` may pass entries already built.
    """
    ended = index.get("ended_at") is not None
    has_aac = index.get("aac") is not None
    if name == "index":
        codec = index.get("codec")
        if codec is None:
            return None
        inits = index.get("inits") or {}
        last = inits[max(inits, key=int)] if inits else None
        return master_playlist(
            codecs=str(codec) + (",mp4a.40.2" if has_aac else ""),
            bandwidth=_peak_bandwidth(index),
            resolution=(int(last["width"]), int(last["height"])) if last else None,
            audio=has_aac,
        )
    if name == "video":
        entries = video if video is not None else entries_from_index(index)
    elif name == "audio" and has_aac:
        entries = aac if aac is not None else entries_from_index(index, audio=True)
    else:
        return None
    if prefix:
        entries = [
            PlaylistEntry(
                e.index,
                prefix + e.uri,
                prefix + e.init_uri,
                e.duration,
                e.discontinuity,
                e.program_time,
            )
            for e in entries
        ]
    return media_playlist(entries, ended=ended, window=window)


def _peak_bandwidth(index: dict[str, Any]) -> int:
    """Peak bits per second over the last segments (HLS ``BANDWIDTH``), +64 kbit/s audio."""
    rates = [
        int(seg["bytes"]) * 8 / float(seg["duration"])
        for seg in index["segments"][-30:]
        if seg.get("bytes") and float(seg["duration"]) > 0
    ]
    audio = 96_000 if index.get("aac") else 0
    return int(max(rates) * 1.1) + audio if rates else DEFAULT_BANDWIDTH


def read_index(path: Path) -> dict[str, Any] | None:
    """Load a show's ``index.json`` with its segments; None if missing or unreadable.

    Version 2 keeps the segments in ``segments.jsonl`` beside it: they are read into
    ``"segments"``, skipping a line that does not parse (a torn append).
    """
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    if "segments" not in data:
        data["segments"] = _read_segments(path.with_name(SEGMENTS_FILE))
    return data


def _read_segments(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
    except OSError:
        return []
    segments = []
    for line in text.split("\n")[:-1]:  # the part after the last newline is torn or empty
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            segments.append(record)
    return segments


def new_header(room: str, show: str, started_at: float) -> dict[str, Any]:
    """The ``index.json`` of a show that has just started."""
    return {
        "version": INDEX_VERSION,
        "room": room,
        "show": show,
        "started_at": started_at,
        "ended_at": None,
        "codec": None,
        "inits": {},
        "audio": None,
        "aac": None,
        "segments_file": SEGMENTS_FILE,
    }


def segment_record(seg: Segment, wallclock: float) -> dict[str, Any]:
    """The ``segments.jsonl`` line of a closed segment (as a dict)."""
    return {
        "index": seg.index,
        "uri": segment_name(seg.index),
        "init": init_name(seg.generation),
        "generation": seg.generation,
        "start": round(seg.start, 6),
        "duration": round(seg.duration, 6),
        "discontinuity": seg.discontinuity,
        "wallclock": wallclock,
        "bytes": len(seg.data),
        "audio_uri": audio_segment_name(seg.index) if seg.audio else None,
        "aac_uri": aac_segment_name(seg.index) if seg.aac else None,
        "program_time": round(seg.program_time, 3) if seg.program_time is not None else None,
    }


class ShowFiles:
    """Writes one show's files. Blocking I/O: call from one thread, the show's recorder.

    ``header`` is the ``index.json`` content as last written; only this object
    changes it.
    """

    def __init__(self, data_dir: Path, room: str, show: str, started_at: float) -> None:
        self.dir = show_dir(data_dir, room, show)
        self.header = new_header(room, show, started_at)

    def open(self) -> None:
        """Create the show's folder, its ``index.json`` and an empty segment list."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / SEGMENTS_FILE).touch()
        self._write_header()

    def add_init(self, init: InitSegment) -> None:
        """Store a new generation's init segment."""
        name = init_name(init.generation)
        self._write_atomic(name, init.data)
        self.header["codec"] = init.codec
        self.header["inits"][str(init.generation)] = {
            "uri": name,
            "codec": init.codec,
            "width": init.width,
            "height": init.height,
        }
        self._write_header()

    def add_audio_init(self, data: bytes, channels: int) -> None:
        """Store the audio track's init segment."""
        self._write_atomic(AUDIO_INIT, data)
        self.header["audio"] = {"uri": AUDIO_INIT, "codec": "opus", "channels": channels}
        self._write_header()

    def add_aac_init(self, data: bytes, channels: int) -> None:
        """Store the AAC rendition's init segment."""
        self._write_atomic(AAC_INIT, data)
        self.header["aac"] = {"uri": AAC_INIT, "codec": "mp4a.40.2", "channels": channels}
        self._write_header()

    def add_segment(self, seg: Segment, wallclock: float) -> dict[str, Any]:
        """Store a closed segment (and its audio), then list it; return its record."""
        record = segment_record(seg, wallclock)
        self._write_atomic(record["uri"], seg.data)
        if record["audio_uri"]:
            self._write_atomic(record["audio_uri"], seg.audio)
        if record["aac_uri"]:
            self._write_atomic(record["aac_uri"], seg.aac)
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.dir / SEGMENTS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.write(fd, line) != len(line):
                raise OSError("short write to " + SEGMENTS_FILE)
        finally:
            os.close(fd)
        return record

    def finish(self, ended_at: float) -> None:
        """Mark the show ended (idempotent)."""
        if self.header["ended_at"] is None:
            self.header["ended_at"] = ended_at
            self._write_header()

    def _write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.dir / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.dir / name)

    def _write_header(self) -> None:
        self._write_atomic(INDEX_FILE, json.dumps(self.header, indent=1).encode())
