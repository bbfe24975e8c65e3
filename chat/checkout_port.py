"""What the hub needs from checkout (implemented by ``livecart.checkout.hub_adapter``)."""

from __future__ import annotations

from typing import Any, Protocol

from livecart.chat.actor import Actor
from livecart.chat.events import SaleChanged
from livecart.chat.room_state import RoomState


class CheckoutPort(Protocol):
    async def init_stock(self, room_id: str, product_id: str, stock: int) -> None:
        """Set up the stock of a product just added to the room's lineup."""

    async def execute(
        self, room_id: str, actor: Actor, name: str, args: dict[str, Any], state: RoomState
    ) -> tuple[dict[str, Any], SaleChanged | None]:
        """Run a checkout command; return (reply data, the sale change to emit or None).
        Raises ``CommandError``; may raise redis' connection errors when Redis is away."""
        ...

    async def live(self, room_id: str, state: RoomState) -> dict[str, Any]:
        """Live values (``stock``, ``bought``) for the room, read now."""
        ...

    async def sales(self, room_id: str) -> dict[str, dict[str, Any]]:
        """The room's sales by product, as the snapshot carries them."""
        ...

    def forget(self, room_id: str) -> None:
        """The room is no longer served by this node: drop what is kept for it here."""
        ...
