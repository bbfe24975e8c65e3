"""Auctions and giveaways as a client sees them (docs/protocol.md, docs/auctions.md).

The wire has one sequenced ``auction`` event and one ``giveaway`` event, each carrying
the whole object (``livecart.chat.events.AuctionChanged`` / ``GiveawayChanged``). This
module reads those objects into typed values (``Auction``, ``Giveaway``) and turns two
successive ones into what happened between them, as markers:

- ``AuctionStarted``: a new auction is running;
- ``BidPlaced``: the auction took ``new_bids`` accepted bids (``bid`` is the latest);
- ``AuctionExtended``: a late bid moved the end (counter-bid reset);
- ``Outbid``: this client led and no longer does;
- ``AuctionCancelled``: the host cancelled it before the first bid;
- ``AuctionClosed``: it ended by Redis' clock (``won``, ``unsold``, or already settled);
- ``AuctionSettled``: the winner's order is recorded (``sold``) or the payment failed
  (``unpaid``);
- ``GiveawayOpened`` / ``GiveawayDrawn`` (``drawn`` or ``no_entrants``: the wire has no
  separate "closed" state, the draw happens at the close).

A lagging client may get only the latest of several ``auction`` events (they are
conflated, docs/protocol.md): ``auction_markers`` compares the object it held with the
new one, so every transition is reported once, in the order above, even when the events
in between were left out (a jump from ``running`` to ``sold`` yields ``AuctionClosed``
then ``AuctionSettled``). Pure; no I/O: the draw check below uses only ``hashlib``.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from livecart.auction_versions import newer_auction

__all__ = [
    "Auction",
    "AuctionCancelled",
    "AuctionClosed",
    "AuctionExtended",
    "AuctionMarker",
    "AuctionSettled",
    "AuctionStarted",
    "Bid",
    "BidPlaced",
    "BidResult",
    "Giveaway",
    "GiveawayDrawn",
    "GiveawayMarker",
    "GiveawayOpened",
    "Outbid",
    "Winner",
    "auction_markers",
    "giveaway_markers",
    "recompute_draw",
]

#: auction states after the close, and the ones after the settle
CLOSED_STATES = frozenset({"cancelled", "unsold", "won", "sold", "unpaid"})
SETTLED_STATES = frozenset({"sold", "unpaid"})
DRAWN_STATES = frozenset({"drawn", "no_entrants"})


def _int(obj: Mapping[str, Any], name: str, default: int | None = None) -> int:
    value = obj.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: must be a number")
    return int(value)


def _opt_int(obj: Mapping[str, Any], name: str) -> int | None:
    return None if obj.get(name) is None else _int(obj, name)


def _opt_str(obj: Mapping[str, Any], name: str) -> str | None:
    value = obj.get(name)
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class Winner:
    """An auction's or a giveaway's winner: the masked ``name`` and the viewer id."""

    name: str
    vid: str

    @classmethod
    def from_wire(cls, obj: Any) -> Winner | None:
        """The winner from its wire dict, or None when there is none."""
        if not isinstance(obj, dict) or not obj.get("vid"):
            return None
        return cls(str(obj.get("name", "")), str(obj["vid"]))


@dataclass(frozen=True, slots=True)
class Bid:
    """An accepted bid as the feed shows it (``last_bid``): masked name, vid, max."""

    name: str
    vid: str
    max: int

    @classmethod
    def from_wire(cls, obj: Any) -> Bid | None:
        """The bid from its wire dict, or None when there is none."""
        if not isinstance(obj, dict) or not obj.get("vid"):
            return None
        return cls(str(obj.get("name", "")), str(obj["vid"]), _int(obj, "max"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Auction:
    """One auction as of one event. Money in minor units; ``ends_at`` and ``server_now``
    are milliseconds on Redis' clock and are only ever compared with each other:
    ``time_left_ms`` is the time left when the server made this object."""

    id: str
    product_id: str
    currency: str
    state: str  # running, cancelled, unsold, won, sold, unpaid
    start_price: int
    price: int
    next_bid: int
    bids: int
    resets: int
    leader: str | None
    leader_vid: str | None
    last_bid: Bid | None
    ends_at: int
    server_now: int
    duration_ms: int
    counter_ms: int
    sudden_death: bool
    reserve_met: bool
    increments: tuple[tuple[int, int], ...]
    winner: Winner | None
    order_id: str | None
    reservation_id: str | None
    version: int = 0  # raised by every change; 0 from a server that sends none

    @classmethod
    def from_wire(cls, obj: Any) -> Auction:
        """Read a wire auction object; ``ValueError`` when it is not one."""
        if not isinstance(obj, Mapping) or not obj.get("id"):
            raise ValueError("auction: must be an object with an id")
        try:
            increments = tuple((int(a), int(b)) for a, b in obj.get("increments") or ())
        except (TypeError, ValueError) as exc:
            raise ValueError("auction: increments must be [from, step] pairs") from exc
        return cls(
            id=str(obj["id"]),
            product_id=str(obj.get("product_id", "")),
            currency=str(obj.get("currency", "")),
            state=str(obj.get("state", "")),
            start_price=_int(obj, "start_price", 0),
            price=_int(obj, "price", 0),
            next_bid=_int(obj, "next_bid", 0),
            bids=_int(obj, "bids", 0),
            resets=_int(obj, "resets", 0),
            leader=_opt_str(obj, "leader"),
            leader_vid=_opt_str(obj, "leader_vid"),
            last_bid=Bid.from_wire(obj.get("last_bid")),
            ends_at=_int(obj, "ends_at", 0),
            server_now=_int(obj, "server_now", 0),
            duration_ms=_int(obj, "duration_ms", 0),
            counter_ms=_int(obj, "counter_ms", 0),
            sudden_death=bool(obj.get("sudden_death", False)),
            reserve_met=bool(obj.get("reserve_met", True)),
            increments=increments,
            winner=Winner.from_wire(obj.get("winner")),
            order_id=_opt_str(obj, "order_id"),
            reservation_id=_opt_str(obj, "reservation_id"),
            version=_int(obj, "version", 0),
        )

    def older_than(self, held: Auction | None) -> bool:
        """Whether this object is an older state of the auction ``held``: events of bids
        decided in parallel may arrive in another order than Redis decided them, and an
        older one must not take the price back (docs/protocol.md)."""
        if held is None:
            return False
        mine = {"id": self.id, "version": self.version}
        return not newer_auction({"id": held.id, "version": held.version}, mine)

    @property
    def running(self) -> bool:
        """True while the auction takes bids."""
        return self.state == "running"

    @property
    def closed(self) -> bool:
        """Ended: cancelled, unsold, won (being paid), sold or unpaid."""
        return self.state in CLOSED_STATES

    @property
    def settled(self) -> bool:
        """The outcome is final: ``sold`` (the order exists) or ``unpaid``."""
        return self.state in SETTLED_STATES

    @property
    def time_left_ms(self) -> int:
        """Milliseconds left when the server made this object (0 once closed)."""
        return max(0, self.ends_at - self.server_now) if self.running else 0

    def progress(self) -> tuple[int, int]:
        """An order on the objects of one auction: a later one never compares lower."""
        rank = 2 if self.settled else 1 if self.closed else 0
        return rank, self.bids


@dataclass(frozen=True, slots=True, kw_only=True)
class Giveaway:
    """One giveaway as of one event. ``seed``, ``eligible`` and ``winner`` come with the
    draw; before it only the ``commitment`` (``sha256`` of the seed, hex) is known."""

    id: str
    product_id: str
    state: str  # open, drawn, no_entrants
    rule: str  # watched, chatted, bought
    watched_seconds: int | None
    ends_at: int
    server_now: int
    commitment: str
    seed: str | None
    eligible: tuple[str, ...]
    winner: Winner | None
    order_id: str | None

    @classmethod
    def from_wire(cls, obj: Any) -> Giveaway:
        """Read a wire giveaway object; ``ValueError`` when it is not one."""
        if not isinstance(obj, Mapping) or not obj.get("id"):
            raise ValueError("giveaway: must be an object with an id")
        eligible = obj.get("eligible") or ()
        if not isinstance(eligible, list | tuple):
            raise ValueError("giveaway: eligible must be a list")
        return cls(
            id=str(obj["id"]),
            product_id=str(obj.get("product_id", "")),
            state=str(obj.get("state", "")),
            rule=str(obj.get("rule", "")),
            watched_seconds=_opt_int(obj, "watched_seconds"),
            ends_at=_int(obj, "ends_at", 0),
            server_now=_int(obj, "server_now", 0),
            commitment=str(obj.get("commitment", "")),
            seed=_opt_str(obj, "seed"),
            eligible=tuple(str(v) for v in eligible),
            winner=Winner.from_wire(obj.get("winner")),
            order_id=_opt_str(obj, "order_id"),
        )

    @property
    def open(self) -> bool:
        """True while the giveaway takes entrants."""
        return self.state == "open"

    @property
    def drawn(self) -> bool:
        """Over: ``drawn`` (with a winner) or ``no_entrants``."""
        return self.state in DRAWN_STATES

    @property
    def time_left_ms(self) -> int:
        """Milliseconds until the draw by the server's clock, 0 once it is not open."""
        return max(0, self.ends_at - self.server_now) if self.open else 0

    def verify(self) -> bool:
        """True when the revealed seed hashes to the commitment announced at the start
        and the documented draw over ``eligible`` gives the announced winner. False
        before the draw (nothing to check yet) and for any mismatch."""
        if not self.drawn or self.seed is None:
            return False
        if hashlib.sha256(self.seed.encode()).hexdigest() != self.commitment:
            return False
        expected = recompute_draw(self.seed, self.eligible)
        return expected == (self.winner.vid if self.winner else None)


def recompute_draw(seed_hex: str, eligible: Sequence[str]) -> str | None:
    """docs/auctions.md's draw, written from that page and not from the server's code
    (``checkout.giveaway_rules``), so that a mistake in one shows as a disagreement in
    the tests: the distinct ids in the byte order of their UTF-8, then the first
    ``sha256(f"{seed}:{counter}")`` (counter 0, 1, ...) that falls below the largest
    multiple of their number under 2²⁵⁶, modulo that number. None for nobody eligible."""
    ranked = sorted({vid.encode("utf-8") for vid in eligible})
    if not ranked:
        return None
    whole_blocks = (1 << 256) // len(ranked) * len(ranked)
    for counter in itertools.count():
        digest = hashlib.sha256(b"%s:%d" % (seed_hex.encode("utf-8"), counter)).digest()
        value = int.from_bytes(digest, "big")
        if value < whole_blocks:
            return ranked[value % len(ranked)].decode("utf-8")
    raise AssertionError("unreachable")  # itertools.count() never ends


@dataclass(frozen=True, slots=True)
class BidResult:
    """A bid's definite reply: accepted, and whether this bidder now leads (``False``:
    outbid at once by a higher max). ``reset``: the bid moved the end."""

    leading: bool
    reset: bool
    auction: Auction

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> BidResult:
        """The result from a ``bid`` reply's data."""
        return cls(
            bool(data.get("leading", False)),
            bool(data.get("reset", False)),
            Auction.from_wire(data.get("auction")),
        )


# -- markers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuctionStarted:
    """An auction started."""

    auction: Auction


@dataclass(frozen=True, slots=True)
class BidPlaced:
    """``new_bids`` bids were accepted since the last auction this client held (more
    than one when events were conflated); ``bid`` is the latest of them."""

    auction: Auction
    bid: Bid | None
    new_bids: int


@dataclass(frozen=True, slots=True)
class AuctionExtended:
    """A late bid moved the end; ``auction.ends_at`` is the new one."""

    auction: Auction
    resets: int


@dataclass(frozen=True, slots=True)
class Outbid:
    """This client led the auction and no longer does."""

    auction: Auction


@dataclass(frozen=True, slots=True)
class AuctionCancelled:
    """The host cancelled the auction; no one is charged."""

    auction: Auction


@dataclass(frozen=True, slots=True)
class AuctionClosed:
    """The auction ended (``won``: a winner being charged; ``unsold``; or already
    ``sold``/``unpaid`` when the events in between were conflated)."""

    auction: Auction


@dataclass(frozen=True, slots=True)
class AuctionSettled:
    """``sold`` (``auction.order_id`` is the winner's order) or ``unpaid``."""

    auction: Auction


@dataclass(frozen=True, slots=True)
class GiveawayOpened:
    """A giveaway opened."""

    giveaway: Giveaway


@dataclass(frozen=True, slots=True)
class GiveawayDrawn:
    """The giveaway closed and was drawn (``winner`` is ``None`` for ``no_entrants``)."""

    giveaway: Giveaway


AuctionMarker = (
    AuctionStarted
    | BidPlaced
    | AuctionExtended
    | Outbid
    | AuctionCancelled
    | AuctionClosed
    | AuctionSettled
)
GiveawayMarker = GiveawayOpened | GiveawayDrawn


def auction_markers(before: Auction | None, after: Auction, me: str | None) -> list[AuctionMarker]:
    """What happened between the auction a client held (``before``; ``None``: none) and
    ``after``; ``me`` is this client's vid (for ``Outbid``). Nothing when ``after`` is
    not newer than ``before`` (a repeat). A different ``id`` is a new auction."""
    out: list[AuctionMarker] = []
    if before is not None and before.id != after.id:
        before = None
    if before is not None and after.progress() <= before.progress():
        return out
    if before is None:
        if after.running:
            out.append(AuctionStarted(after))
        prev_bids, prev_resets, prev_closed, prev_settled = 0, 0, False, False
        led = False
    else:
        prev_bids, prev_resets = before.bids, before.resets
        prev_closed, prev_settled = before.closed, before.settled
        led = me is not None and before.running and before.leader_vid == me
    if after.bids > prev_bids:
        out.append(BidPlaced(after, after.last_bid, after.bids - prev_bids))
    if after.resets > prev_resets:
        out.append(AuctionExtended(after, after.resets - prev_resets))
    if led and after.leader_vid != me:
        out.append(Outbid(after))
    if after.closed and not prev_closed:
        if after.state == "cancelled":
            out.append(AuctionCancelled(after))
        else:
            out.append(AuctionClosed(after))
    if after.settled and not prev_settled:
        out.append(AuctionSettled(after))
    return out


def giveaway_markers(before: Giveaway | None, after: Giveaway) -> list[GiveawayMarker]:
    """What happened between the giveaway a client held and ``after``."""
    if before is not None and before.id != after.id:
        before = None
    out: list[GiveawayMarker] = []
    if before is None and after.open:
        out.append(GiveawayOpened(after))
    if after.drawn and (before is None or not before.drawn):
        out.append(GiveawayDrawn(after))
    return out
