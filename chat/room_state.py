"""The state of one room as every node sees it, rebuilt from sequenced events.

A node loads a ``RoomState`` from the store once and then applies every event the room
publishes, in ``seq`` order. ``apply`` is deterministic: two nodes that applied the same
events hold equal states, so any node can answer a join with a snapshot from memory.

Guarantees:
- ``apply`` accepts only the next event (``seq == self.seq + 1``); an older one is
  ignored (returns None), a newer one raises ``SequenceGap`` and changes nothing: the
  caller fetches what is missing.
- ``apply`` never changes the event; what each event type does is one entry of
  ``_APPLY``. It returns the event's wire dict, made once here: the room enqueues that
  same dict for its batch, and ``history`` keeps it for resumes.
- ``history`` keeps the last ``HISTORY`` events (wire dicts), so ``events_since`` can
  answer a resume exactly or say it cannot (None). A deleted message's event is
  replaced there by its tombstone (``events.tombstone``: no text, no sender), as in the
  store: a deletion leaves its text in no snapshot, resume or history.
Pure; no I/O.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livecart.auction_versions import newer_auction
from livecart.chat.chat_rules import compile_banned_words
from livecart.chat.errors import SequenceGap
from livecart.chat.events import (
    CHAT_TYPES,
    MODERATION,
    AuctionChanged,
    ChatDeleted,
    ChatMessage,
    GiveawayChanged,
    LineupChanged,
    Moderated,
    Pinned,
    ProductChanged,
    RoomChanged,
    RoomEvent,
    RoomInfo,
    SaleChanged,
    event_from_wire,
    tombstone,
)
from livecart.text import TextRefused, normalize

HISTORY = 1000
RECENT_CHAT = 50

__all__ = ["HISTORY", "RECENT_CHAT", "RoomState", "SequenceGap"]


def clean_words(words: list[Any]) -> list[str]:
    """Stored banned words as the text rules keep them: normalized, trimmed, lowercase,
    each once; a word the rules refuse is left out."""
    kept: dict[str, None] = {}
    for word in words if isinstance(words, list) else []:
        if not isinstance(word, str):
            continue
        try:
            clean = normalize(word).strip().lower()
        except TextRefused:
            continue
        if clean:
            kept[clean] = None
    return list(kept)


@dataclass
class RoomState:
    """One room as every node holds it: the room record, catalog, lineup, pin, sales,
    auction, giveaway, moderation, banned words and the recent chat and history, as of
    ``seq`` under ``epoch``. Changed only by ``apply``, one sequenced event at a time, in
    ``seq`` order; deterministic, so nodes that applied the same events hold equal states.
    """

    room_id: str
    epoch: str
    seq: int = 0
    title: str = ""
    host: str = ""
    status: str = "scheduled"
    slow_mode: int = 0
    lang: str = ""
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    lineup: list[str] = field(default_factory=list)
    pinned: str | None = None
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    auction: dict[str, Any] | None = None
    giveaway: dict[str, Any] | None = None
    muted: set[str] = field(default_factory=set)
    banned: set[str] = field(default_factory=set)
    banned_words: list[str] = field(default_factory=list)
    banned_pattern: re.Pattern[str] | None = None
    chat: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_CHAT))
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def info(self) -> RoomInfo:
        """The room record as a ``RoomInfo``."""
        return RoomInfo(self.room_id, self.title, self.host, self.status, self.slow_mode, self.lang)

    def set_banned_words(self, words: list[Any]) -> None:
        """Take the room's banned words as stored; anything a list written before the
        text rules could hold that they now refuse (a lone surrogate, a non-string) is
        dropped, so no stored list can make a snapshot unencodable."""
        self.banned_words = clean_words(words)
        self.banned_pattern = compile_banned_words(self.banned_words)

    def is_message(self, message_id: int) -> bool:
        """True when ``message_id`` is a chat message still in the history."""
        return any(e["seq"] == message_id and e["type"] == "chat" for e in self.history)

    def apply(self, event: RoomEvent) -> dict[str, Any] | None:
        """Apply the next event and return its wire dict; None for a duplicate.

        Raises ``SequenceGap`` (nothing changed) when events before it are missing.
        """
        if event.seq <= self.seq:
            return None
        if event.seq != self.seq + 1:
            raise SequenceGap(self.seq, event.seq)
        wire = event.to_wire()
        _APPLY[type(event)](self, event, wire)
        self.seq = event.seq
        self.history.append(wire)
        return wire

    def restore_history(self, records: list[dict[str, Any]]) -> None:
        """Take the room's stored history (sequenced records, oldest first) and rebuild
        the recent chat. Raises ``ValueError`` for a record that is not a room event.

        The other state comes from its own keys; only chat lives in the history alone.
        """
        self.history = deque(maxlen=HISTORY)
        self.chat = deque(maxlen=RECENT_CHAT)
        for record in records[-HISTORY:]:
            event = event_from_wire(record)
            wire = event.to_wire()
            if event.TYPE in CHAT_TYPES:
                _APPLY[type(event)](self, event, wire)
            self.history.append(wire)

    def events_since(self, since: int) -> list[dict[str, Any]] | None:
        """Every event after ``since`` in order, or None when history no longer has them."""
        if since > self.seq:
            return None
        if since == self.seq:
            return []
        if not self.history or self.history[0]["seq"] > since + 1:
            return None
        start = since + 1 - self.history[0]["seq"]
        return list(self.history)[start:]

    def snapshot(self) -> dict[str, Any]:
        """Everything a fresh client needs, without the per-viewer and live parts."""
        return {
            "epoch": self.epoch,
            "seq": self.seq,
            "room": self.info().to_wire(),
            "products": dict(self.products),
            "lineup": list(self.lineup),
            "pinned": self.pinned,
            "sales": dict(self.sales),
            "auction": self.auction,
            "giveaway": self.giveaway,
            "chat": list(self.chat),
        }


# -- what each event does to the state: one entry per event type --------------------------


def _chat(state: RoomState, _event: ChatMessage, wire: dict[str, Any]) -> None:
    state.chat.append(wire)


def _chat_deleted(state: RoomState, event: ChatDeleted, _wire: dict[str, Any]) -> None:
    kept = [m for m in state.chat if m["id"] != event.id]
    if len(kept) != len(state.chat):
        state.chat = deque(kept, maxlen=RECENT_CHAT)
    history = state.history
    index = event.id - int(history[0]["seq"]) if history else -1
    if 0 <= index < len(history) and history[index]["type"] == ChatMessage.TYPE:
        history[index] = tombstone(event).to_wire()  # the text is gone from resumes too


def _room(state: RoomState, event: RoomChanged, _wire: dict[str, Any]) -> None:
    info = event.room
    state.title, state.host, state.status = info.title, info.host, info.status
    state.slow_mode = info.slow_mode
    state.lang = info.lang


def _product(state: RoomState, event: ProductChanged, _wire: dict[str, Any]) -> None:
    pid = event.product_id
    state.products[pid] = dict(event.product)
    if pid not in state.lineup:
        state.lineup.append(pid)


def _lineup(state: RoomState, event: LineupChanged, _wire: dict[str, Any]) -> None:
    state.lineup = list(event.lineup)


def _pin(state: RoomState, event: Pinned, _wire: dict[str, Any]) -> None:
    state.pinned = event.product_id


def _moderation(state: RoomState, event: Moderated, _wire: dict[str, Any]) -> None:
    name, joins = MODERATION[event.action]
    target = state.muted if name == "muted" else state.banned
    if joins:
        target.add(event.vid)
    else:
        target.discard(event.vid)


def _sale(state: RoomState, event: SaleChanged, _wire: dict[str, Any]) -> None:
    if event.sale is None:
        state.sales.pop(event.product_id, None)
    else:
        state.sales[event.product_id] = dict(event.sale)


def _auction(state: RoomState, event: AuctionChanged, _wire: dict[str, Any]) -> None:
    if newer_auction(state.auction, event.auction):
        state.auction = dict(event.auction)


def _giveaway(state: RoomState, event: GiveawayChanged, _wire: dict[str, Any]) -> None:
    state.giveaway = dict(event.giveaway)


_APPLY: Mapping[type[RoomEvent], Callable[[RoomState, Any, dict[str, Any]], None]] = {
    ChatMessage: _chat,
    ChatDeleted: _chat_deleted,
    RoomChanged: _room,
    ProductChanged: _product,
    LineupChanged: _lineup,
    Pinned: _pin,
    Moderated: _moderation,
    SaleChanged: _sale,
    AuctionChanged: _auction,
    GiveawayChanged: _giveaway,
}
