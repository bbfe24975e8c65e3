"""The ``auction`` load test's correctness checks beyond "one winner, right price":
plain data in, one ``Check`` out each; no I/O.

- ``closes_once``: the auction events a watching viewer applied (in ``seq`` order, an
  older ``version`` than the one it held not applied) show one close: the state leaves
  ``running`` once and never comes back, the price and the bid count never go back,
  and every object after the close names the same winner at the same price;
- ``winner_charged``: the show holds exactly one order for the auction's ``order_id``,
  bought by the winner at the final price and paid with a real charge (not ``free``);
- ``stock_invariant``: every stock level read during the run has ``initial = available +
  reserved + sold``, and at the end the one unit is ``sold`` with nothing held.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result: its ``name``, whether it passed, and a ``detail`` saying what was
    found."""

    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """The check as the report's JSON holds it."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


def _winner(a: Mapping[str, Any]) -> Any:
    w = a.get("winner")
    return w.get("vid") if isinstance(w, dict) else None


def closes_once(seen: Sequence[Mapping[str, Any]], auction_id: str, overtaken: int = 0) -> Check:
    """``seen``: the auction objects of the events a viewer applied, in order (an event
    older than the auction it held is not applied; ``overtaken`` counts them)."""
    mine = [a for a in seen if a.get("id") == auction_id]
    name = "closes exactly once"
    if not mine:
        return Check(name, False, "the watching viewer saw no event of the auction")
    closes, reopened = 0, False
    prev_running: bool | None = None
    after: set[tuple[Any, Any]] = set()  # (winner, price) of every closed object
    for a in mine:
        running = a.get("state") == "running"
        if not running:
            after.add((_winner(a), a.get("price")))
            closes += prev_running is not False  # the first closed object after running
        elif prev_running is False:
            reopened = True
        prev_running = running
    back = sum(
        1
        for x, y in itertools.pairwise(mine)
        if any((y.get(k) or 0) < (x.get(k) or 0) for k in ("price", "bids"))
    )
    if back:
        return Check(name, False, f"the price or the bid count went back {back} time(s)")
    states = " -> ".join(dict.fromkeys(str(a.get("state")) for a in mine))
    if closes != 1 or reopened:
        return Check(name, False, f"{closes} closes, running again: {reopened} ({states})")
    if len(after) != 1:
        return Check(name, False, f"the closed auction changed: {sorted(map(str, after))}")
    older = f", {overtaken} older ones overtaken" if overtaken else ""
    return Check(name, True, f"{len(mine)} auction events{older}, one close ({states})")


def winner_charged(final: Mapping[str, Any] | None, orders: Sequence[Mapping[str, Any]]) -> Check:
    name = "winner charged"
    if final is None or not final.get("order_id"):
        state = None if final is None else final.get("state")
        return Check(name, False, f"no order for the auction (state {state!r})")
    oid, vid, price = final["order_id"], _winner(final), final.get("price")
    theirs = [o for o in orders if o.get("id") == oid]
    if len(theirs) != 1:
        return Check(name, False, f"{len(theirs)} orders with id {oid}")
    o = theirs[0]
    if o.get("buyer_vid") != vid or o.get("amount") != price:
        return Check(
            name, False, f"order {oid}: buyer {o.get('buyer_vid')} at {o.get('amount')}, "
            f"winner {vid} at {price}",
        )  # fmt: skip
    if o.get("charge_id") in (None, "", "free"):
        return Check(name, False, f"order {oid} has no charge ({o.get('charge_id')!r})")
    return Check(name, True, f"order {oid}: {price} charged to the winner ({o['charge_id']})")


def stock_invariant(
    samples: Sequence[Mapping[str, int]], final: Mapping[str, int] | None, units: int = 1
) -> Check:
    """``samples``: the product's stock levels read during the run; ``final``: after."""
    name = "stock invariant"
    levels = [*samples, *([final] if final is not None else [])]
    if final is None:
        return Check(name, False, "the final stock level was not read")
    for s in levels:
        total = s.get("available", 0) + s.get("reserved", 0) + s.get("sold", 0)
        if s.get("initial") != total:
            return Check(name, False, f"initial {s.get('initial')} != {total} in {dict(s)}")
    want = {"initial": units, "available": 0, "reserved": 0, "sold": units}
    if {k: final.get(k) for k in want} != want:
        return Check(name, False, f"at the end {dict(final)}, expected {want}")
    return Check(
        name, True, f"initial = available + reserved + sold in {len(levels)} readings; "
        f"{units} sold, none held at the end",
    )  # fmt: skip
