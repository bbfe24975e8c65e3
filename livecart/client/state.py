"""The room as a client sees it: a snapshot with every event since applied to it.

``RoomView.from_snapshot(snapshot)`` starts one; ``apply(item)`` folds in whatever
``ClientProtocol.receive`` yields (room events, ``Reset``, ``Resumed``, ``LiveChanged``;
the rest changes nothing) and returns the auction and giveaway markers the item gives
rise to (``livecart.client.auctions``; an empty list for most items). Mappings handed
out (``products``, ``sales``) are the events' own: read them, do not write to them.

The auction and the giveaway are the latest the room's events carried (``auction``,
``giveaway``): exact, since every ``auction`` event holds the whole auction. Time left
is counted from when the event was applied (``seen_at``, ``time.monotonic()`` unless
``apply`` is given ``now``), never by comparing this machine's clock with the server's.
``my_bids`` holds this client's highest accepted max per auction, as recorded with
``note_bid`` (the connection's ``bid`` does). Pure; no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from livecart.client.auctions import (
    Auction,
    AuctionMarker,
    Giveaway,
    GiveawayMarker,
    auction_markers,
    giveaway_markers,
)
from livecart.client.events import (
    AuctionChanged,
    ChatDeleted,
    ChatMessage,
    GiveawayChanged,
    LineupChanged,
    LiveChanged,
    Moderated,
    Pinned,
    ProductChanged,
    Reset,
    Resumed,
    RoomChanged,
    RoomInfo,
    SaleChanged,
    Snapshot,
    You,
)

#: chat messages a view keeps, as many as a snapshot carries
CHAT_KEPT = 50


@dataclass(slots=True)
class RoomView:
    """The room as a client sees it: the snapshot it joined with and every event applied
    since, in order (epoch, seq, products, lineup, pin, sales, chat and live values)."""

    epoch: str
    seq: int
    you: You
    room: RoomInfo
    products: dict[str, Mapping[str, Any]]
    lineup: list[str]
    pinned: str | None
    sales: dict[str, Mapping[str, Any]]
    chat: list[ChatMessage]
    live: dict[str, Any] = field(default_factory=dict)
    auction: Auction | None = None
    giveaway: Giveaway | None = None
    auction_seen_at: float = 0.0
    giveaway_seen_at: float = 0.0
    my_bids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot, now: float | None = None) -> RoomView:
        """The view a snapshot gives (``now``: when it arrived, on the monotonic clock)."""
        live = dict(snapshot.live)
        live.setdefault("hearts_total", 0)
        seen = time.monotonic() if now is None else now
        return cls(
            epoch=snapshot.epoch,
            seq=snapshot.seq,
            you=snapshot.you,
            room=snapshot.room,
            products=dict(snapshot.products),
            lineup=list(snapshot.lineup),
            pinned=snapshot.pinned,
            sales=dict(snapshot.sales),
            chat=[e for e in snapshot.chat if isinstance(e, ChatMessage)][-CHAT_KEPT:],
            live=live,
            auction=snapshot.auction,
            giveaway=snapshot.giveaway,
            auction_seen_at=seen,
            giveaway_seen_at=seen,
        )

    @property
    def pinned_product(self) -> Mapping[str, Any] | None:
        """The pinned product's object (``id``, ``name``, ``price``, ``currency``, ...)."""
        return None if self.pinned is None else self.products.get(self.pinned)

    # -- the auction and the giveaway -------------------------------------------------

    @property
    def my_max(self) -> int | None:
        """This client's highest accepted max bid in the current auction, if any."""
        return None if self.auction is None else self.my_bids.get(self.auction.id)

    @property
    def leading(self) -> bool:
        """This client leads the running auction."""
        a = self.auction
        return a is not None and a.running and a.leader_vid == self.you.vid

    @property
    def won(self) -> bool:
        """This client won the current auction (``auction.order_id`` once ``sold``)."""
        a = self.auction
        return a is not None and a.winner is not None and a.winner.vid == self.you.vid

    def auction_time_left(self, now: float | None = None) -> float:
        """Seconds left in the running auction (0.0 when none runs): the event's own
        ``ends_at - server_now``, less the time since it was applied (``now`` is a
        ``time.monotonic()`` reading)."""
        a = self.auction
        if a is None or not a.running:
            return 0.0
        elapsed = (time.monotonic() if now is None else now) - self.auction_seen_at
        return max(0.0, a.time_left_ms / 1000 - elapsed)

    def giveaway_time_left(self, now: float | None = None) -> float:
        """Seconds left in the open giveaway (0.0 when none is open)."""
        g = self.giveaway
        if g is None or not g.open:
            return 0.0
        elapsed = (time.monotonic() if now is None else now) - self.giveaway_seen_at
        return max(0.0, g.time_left_ms / 1000 - elapsed)

    def note_bid(self, auction_id: str, max_bid: int) -> None:
        """Record an accepted bid of this client (``my_max`` only ever rises)."""
        self.my_bids[auction_id] = max(max_bid, self.my_bids.get(auction_id, 0))

    # -- folding ---------------------------------------------------------------------

    def apply(self, item: object, now: float | None = None) -> list[AuctionMarker | GiveawayMarker]:
        """Fold one item in; the auction and giveaway markers it gives rise to."""
        if isinstance(item, Reset):
            before_a, before_g, bids = self.auction, self.giveaway, self.my_bids
            fresh = RoomView.from_snapshot(item.snapshot, now)
            for name in RoomView.__slots__:
                setattr(self, name, getattr(fresh, name))
            self.my_bids = bids  # what this client bid is not the room's to forget
            out: list[AuctionMarker | GiveawayMarker] = []
            if self.auction is not None:
                out += auction_markers(before_a, self.auction, self.you.vid)
            if self.giveaway is not None:
                out += giveaway_markers(before_g, self.giveaway)
            return out
        if isinstance(item, Resumed):
            self.epoch, self.you = item.epoch, item.you
            self.live.update(item.live)
            return []
        if isinstance(item, LiveChanged):
            self._live(item.values)
            return []
        if isinstance(item, AuctionChanged | GiveawayChanged):
            self.seq = max(self.seq, item.seq)
            return self._lot(item, time.monotonic() if now is None else now)
        self._room_event(item)
        return []

    def _lot(
        self, item: AuctionChanged | GiveawayChanged, now: float
    ) -> list[AuctionMarker | GiveawayMarker]:
        out: list[AuctionMarker | GiveawayMarker] = []
        try:
            if isinstance(item, AuctionChanged):
                auction = Auction.from_wire(item.auction)
                if auction.older_than(self.auction):
                    return out  # a parallel bid's event overtaken by a newer one
                out += auction_markers(self.auction, auction, self.you.vid)
                self.auction, self.auction_seen_at = auction, now
            else:
                giveaway = Giveaway.from_wire(item.giveaway)
                out += giveaway_markers(self.giveaway, giveaway)
                self.giveaway, self.giveaway_seen_at = giveaway, now
        except ValueError:
            pass  # an object this version cannot read leaves the view as it was
        return out

    def _room_event(self, item: object) -> None:
        seq = getattr(item, "seq", None)
        if isinstance(seq, int):
            self.seq = max(self.seq, seq)
        if isinstance(item, ChatMessage):
            self.chat.append(item)
            del self.chat[:-CHAT_KEPT]
        elif isinstance(item, ChatDeleted):
            self.chat = [m for m in self.chat if m.seq != item.id]
        elif isinstance(item, RoomChanged):
            self.room = item.room
        elif isinstance(item, ProductChanged):
            self.products[item.product_id] = item.product
            if item.product_id not in self.lineup:  # a new product joins the lineup
                self.lineup.append(item.product_id)
        elif isinstance(item, LineupChanged):
            self.lineup = list(item.lineup)
        elif isinstance(item, Pinned):
            self.pinned = item.product_id
        elif isinstance(item, SaleChanged):
            if item.sale is None:
                self.sales.pop(item.product_id, None)
            else:
                self.sales[item.product_id] = item.sale
        elif (
            isinstance(item, Moderated)
            and item.vid == self.you.vid
            and item.action in ("mute", "unmute")
        ):
            self.you = replace(self.you, muted=item.action == "mute")

    def _live(self, values: Mapping[str, Any]) -> None:
        for key, value in values.items():
            if key == "hearts" and isinstance(value, int):
                self.live["hearts_total"] = int(self.live.get("hearts_total", 0)) + value
            if key == "stock" and isinstance(value, dict):
                value = {**self.live.get("stock", {}), **value}  # only what changed
            self.live[key] = value
