"""One show on disk: init segments, fMP4 segments and ``index.json``.

Layout (``data_dir/media/<room>/<show id>/``)::

    init-1.mp4          init segment of generation 1 (one per resolution)
    seg-000000.m4s      segments, ~2 s each, starting with a keyframe
    audio-init.mp4      Opus init segment (when the publisher sent audio)
    aseg-000000.m4s     the audio received while seg-000000 was open
    index.json          the show's index, rewritten atomically after each segment

The same files back the live HLS playlist and the replay of the recording, so a
segment is written exactly once. Files are small (hundreds of KB every ~2 s) and
written synchronously from the event loop; the page cache absorbs them.

``index.json`` (version 1)::

    {"version": 1, "room": "...", "show": "...", "started_at": 1700000000.0,
     "ended_at": null | float, "codec": "avc1.42e01f",
     "inits": {"1": {"uri": "init-1.mp4", "codec": "...", "width": 640, "height": 480}},
     "audio": null | {"uri": "audio-init.mp4", "codec": "opus", "channels": 2},
     "segments": [{"index": 0, "uri": "seg-000000.m4s", "init": "init-1.mp4",
                   "generation": 1, "start": 0.0, "duration": 2.0,
                   "discontinuity": false, "wallclock": 1700000000.5,
                   "audio_uri": "aseg-000000.m4s" | null}]}
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from streamer.hls import PlaylistEntry
from streamer.packager import InitSegment
from streamer.segmenter import Segment

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


def init_name(generation: int) -> str:
    """File name of the init segment of ``generation``."""
    return f"init-{generation}.mp4"


def entries_from_index(index: dict[str, Any], prefix: str = "") -> list[PlaylistEntry]:
    """Playlist entries for a show index, URIs prefixed with ``prefix``."""
    return [
        PlaylistEntry(
            index=int(seg["index"]),
            uri=prefix + str(seg["uri"]),
            init_uri=prefix + str(seg["init"]),
            duration=float(seg["duration"]),
            discontinuity=bool(seg["discontinuity"]),
        )
        for seg in index["segments"]
    ]


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
            "segments": [],
        }
        self.entries: list[PlaylistEntry] = []
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

    def add_segment(self, seg: Segment) -> PlaylistEntry:
        """Store a closed segment (and its audio) and index it; return its playlist entry."""
        name = segment_name(seg.index)
        self._write_atomic(name, seg.data)
        audio_uri = None
        if seg.audio:
            audio_uri = audio_segment_name(seg.index)
            self._write_atomic(audio_uri, seg.audio)
        record = {
            "index": seg.index,
            "uri": name,
            "init": init_name(seg.generation),
            "generation": seg.generation,
            "start": round(seg.start, 6),
            "duration": round(seg.duration, 6),
            "discontinuity": seg.discontinuity,
            "wallclock": time.time(),
            "audio_uri": audio_uri,
        }
        self.index["segments"].append(record)
        entry = entries_from_index({"segments": [record]})[0]
        self.entries.append(entry)
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
