"""The hub's side door into checkout: ``chat.checkout_port.CheckoutPort`` on a ``CheckoutService``.

The hub parses checkout, auction and giveaway commands into ``chat.commands``' typed
classes (``Buy``, ``Pay``, ``OpenSale``, ``CloseSale``, ``StartAuction``,
``CancelAuction``, ``Bid``, ``StartGiveaway``: fields as the client sent them) and
decides them with ``chat.decisions``' rules (host-only commands, who may bid, a lot's
product in the lineup); ``RUNS`` maps each class onto the service, which validates the
fields, and back:

=================  ==============================================================
command            reply data; event
=================  ==============================================================
``buy``            ``{"reservation": {...}}``
``pay``            ``{"order": {...}}``
``open_sale``      ``{"sale": {...}}``; a ``sale`` event
``close_sale``     ``{"sale": {...}}``; a ``sale`` event
``start_auction``  ``{"auction": {...}}``; an ``auction`` event
``cancel_auction`` ``{"auction": {...}}``; an ``auction`` event
``bid``            ``{"accepted": true, "leading": ..., "auction": {...}}``; ``auction``
``start_giveaway`` ``{"giveaway": {...}}``; a ``giveaway`` event
=================  ==============================================================

Fields: docs/checkout.md and docs/auctions.md. Each auction and giveaway in a reply or
an event has its people's names masked (``livecart.display_names.mask_name``).
``lot_tick`` closes, settles and draws (any node may: the scripts make each step once,
and only the call that made it gets an event to emit).

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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import fields
from typing import Any, Protocol, TypeVar

from livecart.addresses import address_key
from livecart.chat import commands as c
from livecart.chat.decisions import lot_product
from livecart.chat.errors import CommandError, ErrorCode
from livecart.chat.events import AuctionChanged, GiveawayChanged, RoomEvent, SaleChanged
from livecart.chat.room_state import RoomState
from livecart.checkout.auctions import AuctionTerms, Step
from livecart.checkout.errors import CheckoutError
from livecart.checkout.service import CheckoutService
from livecart.display_names import mask_name

BOUGHT_SAMPLE = 5
MAX_ROOMS = 10_000
T = TypeVar("T")


class Buyer(Protocol):
    """Who runs a checkout command, as far as checkout needs to know (``chat.actor.Actor``
    gives it): read only, never taken from the command's fields."""

    @property
    def vid(self) -> str:
        """The viewer id: the buyer when ``buyer`` is None, and always the bidder."""
        ...

    @property
    def name(self) -> str:
        """The display name, stored with holds, orders and bids (shown masked)."""
        ...

    @property
    def buyer(self) -> str | None:
        """``u:<sub>`` when the connection proved a shop account (``buyer_auth``): then
        the buyer instead of ``vid``, and free of the per-address cap."""
        ...

    @property
    def address(self) -> str:
        """The client address (``""`` when unknown): an anonymous buyer's unpaid holds
        are capped per address (``address_key``)."""
        ...


async def _checkout(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except CheckoutError as exc:
        raise CommandError(exc.code, exc.message, exc.retry_after) from exc


def _currency(state: RoomState, product_id: object) -> str:
    """The currency of a lot's product (``decisions``' rule checked it is in the lineup)."""
    return str(lot_product(state, product_id)["currency"])


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


Outcome = tuple[dict[str, Any], RoomEvent | None]


async def _buy(
    svc: CheckoutService, room_id: str, actor: Buyer, cmd: c.Buy, _: RoomState
) -> Outcome:
    reservation = await svc.buy(
        room_id,
        cmd.product_id,
        buyer_vid=actor.buyer or actor.vid,  # a signed-in buyer is the shop's user
        buyer_name=actor.name,
        qty=cmd.qty,
        key=cmd.key,
        address="" if actor.buyer or not actor.address else address_key(actor.address),
        channel=cmd.channel,
    )
    return {"reservation": reservation}, None


async def _pay(
    svc: CheckoutService, room_id: str, actor: Buyer, cmd: c.Pay, _: RoomState
) -> Outcome:
    order = await svc.pay(
        room_id, cmd.reservation_id, buyer_vid=actor.buyer or actor.vid, card=cmd.card, key=cmd.key
    )
    return {"order": order}, None


def _sale(sale: dict[str, Any]) -> Outcome:
    return {"sale": sale}, SaleChanged(product_id=sale["product_id"], sale=sale)


async def _open_sale(
    svc: CheckoutService, room_id: str, _actor: Buyer, cmd: c.OpenSale, _: RoomState
) -> Outcome:
    return _sale(
        await svc.open_sale(
            room_id,
            cmd.product_id,
            price=cmd.price,
            currency=cmd.currency,
            units=cmd.units,
            limit=cmd.limit,
            opens_at=cmd.opens_at,
            ends_at=cmd.ends_at,
            hold_seconds=cmd.hold_seconds,
            policy=cmd.policy,
        )
    )


async def _close_sale(
    svc: CheckoutService, room_id: str, _actor: Buyer, cmd: c.CloseSale, _: RoomState
) -> Outcome:
    return _sale(await svc.close_sale(room_id, cmd.product_id))


def _auction(view: dict[str, Any], **reply: Any) -> Outcome:
    auction = public_auction(view)
    return {**reply, "auction": auction}, AuctionChanged(auction=auction)


async def _start_auction(
    svc: CheckoutService, room_id: str, _actor: Buyer, cmd: c.StartAuction, state: RoomState
) -> Outcome:
    terms = AuctionTerms.parse(_fields(cmd), _currency(state, cmd.product_id))
    return _auction(await svc.auctions.start(room_id, terms, cmd.key))


async def _cancel_auction(
    svc: CheckoutService, room_id: str, _actor: Buyer, cmd: c.CancelAuction, _: RoomState
) -> Outcome:
    return _auction(await svc.auctions.cancel(room_id, cmd.auction_id))


async def _bid(
    svc: CheckoutService, room_id: str, actor: Buyer, cmd: c.Bid, _: RoomState
) -> Outcome:
    result = await svc.auctions.bid(
        room_id,
        cmd.auction_id,
        vid=actor.vid,
        name=actor.name,
        max_bid=cmd.max_bid,
        key=cmd.key,
        card=cmd.card,
    )
    return _auction(result["auction"], accepted=True, leading=result["leading"])


async def _start_giveaway(
    svc: CheckoutService, room_id: str, _actor: Buyer, cmd: c.StartGiveaway, state: RoomState
) -> Outcome:
    view = await svc.auctions.start_giveaway(
        room_id, _fields(cmd), _currency(state, cmd.product_id)
    )
    giveaway = public_giveaway(view)
    return {"giveaway": giveaway}, GiveawayChanged(giveaway=giveaway)


def _fields(cmd: c.CheckoutCommand) -> dict[str, Any]:
    """A command's fields by name, for the checkout parsers that read them so."""
    return {f.name: getattr(cmd, f.name) for f in fields(cmd)}


Run = Callable[[CheckoutService, str, Buyer, Any, RoomState], Awaitable[Outcome]]

RUNS: Mapping[type[c.CheckoutCommand], Run] = {
    c.Buy: _buy,
    c.Pay: _pay,
    c.OpenSale: _open_sale,
    c.CloseSale: _close_sale,
    c.StartAuction: _start_auction,
    c.CancelAuction: _cancel_auction,
    c.Bid: _bid,
    c.StartGiveaway: _start_giveaway,
}
"""How each checkout command runs on the service: one entry per command class (its
rule, who may send it and what the room must hold, is ``chat.decisions``')."""


class HubCheckout:
    """Implements ``chat.checkout_port.CheckoutPort``. One per node, shared by its rooms."""

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
        """Set up a product's stock (``CheckoutService.init_stock``: a no-op when it exists).
        Raises ``CommandError``."""
        await _checkout(lambda: self.service.init_stock(room_id, product_id, stock))

    async def sales(self, room_id: str) -> dict[str, dict[str, Any]]:
        """The room's sales by product (open, scheduled or closed), as the snapshot carries
        them. Raises ``CommandError``."""
        return await _checkout(lambda: self.service.sales(room_id))

    async def execute(
        self, room_id: str, actor: Buyer, command: c.CheckoutCommand, state: RoomState
    ) -> Outcome:
        """Run one checkout command; returns (reply data, the event to emit or ``None``).
        Raises ``CommandError``."""
        run = RUNS.get(type(command))
        if run is None:
            raise CommandError(ErrorCode.BAD_COMMAND, f"{command.NAME} is not a checkout command")
        return await _checkout(lambda: run(self.service, room_id, actor, command, state))

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

    async def lots(self, room_id: str) -> dict[str, dict[str, Any] | None]:
        """The room's current auction and giveaway (``None`` when there is none), names
        masked, as the snapshot carries them. Raises ``CommandError``."""
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
        """Enter a viewer who chatted into the room's open giveaway when its rule is
        ``chatted`` and the viewer is not banned; otherwise do nothing. Raises
        ``CommandError``."""
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
