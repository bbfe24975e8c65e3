"""The room as a client sees it: a snapshot with every event since applied to it.

``RoomView.from_snapshot(snapshot)`` starts one; ``apply(item)`` folds in whatever
``ClientProtocol.receive`` yields (room events, ``Reset``, ``Resumed``, ``LiveChanged``;
the rest changes nothing). Mappings handed out (``products``, ``sales``) are the
events' own: read them, do not write to them. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from livecart.client.events import (
    ChatDeleted,
    ChatMessage,
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

    @classmethod
    def from_snapshot(cls, snapshot: Snapshot) -> RoomView:
        live = dict(snapshot.live)
        live.setdefault("hearts_total", 0)
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
        )

    @property
    def pinned_product(self) -> Mapping[str, Any] | None:
        """The pinned product's object (``id``, ``name``, ``price``, ``currency``, ...)."""
        return None if self.pinned is None else self.products.get(self.pinned)

    def apply(self, item: object) -> None:
        if isinstance(item, Reset):
            fresh = RoomView.from_snapshot(item.snapshot)
            for name in RoomView.__slots__:
                setattr(self, name, getattr(fresh, name))
            return
        if isinstance(item, Resumed):
            self.epoch, self.you = item.epoch, item.you
            self.live.update(item.live)
            return
        if isinstance(item, LiveChanged):
            self._live(item.values)
            return
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
