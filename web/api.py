"""The HTTP API: rooms for the admin, lineup and pinning for the host, read-only views.

Errors are JSON ``{"error": {"code", "message"}}`` with the codes of docs/protocol.md;
401 for a missing or wrong token, 503 with ``Retry-After`` when Redis is away. Host
operations run through ``Hub.execute``, the same path as the WebSocket commands.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from aiohttp import web

from livecart.chat import commands as c
from livecart.chat import identity
from livecart.chat.actor import Actor
from livecart.chat.errors import CommandError, ErrorCode, RoomNotFound
from livecart.checkout.errors import CheckoutError
from livecart.redis_client import REDIS_DOWN, pool_connections
from livecart.web.auth import bearer, is_admin, is_host
from livecart.web.keys import ADMIN_TOKEN, CONFIG, HUB, REDIS

ROOM_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
STATUS = {
    "bad_frame": 400,
    "bad_command": 400,
    "bad_args": 400,
    "text_empty": 400,
    "text_too_long": 400,
    "text_invalid": 400,
    "blocked_word": 400,
    "forbidden": 403,
    "not_found": 404,
    "rate_limited": 429,
    "unavailable": 503,
    "internal": 500,
    "unauthorized": 401,
}


def error(code: str, message: str, status: int | None = None) -> web.Response:
    status = status or STATUS.get(code, 409)
    headers = {"Retry-After": "1"} if status == 503 else None
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise CommandError(ErrorCode.BAD_FRAME, "body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise CommandError(ErrorCode.BAD_FRAME, "body must be a JSON object")
    return body


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except (CommandError, CheckoutError) as exc:
        return error(exc.code, exc.message)
    except RoomNotFound:
        return error("not_found", "no such room")
    except REDIS_DOWN:  # checkout's own Redis calls; the hub's store raises CommandError
        return error("unavailable", "datastore unreachable, retry")


async def create_room(request: web.Request) -> web.Response:
    if not is_admin(bearer(request.headers.get("Authorization")), request.app[ADMIN_TOKEN]):
        return error("unauthorized", "admin token required", 401)
    body = await _body(request)
    room_id = body.get("id") or secrets.token_hex(4)
    if not isinstance(room_id, str) or not ROOM_ID.match(room_id):
        raise CommandError(ErrorCode.BAD_ARGS, "id: lowercase letters, digits and '-', <= 40")
    title = c.text_field(body, "title", 1, 120)
    host = c.text_field(body, "host", 1, 60)
    rate = body.get("commission_rate", 0.1)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise CommandError(ErrorCode.BAD_ARGS, "commission_rate: a number from 0 to 1")
    token = "host_" + secrets.token_urlsafe(24)
    hub = request.app[HUB]
    created = await hub.store.create_room(
        room_id,
        title=title,
        host=host,
        host_token_hash=identity.hash_token(token),
        commission_rate=float(rate),
    )
    if not created:
        return error("exists", "a room with that id exists", 409)
    base = request.app[CONFIG].base_url
    return web.json_response(
        {
            "room": room_id,
            "host_token": token,
            "viewer_url": f"{base}/live/{room_id}",
            "studio_url": f"{base}/studio/{room_id}#token={token}",
            "ws_url": f"{base.replace('http', 'ws', 1)}/ws/{room_id}",
        },
        status=201,
    )


async def list_rooms(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    rooms: list[dict[str, Any]] = []
    for room_id in await hub.store.room_ids():
        meta = await hub.store.meta(room_id)
        if not meta:
            continue
        loaded = hub.loaded(room_id)
        viewers = loaded.live.get("viewers", 0) if loaded else await hub.store.viewers(room_id)
        rooms.append(
            {
                "id": room_id,
                "title": meta.get("title", ""),
                "host": meta.get("host", ""),
                "status": meta.get("status", "scheduled"),
                "viewers": viewers,
            }
        )
    order = {"live": 0, "scheduled": 1, "ended": 2}
    rooms.sort(key=lambda r: (order.get(r["status"], 3), -r["viewers"], r["id"]))
    return web.json_response({"rooms": rooms})


async def get_room(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    room = await hub.room(request.match_info["room"])
    snap = room.state.snapshot()
    snap["live"] = room.live_snapshot()
    return web.json_response(snap)


async def host_actor(request: web.Request) -> Actor:
    """The host of ``{room}`` as an actor; raises ``CommandError("unauthorized")`` unless
    the Bearer token is the room's host token or the admin token."""
    hub = request.app[HUB]
    token = bearer(request.headers.get("Authorization"))
    room_id = request.match_info["room"]
    if not await is_host(hub.store, room_id, token, request.app[ADMIN_TOKEN]):
        raise CommandError("unauthorized", "host token required")
    return Actor.host(room_id, (await hub.store.meta(room_id)).get("host", "host"))


async def _run(request: web.Request, obj: dict[str, Any]) -> web.Response:
    actor = await host_actor(request)
    hub = request.app[HUB]
    room = await hub.room(request.match_info["room"])
    data = await hub.execute(room, actor, c.parse_command(obj))
    return web.json_response({"ok": True, "data": data})


async def run_command(request: web.Request) -> web.Response:
    """POST /api/rooms/{room}/commands: any command of docs/protocol.md as JSON."""
    return await _run(request, await _body(request))


async def add_product(request: web.Request) -> web.Response:
    response = await _run(request, {**(await _body(request)), "cmd": "add_product"})
    response.set_status(201 if response.status == 200 else response.status)
    return response


async def update_product(request: web.Request) -> web.Response:
    body = await _body(request)
    body.update(cmd="update_product", product_id=request.match_info["product"])
    return await _run(request, body)


async def set_lineup(request: web.Request) -> web.Response:
    return await _run(request, {**(await _body(request)), "cmd": "reorder"})


async def pin(request: web.Request) -> web.Response:
    return await _run(request, {**(await _body(request)), "cmd": "pin"})


async def unpin(request: web.Request) -> web.Response:
    return await _run(request, {"cmd": "pin", "product_id": None})


async def healthz(request: web.Request) -> web.Response:
    """``{"ok", "node", "worker", "process"}``: the node's name (``--node-name``), this
    process's index among its workers, and its id on the bus (unique per process, new at
    every start). 503 while the datastore is unreachable."""
    hub = request.app[HUB]
    config = request.app[CONFIG]
    ok = hub.connected
    body = {"ok": ok, "node": config.node_name, "worker": config.worker, "process": hub.node_id}
    return web.json_response(body, status=200 if ok else 503)


async def metrics(request: web.Request) -> web.Response:
    """The hub's counters (``Hub.stats``) and a ``process`` section: asyncio tasks alive,
    sessions, and the command connections of the Redis pool (in use and idle)."""
    hub = request.app[HUB]
    stats = hub.stats()
    stats["process"] = {
        "tasks": len(asyncio.all_tasks()),
        "sessions": stats["sessions"],
        "redis_pool": pool_connections(request.app[REDIS]),
    }
    return web.json_response(stats)


def setup_api(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/rooms", create_room)
    r.add_get("/api/rooms", list_rooms)
    r.add_get("/api/rooms/{room}", get_room)
    r.add_post("/api/rooms/{room}/commands", run_command)
    r.add_post("/api/rooms/{room}/products", add_product)
    r.add_patch("/api/rooms/{room}/products/{product}", update_product)
    r.add_put("/api/rooms/{room}/lineup", set_lineup)
    r.add_post("/api/rooms/{room}/pin", pin)
    r.add_delete("/api/rooms/{room}/pin", unpin)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
