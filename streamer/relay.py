"""The media relay between processes: message format and the edge's sync rules.

Pure (no I/O, no clock). The process holding a room's WHIP publisher (the
*origin*) encodes every packager output once into a relay message and publishes
it on the room's media channel (:func:`livecart.keyspace.media_channel`) while
another process has video viewers of the room. Each receiving process (an
*edge*) decodes it back into the very objects the origin's fan-out got
(:class:`~streamer.packager.InitSegment`, :class:`~streamer.packager.Fragment`,
:class:`~streamer.opus.AudioFragment`) and feeds its own
:class:`~streamer.fanout.VideoFanout`, so the WebSocket messages it writes are
byte-identical to the origin's.

Messages (big-endian; the first byte is the type)::

    1 video fragment  B type, B flags, I generation, I sequence, Q decode_time,
                      I duration, d produced_at (float seconds), then moof+mdat
    2 audio fragment  B type, B flags, I sequence, Q decode_time, I duration,
                      d produced_at, then moof+mdat
    3 init            B type, B flags, I json length, JSON {generation, codec, width,
                      height, stream, show, audio}, video init segment, audio init
    4 end             B type, B flags, then the stream id (UTF-8)
    5 hls             B type, B flags, I json length, JSON {show, header, records,
                      files: [[name, size]...]}, then the files back to back
                      (on the HLS channel, see :class:`EdgeHls`)

``flags`` bit 0: keyframe (video); bit 1: *replay* -- part of a sync bundle
(an init followed by the current GOP) that the origin sends when an edge asks
for it. The float ``produced_at`` travels as is, so the edge's 16-byte fan-out
header (microseconds) is computed from the same double as the origin's.
"""

from __future__ import annotations

import json
import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from livecart.streamer.hls import LIVE_WINDOW, PlaylistEntry
from livecart.streamer.opus import AudioFragment
from livecart.streamer.packager import Fragment, InitSegment
from livecart.streamer.recording import entries_from_index, render_playlist

T_VIDEO = 1
T_AUDIO = 2
T_INIT = 3
T_END = 4
T_SEGMENT = 5

F_KEYFRAME = 1
F_REPLAY = 2

_VIDEO = struct.Struct(">BBIIQId")
_AUDIO = struct.Struct(">BBIQId")
_HEAD = struct.Struct(">BBI")


@dataclass(frozen=True, slots=True)
class RelayInit:
    """A show's (or a generation's) start as relayed: what ``publish_init`` needs."""

    init: InitSegment
    stream: str
    show: str
    audio_init: bytes | None
    replay: bool = False


@dataclass(frozen=True, slots=True)
class RelayEnd:
    """The origin's show ended."""

    stream: str


@dataclass(frozen=True, slots=True)
class RelaySegment:
    """HLS state of the origin's show: its header, segment records, and files.

    Live: one record (a segment just listed) and its files, or no record (the
    header changed). Sync (``sync``): every record of the show and the files of
    the recent ones, sent when an edge starts serving the room's HLS.
    """

    show: str
    header: dict[str, Any]
    records: list[dict[str, Any]]
    files: dict[str, bytes]
    sync: bool = False


@dataclass(frozen=True, slots=True)
class Replayed:
    """A media message that belongs to a sync bundle."""

    item: Fragment | AudioFragment


RelayItem = Fragment | AudioFragment | RelayInit | RelayEnd | RelaySegment | Replayed


def encode_fragment(frag: Fragment, *, replay: bool = False) -> bytes:
    """One video fragment as a relay message."""
    flags = (F_KEYFRAME if frag.keyframe else 0) | (F_REPLAY if replay else 0)
    head = _VIDEO.pack(
        T_VIDEO,
        flags,
        frag.generation,
        frag.sequence,
        frag.decode_time,
        frag.duration,
        frag.produced_at,
    )
    return head + frag.data


def encode_audio(frag: AudioFragment, *, replay: bool = False) -> bytes:
    """One audio fragment as a relay message."""
    flags = F_REPLAY if replay else 0
    head = _AUDIO.pack(
        T_AUDIO, flags, frag.sequence, frag.decode_time, frag.duration, frag.produced_at
    )
    return head + frag.data


def _with_json(kind: int, flags: int, meta: dict[str, Any], *parts: bytes) -> bytes:
    blob = json.dumps(meta, separators=(",", ":")).encode()
    return b"".join((_HEAD.pack(kind, flags, len(blob)), blob, *parts))


def encode_init(message: RelayInit) -> bytes:
    """An init announcement (new show or generation, or the head of a sync bundle)."""
    init = message.init
    audio = message.audio_init
    meta = {
        "generation": init.generation,
        "codec": init.codec,
        "width": init.width,
        "height": init.height,
        "stream": message.stream,
        "show": message.show,
        "video": len(init.data),
        "audio": len(audio) if audio is not None else None,
    }
    flags = F_REPLAY if message.replay else 0
    return _with_json(T_INIT, flags, meta, init.data, audio or b"")


def encode_end(stream: str) -> bytes:
    """The show ``stream`` ended."""
    return bytes((T_END, 0)) + stream.encode()


def encode_segment(segment: RelaySegment) -> bytes:
    """A closed HLS segment with its files."""
    names = list(segment.files)
    meta = {
        "show": segment.show,
        "header": segment.header,
        "records": segment.records,
        "files": [[name, len(segment.files[name])] for name in names],
    }
    flags = F_REPLAY if segment.sync else 0
    return _with_json(T_SEGMENT, flags, meta, *(segment.files[name] for name in names))


def decode(message: bytes) -> RelayItem:
    """Decode one relay message; raises ValueError when it is malformed."""
    if len(message) < 2:
        raise ValueError("short relay message")
    kind, flags = message[0], message[1]
    try:
        if kind == T_VIDEO:
            _, _, gen, seq, dts, dur, produced = _VIDEO.unpack_from(message)
            frag = Fragment(
                gen, seq, bool(flags & F_KEYFRAME), dts, dur, produced, message[_VIDEO.size :]
            )
            return Replayed(frag) if flags & F_REPLAY else frag
        if kind == T_AUDIO:
            _, _, seq, dts, dur, produced = _AUDIO.unpack_from(message)
            afrag = AudioFragment(seq, dts, dur, produced, message[_AUDIO.size :])
            return Replayed(afrag) if flags & F_REPLAY else afrag
        if kind == T_END:
            return RelayEnd(message[2:].decode())
        if kind in (T_INIT, T_SEGMENT):
            _, _, size = _HEAD.unpack_from(message)
            start = _HEAD.size
            meta = json.loads(message[start : start + size])
            body = memoryview(message)[start + size :]
            if kind == T_INIT:
                video = int(meta["video"])
                audio = meta["audio"]
                init = InitSegment(
                    int(meta["generation"]),
                    str(meta["codec"]),
                    int(meta["width"]),
                    int(meta["height"]),
                    bytes(body[:video]),
                )
                audio_init = bytes(body[video : video + int(audio)]) if audio is not None else None
                return RelayInit(
                    init, str(meta["stream"]), str(meta["show"]), audio_init, bool(flags & F_REPLAY)
                )
            files: dict[str, bytes] = {}
            offset = 0
            for name, length in meta["files"]:
                files[str(name)] = bytes(body[offset : offset + int(length)])
                offset += int(length)
            records = [dict(r) for r in meta["records"]]
            sync = bool(flags & F_REPLAY)
            return RelaySegment(str(meta["show"]), dict(meta["header"]), records, files, sync)
    except (struct.error, KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"malformed relay message: {exc}") from exc
    raise ValueError(f"unknown relay message type {kind}")


@dataclass(slots=True)
class EdgeSync:
    """Which relayed messages an edge passes to its fan-out.

    The origin relays live messages to every subscribed edge; an edge that just
    subscribed (or missed the start of a show) is *unsynced*: it drops live media
    and asks for a sync bundle -- the current init, then the GOP so far, every
    message flagged *replay*. Edges already synced on that stream and generation
    ignore a bundle meant for another edge. A live init (new show, new
    generation) syncs everyone.
    """

    synced: tuple[str, int] | None = None
    """(stream, generation) the fan-out is on, or None."""
    taking_replay: bool = False

    def accept(self, item: RelayItem) -> bool:
        """True when ``item`` goes to the fan-out (updates the state)."""
        if isinstance(item, RelayInit):
            key = (item.stream, item.init.generation)
            if item.replay and key == self.synced:
                self.taking_replay = False
                return False
            self.synced = key
            self.taking_replay = item.replay
            return True
        if isinstance(item, Replayed):
            return self.taking_replay
        self.taking_replay = False
        if isinstance(item, RelayEnd):
            if self.synced is None or self.synced[0] != item.stream:
                return False  # another origin's end (a replaced publisher): not ours
            self.synced = None
            return True
        if isinstance(item, RelaySegment):
            return True
        return self.synced is not None


KEEP_SEGMENTS = 2 * LIVE_WINDOW
"""Segments whose files an edge keeps in memory (a player may still fetch one that just
slid out of the live window); init segments are kept for the whole show."""


@dataclass(slots=True)
class RemoteShow:
    """An edge's copy of the origin's live show: the same index, so the same playlists."""

    show: str
    index: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    entries: list[PlaylistEntry] = field(default_factory=list)
    aac_entries: list[PlaylistEntry] = field(default_factory=list)
    recent: deque[list[str]] = field(default_factory=deque)

    @classmethod
    def from_relay(cls, seg: RelaySegment) -> RemoteShow:
        """An edge's copy built from the origin's relayed segment message."""
        show = cls(seg.show, {**seg.header, "segments": []})
        show.files.update((n, d) for n, d in seg.files.items() if not _is_segment(n))
        for record in seg.records:
            show.add(record, seg.files)
        return show

    @property
    def last_index(self) -> int:
        """The index of the last segment held, -1 when none."""
        segments = self.index["segments"]
        return int(segments[-1]["index"]) if segments else -1

    def add(self, record: dict[str, Any], files: dict[str, bytes]) -> None:
        """List one segment, keeping its files (and dropping the oldest kept ones)."""
        self.index["segments"].append(record)
        self.entries += entries_from_index({"segments": [record]})
        self.aac_entries += entries_from_index({"segments": [record]}, audio=True)
        names = [n for n in (record["uri"], record["audio_uri"], record["aac_uri"]) if n]
        kept = [str(n) for n in names if str(n) in files]
        for name in kept:
            self.files[name] = files[name]
        for name, data in files.items():
            if not _is_segment(name):
                self.files.setdefault(name, data)
        self.recent.append(kept)
        while len(self.recent) > KEEP_SEGMENTS:
            for name in self.recent.popleft():
                self.files.pop(name, None)

    def playlist(self, name: str) -> str | None:
        """The live playlist ``index``/``video``/``audio``, as the origin renders it."""
        return render_playlist(
            self.index,
            name,
            prefix=self.show + "/",
            window=LIVE_WINDOW,
            video=self.entries,
            aac=self.aac_entries,
        )


def _is_segment(name: str) -> bool:
    return name.endswith(".m4s")


@dataclass(slots=True)
class EdgeHls:
    """What an edge knows of a room's HLS: the origin's current show, if in step."""

    current: RemoteShow | None = None
    ended: bool = False

    @property
    def in_step(self) -> bool:
        """True while the edge holds the origin's current show."""
        return self.current is not None

    def accept(self, seg: RelaySegment) -> None:
        """Apply one relayed HLS message (live segment, header change or sync)."""
        current = self.current
        if seg.sync:
            if (
                current is None
                or current.show != seg.show
                or current.last_index < len(seg.records) - 1
            ):
                self.current = RemoteShow.from_relay(seg)
            self.ended = False
            return
        if not seg.records:
            if current is not None and current.show == seg.show:
                current.index.update(seg.header)
            return
        record = seg.records[0]
        if current is not None and current.show == seg.show:
            if int(record["index"]) == current.last_index + 1:
                current.index.update(seg.header)
                current.add(record, seg.files)
            elif int(record["index"]) > current.last_index + 1:
                self.current = None  # a gap: wait for a sync
        elif int(record["index"]) == 0:
            self.current = RemoteShow.from_relay(seg)
            self.ended = False
        else:
            self.current = None

    def end(self, show: str) -> None:
        """The origin's show ``show`` ended: nothing live here any more."""
        if self.current is not None and self.current.show == show:
            self.current = None
            self.ended = True

    def file(self, show: str, name: str) -> bytes | None:
        """A kept file of the current show."""
        current = self.current
        if current is None or current.show != show:
            return None
        return current.files.get(name)
