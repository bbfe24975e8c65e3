"""``HubShowRoom``: ``checkout.show_end.ShowRoom`` on a room of the chat hub.

Every change runs through ``Hub.execute`` as the host, the same path as the host's
WebSocket commands: viewers get the ``sale`` and ``room`` events, and a refusal is the
hub's ``CommandError`` (``unavailable`` when Redis is away). What the room shows is the
hub's state of it on this node.
"""

from __future__ import annotations

from livecart.chat import commands as c
from livecart.chat.actor import Actor
from livecart.chat.hub import Hub
from livecart.chat.room import Room


class HubShowRoom:
    """``checkout.show_end.ShowRoom`` on one room of this node's hub, acting as ``actor``
    (the host). Changes run through ``Hub.execute``, so viewers get the events and a refusal
    raises the hub's ``CommandError``; reads are this node's copy of the room."""

    def __init__(self, hub: Hub, room: Room, actor: Actor) -> None:
        self._hub = hub
        self._room = room
        self._actor = actor

    def unclosed_sales(self) -> list[str]:
        """Product ids whose sale this node's copy does not show as closed."""
        sales = self._room.state.sales
        return [pid for pid, sale in sales.items() if sale.get("state") != "closed"]

    @property
    def ended(self) -> bool:
        """Whether the room's status is ``ended``."""
        return self._room.state.status == "ended"

    async def close_sale(self, product_id: str) -> None:
        """Close the product's sale through the hub, as the host."""
        command = c.parse_command({"cmd": "close_sale", "product_id": product_id})
        await self._hub.execute(self._room, self._actor, command)

    async def end(self) -> None:
        """Set the room's status to ``ended`` through the hub, as the host."""
        command = c.parse_command({"cmd": "status", "status": "ended"})
        await self._hub.execute(self._room, self._actor, command)
