"""After a flash sale: do the shop's books agree with what the buyers were told?

``read(target, room, token)`` takes the server's view through its API (the audit,
the figures with stock per product, the orders); ``check(before, after, buyers, sale)``
compares two such readings with what the simulated buyers saw, as plain data:

- the server's own books check (``GET /api/rooms/{room}/audit``) passes;
- units sold in the run = units of the orders confirmed to buyers; the new orders in
  the books are exactly the confirmed ones (no order lost, none unknown);
- nothing oversold: no more units held or sold than the sale offered, none negative;
- every buy (every idempotency key) got a definite reply.
"""

from __future__ import annotations

from typing import Any

from livecart.loadtest.target import Target


def read(target: Target, room: str, token: str) -> dict[str, Any]:
    audit = target.get(target.room_path(room, "/audit"), token)
    figures = target.get(target.room_path(room, "/figures"), token)
    orders = target.get(target.room_path(room, "/orders.json"), token)["orders"]
    return {"audit": audit, "figures": figures, "orders": orders}


def _stock(reading: dict[str, Any], product_id: str) -> dict[str, int]:
    stock = (reading.get("figures") or {}).get("stock") or {}
    row = stock.get(product_id) or {}
    return {k: int(row.get(k, 0)) for k in ("initial", "available", "reserved", "sold")}


def check(
    before: dict[str, Any],
    after: dict[str, Any],
    buyers: dict[str, Any],
    sale: dict[str, Any],
) -> dict[str, Any]:
    """``buyers``: ``keys``, ``definite_keys``, ``orders`` (ids confirmed to buyers),
    ``ordered_units``, ``reserved_units`` (granted holds); ``sale``: ``product_id``,
    ``units`` offered in this run."""
    problems: list[str] = []
    pid = sale["product_id"]
    audit = after.get("audit") or {}
    if not audit.get("ok"):
        for problem in audit.get("problems") or ["the server's books check failed"]:
            problems.append(f"server books check: {problem}")

    f0, f1 = before.get("figures") or {}, after.get("figures") or {}
    new_orders = int(f1.get("orders", 0)) - int(f0.get("orders", 0))
    new_units = int(f1.get("units_sold", 0)) - int(f0.get("units_sold", 0))
    confirmed = list(buyers.get("orders") or [])
    units_confirmed = int(buyers.get("ordered_units", 0))
    if new_orders != len(confirmed):
        problems.append(
            f"the figures count {new_orders} new orders, buyers were confirmed {len(confirmed)}"
        )
    if new_units != units_confirmed:
        problems.append(
            f"the figures count {new_units} units sold, buyers were confirmed {units_confirmed}"
        )

    known = {o["id"] for o in before.get("orders") or []}
    booked = [o for o in after.get("orders") or [] if o["id"] not in known]
    booked_ids = {o["id"] for o in booked}
    missing = sorted(set(confirmed) - booked_ids)
    told = set(confirmed)
    unknown = sorted(o["id"] for o in booked if o["product_id"] == pid and o["id"] not in told)
    if missing:
        problems.append(
            f"{len(missing)} orders confirmed to buyers are not in the books: {missing[:5]}"
        )
    if unknown:
        problems.append(
            f"{len(unknown)} orders in the books were never confirmed to a buyer: {unknown[:5]}"
        )
    if len(booked_ids) != len(booked):
        problems.append("an order id appears twice in the orders")

    s0, s1 = _stock(before, pid), _stock(after, pid)
    sold = s1["sold"] - s0["sold"]
    held = s1["reserved"] - s0["reserved"]
    if sold != units_confirmed:
        problems.append(
            f"{pid}: {sold} units sold in the stock, buyers were confirmed {units_confirmed}"
        )
    units = int(sale["units"])
    granted = int(buyers.get("reserved_units", 0))
    oversold = max(0, granted - units, sold + held - units, -s1["available"])
    if oversold:
        problems.append(
            f"{pid}: oversold by {oversold} (offered {units}, holds granted {granted}, "
            f"sold {sold} + held {held}, available {s1['available']})"
        )

    keys = int(buyers.get("keys", 0))
    definite = int(buyers.get("definite_keys", 0))
    if definite != keys:
        problems.append(f"{keys - definite} of {keys} buys got no definite reply")
    failed = int(buyers.get("failed", 0))
    if failed:
        problems.append(f"{failed} buys were answered with an error that is not an outcome")
    return {
        "ok": not problems,
        "problems": problems,
        "product_id": pid,
        "offered": units,
        "sold": sold,
        "orders": new_orders,
        "confirmed_to_buyers": len(confirmed),
        "held": held,
        "oversold": oversold,
        "buys": keys,
        "definite": definite,
        "unresolved": keys - definite,
        "audit_ok": bool(audit.get("ok")),
    }
