"""Every command of docs/protocol.md (and docs/checkout.md) as a typed method.

``Commands`` is a mixin over one method, ``command(cmd, **args)``, which sends a command
and returns its reply's ``data`` or raises ``CommandError`` with the reply's code (the
connection supplies it). Each method here names its arguments, sends nothing the
protocol does not define, and returns the useful part of the reply. Host-only methods
need a connection opened with the room's host token; a viewer gets ``forbidden``.
No I/O of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from livecart.client.auctions import Auction, BidResult, Giveaway


def new_key() -> str:
    """A fresh idempotency key for ``buy``/``pay``/``bid``/``start_auction`` (22
    characters of ``[A-Za-z0-9_-]``)."""
    return secrets.token_urlsafe(16)


class Commands:
    """Every command of docs/protocol.md as a typed method over ``command`` (a mixin; the
    connection supplies ``command``). Each sends only what the protocol defines, awaits the
    reply and returns its useful part; a refusal raises ``CommandError`` with the reply's
    code. Host-only methods get ``forbidden`` on a viewer's connection."""

    async def command(
        self, cmd: str, /, *, timeout: float | None = None, **args: Any
    ) -> Mapping[str, Any]:
        """Send ``cmd`` with ``args`` and return the reply's ``data``; raises
        ``CommandError`` for an error reply. Supplied by the connection, which documents its
        other errors."""
        raise NotImplementedError

    # -- everyone ------------------------------------------------------------------------

    async def chat(self, text: str) -> int:
        """Post a chat message; returns its ``seq`` (which is also its id)."""
        return int((await self.command("chat", text=text))["seq"])

    async def heart(self, n: int = 1) -> None:
        """Send ``n`` (1-50) heart taps."""
        await self.command("heart", n=n)

    async def explain(self, product_id: str) -> int:
        """Ask the host to explain a product; returns its request count."""
        return int((await self.command("explain", product_id=product_id))["requests"])

    async def ping(self) -> float:
        """The server's clock, in milliseconds since the Unix epoch."""
        return float((await self.command("ping"))["ts"])

    async def buy(self, product_id: str, qty: int = 1, key: str | None = None) -> Mapping[str, Any]:
        """Reserve ``qty`` units; returns the reservation. Retrying with the same ``key``
        never buys twice (docs/checkout.md)."""
        data = await self.command("buy", product_id=product_id, qty=qty, key=key or new_key())
        return dict(data["reservation"])

    async def pay(
        self, reservation_id: str, card: str, key: str | None = None
    ) -> Mapping[str, Any]:
        """Pay a reservation; returns the order."""
        data = await self.command(
            "pay", reservation_id=reservation_id, card=card, key=key or new_key()
        )
        return dict(data["order"])

    async def bid(
        self, auction_id: str, max_bid: int, key: str | None = None, card: str | None = None
    ) -> BidResult:
        """Bid in a running auction: ``max_bid`` is the auction's ``next_bid`` for a
        one-tap bid, or more for a max bid that the server raises for you, one increment
        at a time, only as far as a rival's max makes it (proxy bidding,
        docs/auctions.md). ``card`` (optional) is saved with the payment provider and
        charged automatically if this bid wins.

        The reply is definite: a ``BidResult`` (accepted; ``leading`` False means a
        higher max outbid it at once) or ``CommandError`` with ``bid_too_low``
        (``message`` gives the next bid), ``auction_closed`` (by Redis' clock),
        ``not_found``, ``forbidden`` (the host), ``banned``, ``key_reused``,
        ``payment_declined``/``payment_timeout`` (the card was not saved; no bid made)
        or ``unavailable``. A refused bid changes nothing. After ``Disconnected`` or a
        timeout, retry with the same ``key`` and arguments: the server returns the
        first reply and never counts the bid twice."""
        args: dict[str, Any] = {"auction_id": auction_id, "max": max_bid, "key": key or new_key()}
        if card is not None:
            args["card"] = card
        result = BidResult.from_wire(await self.command("bid", **args))
        self._bid_accepted(auction_id, max_bid)
        return result

    def _bid_accepted(self, auction_id: str, max_bid: int) -> None:
        """Called after each accepted ``bid`` (the connection records ``my_max``)."""

    # -- host only -----------------------------------------------------------------------

    async def add_product(
        self, name: str, price: int, currency: str, stock: int, image_url: str = ""
    ) -> Mapping[str, Any]:
        """Add a product to the lineup; returns it (with its ``id``)."""
        args: dict[str, Any] = {"name": name, "price": price, "currency": currency}
        if image_url:
            args["image_url"] = image_url
        data = await self.command("add_product", stock=stock, **args)
        return dict(data["product"])

    async def update_product(self, product_id: str, **changes: Any) -> Mapping[str, Any]:
        """Change any of ``name``, ``price``, ``currency``, ``image_url``; returns it."""
        data = await self.command("update_product", product_id=product_id, **changes)
        return dict(data["product"])

    async def reorder(self, lineup: Iterable[str]) -> None:
        """Replace the lineup with ``lineup`` (product ids in order). Host only."""
        await self.command("reorder", lineup=list(lineup))

    async def pin(self, product_id: str | None) -> None:
        """Pin a product (``None`` unpins); clears its explain requests."""
        await self.command("pin", product_id=product_id)

    async def dismiss(self, product_id: str) -> None:
        """Clear a product's explain requests."""
        await self.command("dismiss", product_id=product_id)

    async def delete(self, message_id: int) -> None:
        """Delete a chat message (its id is its ``seq``)."""
        await self.command("delete", message_id=message_id)

    async def mute(self, vid: str) -> None:
        """Mute a viewer: their chat is refused until unmuted. Host only."""
        await self.command("mute", vid=vid)

    async def unmute(self, vid: str) -> None:
        """Unmute a viewer. Host only."""
        await self.command("unmute", vid=vid)

    async def ban(self, vid: str) -> None:
        """Ban a viewer; their sockets close with 4003."""
        await self.command("ban", vid=vid)

    async def unban(self, vid: str) -> None:
        """Lift a viewer's ban. Host only."""
        await self.command("unban", vid=vid)

    async def slow_mode(self, seconds: int) -> None:
        """One chat message per ``seconds`` per viewer (0 turns it off)."""
        await self.command("slow_mode", seconds=seconds)

    async def banned_words(self, words: Iterable[str]) -> None:
        """Replace the room's banned words. Host only."""
        await self.command("banned_words", words=list(words))

    async def set_status(self, status: str) -> None:
        """``scheduled``, ``live`` or ``ended``."""
        await self.command("status", status=status)

    async def set_lang(self, lang: str) -> None:
        """The room's default page language (``zh-CN``; ``""`` for none)."""
        await self.command("set_lang", lang=lang)

    async def open_sale(
        self,
        product_id: str,
        price: int,
        currency: str,
        units: int,
        limit: int,
        opens_at: float | None = None,
        ends_at: float | None = None,
    ) -> Mapping[str, Any]:
        """Open (or schedule, with ``opens_at`` in ms) a flash sale; returns the sale."""
        times = {k: v for k, v in (("opens_at", opens_at), ("ends_at", ends_at)) if v is not None}
        data = await self.command(
            "open_sale",
            product_id=product_id,
            price=price,
            currency=currency,
            units=units,
            limit=limit,
            **times,
        )
        return dict(data["sale"])

    async def close_sale(self, product_id: str) -> Mapping[str, Any]:
        """Close the product's sale; returns the sale. Host only."""
        return dict((await self.command("close_sale", product_id=product_id))["sale"])

    async def start_auction(
        self,
        product_id: str,
        start_price: int,
        duration: int,
        *,
        counter_seconds: int = 10,
        sudden_death: bool = False,
        reserve: int | None = None,
        increments: Sequence[tuple[int, int]] | None = None,
        key: str | None = None,
    ) -> Auction:
        """Auction one unit of a lineup product; returns the running auction. The unit
        moves from ``available`` to ``reserved`` while it runs. ``duration`` 5-300 s;
        ``counter_seconds`` 0-60 (a bid with less left resets the end to that); with
        ``sudden_death`` the end never moves; ``reserve`` is never shown to viewers;
        ``increments`` is the ``[(from, step), ...]`` table (default: docs/auctions.md).
        The same ``key`` and terms return the same auction. Errors: ``bad_args``,
        ``not_found``, ``sold_out``, ``auction_running``, ``key_reused``,
        ``unavailable``. There is no close command: the server closes the auction at
        its end by Redis' clock, exactly once, and charges the winner."""
        args: dict[str, Any] = {
            "product_id": product_id,
            "start_price": start_price,
            "duration": duration,
            "counter_seconds": counter_seconds,
            "sudden_death": sudden_death,
            "key": key or new_key(),
        }
        if reserve is not None:
            args["reserve"] = reserve
        if increments is not None:
            args["increments"] = [[int(a), int(b)] for a, b in increments]
        return Auction.from_wire((await self.command("start_auction", **args))["auction"])

    async def cancel_auction(self, auction_id: str) -> Auction:
        """Cancel before the first bid (the unit goes back to ``available``); returns the
        cancelled auction. ``has_bids`` after a bid, ``auction_closed`` once it ended."""
        data = await self.command("cancel_auction", auction_id=auction_id)
        return Auction.from_wire(data["auction"])

    async def start_giveaway(
        self, product_id: str, rule: str, duration: int, *, watched_seconds: int | None = None
    ) -> Giveaway:
        """Give one unit away: ``rule`` is ``watched`` (connected ``watched_seconds``,
        1-3600, without a break), ``chatted`` (chatted while it is open) or ``bought``
        (has an order in this show); ``duration`` 5-600 s. Returns the open giveaway with
        its ``commitment``; the draw at the end reveals the seed (``Giveaway.verify``).
        Viewers enter by meeting the rule: there is no command to enter. Errors:
        ``bad_args``, ``not_found``, ``sold_out``, ``giveaway_running``, ``unavailable``."""
        args: dict[str, Any] = {"product_id": product_id, "rule": rule, "duration": duration}
        if watched_seconds is not None:
            args["watched_seconds"] = watched_seconds
        return Giveaway.from_wire((await self.command("start_giveaway", **args))["giveaway"])
