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
from aiohttp.typedefs import Handler

from livecart.chat import commands as c
from livecart.chat import identity
from livecart.chat.actor import Actor
from livecart.chat.errors import CommandError, RoomNotFound
from livecart.checkout.errors import CheckoutError
from livecart.http_contract import BodyRefused, Operation, PathParam, Reply, decode_json, fields
from livecart.limits import MAX_HOST_NAME_LEN, MAX_ROOM_TITLE_LEN
from livecart.redis_client import REDIS_DOWN, pool_connections
from livecart.web import schemas as s
from livecart.web.auth import bearer, is_admin, is_host
from livecart.web.keys import ADMIN_TOKEN, CONFIG, HUB, REDIS
from livecart.web.metrics import metrics

ROOM_ID = re.compile(s.ROOM_ID)
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

# The refusals, as the OpenAPI document lists them (docs/protocol.md, docs/checkout.md).
REFUSALS = {
    400: Reply(400, "bad_frame (not a JSON object), bad_command, bad_args (the message "
                    "names the field), text_*, blocked_word", s.Error),
    401: Reply(401, "unauthorized: the token is missing or wrong", s.Error),
    403: Reply(403, "forbidden", s.Error),
    404: Reply(404, "not_found: no such room (or product, sale, reservation)", s.Error),
    409: Reply(409, "exists, or a refusal of docs/checkout.md (sold_out, ...), "
                    "slow_mode, muted, banned", s.Error),
    413: Reply(413, "the body is over 256 KiB", None, media="text/plain"),
    429: Reply(429, "rate_limited", s.Error),
    503: Reply(503, "unavailable: the datastore is unreachable; retry", s.Error,
               headers=("Retry-After",)),
}  # fmt: skip
ROOM = {"room": PathParam("the room id", s.ROOM_ID)}
PRODUCT = {**ROOM, "product": PathParam("a product id of the room", c.PRODUCT_ID)}


def refusals(*statuses: int) -> tuple[Reply, ...]:
    """The documented refusals with these statuses (always with 503)."""
    return tuple(REFUSALS[status] for status in (*statuses, 503))


def host_operation(
    operation_id: str, method: str, path: str, summary: str, done: Reply, **extra: Any
) -> Operation:
    """An operation for the room's host (or the admin) under ``/api/rooms/{room}``."""
    params = PRODUCT if "{product}" in path else ROOM
    replies = (done, *refusals(400, 401, 403, 404, 409, 413, 429))
    if extra.get("body") is None and method in ("GET", "DELETE"):
        replies = (done, *refusals(401, 404))
    return Operation(operation_id, method, "/api/rooms/{room}" + path, summary, "host",
                     replies, params=params, security=("host", "admin"), **extra)  # fmt: skip


COMMAND_DONE = Reply(200, "done: the command's reply data (docs/protocol.md)", s.CommandDone)
CREATE_ROOM = Operation(
    "createRoom", "POST", "/api/rooms", "Create a room", "rooms",
    (Reply(201, "created; the host token is shown only here", s.CreatedRoom),
     *refusals(400, 401, 409, 413)),
    body=s.NewRoom, security=("admin",),
)  # fmt: skip
LIST_ROOMS = Operation(
    "listRooms", "GET", "/api/rooms", "The show list: live first, then by viewers", "rooms",
    (Reply(200, "the rooms", s.Rooms), *refusals()),
)  # fmt: skip
GET_ROOM = Operation(
    "getRoom", "GET", "/api/rooms/{room}", "A room's public state", "rooms",
    (Reply(200, "the room's snapshot", s.RoomState), *refusals(404)), params=ROOM,
)  # fmt: skip
RUN_COMMAND = host_operation(
    "runCommand",
    "POST",
    "/commands",
    "Run any command of docs/protocol.md",
    COMMAND_DONE,
    body=s.AnyCommand,
    description="The same commands as over the WebSocket, as the host: "
    '`{"cmd": ..., ...}` with the command\'s own fields.',
)
ADD_PRODUCT = host_operation(
    "addProduct",
    "POST",
    "/products",
    "Add a product to the lineup",
    Reply(201, "added", s.CommandDone),
    body=s.NewProduct,
)
UPDATE_PRODUCT = host_operation(
    "updateProduct",
    "PATCH",
    "/products/{product}",
    "Change a product",
    COMMAND_DONE,
    body=s.ProductChanges,
)
SET_LINEUP = host_operation(
    "setLineup", "PUT", "/lineup", "Reorder the lineup", COMMAND_DONE, body=s.Lineup
)
PIN = host_operation("pin", "POST", "/pin", "Pin a product", COMMAND_DONE, body=s.PinBody)
UNPIN = host_operation("unpin", "DELETE", "/pin", "Unpin", COMMAND_DONE)
HEALTHZ = Operation(
    "healthz", "GET", "/healthz", "Liveness of this process", "operating",
    (Reply(200, "up", s.Health), Reply(503, "the datastore is unreachable", s.Health)),
)  # fmt: skip
METRICS = Operation(
    "metrics", "GET", "/metrics", "Every worker's metrics (Prometheus text format 0.0.4)",
    "operating",
    (Reply(200, "the Prometheus text exposition format", None, media="text/plain"),
     Reply(403, "forbidden: not the operator (--metrics-allow, or the admin token)", s.Error)),
)  # fmt: skip
STATS = Operation(
    "stats", "GET", "/api/stats", "This worker's hub counters, as JSON", "operating",
    (Reply(200, "counters", s.Metrics),),
)  # fmt: skip


def error(code: str, message: str, status: int | None = None) -> web.Response:
    status = status or STATUS.get(code, 409)
    headers = {"Retry-After": "1"} if status == 503 else None
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status, headers=headers
    )


async def body(request: web.Request, op: Operation) -> tuple[Any, dict[str, Any]]:
    """The request's body decoded by ``op``'s Struct, and the decoded object; raises
    ``CommandError`` (``bad_frame``, ``bad_args``)."""
    try:
        return decode_json(op, await request.read())
    except BodyRefused as exc:
        raise CommandError(exc.code, exc.message) from exc


def room_id(request: web.Request) -> str:
    """The ``{room}`` of the path; raises ``RoomNotFound`` for a name no room can have
    (before anything reaches the store)."""
    name = request.match_info["room"]
    if not ROOM_ID.fullmatch(name):
        raise RoomNotFound(name[:40])
    return name


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refusals as JSON errors; under ``/api/`` also a path no route takes (the
    router's plain-text 404), so the JSON API always answers JSON."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except (CommandError, CheckoutError) as exc:
        return error(exc.code, exc.message)
    except RoomNotFound:
        return error("not_found", "no such room")
    except REDIS_DOWN:  # checkout's own Redis calls; the hub's store raises CommandError
        return error("unavailable", "datastore unreachable, retry")
    except web.HTTPNotFound:
        if request.path.startswith("/api/"):
            return error("not_found", "no such resource")
        raise


async def create_room(request: web.Request) -> web.Response:
    if not is_admin(bearer(request.headers.get("Authorization")), request.app[ADMIN_TOKEN]):
        return error("unauthorized", "admin token required", 401)
    new, _ = await body(request, CREATE_ROOM)
    room = new.id or secrets.token_hex(4)
    if not ROOM_ID.fullmatch(room):  # "$" in the declared pattern also allows a final "\n"
        raise CommandError("bad_args", "id: lowercase letters, digits and '-', <= 40")
    title = c.text_field({"title": new.title}, "title", 1, MAX_ROOM_TITLE_LEN)
    host = c.text_field({"host": new.host}, "host", 1, MAX_HOST_NAME_LEN)
    token = "host_" + secrets.token_urlsafe(24)
    hub = request.app[HUB]
    created = await hub.store.create_room(
        room,
        title=title,
        host=host,
        host_token_hash=identity.hash_token(token),
        commission_rate=float(new.commission_rate),
    )
    if not created:
        return error("exists", "a room with that id exists", 409)
    base = request.app[CONFIG].base_url
    return web.json_response(
        {
            "room": room,
            "host_token": token,
            "viewer_url": f"{base}/live/{room}",
            "studio_url": f"{base}/studio/{room}#token={token}",
            "ws_url": f"{base.replace('http', 'ws', 1)}/ws/{room}",
        },
        status=201,
    )


async def list_rooms(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    rooms: list[dict[str, Any]] = []
    for room in await hub.store.room_ids():
        meta = await hub.store.meta(room)
        if not meta:
            continue
        loaded = hub.loaded(room)
        viewers = loaded.live.get("viewers", 0) if loaded else await hub.store.viewers(room)
        rooms.append(
            {
                "id": room,
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
    room = await hub.room(room_id(request))
    snap = room.state.snapshot()
    snap["live"] = room.live_snapshot()
    return web.json_response(snap)


async def host_actor(request: web.Request) -> Actor:
    """The host of ``{room}`` as an actor; raises ``CommandError("unauthorized")`` unless
    the Bearer token is the room's host token or the admin token, ``RoomNotFound`` for a
    name no room can have."""
    hub = request.app[HUB]
    token = bearer(request.headers.get("Authorization"))
    room = room_id(request)
    if not await is_host(hub.store, room, token, request.app[ADMIN_TOKEN]):
        raise CommandError("unauthorized", "host token required")
    return Actor.host(room, (await hub.store.meta(room)).get("host", "host"))


async def _run(request: web.Request, obj: dict[str, Any]) -> web.Response:
    actor = await host_actor(request)
    hub = request.app[HUB]
    room = await hub.room(room_id(request))
    data = await hub.execute(room, actor, c.parse_command(obj))
    return web.json_response({"ok": True, "data": data})


async def run_command(request: web.Request) -> web.Response:
    """POST /api/rooms/{room}/commands: any command of docs/protocol.md as JSON."""
    _, obj = await body(request, RUN_COMMAND)
    return await _run(request, obj)


async def add_product(request: web.Request) -> web.Response:
    new, _ = await body(request, ADD_PRODUCT)
    response = await _run(request, {**fields(new), "cmd": "add_product"})
    response.set_status(201 if response.status == 200 else response.status)
    return response


async def update_product(request: web.Request) -> web.Response:
    changes, _ = await body(request, UPDATE_PRODUCT)
    product = request.match_info["product"]
    return await _run(request, {**fields(changes), "cmd": "update_product", "product_id": product})


async def set_lineup(request: web.Request) -> web.Response:
    lineup, _ = await body(request, SET_LINEUP)
    return await _run(request, {**fields(lineup), "cmd": "reorder"})


async def pin(request: web.Request) -> web.Response:
    chosen, _ = await body(request, PIN)
    return await _run(request, {"cmd": "pin", "product_id": chosen.product_id})


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


async def stats(request: web.Request) -> web.Response:
    """``GET /api/stats``: this worker's hub counters as one JSON object (``Hub.stats``)
    and a ``process`` section: asyncio tasks alive, sessions, and the command connections
    of the Redis pool (in use and idle). ``/metrics`` has the counters of every worker,
    in the Prometheus format."""
    hub = request.app[HUB]
    stats = hub.stats()
    stats["process"] = {
        "tasks": len(asyncio.all_tasks()),
        "sessions": stats["sessions"],
        "redis_pool": pool_connections(request.app[REDIS]),
    }
    return web.json_response(stats)


ROUTES: tuple[tuple[Operation, Handler], ...] = (
    (CREATE_ROOM, create_room),
    (LIST_ROOMS, list_rooms),
    (GET_ROOM, get_room),
    (RUN_COMMAND, run_command),
    (ADD_PRODUCT, add_product),
    (UPDATE_PRODUCT, update_product),
    (SET_LINEUP, set_lineup),
    (PIN, pin),
    (UNPIN, unpin),
    (HEALTHZ, healthz),
    (METRICS, metrics),
    (STATS, stats),
)


def add_routes(app: web.Application, routes: tuple[tuple[Operation, Handler], ...]) -> None:
    """Register each handler at its operation's method and path."""
    for op, handler in routes:
        app.router.add_route(op.method, op.path, handler)


def setup_api(app: web.Application) -> None:
    add_routes(app, ROUTES)
