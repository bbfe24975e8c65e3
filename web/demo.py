"""The demo room ``serve`` creates on a fresh install, and the start-up banner."""

from __future__ import annotations

import secrets

from aiohttp import web

from livecart.chat import commands as c
from livecart.chat import identity
from livecart.chat.actor import Actor
from livecart.web.keys import HUB

DEMO_ROOM = "demo"
DEMO_PRODUCTS = (
    {"name": "Silk scarf, hand-rolled edges", "price": 12900, "currency": "CNY", "stock": 40},
    {"name": "Ceramic pour-over set", "price": 26800, "currency": "CNY", "stock": 25},
    {"name": "Linen tote bag", "price": 5900, "currency": "CNY", "stock": 120},
)


async def ensure_demo_room(app: web.Application) -> str | None:
    """Create the demo room with three products; return its host token, or None when the
    room already existed (its token is then only in the first run's banner)."""
    hub = app[HUB]
    token = "host_" + secrets.token_urlsafe(24)
    created = await hub.store.create_room(
        DEMO_ROOM,
        title="Friday night deals",
        host="Mia",
        host_token_hash=identity.hash_token(token),
        commission_rate=0.1,
    )
    if not created:
        return None
    room = await hub.room(DEMO_ROOM)
    host = Actor.host(DEMO_ROOM, "Mia")
    for product in DEMO_PRODUCTS:
        await hub.execute(room, host, c.parse_command({"cmd": "add_product", **product}))
    return token
