"""What a client receives, as small frozen dataclasses (docs/protocol.md).

Room events (the sequenced ones: ``chat``, ``chat_deleted``, ``room``, ``product``,
``lineup``, ``pin``, ``moderation``, ``sale``, ``auction``, ``giveaway``) are the very
classes the server builds them from, ``livecart.chat.events``: one definition of each
kind for both sides. A kind this version does not know, or a known one it cannot read,
arrives as ``UnknownEvent`` with its wire dict, so a newer server never breaks an older
client.

Around them, the markers a client needs to follow the stream across connections:

- ``Reset``: the server replaced the room (a resume it could not answer, or a room the
  datastore lost): drop what you hold and start again from ``Reset.snapshot``;
- ``Resumed``: a reconnect resumed; the events it missed follow, in order, once each;
- ``LiveChanged``: live values (viewers, hearts, explain queue, stock, purchases) changed;
- ``Skipped``: the server left out ``count`` chat events because this client read too
  slowly;
- ``ConnectionLost``: the connection dropped; the client is reconnecting;
- the auction and giveaway markers of ``livecart.client.auctions`` (``AuctionStarted``,
  ``BidPlaced``, ``AuctionClosed``, ``GiveawayDrawn``, ...): what an ``auction`` or
  ``giveaway`` event changed, each following the event it comes from.

``Snapshot`` is a join's whole room; ``Reply`` is the answer to one command. Every
``from_wire`` takes a decoded frame and raises ``ValueError`` for one it cannot read.
Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livecart.chat.events import (
    AuctionChanged,
    ChatDeleted,
    ChatMessage,
    ChatUser,
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
)
from livecart.client.auctions import Auction, AuctionMarker, Giveaway, GiveawayMarker
from livecart.client.errors import CommandError

__all__ = [
    "AuctionChanged",
    "ChatDeleted",
    "ChatMessage",
    "ChatUser",
    "ConnectionLost",
    "Event",
    "GiveawayChanged",
    "LineupChanged",
    "LiveChanged",
    "Moderated",
    "Pinned",
    "ProductChanged",
    "Reply",
    "Reset",
    "Resumed",
    "RoomChanged",
    "RoomEvent",
    "RoomInfo",
    "SaleChanged",
    "Skipped",
    "Snapshot",
    "UnknownEvent",
    "You",
    "read_event",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(RoomEvent):
    """A sequenced event of a kind this client does not know (``type``), as it came."""

    type: str
    data: Mapping[str, Any]

    def fields(self) -> dict[str, Any]:
        """The event's own fields: everything but ``seq``, ``ts`` and ``type``."""
        return {k: v for k, v in self.data.items() if k not in ("seq", "ts", "type")}

    def to_wire(self) -> dict[str, Any]:
        """The event as it came on the wire."""
        return {"seq": self.seq, "ts": self.ts, "type": self.type, **self.fields()}


def read_event(obj: Any) -> RoomEvent:
    """The typed event of one wire dict; ``UnknownEvent`` for a kind it cannot read.
    Raises ``ValueError`` only for something that is not an event at all (not an object,
    or without an integer ``seq``)."""
    if not isinstance(obj, dict):
        raise ValueError("an event must be an object")
    seq = obj.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ValueError("an event needs an integer seq")
    try:
        return event_from_wire(obj)
    except ValueError:
        ts = obj.get("ts", 0.0)
        return UnknownEvent(
            seq=seq,
            ts=ts if isinstance(ts, int | float) else 0.0,
            type=str(obj.get("type", "")),
            data=obj,
        )


@dataclass(frozen=True, slots=True)
class You:
    """This connection's identity: ``token`` is what to send back as ``vid``.

    The token is a credential (whoever holds it is this viewer: their per-buyer limits,
    their mutes), so ``repr()`` and therefore logs and tracebacks leave it out."""

    vid: str
    token: str = field(repr=False)
    name: str
    role: str  # "viewer" or "host"
    muted: bool = False

    @property
    def is_host(self) -> bool:
        """True for the room's host."""
        return self.role == "host"

    @classmethod
    def from_wire(cls, obj: Any) -> You:
        """Read the ``you`` object. Raises ``ValueError`` when it is malformed."""
        if not isinstance(obj, dict):
            raise ValueError("you: must be an object")
        try:
            return cls(
                str(obj["vid"]),
                str(obj["token"]),
                str(obj["name"]),
                str(obj["role"]),
                bool(obj.get("muted", False)),
            )
        except KeyError as exc:
            raise ValueError(f"you: {exc.args[0]} is missing") from exc


def _room_info(obj: Any) -> RoomInfo:
    if not isinstance(obj, dict):
        raise ValueError("room: must be an object")
    event = event_from_wire({"type": "room", "room": obj})
    assert isinstance(event, RoomChanged)
    return event.room


def _lot(read: Any, obj: Any) -> Any:
    """A snapshot's auction or giveaway object read by ``read``; ``None`` when absent or
    unreadable (a newer server's shape never breaks the join)."""
    if obj is None:
        return None
    try:
        return read(obj)
    except ValueError:
        return None


def _names(obj: Any) -> tuple[str, ...] | None:
    return None if obj is None else tuple(str(x) for x in obj)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A fresh join's whole room. ``banned_words``, ``muted`` and ``banned`` are given to
    a host only (``None`` for a viewer). ``auction`` and ``giveaway`` are the room's
    current (or last) ones, ``None`` when it has had none."""

    recovered: bool
    epoch: str
    seq: int
    you: You
    room: RoomInfo
    products: Mapping[str, Mapping[str, Any]]
    lineup: tuple[str, ...]
    pinned: str | None
    sales: Mapping[str, Mapping[str, Any]]
    chat: tuple[RoomEvent, ...]
    live: Mapping[str, Any]
    banned_words: tuple[str, ...] | None = None
    muted: tuple[str, ...] | None = None
    banned: tuple[str, ...] | None = None
    auction: Auction | None = None
    giveaway: Giveaway | None = None

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Snapshot:
        """Read a ``snapshot`` frame. Raises ``ValueError`` when it is malformed."""
        try:
            seq = obj["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool):
                raise ValueError("snapshot: seq must be an integer")
            pinned = obj.get("pinned")
            return cls(
                recovered=bool(obj.get("recovered", False)),
                epoch=str(obj["epoch"]),
                seq=seq,
                you=You.from_wire(obj["you"]),
                room=_room_info(obj["room"]),
                products=dict(obj.get("products") or {}),
                lineup=tuple(str(p) for p in obj.get("lineup") or ()),
                pinned=None if pinned is None else str(pinned),
                sales=dict(obj.get("sales") or {}),
                chat=tuple(read_event(e) for e in obj.get("chat") or ()),
                live=dict(obj.get("live") or {}),
                banned_words=_names(obj.get("banned_words")),
                muted=_names(obj.get("muted")),
                banned=_names(obj.get("banned")),
                auction=_lot(Auction.from_wire, obj.get("auction")),
                giveaway=_lot(Giveaway.from_wire, obj.get("giveaway")),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed snapshot: {exc}") from exc

    @property
    def pinned_product(self) -> Mapping[str, Any] | None:
        """The pinned product, or None."""
        return None if self.pinned is None else self.products.get(self.pinned)


@dataclass(frozen=True, slots=True)
class Reset:
    """The server replaced the room: start again from ``snapshot``."""

    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class Resumed:
    """A reconnect resumed after ``since``; the missed events follow this marker (up to
    ``seq`` as of the resume; later ones come in batches). ``live`` holds every live
    value, as a snapshot's does."""

    epoch: str
    since: int
    seq: int
    you: You
    live: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class LiveChanged:
    """The live values that changed in one batch (``hearts``: taps since the last one)."""

    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Skipped:
    """``count`` chat events were left out for this slow reader."""

    count: int


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The connection dropped with close ``code`` (1006: without a close frame); the
    client reconnects by itself and resumes."""

    code: int
    reason: str = ""


Event = (
    RoomEvent
    | Reset
    | Resumed
    | LiveChanged
    | Skipped
    | ConnectionLost
    | AuctionMarker
    | GiveawayMarker
)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to command ``id``: ``data`` when ``ok``, else ``error``."""

    id: int | str | None
    ok: bool
    data: Mapping[str, Any] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None

    @classmethod
    def from_wire(cls, obj: Mapping[str, Any]) -> Reply:
        """Read a ``reply`` frame. Raises ``ValueError`` for a malformed ``id``."""
        cid = obj.get("id")
        if cid is not None and not isinstance(cid, int | str):
            raise ValueError("reply: id must be an integer, a string or null")
        data = obj.get("data")
        error = obj.get("error")
        return cls(
            cid,
            obj.get("ok") is True,
            data if isinstance(data, dict) else {},
            error if isinstance(error, dict) else None,
        )

    def result(self) -> Mapping[str, Any]:
        """``data``, or raise the reply's ``CommandError``."""
        if self.ok:
            return self.data
        raise CommandError.from_wire(self.error)
