"""Checking a room's books: the invariants checkout promises, as a pure function.

``problems(books)`` takes what ``audit.lua`` read at one instant and lists every broken
promise in plain words; an empty list means the books are consistent. The tests run it
after every step; operators can run it on a live room (``CheckoutService.audit``).

Checked, per product:

- ``initial = available + reserved + sold`` and none of them negative;
- ``reserved`` = the units of the live holds plus the unit a running auction or an open
  giveaway keeps (``lots``); ``sold`` = the units in the orders stream;
- each buyer's count = their live purchases' units (held or pending) + their ordered
  units;
- each address's count = its anonymous buyers' live purchases;

and for the stream: no order id or reservation id appears twice; every live purchase
indexed for the sweeper is in state ``reserved`` or (first paid, first served)
``pending``, which holds no units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _list(value: Any) -> list[Any]:
    # cjson encodes an empty Lua table as {}: an empty list arrives as an empty dict.
    return [] if isinstance(value, dict) and not value else list(value)


def problems(books: Mapping[str, Any]) -> list[str]:
    orders = _list(books.get("orders") or [])
    tally = _Tally.of(_list(books.get("holds") or []), books.get("lots") or {}, orders)
    stock: Mapping[str, Mapping[str, int]] = books.get("stock") or {}
    found = list(tally.found)
    for pid, s in sorted(stock.items()):
        found += _product_problems(pid, s, books, tally)
    found += _duplicates(orders)
    return found


@dataclass
class _Tally:
    """What the live holds, the lots and the orders stream account for."""

    held: Counter[str] = field(default_factory=Counter)  # units reserved, per product
    sold: Counter[str] = field(default_factory=Counter)  # units ordered, per product
    per_buyer: Counter[tuple[str, str]] = field(default_factory=Counter)  # (product, buyer)
    per_address: Counter[tuple[str, str]] = field(default_factory=Counter)  # (product, addr)
    found: list[str] = field(default_factory=list)  # live holds in a state that is not live

    @classmethod
    def of(cls, holds: list[Any], lots: Mapping[str, int], orders: list[Any]) -> _Tally:
        tally = cls()
        for hold in holds:
            if hold.get("state") not in ("reserved", "pending"):
                tally.found.append(
                    f"hold {hold.get('id')} is indexed as live but is {hold.get('state')}"
                )
                continue
            if hold["state"] == "reserved":
                tally.held[hold["product_id"]] += int(hold["qty"])
            tally.per_buyer[(hold["product_id"], hold["buyer_vid"])] += int(hold["qty"])
            if hold.get("addr"):
                tally.per_address[(hold["product_id"], hold["addr"])] += 1
        for pid, units in lots.items():
            tally.held[pid] += int(units)
        for order in orders:
            tally.sold[order["product_id"]] += int(order["qty"])
            tally.per_buyer[(order["product_id"], order["buyer_vid"])] += int(order["qty"])
        return tally


def _product_problems(
    pid: str, s: Mapping[str, int], books: Mapping[str, Any], tally: _Tally
) -> list[str]:
    """One product's counters against themselves and against the tally."""
    found: list[str] = []
    initial, available, reserved, n_sold = (s["initial"], s["available"], s["reserved"], s["sold"])
    if initial != available + reserved + n_sold:
        found.append(
            f"{pid}: initial {initial} != available {available} + reserved {reserved}"
            f" + sold {n_sold}"
        )
    for name, value in (("available", available), ("reserved", reserved), ("sold", n_sold)):
        if value < 0:
            found.append(f"{pid}: {name} is negative ({value})")
    if reserved != tally.held[pid]:
        found.append(f"{pid}: reserved {reserved} but live holds and lots hold {tally.held[pid]}")
    if n_sold != tally.sold[pid]:
        found.append(f"{pid}: sold {n_sold} but the orders stream has {tally.sold[pid]}")
    buyers: Mapping[str, Mapping[str, str]] = books.get("buyers") or {}
    counted = {vid: int(n) for vid, n in (buyers.get(pid) or {}).items()}
    expected = {vid: n for (p, vid), n in tally.per_buyer.items() if p == pid and n}
    if counted != expected:
        found.append(f"{pid}: buyer counts {counted} != holds and orders {expected}")
    addresses: Mapping[str, Mapping[str, str]] = books.get("addresses") or {}
    by_addr = {a: int(n) for a, n in (addresses.get(pid) or {}).items()}
    live = {a: n for (p, a), n in tally.per_address.items() if p == pid}
    if by_addr != live:
        found.append(f"{pid}: address counts {by_addr} != live purchases {live}")
    return found


def _duplicates(orders: list[Any]) -> list[str]:
    """Order ids and reservation ids appearing more than once in the orders stream."""
    found: list[str] = []
    for what, key in (("order id", "id"), ("reservation", "reservation_id")):
        dupes = [v for v, n in Counter(o[key] for o in orders).items() if n > 1]
        if dupes:
            found.append(f"{what}s appearing twice in the orders stream: {sorted(dupes)}")
    return found
