"""The hub's side door into checkout: ``chat.hub.CheckoutPort`` on a ``CheckoutService``.

The hub parses ``buy``, ``pay``, ``open_sale`` and ``close_sale`` only as far as the name
(host-only commands are refused by the hub before they get here) and hands the raw
arguments over; this adapter maps them onto the service and back:

=============  ====================================  ===========================================
command        fields (docs/checkout.md)             reply data; event
=============  ====================================  ===========================================
``buy``        ``product_id``, ``qty``, ``key``,     ``{"reservation": {...}}``
               ``channel``? (``live``/``replay``)
``pay``        ``reservation_id``, ``card``, ``key``  ``{"order": {...}}``
``open_sale``  ``product_id``, ``price``,            ``{"sale": {...}}``; a ``sale`` event
               ``currency``, ``units``, ``limit``,
               ``opens_at``?, ``ends_at``?,
               ``hold_seconds``?, ``policy``?
``close_sale`` ``product_id``                        ``{"sale": {...}}``; a ``sale`` event
=============  ====================================  ===========================================

and the auction and giveaway commands of docs/protocol.md (``start_auction``,
``cancel_auction``, ``bid``, ``start_giveaway``): each change is an ``auction`` or
``giveaway`` event with the object's names masked like the buyers' below. ``lot_tick``
closes, settles and draws (any node may: the scripts make each step once, and only the
call that made it gets an event to emit).

The buyer is the connection's identity, never a field of the command: the shop's user
(``u:<sub>``, from a verified buyer token) when the connection has one, otherwise its
viewer id, with its client address for the per-address cap on unpaid holds.
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

from livecart.addresses import address_key
from livecart.chat.errors import CommandError, ErrorCode
from livecart.chat.events import AuctionChanged, GiveawayChanged, RoomEvent, SaleChanged
from livecart.checkout.auctions import AuctionTerms, Step
from livecart.checkout.errors import CheckoutError
from livecart.checkout.service import CheckoutService
from livecart.display_names import mask_name

BOUGHT_SAMPLE = 5
MAX_ROOMS = 10_000
T = TypeVar("T")


class Buyer(Protocol):
    @property
    def vid(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def buyer(self) -> str | None: ...

    @property
    def address(self) -> str: ...


async def _checkout(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except CheckoutError as exc:
        raise CommandError(exc.code, exc.message, exc.retry_after) from exc


_LOT_COMMANDS = frozenset({"bid", "start_auction", "cancel_auction", "start_giveaway"})


def _product(state: object, product_id: object) -> dict[str, Any]:
    products = getattr(state, "products", {})
    product = products.get(product_id) if isinstance(product_id, str) else None
    if product is None:
        raise CommandError(ErrorCode.NOT_FOUND, "product_id: no such product in the lineup")
    return dict(product)


def _masked(person: Any) -> Any:
    if isinstance(person, dict) and "name" in person:
        return {**person, "name": mask_name(str(person["name"]))}
    return person


def public_auction(view: dict[str, Any]) -> dict[str, Any]:
    """An auction as the room sees it: the leader's, last bidder's and winner's names
    masked."""
    out = dict(view)
    if out.get("leader") is not None:
        out["leader"] = mask_name(str(out["leader"]))
    out["last_bid"] = _masked(out.get("last_bid"))
    out["winner"] = _masked(out.get("winner"))
    return out


def public_giveaway(view: dict[str, Any]) -> dict[str, Any]:
    """A giveaway as the room sees it: the winner's name masked, an empty list as []."""
    out = dict(view)
    out["winner"] = _masked(out.get("winner"))
    if isinstance(out.get("eligible"), dict):
        out["eligible"] = []
    return out


class HubCheckout:
    """Implements ``chat.hub.CheckoutPort``. One per node, shared by its rooms."""

    def __init__(self, service: CheckoutService, *, max_rooms: int = MAX_ROOMS) -> None:
        if max_rooms < 1:
            raise ValueError("max_rooms must be at least 1")
        self.service = service
        self._max_rooms = max_rooms
        # room -> last order seen for ``bought``, least recently read first
        self._cursors: OrderedDict[str, str] = OrderedDict()
        # room -> the auction version the room held at the last lot tick that found it
        # behind Redis' (``lot_tick``); at most one entry per room with a running auction
        self._behind: dict[str, int] = {}

    async def init_stock(self, room_id: str, product_id: str, stock: int) -> None:
        await _checkout(lambda: self.service.init_stock(room_id, product_id, stock))

    async def sales(self, room_id: str) -> dict[str, dict[str, Any]]:
        return await _checkout(lambda: self.service.sales(room_id))

    async def execute(
        self, room_id: str, actor: Buyer, name: str, args: dict[str, Any], state: object
    ) -> tuple[dict[str, Any], RoomEvent | None]:
        """Run one checkout command; returns (reply data, the event to emit or ``None``).
        Raises ``CommandError``."""
        svc = self.service
        buyer = actor.buyer or actor.vid  # a signed-in buyer is the shop's user
        if name in _LOT_COMMANDS:
            return await _checkout(lambda: self._lot_command(room_id, actor, name, args, state))
        if name == "buy":
            reservation = await _checkout(
                lambda: svc.buy(
                    room_id,
                    args.get("product_id"),
                    buyer_vid=buyer,
                    buyer_name=actor.name,
                    qty=args.get("qty"),
                    key=args.get("key"),
                    address="" if actor.buyer or not actor.address else address_key(actor.address),
                    channel=args.get("channel", "live"),
                )
            )
            return {"reservation": reservation}, None
        if name == "pay":
            order = await _checkout(
                lambda: svc.pay(
                    room_id,
                    args.get("reservation_id"),
                    buyer_vid=buyer,
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
                    hold_seconds=args.get("hold_seconds"),
                    policy=args.get("policy"),
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

    async def _lot_command(
        self, room_id: str, actor: Buyer, name: str, args: dict[str, Any], state: object
    ) -> tuple[dict[str, Any], RoomEvent | None]:
        lots = self.service.auctions
        if name == "bid":
            if getattr(actor, "is_host", False):
                raise CheckoutError("forbidden", "the host cannot bid in their own auction")
            if actor.vid in getattr(state, "banned", ()):
                raise CommandError("banned", "you are banned from this room")
            result = await lots.bid(
                room_id,
                args.get("auction_id"),
                vid=actor.vid,
                name=actor.name,
                max_bid=args.get("max"),
                key=args.get("key"),
                card=args.get("card"),
            )
            auction = public_auction(result["auction"])
            data = {"accepted": True, "leading": result["leading"], "auction": auction}
            return data, AuctionChanged(auction=auction)
        if name == "cancel_auction":
            auction = public_auction(await lots.cancel(room_id, args.get("auction_id")))
            return {"auction": auction}, AuctionChanged(auction=auction)
        product = _product(state, args.get("product_id"))
        if name == "start_auction":
            terms = AuctionTerms.parse(args, str(product["currency"]))
            auction = public_auction(await lots.start(room_id, terms, args.get("key")))
            return {"auction": auction}, AuctionChanged(auction=auction)
        giveaway = public_giveaway(
            await lots.start_giveaway(room_id, args, str(product["currency"]))
        )
        return {"giveaway": giveaway}, GiveawayChanged(giveaway=giveaway)

    async def lots(self, room_id: str) -> dict[str, dict[str, Any] | None]:
        auction = await _checkout(lambda: self.service.auctions.current(room_id))
        giveaway = await _checkout(lambda: self.service.auctions.current_giveaway(room_id))
        return {
            "auction": None if auction is None else public_auction(auction),
            "giveaway": None if giveaway is None else public_giveaway(giveaway),
        }

    async def lot_tick(
        self, room_id: str, state: object, watchers: list[tuple[str, str, float]]
    ) -> list[RoomEvent]:
        """See ``CheckoutPort.lot_tick``."""
        lots = self.service.auctions
        out: list[RoomEvent] = []
        auction = getattr(state, "auction", None)
        if auction is None or auction.get("state") not in ("running", "won"):
            self._behind.pop(room_id, None)
        else:
            aid = str(auction["id"])
            step: Step = await _checkout(lambda: lots.close(room_id, aid))
            if step.changed and step.view is not None:
                out.append(AuctionChanged(auction=public_auction(step.view)))
            elif step.view is not None and self._still_behind(room_id, auction, step.view):
                # a bid's event (emitted after its reply) was lost: Redis' auction again
                out.append(AuctionChanged(auction=public_auction(step.view)))
            if step.view is not None and step.view["state"] == "won":
                step = await _checkout(lambda: lots.settle(room_id, aid))
                if step.changed and step.view is not None:
                    out.append(AuctionChanged(auction=public_auction(step.view)))
        giveaway = getattr(state, "giveaway", None)
        if giveaway is not None and giveaway.get("state") == "open":
            gid = str(giveaway["id"])
            if giveaway.get("rule") == "watched":
                need = float(giveaway.get("watched_seconds") or 0)
                people = [(vid, name) for vid, name, seconds in watchers if seconds >= need]
                await _checkout(lambda: lots.enter(room_id, gid, people))
            drawn: Step = await _checkout(lambda: lots.draw(room_id, gid))
            if drawn.changed and drawn.view is not None:
                out.append(GiveawayChanged(giveaway=public_giveaway(drawn.view)))
        return out

    def _still_behind(self, room_id: str, held: dict[str, Any], redis_view: dict[str, Any]) -> bool:
        """Whether the room's auction ``held`` is older than Redis' and was already so,
        at the same version, at the previous lot tick: no event came in between, so the
        one that would have brought it up to date was lost (an event merely in flight
        lands within a tick)."""
        held_v, redis_v = held.get("version"), redis_view.get("version")
        if not isinstance(held_v, int) or not isinstance(redis_v, int) or redis_v <= held_v:
            self._behind.pop(room_id, None)
            return False
        if self._behind.get(room_id) == held_v:
            self._behind.pop(room_id, None)
            return True
        self._behind[room_id] = held_v
        return False

    async def chatted(self, room_id: str, state: object, vid: str, name: str) -> None:
        giveaway = getattr(state, "giveaway", None)
        if giveaway is None or giveaway.get("state") != "open":
            return
        if giveaway.get("rule") != "chatted" or vid in getattr(state, "banned", ()):
            return
        gid = str(giveaway["id"])
        await _checkout(lambda: self.service.auctions.enter(room_id, gid, [(vid, name)]))

    def _remember(self, room_id: str, cursor: str) -> None:
        self._cursors[room_id] = cursor
        self._cursors.move_to_end(room_id)
        while len(self._cursors) > self._max_rooms:
            self._cursors.popitem(last=False)

    def forget(self, room_id: str) -> None:
        """Drop the ``bought`` cursor of a room this node no longer serves."""
        self._cursors.pop(room_id, None)
