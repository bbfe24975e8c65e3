"""One show on disk: init segments, fMP4 segments and ``index.json``.

Layout (``data_dir/media/<room>/<show id>/``)::

    init-1.mp4          init segment of generation 1 (one per resolution)
    seg-000000.m4s      segments, ~2 s each, starting with a keyframe
    audio-init.mp4      Opus init segment (when the publisher sent audio)
    aseg-000000.m4s     the audio received while seg-000000 was open
    aac-init.mp4        AAC init segment of the HLS audio rendition (Opus transcoded)
    aac-000000.m4s      AAC audio for the span of seg-000000
    index.json          the show's index, rewritten atomically after each segment

The same files back the live HLS playlist and the replay of the recording, so a
segment is written exactly once. Files are small (hundreds of KB every ~2 s) and
written synchronously from the event loop; the page cache absorbs them.

``index.json`` (version 1)::

    {"version": 1, "room": "...", "show": "...", "started_at": 1700000000.0,
     "ended_at": null | float, "codec": "avc1.42e01f",
     "inits": {"1": {"uri": "init-1.mp4", "codec": "...", "width": 640, "height": 480}},
     "audio": null | {"uri": "audio-init.mp4", "codec": "opus", "channels": 2},
     "aac": null | {"uri": "aac-init.mp4", "codec": "mp4a.40.2", "channels": 2},
     "segments": [{"index": 0, "uri": "seg-000000.m4s", "init": "init-1.mp4",
                   "generation": 1, "start": 0.0, "duration": 2.0,
                   "discontinuity": false, "wallclock": 1700000000.5,
                   "bytes": 512345, "audio_uri": "aseg-000000.m4s" | null,
                   "aac_uri": "aac-000000.m4s" | null}]}
"""

from __future__ import annotations

import json
import os
import re
import time
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

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def valid_name(name: str) -> bool:
    """True for a room or show id that is safe as one path component."""
    return bool(_NAME.match(name))


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
            )
        )
    return entries


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
            PlaylistEntry(e.index, prefix + e.uri, prefix + e.init_uri, e.duration, e.discontinuity)
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
    """Load an ``index.json``; None if missing or unreadable."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ShowRecorder:
    """Writes one show's files; the in-memory index doubles as the live playlist."""

    def __init__(self, data_dir: Path, room: str, show: str) -> None:
        self.room = room
        self.show = show
        self.dir = show_dir(data_dir, room, show)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.index: dict[str, Any] = {
            "version": 1,
            "room": room,
            "show": show,
            "started_at": time.time(),
            "ended_at": None,
            "codec": None,
            "inits": {},
            "audio": None,
            "aac": None,
            "segments": [],
        }
        self.entries: list[PlaylistEntry] = []
        self.aac_entries: list[PlaylistEntry] = []
        self._write_index()

    @property
    def ended(self) -> bool:
        """True once :meth:`finish` ran."""
        return self.index["ended_at"] is not None

    def add_init(self, init: InitSegment) -> None:
        """Store a new generation's init segment."""
        name = init_name(init.generation)
        (self.dir / name).write_bytes(init.data)
        self.index["codec"] = init.codec
        self.index["inits"][str(init.generation)] = {
            "uri": name,
            "codec": init.codec,
            "width": init.width,
            "height": init.height,
        }
        self._write_index()

    def add_audio_init(self, data: bytes, channels: int) -> None:
        """Store the audio track's init segment."""
        (self.dir / AUDIO_INIT).write_bytes(data)
        self.index["audio"] = {"uri": AUDIO_INIT, "codec": "opus", "channels": channels}
        self._write_index()

    def add_aac_init(self, data: bytes, channels: int) -> None:
        """Store the AAC rendition's init segment."""
        (self.dir / AAC_INIT).write_bytes(data)
        self.index["aac"] = {"uri": AAC_INIT, "codec": "mp4a.40.2", "channels": channels}
        self._write_index()

    def add_segment(self, seg: Segment) -> PlaylistEntry:
        """Store a closed segment (and its audio) and index it; return its playlist entry."""
        name = segment_name(seg.index)
        self._write_atomic(name, seg.data)
        audio_uri = None
        if seg.audio:
            audio_uri = audio_segment_name(seg.index)
            self._write_atomic(audio_uri, seg.audio)
        aac_uri = None
        if seg.aac:
            aac_uri = aac_segment_name(seg.index)
            self._write_atomic(aac_uri, seg.aac)
        record = {
            "index": seg.index,
            "uri": name,
            "init": init_name(seg.generation),
            "generation": seg.generation,
            "start": round(seg.start, 6),
            "duration": round(seg.duration, 6),
            "discontinuity": seg.discontinuity,
            "wallclock": time.time(),
            "bytes": len(seg.data),
            "audio_uri": audio_uri,
            "aac_uri": aac_uri,
        }
        self.index["segments"].append(record)
        entry = entries_from_index({"segments": [record]})[0]
        self.entries.append(entry)
        self.aac_entries += entries_from_index({"segments": [record]}, audio=True)
        self._write_index()
        return entry

    def finish(self) -> None:
        """Mark the show ended (idempotent)."""
        if not self.ended:
            self.index["ended_at"] = time.time()
            self._write_index()

    def _write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.dir / (name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.dir / name)

    def _write_index(self) -> None:
        tmp = self.dir / "index.json.tmp"
        tmp.write_text(json.dumps(self.index, indent=1))
        os.replace(tmp, self.dir / "index.json")
