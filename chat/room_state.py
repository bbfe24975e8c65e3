"""The state of one room as every node sees it, rebuilt from sequenced events.

A node loads a ``RoomState`` from Redis once and then applies every event the room
publishes, in ``seq`` order. ``apply`` is deterministic: two nodes that applied the same
events hold equal states, so any node can answer a join with a snapshot from memory.

Guarantees:
- ``apply`` accepts only the next event (``seq == self.seq + 1``); an older one is
  ignored (returns False), a newer one raises ``SequenceGap`` and changes nothing: the
  caller fetches what is missing.
- ``history`` keeps the last ``HISTORY`` events, so ``events_since`` can answer a resume
  exactly or say it cannot (None).
Pure; no I/O.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from livecart.chat.chat_rules import compile_banned_words

HISTORY = 1000
RECENT_CHAT = 50
CHAT_TYPES = frozenset({"chat", "chat_deleted"})


class SequenceGap(Exception):
    """An event arrived with a seq beyond the next one; the events between are missing."""

    def __init__(self, have: int, got: int) -> None:
        super().__init__(f"have seq {have}, got {got}")
        self.have = have
        self.got = got


@dataclass
class RoomState:
    room_id: str
    epoch: str
    seq: int = 0
    title: str = ""
    host: str = ""
    status: str = "scheduled"
    slow_mode: int = 0
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    lineup: list[str] = field(default_factory=list)
    pinned: str | None = None
    sales: dict[str, dict[str, Any]] = field(default_factory=dict)
    muted: set[str] = field(default_factory=set)
    banned: set[str] = field(default_factory=set)
    banned_words: list[str] = field(default_factory=list)
    banned_pattern: re.Pattern[str] | None = None
    chat: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_CHAT))
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))

    def room_info(self) -> dict[str, Any]:
        return {
            "id": self.room_id,
            "title": self.title,
            "host": self.host,
            "status": self.status,
            "slow_mode": self.slow_mode,
        }

    def set_banned_words(self, words: list[str]) -> None:
        self.banned_words = list(words)
        self.banned_pattern = compile_banned_words(words)

    def apply(self, event: dict[str, Any]) -> bool:
        """Apply the next event. Returns False for a duplicate; raises ``SequenceGap``."""
        seq = event["seq"]
        if seq <= self.seq:
            return False
        if seq != self.seq + 1:
            raise SequenceGap(self.seq, seq)
        self._mutate(event)
        self.seq = seq
        self.history.append(event)
        return True

    def _mutate(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "chat":
            event["id"] = event["seq"]
            self.chat.append(event)
        elif kind == "chat_deleted":
            gone = event.get("id")
            kept = [m for m in self.chat if m.get("id") != gone]
            if len(kept) != len(self.chat):
                self.chat = deque(kept, maxlen=RECENT_CHAT)
        elif kind == "room":
            info = event.get("room", {})
            self.title = info.get("title", self.title)
            self.host = info.get("host", self.host)
            self.status = info.get("status", self.status)
            self.slow_mode = int(info.get("slow_mode", self.slow_mode))
        elif kind == "product":
            product = event["product"]
            self.products[product["id"]] = product
            if product["id"] not in self.lineup:
                self.lineup.append(product["id"])
        elif kind == "lineup":
            self.lineup = list(event["lineup"])
        elif kind == "pin":
            self.pinned = event.get("product_id")
        elif kind == "moderation":
            action, vid = event["action"], event["vid"]
            target = self.muted if action in ("mute", "unmute") else self.banned
            if action in ("mute", "ban"):
                target.add(vid)
            else:
                target.discard(vid)
        elif kind == "sale":
            pid = event["product_id"]
            if event.get("sale") is None:
                self.sales.pop(pid, None)
            else:
                self.sales[pid] = event["sale"]

    def restore_history(self, events: list[dict[str, Any]]) -> None:
        """Take the room's stored history (oldest first) and rebuild the recent chat.

        The other state comes from its own keys; only chat lives in the history alone.
        """
        self.history = deque(events[-HISTORY:], maxlen=HISTORY)
        self.chat = deque(maxlen=RECENT_CHAT)
        for event in self.history:
            if event.get("type") in CHAT_TYPES:
                self._mutate(event)

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
            "room": self.room_info(),
            "products": dict(self.products),
            "lineup": list(self.lineup),
            "pinned": self.pinned,
            "sales": dict(self.sales),
            "chat": list(self.chat),
        }
