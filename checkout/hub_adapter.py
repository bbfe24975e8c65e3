"""The hub's side door into checkout: ``chat.hub.CheckoutPort`` on a ``CheckoutService``.

The hub parses ``buy``, ``pay``, ``open_sale`` and ``close_sale`` only as far as the name
(host-only commands are refused by the hub before they get here) and hands the raw
arguments over; this adapter maps them onto the service and back:

=============  ====================================  ===========================================
command        fields (docs/checkout.md)             reply data; event
=============  ====================================  ===========================================
``buy``        ``product_id``, ``qty``, ``key``      ``{"reservation": {...}}``
``pay``        ``reservation_id``, ``card``, ``key``  ``{"order": {...}}``
``open_sale``  ``product_id``, ``price``,            ``{"sale": {...}}``; a ``sale`` event
               ``currency``, ``units``, ``limit``,
               ``opens_at``?, ``ends_at``?
``close_sale`` ``product_id``                        ``{"sale": {...}}``; a ``sale`` event
=============  ====================================  ===========================================

The buyer is the connection's identity (``vid``, ``name``), never a field of the command.
Every ``CheckoutError`` becomes the hub's ``CommandError`` with the same code, message
and ``retry_after``, so the client gets an error reply and not a closed socket.

Live values (``live``): ``stock`` = units left per product on sale, and ``bought`` = up to
``BOUGHT_SAMPLE`` of the orders made since the previous call on this node, newest last,
with the buyer's name masked (``"Alice"`` -> ``"A***e"``). The first call for a room
starts "from now on": it shows no orders.

Memory: the adapter keeps one cursor (the last order seen) per room, for the
``max_rooms`` rooms whose live values were read most recently (``MAX_ROOMS`` by
default, far more rooms with sales than one node serves at once). A room pushed out
starts again "from now on" at its next read; ``forget(room)`` drops one at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from livecart.chat.errors import CommandError, ErrorCode
from livecart.chat.events import SaleChanged
from livecart.checkout.errors import CheckoutError
from livecart.checkout.service import CheckoutService

BOUGHT_SAMPLE = 5
MAX_ROOMS = 10_000
T = TypeVar("T")


class Buyer(Protocol):
    @property
    def vid(self) -> str: ...

    @property
    def name(self) -> str: ...


def mask_name(name: str) -> str:
    """``"Alice"`` -> ``"A***e"``; one-letter names -> ``"A***"``."""
    if not name:
        return "***"
    return f"{name[0]}***{name[-1]}" if len(name) > 1 else f"{name}***"


async def _checkout(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except CheckoutError as exc:
        raise CommandError(exc.code, exc.message, exc.retry_after) from exc


class HubCheckout:
    """Implements ``chat.hub.CheckoutPort``. One per node, shared by its rooms."""

    def __init__(self, service: CheckoutService, *, max_rooms: int = MAX_ROOMS) -> None:
        if max_rooms < 1:
            raise ValueError("max_rooms must be at least 1")
        self.service = service
        self._max_rooms = max_rooms
        # room -> last order seen for ``bought``, least recently read first
        self._cursors: OrderedDict[str, str] = OrderedDict()

    async def init_stock(self, room_id: str, product_id: str, stock: int) -> None:
        await _checkout(lambda: self.service.init_stock(room_id, product_id, stock))

    async def sales(self, room_id: str) -> dict[str, dict[str, Any]]:
        return await _checkout(lambda: self.service.sales(room_id))

    async def execute(
        self, room_id: str, actor: Buyer, name: str, args: dict[str, Any], state: object
    ) -> tuple[dict[str, Any], SaleChanged | None]:
        """Run one checkout command; returns (reply data, ``sale`` event or ``None``).
        Raises ``CommandError``."""
        svc = self.service
        if name == "buy":
            reservation = await _checkout(
                lambda: svc.buy(
                    room_id,
                    args.get("product_id"),
                    buyer_vid=actor.vid,
                    buyer_name=actor.name,
                    qty=args.get("qty"),
                    key=args.get("key"),
                )
            )
            return {"reservation": reservation}, None
        if name == "pay":
            order = await _checkout(
                lambda: svc.pay(
                    room_id,
                    args.get("reservation_id"),
                    buyer_vid=actor.vid,
                    card=args.get("card"),
                    key=args.get("key"),
                )
            )
            return {"order": order}, None
        if name == "open_sale":
            sale = await _checkout(
                lambda: svc.open_sale(
                    room_id,
                    args.get("product_id"),
                    price=args.get("price"),
                    currency=args.get("currency"),
                    units=args.get("units"),
                    limit=args.get("limit"),
                    opens_at=args.get("opens_at"),
                    ends_at=args.get("ends_at"),
                )
            )
        elif name == "close_sale":
            sale = await _checkout(lambda: svc.close_sale(room_id, args.get("product_id")))
        else:
            raise CommandError(ErrorCode.BAD_COMMAND, f"{name} is not a checkout command")
        return {"sale": sale}, SaleChanged(product_id=sale["product_id"], sale=sale)

    async def live(self, room_id: str, state: object) -> dict[str, Any]:
        """``{"stock": {product_id: units_left}, "bought": [...]}``, read now."""
        sales = await _checkout(lambda: self.service.sales(room_id))
        stock = {pid: sale["units_left"] for pid, sale in sales.items()}
        cursor = self._cursors.get(room_id)
        orders, latest = await _checkout(lambda: self.service.orders_after(room_id, cursor, 100))
        self._remember(room_id, latest)
        bought = [
            {"name": mask_name(o["buyer_name"]), "product_id": o["product_id"], "qty": o["qty"]}
            for o in orders[-BOUGHT_SAMPLE:]
        ]
        return {"stock": stock, "bought": bought}

    def _remember(self, room_id: str, cursor: str) -> None:
        self._cursors[room_id] = cursor
        self._cursors.move_to_end(room_id)
        while len(self._cursors) > self._max_rooms:
            self._cursors.popitem(last=False)

    def forget(self, room_id: str) -> None:
        """Drop the ``bought`` cursor of a room this node no longer serves."""
        self._cursors.pop(room_id, None)
