"""Replay of past shows: the recording, its chapters, its events, product clips.

==========================================================  ================================
``GET    /api/rooms/{room}/shows``                          the room's shows, newest first
``GET    /api/rooms/{room}/shows/{show}``                   chapters, duration, segments
``GET    /api/rooms/{room}/shows/{show}/events?from=&to=``  a window of events (media s)
``GET    /api/rooms/{room}/shows/{show}/clips/{p}/<n>.mp4``  the n-th explanation of p
``POST   /api/rooms/{room}/shows/{show}/views``             count one replay view
``PUT    /api/rooms/{room}/shows/{show}/visibility``        host: hide replay / chapters
``DELETE /api/rooms/{room}/shows/{show}``                   host: delete recording and log
==========================================================  ================================

One timeline joins the parts: the recording's segments map media time to server time
(``streamer.timeline``), the show's event log (``chat.show_log``) is in server time,
and the pure ``chat.replay`` reads chapters and the state at a moment from it. The
recording plays from ``/hls/{room}/{show}/`` (``streamer.playback``). Disk reads and
clip cuts run in worker threads. A hidden replay (or chapter) is not listed and its
clips are 404, except to the room's host.

The show log follows the recording: :func:`follow_shows` is the streamer's ``on_show``
hook, so each recording has the log of the same span.
"""

from __future__ import annotations

import asyncio
import math
import re
import shutil
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from livecart.chat import replay
from livecart.chat.errors import CommandError
from livecart.chat.show_log import ShowLog
from livecart.http_contract import Operation, PathParam, Reply
from livecart.limits import MAX_CLIP_S, MAX_REPLAY_WINDOW_S
from livecart.streamer.clips import cut
from livecart.streamer.recording import INDEX_FILE, read_index, show_dir
from livecart.streamer.timeline import Timeline
from livecart.web import schemas as s
from livecart.web.api import ROOM, body, host_actor, refusals, room_id
from livecart.web.auth import bearer, is_host
from livecart.web.keys import ADMIN_TOKEN, CONFIG, HUB

SHOW_LOG = web.AppKey("show_log", ShowLog)
INDEX_CACHE = 32
"""Ended shows whose index and timeline a process keeps parsed."""

CLIP_NAME = re.compile(r"[0-9]{1,6}\.mp4")
PRODUCT_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")
SHOW = {**ROOM, "show": PathParam("a recording id", r"^[A-Za-z0-9_-]{1,64}$")}
CLIP = {
    **SHOW,
    "product": PathParam("a product id", r"^[A-Za-z0-9_-]{1,40}$"),
    "clip": PathParam("<n>.mp4: the product's n-th chapter, from 0", r"^[0-9]{1,6}\.mp4$"),
}
_MISS = Reply(404, "no such room, show or chapter (or it is hidden)", s.Error)
SHOWS = Operation(
    "replayShows", "GET", "/api/rooms/{room}/shows", "The room's shows with replay links",
    "replay", (Reply(200, "the shows, newest first", s.ReplayShows), *refusals(404)),
    params=ROOM,
)  # fmt: skip
SHOW_DETAIL = Operation(
    "replayShow", "GET", "/api/rooms/{room}/shows/{show}", "One show: chapters, segments",
    "replay", (Reply(200, "the show", s.ReplayDetail), _MISS, *refusals()), params=SHOW,
)  # fmt: skip
EVENTS = Operation(
    "replayEvents", "GET", "/api/rooms/{room}/shows/{show}/events",
    "A window of the show's events by media time", "replay",
    (Reply(200, "the state at from and the events up to to", s.ReplayEvents),
     Reply(400, "bad_args: from/to are not numbers, or the window is over 600 s", s.Error),
     _MISS, *refusals()),
    params=SHOW,
    description="Query: from and to, seconds of media time (to - from <= 600).",
)  # fmt: skip
CLIP_OP = Operation(
    "replayClip", "GET", "/api/rooms/{room}/shows/{show}/clips/{product}/{clip}",
    "An MP4 of one chapter, cut at keyframes by stream copy", "replay",
    (Reply(200, "the clip", None, media="video/mp4"), _MISS, *refusals()), params=CLIP,
)  # fmt: skip
VIEWS = Operation(
    "replayView", "POST", "/api/rooms/{room}/shows/{show}/views", "Count one replay view",
    "replay", (Reply(200, "the views so far", s.ReplayViews), _MISS, *refusals()),
    params=SHOW, body_required=False,
)  # fmt: skip
VISIBILITY = Operation(
    "replayVisibility", "PUT", "/api/rooms/{room}/shows/{show}/visibility",
    "Hide the replay or some of its chapters", "host",
    (Reply(200, "saved", s.ReplayVisibility), *refusals(400, 401, 404)),
    params=SHOW, body=s.ReplayVisibility, security=("host", "admin"),
)  # fmt: skip
DELETE = Operation(
    "deleteShow", "DELETE", "/api/rooms/{room}/shows/{show}",
    "Delete a show's recording, clips and event log", "host",
    (Reply(200, "deleted (false: there was nothing)", s.ShowDeleted), *refusals(401, 404, 409)),
    params=SHOW, security=("host", "admin"),
)  # fmt: skip


class _Shows:
    """Parsed indexes of ended shows (an LRU), so seeks do not re-read the index."""

    def __init__(self) -> None:
        self._cache: OrderedDict[Path, tuple[dict[str, Any], Timeline]] = OrderedDict()

    async def get(self, folder: Path) -> tuple[dict[str, Any], Timeline] | None:
        hit = self._cache.get(folder)
        if hit is not None:
            self._cache.move_to_end(folder)
            return hit
        index = await asyncio.to_thread(read_index, folder / INDEX_FILE)
        if index is None:
            return None
        entry = (index, Timeline(index["segments"]))
        if index.get("ended_at") is not None:
            self._cache[folder] = entry
            while len(self._cache) > INDEX_CACHE:
                self._cache.popitem(last=False)
        return entry

    def forget(self, folder: Path) -> None:
        self._cache.pop(folder, None)


SHOWS_CACHE = web.AppKey("replay_shows", _Shows)


def _folder(request: web.Request) -> Path:
    try:
        return show_dir(request.app[CONFIG].data_dir, room_id(request), request.match_info["show"])
    except ValueError as exc:
        raise CommandError("not_found", "no such show") from exc


async def _is_host(request: web.Request) -> bool:
    token = bearer(request.headers.get("Authorization"))
    if not token:
        return False
    return await is_host(request.app[HUB].store, room_id(request), token, request.app[ADMIN_TOKEN])


async def _show(request: web.Request) -> tuple[dict[str, Any], Timeline, dict[str, Any]]:
    """The show's index, timeline and log info; ``not_found`` if missing or hidden."""
    folder = _folder(request)
    found = await request.app[SHOWS_CACHE].get(folder)
    if found is None:
        raise CommandError("not_found", "no such show")
    info = await request.app[SHOW_LOG].info(room_id(request), request.match_info["show"])
    if info["hidden"] and not await _is_host(request):
        raise CommandError("not_found", "no such show")
    return found[0], found[1], info


def _chapters(
    room: str, show: str, state_log: list[dict[str, Any]], timeline: Timeline,
    hidden: set[str], names: dict[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    out = []
    for ch in replay.chapters(state_log):
        at = timeline.media_time(ch.start_ms / 1000)
        if at is None:
            continue
        end_media = timeline.media_time(ch.end_ms / 1000) if ch.end_ms is not None else None
        end = end_media if end_media is not None else timeline.end
        if end - at <= 0:
            continue  # pinned after the recording ended
        product = names.get(ch.product_id) or {}
        out.append(
            {
                "product_id": ch.product_id,
                "n": ch.n,
                "name": str(product.get("name", ch.product_id)),
                "at": math.ceil(at * 1000) / 1000,  # at or just after the pin
                "end": round(end, 3),
                "server_time": ch.start_ms / 1000,
                "clip": f"/api/rooms/{room}/shows/{show}/clips/{ch.product_id}/{ch.n}.mp4",
                "hidden": ch.key in hidden,
            }
        )
    return out


async def shows(request: web.Request) -> web.Response:
    room = room_id(request)
    root = request.app[CONFIG].data_dir / "media" / room
    host = await _is_host(request)
    listing = await asyncio.to_thread(_list, root)
    log = request.app[SHOW_LOG]
    out = []
    for name, index in listing:
        info = await log.info(room, name)
        if info["hidden"] and not host:
            continue
        out.append(
            {
                "show": name,
                "started_at": index.get("started_at"),
                "ended_at": index.get("ended_at"),
                "duration": round(Timeline(index["segments"]).duration, 3)
                or round(sum(float(x["duration"]) for x in index["segments"]), 3),
                "replay": f"/replay/{room}/{name}",
                "views": info["views"],
                "hidden": info["hidden"],
            }
        )
    return web.json_response({"room": room, "shows": out}, headers={"Cache-Control": "no-cache"})


def _list(root: Path) -> list[tuple[str, dict[str, Any]]]:
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir(), reverse=True)[:100]:
        index = read_index(folder / INDEX_FILE)
        if index is not None and index.get("segments"):
            found.append((folder.name, index))
    return found


async def show_detail(request: web.Request) -> web.Response:
    room, show = room_id(request), request.match_info["show"]
    index, timeline, info = await _show(request)
    state_log = await request.app[SHOW_LOG].state_log(room, show)
    host = await _is_host(request)
    last = replay.state_at(state_log, math.inf)
    hidden = set(info["hidden_chapters"])
    chapters = _chapters(room, show, state_log, timeline, hidden, last["products"])
    if not host:
        chapters = [c for c in chapters if not c["hidden"]]
    segments = [
        [round(float(x["start"]), 3), round(float(x["duration"]), 3), x["uri"], x["init"],
         x.get("audio_uri")]
        for x in index["segments"]
    ]  # fmt: skip
    detail = {
        "room": room,
        "show": show,
        "started_at": index.get("started_at"),
        "ended_at": index.get("ended_at"),
        "first": round(timeline.first, 3),
        "duration": round(timeline.duration, 3),
        "playlist": f"/hls/{room}/{show}/index.m3u8",
        "base": f"/hls/{room}/{show}/",
        "inits": index.get("inits") or {},
        "audio": (index.get("audio") or {}).get("uri"),
        "segments": segments,
        "chapters": chapters,
        "products": last["products"],
        "lineup": last["lineup"] or sorted(last["products"]),
        "views": info["views"],
        "hidden": info["hidden"],
    }
    return web.json_response(detail, headers={"Cache-Control": "no-cache"})


def _number(request: web.Request, name: str) -> float:
    raw = request.query.get(name, "")
    try:
        value = float(raw)
    except ValueError:
        raise CommandError("bad_args", f"{name}: must be a number of seconds") from None
    if not math.isfinite(value):
        raise CommandError("bad_args", f"{name}: must be a number of seconds")
    return value


async def events(request: web.Request) -> web.Response:
    room, show = room_id(request), request.match_info["show"]
    start, stop = _number(request, "from"), _number(request, "to")
    if stop < start or stop - start > MAX_REPLAY_WINDOW_S:
        raise CommandError("bad_args", f"to: must be from..from+{MAX_REPLAY_WINDOW_S}")
    _index, timeline, _info = await _show(request)
    log = request.app[SHOW_LOG]
    state_log = await log.state_log(room, show)
    lo_server, hi_server = timeline.server_time(start), timeline.server_time(stop)
    if lo_server is None or hi_server is None:
        return web.json_response({"from": start, "to": stop, "state": {}, "events": []})
    lo_ms, hi_ms = lo_server * 1000, hi_server * 1000
    if start <= timeline.first:
        lo_ms = 0.0  # what came before the first frame shows with it
    if stop >= timeline.end:
        hi_ms = math.inf
    state = replay.state_at(state_log, lo_ms if lo_ms else lo_server * 1000)
    chat = await log.chat(room, show, lo_ms, hi_ms if hi_ms != math.inf else 1e15)
    visible = replay.visible_chat(chat, replay.deleted_ids(state_log), lo_ms, hi_ms)
    in_window = [
        r for r in state_log
        if r.get("type") not in ("snapshot", "chat_deleted") and lo_ms <= float(r["ts"]) < hi_ms
    ]  # fmt: skip
    # a stock record carries the seq of the last event before it: it sorts after that
    merged = sorted(
        [*in_window, *visible], key=lambda r: (int(r.get("seq", 0)), r.get("type") == "stock")
    )
    for record in merged:
        at = timeline.media_time(float(record["ts"]) / 1000)
        record["at"] = round(at if at is not None else start, 3)
    window = {"from": start, "to": stop, "state": state, "events": merged}
    return web.json_response(window, headers={"Cache-Control": "no-cache"})


async def clip(request: web.Request) -> web.StreamResponse:
    room, show = room_id(request), request.match_info["show"]
    product, name = request.match_info["product"], request.match_info["clip"]
    if not CLIP_NAME.fullmatch(name) or not PRODUCT_NAME.fullmatch(product):
        raise CommandError("not_found", "no such chapter")
    n = int(name.removesuffix(".mp4"))
    index, timeline, info = await _show(request)
    state_log = await request.app[SHOW_LOG].state_log(room, show)
    key = f"{product}:{n}"
    if key in info["hidden_chapters"] and not await _is_host(request):
        raise CommandError("not_found", "no such chapter")
    found = next((c for c in replay.chapters(state_log) if c.key == key), None)
    if found is None:
        raise CommandError("not_found", "no such chapter")
    start = timeline.media_time(found.start_ms / 1000)
    end = timeline.media_time(found.end_ms / 1000) if found.end_ms is not None else timeline.end
    if start is None or end is None:
        raise CommandError("not_found", "no such chapter")
    end = min(end, start + MAX_CLIP_S)
    name = f"{product}-{n}"
    if found.end_ms is None and index.get("ended_at") is None:
        name += f"-{round(end * 1000)}"  # still growing: this cut is cached as what it is
    made = await asyncio.to_thread(cut, _folder(request), index["segments"], start, end, name)
    if made is None:
        raise CommandError("not_found", "no such chapter")
    return web.FileResponse(
        made.path,
        headers={
            "Content-Type": "video/mp4",
            "Cache-Control": "public, max-age=3600",
            "Content-Disposition": f'inline; filename="{room}-{product}-{n}.mp4"',
        },
    )


async def views(request: web.Request) -> web.Response:
    room, show = room_id(request), request.match_info["show"]
    await _show(request)
    count = await request.app[SHOW_LOG].count_view(room, show)
    return web.json_response({"views": count})


async def visibility(request: web.Request) -> web.Response:
    await host_actor(request)
    value, _ = await body(request, VISIBILITY)
    assert isinstance(value, s.ReplayVisibility)
    folder = _folder(request)
    if await request.app[SHOWS_CACHE].get(folder) is None:
        raise CommandError("not_found", "no such show")
    await request.app[SHOW_LOG].set_hidden(
        room_id(request), request.match_info["show"], value.hidden, value.hidden_chapters
    )
    return web.json_response(
        {"hidden": value.hidden, "hidden_chapters": sorted(set(value.hidden_chapters))}
    )


async def delete(request: web.Request) -> web.Response:
    await host_actor(request)
    room, show = room_id(request), request.match_info["show"]
    folder = _folder(request)
    found = await request.app[SHOWS_CACHE].get(folder)
    if found is not None and found[0].get("ended_at") is None:
        raise CommandError("exists", "the show is still being recorded")
    request.app[SHOWS_CACHE].forget(folder)
    existed = await asyncio.to_thread(folder.is_dir)
    if existed:
        await asyncio.to_thread(shutil.rmtree, folder, True)
    await request.app[SHOW_LOG].delete(room, show)
    return web.json_response({"deleted": existed})


async def replay_views(app: web.Application, room: str) -> int:
    """Replay views of every recorded show of ``room`` (for ``/figures``)."""
    names = await asyncio.to_thread(_names, app[CONFIG].data_dir / "media" / room)
    total = 0
    for name in names:
        total += (await app[SHOW_LOG].info(room, name))["views"]
    return total


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir())[-100:] if root.is_dir() else []


async def follow_show(app: web.Application, room: str, show: str, started: bool) -> None:
    """The streamer's ``on_show``: log the room's events while ``show`` is recorded."""
    log = app[SHOW_LOG]
    if not started:
        await log.end(room, show)
        return
    hub = app[HUB]
    live_room = await hub.room(room)
    state = live_room.state
    stock = live_room.live.get("stock") or {}
    sales = {  # the stock label as viewers see it now (checkout's live value)
        pid: {**sale, "units_left": stock[pid]} if pid in stock else dict(sale)
        for pid, sale in state.sales.items()
    }
    await log.begin(
        room,
        show,
        {
            "ts": int(time.time() * 1000),
            "pinned": state.pinned,
            "lineup": list(state.lineup),
            "products": dict(state.products),
            "sales": sales,
        },
    )


ROUTES: tuple[tuple[Operation, Handler], ...] = (
    (SHOWS, shows),
    (SHOW_DETAIL, show_detail),
    (EVENTS, events),
    (CLIP_OP, clip),
    (VIEWS, views),
    (VISIBILITY, visibility),
    (DELETE, delete),
)


def setup_replay_api(app: web.Application) -> None:
    app[SHOWS_CACHE] = _Shows()
    for op, handler in ROUTES:
        app.router.add_route(op.method, op.path, handler)
