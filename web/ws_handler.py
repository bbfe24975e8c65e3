"""``GET /ws/{room}``: the WebSocket adapter between aiohttp and the hub.

It does the handshake (the connection gate: ``Origin`` and the per-address socket cap,
refused before the upgrade; subprotocol, identity, the host token offered as the
``livecart.auth.<token>`` subprotocol), hands the connection's
transport to a ``Session`` and pumps client frames into ``Hub.handle`` one at a time
(so one client's commands run in order). Everything it writes goes through the session;
the fan-out never touches this coroutine.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSCloseCode, WSMsgType, web

from livecart import connections
from livecart.chat.codec import SUBPROTOCOLS, WireFormat, decode, offered_token
from livecart.chat.errors import (
    CloseCode,
    CommandError,
    ProtocolError,
    RoomNotFound,
    StoreUnavailable,
)
from livecart.chat.session import Session
from livecart.display_names import clean_display_name
from livecart.tcp import reset
from livecart.web.auth import is_host
from livecart.web.keys import ADMIN_TOKEN, HUB

log = logging.getLogger(__name__)

MAX_FRAME = 16 * 1024


async def ws_handler(request: web.Request) -> web.StreamResponse:
    with connections.gate(request.app).admit(request) as address:
        return await _session(request, address)


async def _session(request: web.Request, address: str) -> web.StreamResponse:
    hub = request.app[HUB]
    room_id = request.match_info["room"]
    ws = connections.MaskedWebSocketResponse(
        protocols=SUBPROTOCOLS, compress=False, max_msg_size=MAX_FRAME, heartbeat=30.0
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    fmt = WireFormat(ws.ws_protocol) if ws.ws_protocol else WireFormat.JSON
    query = request.query
    role = "viewer"
    token = offered_token(request.headers.get("Sec-WebSocket-Protocol", ""))
    if token:
        try:
            ok = await is_host(hub.store, room_id, token, request.app[ADMIN_TOKEN])
        except StoreUnavailable:
            await ws.close(code=CloseCode.TRY_AGAIN_LATER, message=b"datastore unreachable")
            return ws
        if not ok:
            await ws.close(code=CloseCode.UNAUTHORIZED, message=b"wrong host token")
            return ws
        role = "host"
    vid, vtoken = hub.new_identity(query.get("vid"))
    since: int | None = None
    if query.get("since", "").isdigit():
        since = int(query["since"])
    session = Session(transport, fmt, vid, vtoken, clean_display_name(query.get("name")), role)
    session.address = address
    closing: set[asyncio.Task[bool]] = set()

    def graceful_close(code: int, reason: str) -> None:
        task = asyncio.ensure_future(ws.close(code=code, message=reason.encode()))
        closing.add(task)
        task.add_done_callback(closing.discard)

    session.closer = graceful_close
    try:
        await hub.join(room_id, session, since, query.get("epoch"))
    except RoomNotFound:
        await ws.close(code=CloseCode.NO_SUCH_ROOM, message=b"no such room")
        return ws
    except CommandError:
        await ws.close(code=CloseCode.TRY_AGAIN_LATER, message=b"datastore unreachable")
        return ws
    try:
        async for msg in ws:
            if session.closed:
                break
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    obj = decode(fmt, msg.data)
                except ProtocolError as exc:
                    session.send({"t": "reply", "id": None, "ok": False, "error": exc.as_dict()})
                    continue
                session.send(await hub.handle(session, obj))
    except Exception:
        log.exception("session %s in room %s failed", session.vid, room_id)
        session.close(CloseCode.INTERNAL, "internal error")
    finally:
        hub.leave(session)
        if ws.close_code == WSCloseCode.ABNORMAL_CLOSURE and not session.closed:
            # The peer stopped answering (heartbeat) or the read failed: whatever is
            # still queued for it would keep the socket in FIN_WAIT1; drop it with RST.
            reset(transport)
    return ws
