"""``GET /ws/{room}``: the WebSocket adapter between aiohttp and the hub.

It does the handshake (the connection gate: ``Origin`` and the per-address socket cap,
refused before the upgrade; subprotocol, identity, the host token offered as the
``livecart.auth.<token>`` subprotocol), joins the session to its room and then hands
the socket to a ``WsConnection`` (``livecart.web.ws_connection``) and returns: from then
on aiohttp holds nothing of the connection, and the connection reads client frames,
handles them one at a time in order (``Hub.handle``) and finds dead peers. Everything
written to the client goes through the session; the fan-out never touches the adapter.

The handshake and the hand-over reach into aiohttp's internals, all of them through
``livecart.aiohttp_internals`` (``websocket_handshake``, ``take_socket``: the bytes the
client sent after its request, the first frame perhaps, go to the connection).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from livecart import connections
from livecart.aiohttp_internals import take_socket, websocket_handshake
from livecart.chat.codec import SUBPROTOCOLS, WireFormat, offered_token
from livecart.chat.commands import parse_since
from livecart.chat.errors import CloseCode, CommandError, RoomNotFound, StoreUnavailable
from livecart.chat.session import Session
from livecart.display_names import clean_display_name
from livecart.web.auth import is_host
from livecart.web.keys import ADMIN_TOKEN, HUB
from livecart.web.ws_connection import HEARTBEAT, WsConnection

log = logging.getLogger(__name__)


async def ws_handler(request: web.Request) -> web.StreamResponse:
    gate = connections.gate(request.app)
    address = gate.claim(request)  # 403 / 429 before the upgrade
    handed = False

    def release() -> None:
        gate.release(address)

    try:
        response, handed = await _session(request, address, release)
        return response
    finally:
        if not handed:  # else the connection releases it when it ends
            release()


async def _session(
    request: web.Request, address: str, release: Callable[[], None]
) -> tuple[web.StreamResponse, bool]:
    """The handshake and the join; True once the socket was handed to a connection."""
    hub = request.app[HUB]
    room_id = request.match_info["room"]
    headers, protocol = _handshake(request)  # 400 on a bad handshake
    fmt = WireFormat(protocol) if protocol else WireFormat.JSON
    query = request.query
    role = "viewer"
    refusal: tuple[int, str] | None = None
    token = offered_token(request.headers.get("Sec-WebSocket-Protocol", ""))
    if token:
        try:
            ok = await is_host(hub.store, room_id, token, request.app[ADMIN_TOKEN])
        except StoreUnavailable:
            ok, refusal = False, (CloseCode.TRY_AGAIN_LATER, "datastore unreachable")
        if ok:
            role = "host"
        elif refusal is None:
            refusal = (CloseCode.UNAUTHORIZED, "wrong host token")
    response = web.StreamResponse(status=101, headers=headers)
    await response.prepare(request)
    transport = request.transport
    if transport is None:
        return response, False
    conn = WsConnection(transport, hub, fmt, request.app[HEARTBEAT], release)
    if refusal is not None:
        conn.close(*refusal)
        _hand_over(request, conn)
        return response, True
    vid, vtoken = hub.new_identity(query.get("vid"))
    since = parse_since(query.get("since"))
    session = Session(transport, fmt, vid, vtoken, clean_display_name(query.get("name")), role)
    session.address = address
    session.closer = conn.close
    conn.session = session
    joined = False
    try:
        await hub.join(room_id, session, since, query.get("epoch"))
        joined = True
    except RoomNotFound:
        conn.close(CloseCode.NO_SUCH_ROOM, "no such room")
    except CommandError:
        conn.close(CloseCode.TRY_AGAIN_LATER, "datastore unreachable")
    if request.transport is None:  # the peer left meanwhile
        if joined:
            hub.leave(session)
        return response, False
    _hand_over(request, conn)
    if joined:
        conn.start()
    return response, True


def _handshake(request: web.Request) -> tuple[Any, str | None]:
    """aiohttp's checks of a WebSocket upgrade request (400 when it is not one) and the
    101's headers, with the subprotocol chosen from ``SUBPROTOCOLS``; no compression."""
    return websocket_handshake(request, SUBPROTOCOLS)


def _hand_over(request: web.Request, conn: WsConnection) -> None:
    """Give the socket to ``conn`` with what the client sent already; aiohttp forgets it."""
    conn.take_over(take_socket(request))
