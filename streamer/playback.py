"""Viewer endpoints: low-latency WebSocket video, HLS, recordings.

==================================================  ===================================
``GET /ws/video/{room}``                            WebSocket, framing in :mod:`streamer.fanout`
``GET /hls/{room}/index.m3u8``                      live master playlist, 404 if offline
``GET /hls/{room}/video.m3u8``, ``audio.m3u8``      live media playlists (sliding window)
``GET /hls/{room}/{show}/index.m3u8``               one show's master playlist
``GET /hls/{room}/{show}/video.m3u8``, ``audio...``  the whole show (``ENDLIST`` once ended)
``GET /hls/{room}/{show}/init-N.mp4``               init segment (immutable)
``GET /hls/{room}/{show}/seg-NNNNNN.m4s``           media segment (immutable)
``GET /hls/{room}/{show}/aac-init.mp4``, ``aac-NNNNNN.m4s``  AAC rendition (immutable)
``GET /hls/{room}/{show}/audio-init.mp4``, ``aseg-NNNNNN.m4s``  recorded Opus (immutable)
``GET /recordings/{room}``                          JSON list of the room's shows, newest first
==================================================  ===================================

Disk reads (show indexes, the recordings listing, file checks) run in a worker
thread (``asyncio.to_thread``), never on the event loop; aiohttp's ``FileResponse``
sends files the same way.

Cache headers are chosen for a CDN in front: the live playlist may be cached
for 1 s (half the segment target), segments and init segments never change
(``immutable``, one year), a finished show's playlist for a day, and 404s for
1 s so a CDN does not pin an early miss.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import WSMsgType, web

from livecart import connections
from livecart.http_contract import TEXT, Operation, PathParam, Reply
from livecart.streamer.recording import (
    INDEX_FILE,
    NAME_PATTERN,
    read_index,
    render_playlist,
    show_dir,
    valid_name,
)
from livecart.streamer.service import StreamerService

M3U8 = "application/vnd.apple.mpegurl"
LIVE_PLAYLIST_CACHE = "public, max-age=1"
IMMUTABLE = "public, max-age=31536000, immutable"
ENDED_PLAYLIST_CACHE = "public, max-age=86400"
MISS_CACHE = "public, max-age=1"
MAX_RECORDINGS_LISTED = 100


_MEDIA_FILE = re.compile(
    r"^(init-\d{1,6}\.mp4|(seg|aseg|aac)-\d{6}\.m4s|audio-init\.mp4|aac-init\.mp4)$"
)
_PLAYLISTS = {"index.m3u8": "index", "video.m3u8": "video", "audio.m3u8": "audio"}


class Show(msgspec.Struct):
    """One recorded (or live) show in ``GET /recordings/{room}``."""

    show: str
    started_at: float | None
    ended_at: float | None
    codec: str | None
    segments: int
    duration: float
    playlist: str


class Recordings(msgspec.Struct):
    """``GET /recordings/{room}``'s reply: the room's recorded (or live) shows."""

    room: str
    shows: list[Show]


RECORDINGS = Operation(
    "recordings", "GET", "/recordings/{room}", "A room's shows, newest first", "playback",
    (Reply(200, "the shows and their playlists", Recordings),
     Reply(404, "not a valid room name", None, TEXT)),
    params={"room": PathParam("the room id", NAME_PATTERN)},
)  # fmt: skip
OPERATIONS = (RECORDINGS,)
# Not in the OpenAPI document: HLS (RFC 8216 playlists and segments, docs/streaming.md)
# and the video WebSocket (framing in streamer.fanout).
UNDOCUMENTED = ("/hls/", "/ws/video/")


def list_shows(root: Path, room: str) -> list[dict[str, object]]:
    """The recordings listing of one room's folder, newest first (blocking: reads files)."""
    shows: list[dict[str, object]] = []
    if not root.is_dir():
        return shows
    for folder in sorted(root.iterdir(), reverse=True)[:MAX_RECORDINGS_LISTED]:
        index = read_index(folder / INDEX_FILE)
        if index is None:
            continue
        segments = index.get("segments", [])
        shows.append(
            {
                "show": folder.name,
                "started_at": index.get("started_at"),
                "ended_at": index.get("ended_at"),
                "codec": index.get("codec"),
                "segments": len(segments),
                "duration": round(sum(float(s["duration"]) for s in segments), 3),
                "playlist": f"/hls/{room}/{folder.name}/index.m3u8",
            }
        )
    return shows


def _miss(text: str = "not found\n") -> web.Response:
    return web.Response(status=404, text=text, headers={"Cache-Control": MISS_CACHE})


class PlaybackHandlers:
    """aiohttp handlers bound to one :class:`StreamerService`."""

    def __init__(self, service: StreamerService) -> None:
        self.service = service
        self.sockets: dict[web.WebSocketResponse, asyncio.Transport] = {}

    async def video_ws(self, request: web.Request) -> web.StreamResponse:
        """Low-latency viewer: init message, init segment, GOP so far, then live. The
        connection gate (``Origin``, sockets per address) runs before the upgrade."""
        room = request.match_info["room"]
        if not valid_name(room):
            return _miss()
        with connections.gate(request.app).admit(request):
            return await self._video_ws(request, room)

    async def _video_ws(self, request: web.Request, room: str) -> web.StreamResponse:
        ws = connections.MaskedWebSocketResponse(compress=False, max_msg_size=4096)
        await ws.prepare(request)
        transport = request.transport
        if transport is None or self.service.closing:
            await ws.close()
            return ws
        channel = self.service.channel(room)
        offline = True
        cluster = self.service.cluster
        if cluster is not None and not channel.live and not channel.fanout.has_init:
            offline = not await cluster.live_elsewhere(room)
        viewer = channel.fanout.add(transport, offline=offline)
        self.sockets[ws] = transport
        channel.viewer_joined()
        try:
            await self.service.watch(room)
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.sockets.pop(ws, None)
            channel.fanout.remove(viewer)
            self.service.viewer_left(room)
        return ws

    async def close_sockets(self, app: web.Application) -> None:
        """on_shutdown: close viewer sockets with 1001 (going away).

        A viewer that does not take the close frame within a second (it stopped
        reading) has its connection aborted.
        """

        async def close(ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
            try:
                await asyncio.wait_for(ws.close(code=1001, message=b"server shutdown"), 1.0)
            except (TimeoutError, ConnectionError):
                transport.abort()

        sockets = list(self.sockets.items())
        await asyncio.gather(*(close(ws, t) for ws, t in sockets), return_exceptions=True)

    async def live_playlist(self, request: web.Request) -> web.Response:
        """A live playlist of the room's current show (master, video or audio)."""
        room = request.match_info["room"]
        name = _PLAYLISTS[request.match_info["playlist"]]
        if not valid_name(room):
            return _miss()
        channel = self.service.channels.get(room)
        text = channel.live_playlist(name) if channel is not None else None
        cluster = self.service.cluster
        if text is None and cluster is not None and (channel is None or not channel.live):
            edge = await cluster.hls_edge(room, self.service.channel(room))
            self.service.forget_channel_if_idle(room)
            current = edge.current if edge is not None else None
            text = current.playlist(name) if current is not None else None
        if text is None:
            return _miss("offline\n")
        return web.Response(
            text=text,
            content_type=M3U8,
            headers={"Cache-Control": LIVE_PLAYLIST_CACHE},
        )

    async def show_playlist(self, request: web.Request) -> web.Response:
        """The full playlist of one show (live or recorded)."""
        folder = self._show_dir(request)
        index = await asyncio.to_thread(read_index, folder / INDEX_FILE) if folder else None
        name = _PLAYLISTS[request.match_info["playlist"]]
        if index is None:
            index = self._relayed_index(request)
        text = render_playlist(index, name) if index is not None else None
        if index is None or text is None:
            return _miss()
        ended = index.get("ended_at") is not None
        cache = ENDED_PLAYLIST_CACHE if ended else LIVE_PLAYLIST_CACHE
        return web.Response(text=text, content_type=M3U8, headers={"Cache-Control": cache})

    async def media_file(self, request: web.Request) -> web.StreamResponse:
        """An init segment or media segment; immutable once written."""
        name = request.match_info["name"]
        folder = self._show_dir(request)
        if folder is None or not _MEDIA_FILE.match(name):
            return _miss()
        headers = {
            "Cache-Control": IMMUTABLE,
            "Content-Type": "video/mp4" if name.endswith(".mp4") else "video/iso.segment",
            "Access-Control-Allow-Origin": "*",
        }
        cluster = self.service.cluster
        if cluster is not None:
            data = cluster.hls_file(request.match_info["room"], request.match_info["show"], name)
            if data is not None:  # the live show of another process, relayed here
                return web.Response(body=data, headers=headers)
        path = folder / name
        if not await asyncio.to_thread(path.is_file):
            return _miss()
        return web.FileResponse(path, headers=headers)

    def _relayed_index(self, request: web.Request) -> dict[str, Any] | None:
        """The index of another process's live show, as relayed here (None if not)."""
        cluster = self.service.cluster
        edge = cluster.edges.get(request.match_info["room"]) if cluster is not None else None
        current = edge.hls.current if edge is not None else None
        if current is None or current.show != request.match_info["show"]:
            return None
        return current.index

    async def recordings(self, request: web.Request) -> web.Response:
        """JSON list of a room's shows with their playlist URLs, newest first."""
        room = request.match_info["room"]
        if not valid_name(room):
            return _miss()
        root = self.service.data_dir / "media" / room
        shows = await asyncio.to_thread(list_shows, root, room)
        return web.json_response(
            {"room": room, "shows": shows}, headers={"Cache-Control": "no-cache"}
        )

    def _show_dir(self, request: web.Request) -> Path | None:
        room = request.match_info["room"]
        show = request.match_info["show"]
        try:
            return show_dir(self.service.data_dir, room, show)
        except ValueError:
            return None

    def add_routes(self, app: web.Application) -> None:
        """Register the playback routes on ``app``."""
        connections.gate(app)  # the app's gate, or a default one
        app.router.add_get("/ws/video/{room}", self.video_ws)
        playlist = "{playlist:(?:index|video|audio)\\.m3u8}"
        app.router.add_get(f"/hls/{{room}}/{playlist}", self.live_playlist)
        app.router.add_get(f"/hls/{{room}}/{{show}}/{playlist}", self.show_playlist)
        app.router.add_get("/hls/{room}/{show}/{name}", self.media_file)
        app.router.add_route(RECORDINGS.method, RECORDINGS.path, self.recordings)
        app.on_shutdown.append(self.close_sockets)
