"""Room events: the sequenced events of docs/protocol.md as small frozen dataclasses.

Every event has a ``seq`` (0 until the store sequences it), a server timestamp ``ts``
(milliseconds since the Unix epoch) and fields of its own. Three forms, one per reader:

- the object: what the hub, the room state and the rules work with; never mutated;
- ``to_wire()``: the dict clients get, byte for byte the shape docs/protocol.md shows
  (``{"seq", "ts", "type", <fields>}``; a ``chat`` event ends with ``"id"`` = its seq);
- ``to_record()``: what the store keeps and publishes before the seq is known (the wire
  dict without ``seq``, and without a chat event's ``id``); the store puts ``seq`` first.

``event_from_wire(obj)`` reads either dict form back (a record with its ``seq``, as the
store's history and pub/sub carry it) through one table, ``EVENT_TYPES``, and raises
``ValueError`` for anything that is not a room event. Convert once per event, never per
socket: the room keeps the wire dict it enqueues and replays. Pure; no I/O.

Payload mappings (``product``, ``sale``) are JSON objects shared with the room state:
nothing writes to them after the event is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

#: Moderation actions: the set each one changes and whether the viewer joins (True) or
#: leaves (False) it. The room state and the store's writes both read this table.
MODERATION: Mapping[str, tuple[str, bool]] = {
    "mute": ("muted", True),
    "unmute": ("muted", False),
    "ban": ("banned", True),
    "unban": ("banned", False),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomEvent:
    """Base of the frozen events a room's history is made of. ``seq`` and ``ts`` are set
    when the store sequences the event (0 before); each subclass names its wire ``TYPE`` and
    its own ``fields``, and ``event_from_wire`` turns a wire dict back into it."""

    TYPE: ClassVar[str] = ""
    seq: int = 0
    ts: float = 0.0

    def fields(self) -> dict[str, Any]:
        """The event's own fields, in wire order."""
        raise NotImplementedError

    def to_record(self) -> dict[str, Any]:
        """The stored form, before sequencing: ``{"ts", "type", <fields>}``."""
        return {"ts": self.ts, "type": self.TYPE, **self.fields()}

    def to_wire(self) -> dict[str, Any]:
        """The client form: ``{"seq", "ts", "type", <fields>}``."""
        return {"seq": self.seq, "ts": self.ts, "type": self.TYPE, **self.fields()}


@dataclass(frozen=True, slots=True)
class ChatUser:
    """The sender of a chat message as the wire shows it: vid, display name, role."""

    vid: str
    name: str
    role: str

    def to_wire(self) -> dict[str, str]:
        """The sender as its wire dict."""
        return {"vid": self.vid, "name": self.name, "role": self.role}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatMessage(RoomEvent):
    """A chat message; its id is its seq."""

    TYPE: ClassVar[str] = "chat"
    user: ChatUser
    text: str

    def fields(self) -> dict[str, Any]:
        """The sender and the text."""
        return {"user": self.user.to_wire(), "text": self.text}

    def to_wire(self) -> dict[str, Any]:
        """The wire dict, with the message's ``id`` (its seq) added."""
        return {**RoomEvent.to_wire(self), "id": self.seq}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatDeleted(RoomEvent):
    """A chat message (``id``: its seq) was deleted by the host; also the history's tombstone."""

    TYPE: ClassVar[str] = "chat_deleted"
    id: int

    def fields(self) -> dict[str, Any]:
        """The deleted message's id."""
        return {"id": self.id}


def tombstone(deleted: ChatDeleted) -> ChatDeleted:
    """What the history keeps in place of the message ``deleted`` removes: a
    ``chat_deleted`` event under the message's own ``seq`` naming itself, with the
    deletion's ``ts`` and neither the text nor the sender. Every node and the store make
    the same one, so a resume replays it (a client drops a message it never had) and no
    copy of the text is left for replay."""
    return ChatDeleted(seq=deleted.id, ts=deleted.ts, id=deleted.id)


def is_tombstone(wire: Mapping[str, Any]) -> bool:
    """Whether a wire dict is the tombstone of a deleted message (``tombstone``)."""
    return wire.get("type") == ChatDeleted.TYPE and wire.get("id") == wire.get("seq")


def same_event(held: Mapping[str, Any], other: Mapping[str, Any]) -> bool:
    """Whether two wire dicts of one ``seq`` are the same event: equal, or a chat message
    and its tombstone (one copy saw the deletion, the other not yet)."""
    if dict(held) == dict(other):
        return True
    if held.get("seq") != other.get("seq"):
        return False
    kinds = {str(held.get("type")), str(other.get("type"))}
    return kinds == {ChatMessage.TYPE, ChatDeleted.TYPE} and (
        is_tombstone(held) or is_tombstone(other)
    )


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """The room record as events and snapshots carry it: title, host, status, slow mode,
    language."""

    id: str
    title: str
    host: str
    status: str
    slow_mode: int
    lang: str = ""  # the pages' default language for viewers ("": their browser's)

    def to_wire(self) -> dict[str, Any]:
        """The record as its wire dict."""
        return {
            "id": self.id,
            "title": self.title,
            "host": self.host,
            "status": self.status,
            "slow_mode": self.slow_mode,
            "lang": self.lang,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomChanged(RoomEvent):
    """The room record changed (title, status, slow mode, language)."""

    TYPE: ClassVar[str] = "room"
    room: RoomInfo

    def fields(self) -> dict[str, Any]:
        """The new room record."""
        return {"room": self.room.to_wire()}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductChanged(RoomEvent):
    """A product of the catalog was added or edited; ``product`` is the whole product."""

    TYPE: ClassVar[str] = "product"
    product: Mapping[str, Any]

    @property
    def product_id(self) -> str:
        """The product's id."""
        return str(self.product["id"])

    def fields(self) -> dict[str, Any]:
        """The whole product."""
        return {"product": self.product}


@dataclass(frozen=True, slots=True, kw_only=True)
class LineupChanged(RoomEvent):
    """The lineup (the order products are shown in) was replaced."""

    TYPE: ClassVar[str] = "lineup"
    lineup: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        """The lineup as a list of product ids."""
        return {"lineup": list(self.lineup)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Pinned(RoomEvent):
    """A product was pinned (``product_id`` None: unpinned)."""

    TYPE: ClassVar[str] = "pin"
    product_id: str | None

    def fields(self) -> dict[str, Any]:
        """The pinned product's id, or None."""
        return {"product_id": self.product_id}


@dataclass(frozen=True, slots=True, kw_only=True)
class Moderated(RoomEvent):
    """A viewer was muted, unmuted, banned or unbanned (``action`` one of ``MODERATION``)."""

    TYPE: ClassVar[str] = "moderation"
    action: str
    vid: str

    def __post_init__(self) -> None:
        if self.action not in MODERATION:
            raise ValueError(f"moderation: unknown action {self.action!r}")

    def fields(self) -> dict[str, Any]:
        """The action and the viewer's vid."""
        return {"action": self.action, "vid": self.vid}


@dataclass(frozen=True, slots=True, kw_only=True)
class SaleChanged(RoomEvent):
    """A flash sale was opened, scheduled or closed (``sale`` None: removed)."""

    TYPE: ClassVar[str] = "sale"
    product_id: str
    sale: Mapping[str, Any] | None

    def fields(self) -> dict[str, Any]:
        """The product and its sale (None: removed)."""
        return {"product_id": self.product_id, "sale": self.sale}


@dataclass(frozen=True, slots=True, kw_only=True)
class AuctionChanged(RoomEvent):
    """The room's auction started, took a bid, was reset, cancelled, closed or settled:
    the whole auction object (docs/protocol.md), the latest one always exact."""

    TYPE: ClassVar[str] = "auction"
    auction: Mapping[str, Any]

    def fields(self) -> dict[str, Any]:
        """The whole auction object."""
        return {"auction": self.auction}


@dataclass(frozen=True, slots=True, kw_only=True)
class GiveawayChanged(RoomEvent):
    """The room's giveaway opened or was drawn."""

    TYPE: ClassVar[str] = "giveaway"
    giveaway: Mapping[str, Any]

    def fields(self) -> dict[str, Any]:
        """The whole giveaway object."""
        return {"giveaway": self.giveaway}


def _chat(obj: Mapping[str, Any], seq: int, ts: float) -> RoomEvent:
    user = obj["user"]
    return ChatMessage(
        seq=seq,
        ts=ts,
        user=ChatUser(str(user["vid"]), str(user["name"]), str(user["role"])),
        text=str(obj["text"]),
    )


def _room(obj: Mapping[str, Any], seq: int, ts: float) -> RoomEvent:
    info = obj["room"]
    return RoomChanged(
        seq=seq,
        ts=ts,
        room=RoomInfo(
            str(info["id"]),
            str(info["title"]),
            str(info["host"]),
            str(info["status"]),
            int(info["slow_mode"]),
            str(info.get("lang", "")),  # absent in events stored before it existed
        ),
    )


def _pin(obj: Mapping[str, Any], seq: int, ts: float) -> RoomEvent:
    pid = obj.get("product_id")
    return Pinned(seq=seq, ts=ts, product_id=None if pid is None else str(pid))


Reader = Callable[[Mapping[str, Any], int, float], RoomEvent]

#: Reads one event type's fields. One entry per type of docs/protocol.md.
EVENT_TYPES: Mapping[str, Reader] = {
    "chat": _chat,
    "chat_deleted": lambda o, seq, ts: ChatDeleted(seq=seq, ts=ts, id=int(o["id"])),
    "room": _room,
    "product": lambda o, seq, ts: ProductChanged(seq=seq, ts=ts, product=dict(o["product"])),
    "lineup": lambda o, seq, ts: LineupChanged(seq=seq, ts=ts, lineup=tuple(o["lineup"])),
    "pin": _pin,
    "moderation": lambda o, seq, ts: Moderated(
        seq=seq, ts=ts, action=str(o["action"]), vid=str(o["vid"])
    ),
    "sale": lambda o, seq, ts: SaleChanged(
        seq=seq, ts=ts, product_id=str(o["product_id"]), sale=o.get("sale")
    ),
    "auction": lambda o, seq, ts: AuctionChanged(seq=seq, ts=ts, auction=dict(o["auction"])),
    "giveaway": lambda o, seq, ts: GiveawayChanged(seq=seq, ts=ts, giveaway=dict(o["giveaway"])),
}

CHAT_TYPES = frozenset({ChatMessage.TYPE, ChatDeleted.TYPE})
CONFLATED_TYPES = frozenset({AuctionChanged.TYPE})
"""State events of which a lagging client gets only the latest of a batch."""


def event_from_wire(obj: Mapping[str, Any]) -> RoomEvent:
    """The event a wire dict or a sequenced record holds. Raises ``ValueError``."""
    read = EVENT_TYPES.get(obj.get("type", ""))
    if read is None:
        raise ValueError(f"not a room event: {str(obj.get('type'))[:40]!r}")
    ts = obj.get("ts", 0.0)  # kept as it came (an int stays an int on the wire)
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        raise ValueError("ts: must be a number")
    try:
        return read(obj, int(obj.get("seq", 0)), ts)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {obj.get('type')} event") from exc
