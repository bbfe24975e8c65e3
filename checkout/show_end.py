"""Ending a show: the workflow behind ``POST /api/rooms/{room}/end``.

``end_show(room_id, room, books, webhook)`` runs these steps, in this order:

1. close every sale the room still shows as not closed, through ``room`` (the chat
   hub, so that viewers get the ``sale`` events); live holds stay payable until they
   expire;
2. set the room's status to ``ended``, unless it already is;
3. export the room's orders (CSV and records) and read its figures;
4. with a webhook configured: start delivering the exported orders, unless a delivery
   of the room is still running on this node, and report the last stored delivery
   status (``NOT_STARTED`` when there is none yet; a delivery just started has not
   stored one).

Contract:

- **Idempotent.** Each step is skipped or harmless when already done: closed sales are
  not closed again, the status is set once, the export and the figures are reads. A
  repeated call reports the orders and figures as they are then (orders paid on live
  holds after the first call are included).
- **Called twice.** While this node is delivering the room, another call starts no
  second delivery. Once the delivery has finished (acknowledged), a new call delivers
  again, with the orders as exported then (the same ``delivery_id`` when they did not
  change): delivery is at least once, and the receiver deduplicates by order ``id``.
  Two nodes ending the same show at once may each deliver, for the same reason.
- **Redis away mid-way.** The failing step raises (``CheckoutError("unavailable")``
  from checkout, or the room port's own error: the hub's ``CommandError`` or its
  connection error) and no later step runs; the steps before it stay done. Calling
  again once Redis is back finishes the work. A delivery already started goes on and
  stores its status when it can.

Nothing here touches Redis, aiohttp or the hub directly: the room, the books and the
webhook are ports, implemented by ``web.show_room.HubShowRoom``,
``checkout.service.CheckoutService`` and ``checkout.deliveries.Deliveries``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

NOT_STARTED: Mapping[str, Any] = {"delivered": False, "attempts": 0}


class ShowRoom(Protocol):
    """The room as its owner (the hub) sees it, acting as the host."""

    def unclosed_sales(self) -> list[str]:
        """Product ids whose sale the room does not show as closed."""
        ...

    @property
    def ended(self) -> bool:
        """Whether the room's status is already ``ended``."""
        ...

    async def close_sale(self, product_id: str) -> None:
        """Close the product's sale as the host, so viewers get the ``sale`` event."""
        ...

    async def end(self) -> None:
        """Set the room's status to ``ended``."""
        ...


class ShowBooks(Protocol):
    """The room's orders (``CheckoutService`` has these methods)."""

    async def export(self, room: str) -> tuple[str, list[dict[str, Any]]]:
        """Every order of the room: the CSV and the records."""
        ...

    async def figures(self, room: str) -> dict[str, Any]:
        """The room's sales figures."""
        ...

    async def delivery_status(self, room: str) -> dict[str, Any] | None:
        """The room's last stored delivery status, or None."""
        ...


class Webhook(Protocol):
    """Where a show's orders are delivered (``checkout.deliveries.Deliveries``): at most one
    delivery per room runs on a node at a time; delivery is at least once."""

    def deliver(self, room: str, records: Sequence[dict[str, Any]]) -> bool:
        """Start delivering ``records`` unless a delivery of ``room`` is running here;
        whether one was started."""
        ...


@dataclass(frozen=True, slots=True)
class ShowEnd:
    """What ending the show reports: ``webhook`` is ``None`` without a webhook."""

    orders: list[dict[str, Any]]
    csv: str
    figures: dict[str, Any]
    webhook: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of the HTTP reply: ``{orders, csv, figures, webhook}``."""
        return {"orders": self.orders, "csv": self.csv, "figures": self.figures,
                "webhook": self.webhook}  # fmt: skip


async def end_show(
    room_id: str, room: ShowRoom, books: ShowBooks, webhook: Webhook | None
) -> ShowEnd:
    """Run the steps of the module docstring; raises what the failing step raised."""
    for product_id in room.unclosed_sales():
        await room.close_sale(product_id)
    if not room.ended:
        await room.end()
    text, records = await books.export(room_id)
    totals = await books.figures(room_id)
    status: dict[str, Any] | None = None
    if webhook is not None:
        webhook.deliver(room_id, records)
        status = await books.delivery_status(room_id) or dict(NOT_STARTED)
    return ShowEnd(orders=records, csv=text, figures=totals, webhook=status)
