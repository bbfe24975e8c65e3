"""Orders as plain data: records from the orders stream, the CSV export, the figures.

Pure functions over what Redis returned (bytes or str); no I/O.

An order record (one entry of ``lc:{room}:orders``, what ``export`` and
``orders_after`` return, and what the fulfilment webhook carries)::

    {"id": "o_...", "reservation_id": "r_...", "room": "demo", "product_id": "p1",
     "qty": 1, "unit_price": 9900, "currency": "CNY", "amount": 9900,
     "buyer_vid": "v8f3...", "buyer_name": "Alice", "charge_id": "ch_...",
     "host": "Mia", "commission_rate": "0.1", "created_at": 1763760001234,
     "channel": "live" | "replay", "stream_id": "1763760001234-0"}

``channel`` says where the buyer bought: during the show, or from its replay (orders
recorded before replay existed read as ``live``).

The order in a ``pay`` reply is the buyer's view: ``PUBLIC_FIELDS`` only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from livecart.redis_replies import text

INT_FIELDS = frozenset({"qty", "unit_price", "amount", "created_at"})
PUBLIC_FIELDS = (
    "id",
    "reservation_id",
    "product_id",
    "qty",
    "unit_price",
    "currency",
    "amount",
    "charge_id",
    "buyer_name",
    "created_at",
    "channel",
)
CSV_COLUMNS = (
    "id",
    "created_at",
    "room",
    "product_id",
    "qty",
    "unit_price",
    "currency",
    "amount",
    "buyer_vid",
    "buyer_name",
    "reservation_id",
    "charge_id",
    "host",
    "commission_rate",
    "channel",
)


def order_record(room: str, stream_id: object, fields: object) -> dict[str, Any]:
    """One stream entry as an order record (integers where the field is a number)."""
    if not isinstance(fields, Mapping):
        raise TypeError(f"expected the fields of a stream entry, got {fields!r}")
    out: dict[str, Any] = {"room": room, "stream_id": text(stream_id), "channel": "live"}
    for raw_key, raw_value in fields.items():
        key, value = text(raw_key), text(raw_value)
        out[key] = int(value) if key in INT_FIELDS else value
    return out


#: What a spreadsheet takes for the start of a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as safe to open in a spreadsheet: a string that starts with a formula
    prefix (``FORMULA_PREFIXES``) gets a leading ``'``, so Excel, LibreOffice and Google
    Sheets show it as text instead of evaluating it (CWE-1236). Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def orders_csv(orders: Iterable[Mapping[str, Any]]) -> str:
    """The orders as CSV text (RFC 4180: CRLF line ends, so a field holding a CR or LF
    is quoted) with a header row, columns ``CSV_COLUMNS``; every text cell through
    ``csv_cell`` (the JSON records keep the values as they are)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for order in orders:
        writer.writerow([csv_cell(order.get(column, "")) for column in CSV_COLUMNS])
    return buf.getvalue()


def commission(revenue: int, rate: str) -> int:
    """``revenue * rate`` rounded half up to the minor unit; an unreadable rate counts 0."""
    try:
        r = Decimal(rate)
    except InvalidOperation:
        return 0
    if not r.is_finite() or not 0 <= r <= 1:
        return 0
    return int((Decimal(revenue) * r).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def figures(counters: Mapping[Any, Any]) -> dict[str, Any]:
    """The room's figures from its counters hash (``lc:{room}:figures``)::

            {"orders": 12, "units_sold": 15, "revenue": {"CNY": 148500},
             "hosts": {"Mia": {"orders": 12, "revenue": {"CNY": 148500},
                               "commission": {"CNY": 14850}}},
             "replay": {"orders": 2, "units_sold": 2, "revenue": {"CNY": 19800}}}

    The totals count every order; ``replay`` is the part of them bought from the show's
    replay (``channel`` ``replay``), so live = total - replay.

        Commission is computed per host, rate and currency on the summed revenue, so a rate
        change in the middle of a show is honoured for the orders taken under each rate.
    """
    out: dict[str, Any] = {"orders": 0, "units_sold": 0, "revenue": {}, "hosts": {}}
    replay: dict[str, Any] = {"orders": 0, "units_sold": 0, "revenue": {}}
    out["replay"] = replay
    hosts: dict[str, dict[str, Any]] = out["hosts"]

    def host_entry(name: str) -> dict[str, Any]:
        return hosts.setdefault(name, {"orders": 0, "revenue": {}, "commission": {}})

    for raw_key, raw_value in counters.items():
        key, value = text(raw_key), int(text(raw_value))
        kind, _, rest = key.partition("|")
        if key == "orders":
            out["orders"] = value
        elif key == "units":
            out["units_sold"] = value
        elif key == "replay_orders":
            replay["orders"] = value
        elif key == "replay_units":
            replay["units_sold"] = value
        elif kind == "replay_revenue":
            replay["revenue"][rest] = value
        elif kind == "revenue":
            out["revenue"][rest] = value
        elif kind == "host_orders":
            host_entry(rest)["orders"] += value
        elif kind == "host_revenue":
            host, rate, currency = json.loads(rest)
            entry = host_entry(host)
            entry["revenue"][currency] = entry["revenue"].get(currency, 0) + value
            entry["commission"][currency] = entry["commission"].get(currency, 0) + commission(
                value, rate
            )
    return out
