"""HLS media playlists (RFC 8216, version 7) over fMP4 segments.

Pure text building. The same entries describe a live sliding window
(``/hls/{room}/index.m3u8``) and a finished recording (``ENDLIST``), so a
recording replays with any HLS player.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LIVE_WINDOW = 6
"""Segments listed in a live playlist (~12 s at the 2 s keyframe cadence)."""


@dataclass(frozen=True, slots=True)
class PlaylistEntry:
    """One segment as a playlist lists it; URIs are relative to the playlist."""

    index: int
    uri: str
    init_uri: str
    duration: float
    discontinuity: bool


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
    the window, so a client polling the live playlist stays in step. An
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
        lines.append(f"#EXTINF:{entry.duration:.3f},")
        lines.append(entry.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
