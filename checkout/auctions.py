"""Live auctions and giveaways on Redis: ``auction_*.lua`` and ``giveaway.lua``.

docs/auctions.md states the rules; ``checkout.auction_rules`` and
``checkout.giveaway_rules`` hold them as pure code. Every decision is one script on the
room's slot that reads Redis' clock (``TIME``), never this node's, so nodes with skewed
clocks agree on every bid and on the end.

Guarantees:

- ``bid`` is atomic and idempotent per key (the same key and fields: the first reply;
  other fields: ``key_reused``); a bid at or after the end gets ``auction_closed``.
- ``close`` may be called by any node at any time and as often as it likes: it closes a
  due auction exactly once (``changed`` is True for that one call) and is a no-op after.
- A won auction's reservation is paid through the payment saga under the key
  ``auction-<id>`` with the card of the winning bid, so the order is made by the same
  ``confirm.lua`` as a flash-sale order. ``settle`` may run on several nodes: the saga's
  lease and the provider's idempotency key make one charge.
- A giveaway's draw is ``giveaway_rules.draw`` over the frozen eligible set; every node
  computing it gets the same winner, and ``finish`` records it once.
- A card sent with a bid never reaches Redis: it is saved with the provider first
  (``save_card``) and only the provider's opaque token is kept with the leading bid.
- The stock invariant holds after every call (the auctioned unit is reserved while the
  auction runs). Names come back unmasked: the room's side masks them.
- Redis failures raise ``CheckoutError("unavailable")``; every script may be sent again.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from livecart import limits
from livecart.checkout import auction_rules as rules
from livecart.checkout import giveaway_rules
from livecart.checkout.datastore import Datastore
from livecart.checkout.errors import CheckoutError
from livecart.checkout.payment_saga import ApprovedCharge, PaymentSaga
from livecart.checkout.scripts import unwrap
from livecart.checkout.validation import (
    PayRequest,
    _fingerprint,
    bad,
    card_number,
    display_name,
    idempotency_key,
    identifier,
    integer,
)


@dataclass(frozen=True, slots=True)
class AuctionTerms:
    """What the host sets. Times in ms (``parse`` keeps them within the documented
    limits; tests may make shorter ones)."""

    product_id: str
    currency: str
    start_price: int
    duration_ms: int
    counter_ms: int
    sudden_death: bool = False
    reserve: int | None = None
    increments: rules.Increments = rules.DEFAULT_INCREMENTS

    @classmethod
    def parse(cls, args: dict[str, Any], currency: str) -> AuctionTerms:
        """From a ``start_auction`` command's fields. Raises ``bad_args``."""
        start = integer(args.get("start_price"), "start_price", 1, limits.MAX_PRICE)
        duration = integer(
            args.get("duration"), "duration", limits.MIN_AUCTION_S, limits.MAX_AUCTION_S
        )
        counter = integer(
            args.get("counter_seconds", 10), "counter_seconds", 0, limits.MAX_COUNTER_S
        )
        if counter > duration:
            raise bad("counter_seconds", "must not exceed duration")
        sudden = args.get("sudden_death", False)
        if not isinstance(sudden, bool):
            raise bad("sudden_death", "must be true or false")
        reserve = args.get("reserve")
        if reserve is not None:
            reserve = integer(reserve, "reserve", start, limits.MAX_PRICE)
        table = args.get("increments")
        increments = rules.DEFAULT_INCREMENTS
        if table is not None:
            if not isinstance(table, list) or not all(
                isinstance(r, list)
                and len(r) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in r)
                for r in table
            ):
                raise bad("increments", "must be a list of [from, step] integer pairs")
            try:
                increments = rules.check_increments(table)
            except ValueError as exc:
                raise bad("increments", str(exc).removeprefix("increments: ")) from exc
        return cls(
            product_id=identifier(args.get("product_id"), "product_id"),
            currency=currency,
            start_price=start,
            duration_ms=duration * 1000,
            counter_ms=counter * 1000,
            sudden_death=sudden,
            reserve=reserve,
            increments=increments,
        )

    def fingerprint(self) -> str:
        """The terms' digest, stored with the start's idempotency key: the same key with
        other terms is ``key_reused``."""
        return _fingerprint(
            "auction", self.product_id, self.start_price, self.duration_ms, self.counter_ms,
            self.sudden_death, self.reserve, self.increments,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Step:
    """One close/settle/tick: the auction (or giveaway) view, whether this call made the
    change, and ms until it is due (None when not running)."""

    view: dict[str, Any] | None
    changed: bool = False
    due_in: int | None = None


class Auctions:
    """Auctions and giveaways of every room on ``store``; winners pay through ``saga``."""

    def __init__(self, store: Datastore, saga: PaymentSaga, *, hold_ms: int) -> None:
        self._store = store
        self._saga = saga
        self._hold_ms = hold_ms
        self.bids_accepted = 0
        self.bids_refused = 0

    async def _run(self, name: str, room: str, *args: str | int) -> dict[str, Any]:
        return await self._store.run(name, room, *args)

    # -- auctions ---------------------------------------------------------------------

    async def start(self, room: str, terms: AuctionTerms, key: object) -> dict[str, Any]:
        """Start the room's auction (one unit reserved). Raises ``not_found``,
        ``sold_out``, ``auction_running``, ``key_reused``, ``unavailable``."""
        k = idempotency_key(key)
        reply = await self._run(
            "auction_start", room, k, terms.fingerprint(), f"a_{secrets.token_hex(6)}",
            terms.product_id, terms.currency, terms.start_price, terms.duration_ms,
            terms.counter_ms, "1" if terms.sudden_death else "0",
            "" if terms.reserve is None else terms.reserve,
            json.dumps([list(r) for r in terms.increments]),
        )  # fmt: skip
        view: dict[str, Any] = unwrap(reply, "auction")
        return view

    async def bid(
        self,
        room: str,
        auction_id: object,
        *,
        vid: str,
        name: str,
        max_bid: object,
        key: object,
        card: object = None,
    ) -> dict[str, Any]:
        """``{accepted, leading, reset, auction}``. Raises ``bad_args``, ``not_found``,
        ``auction_closed``, ``bid_too_low``, ``key_reused``, ``unavailable``, and
        ``payment_declined`` / ``payment_timeout`` when a given card could not be saved."""
        aid = identifier(auction_id, "auction_id")
        amount = integer(max_bid, "max", 1, limits.MAX_PRICE)
        k = idempotency_key(key)
        number = "" if card is None else card_number(card)
        fp = _fingerprint("bid", aid, vid, amount, len(number), number[-4:])
        shown = display_name(name, "name")
        token = "" if not number else (await self._saga.save_card(number)).token
        reply = await self._run("auction_bid", room, k, fp, aid, vid, shown, amount, token)
        if "error" in reply:
            self.bids_refused += 1
        else:
            self.bids_accepted += 1
        unwrap(reply, "auction")
        result: dict[str, Any] = reply["ok"]
        return result

    async def cancel(self, room: str, auction_id: object) -> dict[str, Any]:
        """Cancel before the first bid. Raises ``not_found``, ``has_bids``,
        ``auction_closed``, ``unavailable``."""
        reply = await self._close_script(room, identifier(auction_id, "auction_id"), "cancel")
        view: dict[str, Any] = unwrap(reply, "auction")
        return view

    async def close(self, room: str, auction_id: str) -> Step:
        """Close the auction if it is due (by Redis' clock); once only."""
        reply = await self._close_script(room, auction_id, "close")
        ok = _ok(reply)
        return Step(ok["auction"], bool(ok["changed"]), ok.get("due_in"))

    async def settle(self, room: str, auction_id: str) -> Step:
        """For a won auction: charge the winner's saved card (when the bid gave one) and
        record the outcome (``sold`` or ``unpaid``) once."""
        ok = _ok(await self._close_script(room, auction_id, "settle"))
        view = ok["auction"]
        if ok["changed"] or view["state"] != "won":
            return Step(view, bool(ok["changed"]))
        token = ok.get("token")
        if isinstance(token, str) and token:
            req = PayRequest(
                room=room,
                reservation_id=view["reservation_id"],
                buyer_vid=view["winner"]["vid"],
                card=token,
                key=f"auction-{auction_id}",
            )
            try:
                await self._saga.pay(req)
            except CheckoutError as exc:
                if exc.code in ("unavailable", "in_progress"):
                    raise
            ok = _ok(await self._close_script(room, auction_id, "settle"))
        return Step(ok["auction"], bool(ok["changed"]))

    async def current(self, room: str) -> dict[str, Any] | None:
        """The room's current (or last) auction, or None."""
        ok = _ok(await self._close_script(room, "", "view"))
        view: dict[str, Any] | None = ok.get("auction")
        return view

    async def _close_script(self, room: str, auction_id: str, mode: str) -> dict[str, Any]:
        rid = f"r_{secrets.token_hex(10)}"
        return await self._run("auction_close", room, auction_id, mode, self._hold_ms, rid, room)

    # -- giveaways --------------------------------------------------------------------

    async def start_giveaway(
        self, room: str, args: dict[str, Any], currency: str, *, duration_ms: int | None = None
    ) -> dict[str, Any]:
        """Open the room's giveaway (one unit reserved), committed to a fresh seed.
        Raises ``bad_args``, ``not_found``, ``sold_out``, ``giveaway_running``,
        ``unavailable``. ``duration_ms`` overrides ``duration`` (tests)."""
        pid = identifier(args.get("product_id"), "product_id")
        rule = args.get("rule")
        if rule not in giveaway_rules.RULES:
            raise bad("rule", f"must be one of {', '.join(giveaway_rules.RULES)}")
        watched = 0
        if rule == "watched":
            watched = integer(
                args.get("watched_seconds"), "watched_seconds", 1, limits.MAX_WATCHED_S
            )
        if duration_ms is None:
            duration_ms = 1000 * integer(
                args.get("duration"),
                "duration",
                limits.MIN_GIVEAWAY_S,
                limits.MAX_GIVEAWAY_S,
            )
        seed = giveaway_rules.new_seed()
        reply = await self._run(
            "giveaway", room, "start", f"g_{secrets.token_hex(6)}", pid, str(rule),
            watched * 1000, duration_ms, seed, giveaway_rules.commitment(seed), currency,
        )  # fmt: skip
        view: dict[str, Any] = unwrap(reply, "giveaway")
        return view

    async def enter(self, room: str, giveaway_id: str, people: list[tuple[str, str]]) -> int:
        """Make ``(vid, name)`` pairs eligible while the giveaway is open; how many were
        new."""
        if not people:
            return 0
        flat = [x for pair in people for x in pair]
        ok = _ok(await self._run("giveaway", room, "enter", giveaway_id, *flat))
        return int(ok.get("added", 0))

    async def draw(self, room: str, giveaway_id: str) -> Step:
        """At the end: freeze the eligible set, draw, give the prize (an order at price
        0); once. Before the end: ``due_in``."""
        frozen = _ok(await self._run("giveaway", room, "freeze", giveaway_id))
        if "due_in" in frozen:
            return Step(None, False, int(frozen["due_in"]))
        changed = False
        if "seed" in frozen:
            eligible = _list(frozen["eligible"])
            winner = giveaway_rules.draw(frozen["seed"], eligible) or ""
            rid = f"r_{secrets.token_hex(10)}"
            done = _ok(await self._run(
                "giveaway", room, "finish", giveaway_id, winner, rid, self._hold_ms, room
            ))  # fmt: skip
            changed = bool(done["changed"])
        view = await self.current_giveaway(room)
        if view is not None and view["state"] == "drawn" and not view["order_id"]:
            rid = str(view["reservation_id"])
            pending = ApprovedCharge(room, f"giveaway-{giveaway_id}", "giveaway", rid, "free")
            order = unwrap(await self._saga.confirm(pending), "order")
            settled = _ok(await self._run("giveaway", room, "settle", giveaway_id, order["id"]))
            return Step(settled["giveaway"], True)
        return Step(view, changed)

    async def current_giveaway(self, room: str) -> dict[str, Any] | None:
        """The room's current (or last) giveaway as Redis holds it, or None when there is
        none. Raises ``CheckoutError`` (``unavailable`` while Redis is away)."""
        ok = _ok(await self._run("giveaway", room, "view", ""))
        view: dict[str, Any] | None = ok.get("giveaway")
        return view


def _ok(reply: dict[str, Any]) -> dict[str, Any]:
    error = reply.get("error")
    if error is not None:
        raise CheckoutError(error["code"], error["message"], error.get("retry_after"))
    result: dict[str, Any] = reply["ok"]
    return result


def _list(value: Any) -> list[str]:
    # cjson encodes an empty Lua table as {}
    return [] if isinstance(value, dict) else [str(v) for v in value]
