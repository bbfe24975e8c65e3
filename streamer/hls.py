"""HLS playlists (RFC 8216, version 7) over fMP4 segments.

Pure text building. Every show has a master playlist (``index.m3u8``) naming a
video media playlist (``video.m3u8``) and, when the host sent audio, an AAC
rendition (``audio.m3u8``). The same entries describe a live sliding window and
a finished recording (``ENDLIST``), so a recording replays with any HLS player.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LIVE_WINDOW = 6
"""Segments listed in a live playlist (~12 s at the 2 s keyframe cadence)."""
DEFAULT_BANDWIDTH = 2_000_000
"""``BANDWIDTH`` announced before the first segment gives a measure."""
AUDIO_GROUP = "audio"


@dataclass(frozen=True, slots=True)
class PlaylistEntry:
    """One segment as a playlist lists it; URIs are relative to the playlist."""

    index: int
    uri: str
    init_uri: str
    duration: float
    discontinuity: bool
    program_time: float | None = None
    """Server time (seconds since the epoch) of the segment's first frame, written as
    ``EXT-X-PROGRAM-DATE-TIME`` so a player can tell which server moment it shows."""


def program_date_time(seconds: float) -> str:
    """``seconds`` since the epoch as an ``EXT-X-PROGRAM-DATE-TIME`` value (ISO 8601,
    UTC, milliseconds)."""
    millis = round(seconds * 1000)
    days, rest = divmod(millis, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    year, month, day = _civil_from_days(days)
    return f"{year:04d}-{month:02d}-{day:02d}T{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Proleptic Gregorian date of a count of days since 1970-01-01 (H. Hinnant)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def media_playlist(
    entries: Sequence[PlaylistEntry],
    *,
    ended: bool,
    window: int | None = None,
    target: float = 2.0,
) -> str:
    """Render a media playlist of ``entries`` (all of them, or the last ``window``).

        ``EXT-X-MEDIA-SEQUENCE`` is the first listed segment's index and
        ``EXT-X-DISCONTINUITY-SEQUENCE`` counts the discontinuities that slid out of
        the window, so a client polling the live playlist stays in step. Each entry with
    a ``program_time`` gets an ``EXT-X-PROGRAM-DATE-TIME`` (the server time of its first
    frame), which is how an HLS viewer lines room events up with the picture. An
        ``EXT-X-MAP`` is written before the first segment and whenever the init
        segment changes; a change of init always comes with ``EXT-X-DISCONTINUITY``.
    """
    shown = list(entries[-window:] if window else entries)
    hidden = list(entries[: len(entries) - len(shown)])
    longest = max([target, *(e.duration for e in shown)])
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{math.ceil(longest)}",
        f"#EXT-X-MEDIA-SEQUENCE:{shown[0].index if shown else len(hidden)}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{sum(1 for e in hidden if e.discontinuity)}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    if ended and not hidden:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    current_map: str | None = None
    for entry in shown:
        if entry.discontinuity and current_map is not None:
            lines.append("#EXT-X-DISCONTINUITY")
        if entry.init_uri != current_map:
            if current_map is not None and not entry.discontinuity:
                lines.append("#EXT-X-DISCONTINUITY")
            lines.append(f'#EXT-X-MAP:URI="{entry.init_uri}"')
            current_map = entry.init_uri
        if entry.program_time is not None:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{program_date_time(entry.program_time)}")
        lines.append(f"#EXTINF:{entry.duration:.3f},")
        lines.append(entry.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def master_playlist(
    *,
    codecs: str,
    bandwidth: int,
    resolution: tuple[int, int] | None,
    audio: bool,
) -> str:
    """The master playlist: one variant (``video.m3u8``), with ``audio.m3u8`` as its
    default audio rendition when ``audio`` is set. ``codecs`` lists every codec
    the variant needs (e.g. ``"avc1.42e01f,mp4a.40.2"``)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    attrs = f'BANDWIDTH={max(1, bandwidth)},CODECS="{codecs}"'
    if resolution is not None:
        attrs += f",RESOLUTION={resolution[0]}x{resolution[1]}"
    if audio:
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{AUDIO_GROUP}",NAME="host",LANGUAGE="und",'
            'DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio.m3u8"'
        )
        attrs += f',AUDIO="{AUDIO_GROUP}"'
    lines.append(f"#EXT-X-STREAM-INF:{attrs}")
    lines.append("video.m3u8")
    return "\n".join(lines) + "\n"
