"""What the hub needs from checkout (implemented by ``livecart.checkout.hub_adapter``)."""

from __future__ import annotations

from typing import Any, Protocol

from livecart.chat.actor import Actor
from livecart.chat.commands import CheckoutCommand
from livecart.chat.events import RoomEvent
from livecart.chat.room_state import RoomState


class CheckoutPort(Protocol):
    """What the hub needs from checkout, the one way chat reaches commerce
    (``livecart.checkout.hub_adapter.HubCheckout`` implements it; chat never imports
    checkout).

    Every method reads or writes checkout's datastore and nothing of the hub: the hub emits
    the events they return, so a change reaches viewers through the store like any other.
    Commands raise ``CommandError`` for a client's mistake and change nothing then; every
    call may raise redis' connection errors while Redis is away, and the hub turns those
    into ``unavailable``. ``lot_tick`` returns each auction or giveaway change to exactly
    one caller across nodes, so its event is emitted once; ``forget`` never touches the
    datastore."""

    async def init_stock(self, room_id: str, product_id: str, stock: int) -> None:
        """Set up the stock of a product just added to the room's lineup."""

    async def execute(
        self, room_id: str, actor: Actor, command: CheckoutCommand, state: RoomState
    ) -> tuple[dict[str, Any], RoomEvent | None]:
        """Run a checkout command that ``chat.decisions`` let through (its rule: who may
        send it, what the room must hold); return (reply data, the event to emit or None:
        a sale, auction or giveaway change).
        Raises ``CommandError``; may raise redis' connection errors when Redis is away."""
        ...

    async def live(self, room_id: str, state: RoomState) -> dict[str, Any]:
        """Live values (``stock``, ``bought``) for the room, read now."""
        ...

    async def sales(self, room_id: str) -> dict[str, dict[str, Any]]:
        """The room's sales by product, as the snapshot carries them."""
        ...

    async def lots(self, room_id: str) -> dict[str, dict[str, Any] | None]:
        """The room's current auction and giveaway (``auction``, ``giveaway``), as the
        snapshot carries them."""
        ...

    async def lot_tick(
        self, room_id: str, state: RoomState, watchers: list[tuple[str, str, float]]
    ) -> list[RoomEvent]:
        """Move the room's auction and giveaway on (close when due, settle, draw; enter
        ``watchers``: (vid, name, seconds connected) of this node's viewers); return the
        events this node must emit (each change is returned to one caller only), and the
        auction as Redis holds it when the room's was older at two ticks in a row with
        nothing in between (a bid's event lost: bids emit after their reply)."""
        ...

    async def chatted(self, room_id: str, state: RoomState, vid: str, name: str) -> None:
        """A viewer chatted: eligible for an open giveaway with the ``chatted`` rule."""
        ...

    def forget(self, room_id: str) -> None:
        """The room is no longer served by this node: drop what is kept for it here."""
        ...
