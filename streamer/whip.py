"""WHIP (RFC 9725) HTTP endpoints.

=========================================  ======================================
``POST /whip/{room}``                      201 + SDP answer + ``Location``
``DELETE /whip/{room}/{session}``          200, or 404 for an unknown session
``OPTIONS /whip/{room}``                   204 with ``Accept-Post: application/sdp``
``PATCH /whip/{room}/{session}``           405 (no trickle ICE; send full offers)
=========================================  ======================================

POST checks, in order (cheapest first, nothing allocated before the last):
415 wrong content type; 404 invalid room name; then the token: a missing or refused
one spends from the client address's bucket of failed attempts (429 +
``Retry-After`` once it is empty, else 401 + ``WWW-Authenticate: Bearer``); a valid
one spends from the room's bucket instead (429 when the host itself retries too
fast), so a flood of bad attempts from a shared address (a NAT, the proxy) never
locks a host with a valid token out; 429 when too many offers are being negotiated;
400 for a malformed offer or one without H.264 video; 413 for an oversized body. A
second publisher for a live room replaces the first (see :mod:`streamer.registry`).

DELETE needs the room's host token (or the admin token) too: 401 without it, counted
as a failed attempt like a POST's.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from livecart.addresses import address_key
from livecart.connections import client_address
from livecart.http_contract import TEXT, Operation, PathParam, Reply
from livecart.limits import MAX_OFFER_BYTES
from livecart.streamer.errors import OfferRejected
from livecart.streamer.recording import NAME_PATTERN, valid_name
from livecart.streamer.service import MAX_NEGOTIATIONS, StreamerService

log = logging.getLogger(__name__)

SDP = "application/sdp"
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Expose-Headers": "Location",
}

_ROOM = {"room": PathParam("the room id", NAME_PATTERN)}
_SESSION = {**_ROOM, "session": PathParam("the session, from the POST's Location")}
_TOO_MANY = Reply(429, "too many publish attempts", None, TEXT, ("Retry-After",))
PUBLISH = Operation(
    "whipPublish", "POST", "/whip/{room}", "Publish: an SDP offer in, the answer out", "whip",
    (Reply(201, "the SDP answer; Location is the session", None, SDP, ("Location",)),
     Reply(400, "a malformed offer, or one without H.264 video", None, TEXT),
     Reply(401, "a missing or refused token", None, TEXT, ("WWW-Authenticate",)),
     Reply(404, "not a valid room name", None, TEXT),
     Reply(413, "the offer is too large", None, TEXT),
     Reply(415, "the body is not application/sdp", None, TEXT),
     _TOO_MANY,
     Reply(503, "shutting down, or the publish was aborted", None, TEXT)),
    params=_ROOM, body_media=SDP, body_text="an SDP offer (RFC 9725)",
    security=("host", "admin"),
)  # fmt: skip
_PREFLIGHT = (Reply(204, "CORS preflight; Accept-Post names application/sdp", None,
                    headers=("Accept-Post",)),)  # fmt: skip
PREFLIGHT = Operation(
    "whipOptions", "OPTIONS", "/whip/{room}", "CORS preflight", "whip", _PREFLIGHT,
    params=_ROOM,
)  # fmt: skip
END = Operation(
    "whipEnd", "DELETE", "/whip/{room}/{session}", "End a publish session", "whip",
    (Reply(200, "ended", None, TEXT),
     Reply(401, "a missing or refused token", None, TEXT, ("WWW-Authenticate",)),
     Reply(404, "no such session", None, TEXT),
     _TOO_MANY),
    params=_SESSION, security=("host", "admin"),
    description="Needs the room's host token (or the admin token), as the POST did.",
)  # fmt: skip
SESSION_PREFLIGHT = Operation(
    "whipSessionOptions", "OPTIONS", "/whip/{room}/{session}", "CORS preflight", "whip",
    _PREFLIGHT, params=_SESSION,
)  # fmt: skip
TRICKLE = Operation(
    "whipPatch", "PATCH", "/whip/{room}/{session}", "Trickle ICE: not supported", "whip",
    (Reply(405, "send a complete offer instead", None, headers=("Allow",)),),
    params=_SESSION,
)  # fmt: skip
OPERATIONS = (PUBLISH, PREFLIGHT, END, SESSION_PREFLIGHT, TRICKLE)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(error: str | None) -> web.Response:
    challenge = 'Bearer realm="livecart"'
    if error:
        challenge += f', error="{error}"'
    return web.Response(
        status=401, text="unauthorized\n", headers={"WWW-Authenticate": challenge, **_CORS}
    )


def _too_many(retry_after: int, why: str) -> web.Response:
    """429: ``why`` says whose bucket is empty (the room's, after a valid token, or the
    address's failed attempts), so a host can tell a retry loop from an attack."""
    return web.Response(
        status=429,
        text=f"{why}\n",
        headers={"Retry-After": str(retry_after), **_CORS},
    )


class WhipHandlers:
    """aiohttp handlers bound to one :class:`StreamerService`."""

    def __init__(self, service: StreamerService) -> None:
        self.service = service

    async def post(self, request: web.Request) -> web.Response:
        """Create a publish session from an SDP offer."""
        service = self.service
        room = request.match_info["room"]
        if request.content_type != SDP:
            return web.Response(status=415, text="expected application/sdp\n", headers=_CORS)
        if not valid_name(room):
            return web.Response(status=404, text="no such room\n", headers=_CORS)
        refused = await self._authorize(request, room)
        if refused is not None:
            return refused
        if service.negotiating >= MAX_NEGOTIATIONS:
            return _too_many(1, "too many offers being negotiated")
        if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
            return web.Response(status=413, text="offer too large\n", headers=_CORS)
        try:
            body = await request.content.read(MAX_OFFER_BYTES + 1)
            offer = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.Response(status=400, text="offer is not UTF-8\n", headers=_CORS)
        if len(body) > MAX_OFFER_BYTES:
            return web.Response(status=413, text="offer too large\n", headers=_CORS)
        if service.closing:
            return web.Response(status=503, text="shutting down\n", headers=_CORS)
        try:
            session_id, answer = await service.publish(room, offer)
        except OfferRejected as exc:
            return web.Response(status=400, text=f"{exc}\n", headers=_CORS)
        except ConnectionError:
            return web.Response(status=503, text="publish aborted\n", headers=_CORS)
        location = f"/whip/{room}/{session_id}"
        return web.Response(
            status=201,
            body=answer.encode(),
            content_type=SDP,
            headers={"Location": location, **_CORS},
        )

    async def _authorize(
        self, request: web.Request, room: str, *, publish: bool = True
    ) -> web.Response | None:
        """None when the request carries the room's host token (or the admin token) and,
        for a ``publish``, the room's bucket has a token; else the 401 or 429 to answer.
        Only refused attempts spend from the address's bucket."""
        limiter = self.service.limiter
        now = time.monotonic()
        token = _bearer(request)
        if token is not None and await self.service.authorize(room, token):
            if not publish:
                return None
            wait = limiter.take("room:" + room, now)
            if wait > 0:
                return _too_many(
                    limiter.retry_after(wait), "too many publish attempts for this room"
                )
            return None
        address = address_key(client_address(request))
        wait = limiter.take("addr:" + address, now)
        if wait > 0:
            return _too_many(
                limiter.retry_after(wait), "too many failed attempts from this address"
            )
        return _unauthorized(None if token is None else "invalid_token")

    async def delete(self, request: web.Request) -> web.Response:
        """End a publish session (host or admin token)."""
        room = request.match_info["room"]
        session_id = request.match_info["session"]
        if not valid_name(room):
            return web.Response(status=404, text="no such room\n", headers=_CORS)
        refused = await self._authorize(request, room, publish=False)
        if refused is not None:
            return refused
        if not await self.service.unpublish(room, session_id):
            return web.Response(status=404, text="no such session\n", headers=_CORS)
        return web.Response(status=200, text="ended\n", headers=_CORS)

    async def options(self, request: web.Request) -> web.Response:
        """CORS preflight and capability discovery (RFC 9725 section 4.2)."""
        return web.Response(status=204, headers={"Accept-Post": SDP, **_CORS})

    async def patch(self, request: web.Request) -> web.Response:
        """Trickle ICE and ICE restarts are not supported: send a complete offer."""
        return web.Response(status=405, headers={"Allow": "DELETE, OPTIONS", **_CORS})

    def add_routes(self, app: web.Application) -> None:
        """Register the WHIP routes on ``app``."""
        routes = ((PUBLISH, self.post), (PREFLIGHT, self.options), (END, self.delete),
                  (SESSION_PREFLIGHT, self.options), (TRICKLE, self.patch))  # fmt: skip
        for op, handler in routes:
            app.router.add_route(op.method, op.path, handler)
