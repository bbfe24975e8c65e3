"""Reports: what leaves a room's books — figures, orders, the export, the audit, and the
fulfilment webhook's delivery status.

Reads only, apart from the delivery status (a JSON string any node can read back).
``orders_after`` pages through the room's orders stream in append order; a cursor is a
stream id, so a reader that saw an order never sees it again after that id. ``audit``
reads the books at one instant (``audit.lua``) and lists broken promises
(``checkout.audit.problems``). Every Redis failure is ``unavailable``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from livecart.checkout import audit, orders
from livecart.checkout.datastore import Datastore
from livecart.checkout.scripts import redis_failures
from livecart.keyspace import RoomKeys
from livecart.redis_replies import text

EXPORT_PAGE = 1000  # orders read per call while exporting


class Reports:
    """Reports on ``store``; rooms and cursors arrive validated."""

    def __init__(self, store: Datastore) -> None:
        self._store = store

    async def figures(self, room: str) -> dict[str, Any]:
        """The room's sales figures (orders, units, revenue...), from its counters in Redis."""
        with redis_failures():
            counters = await self._store.redis.hgetall(RoomKeys(room).figures)
        return orders.figures(counters)

    async def orders_after(
        self, room: str, last_id: str | None, count: int
    ) -> tuple[list[dict[str, Any]], str]:
        """Up to ``count`` orders after stream id ``last_id``, and the cursor to continue
        from; with ``last_id`` None, no orders and the cursor of the newest one (to follow
        from now on)."""
        keys = RoomKeys(room)
        redis = self._store.redis
        with redis_failures():
            if last_id is None:
                latest = await redis.xrevrange(keys.orders, count=1)
                return [], text(latest[0][0]) if latest else "0-0"
            entries = await redis.xrange(keys.orders, min=f"({last_id}", count=count)
        records = [orders.order_record(room, sid, fields) for sid, fields in entries or []]
        return records, (records[-1]["stream_id"] if records else last_id)

    async def export(self, room: str) -> tuple[str, list[dict[str, Any]]]:
        """Every order of the room, read page by page: the CSV and the records."""
        records: list[dict[str, Any]] = []
        last_id = "0-0"
        while True:
            batch, last_id = await self.orders_after(room, last_id, EXPORT_PAGE)
            records.extend(batch)
            if len(batch) < EXPORT_PAGE:
                break
        return orders.orders_csv(records), records

    async def audit(self, room: str) -> list[str]:
        """The room's consistency problems found by the audit script (empty: none)."""
        reply = await self._store.run("audit", room)
        return audit.problems(reply["ok"])

    async def save_delivery_status(self, room: str, status: Mapping[str, Any]) -> None:
        """Store the room's webhook delivery status (replacing the last one)."""
        with redis_failures():
            await self._store.redis.set(RoomKeys(room).fulfilment, json.dumps(status))

    async def delivery_status(self, room: str) -> dict[str, Any] | None:
        """The room's last stored webhook delivery status, or None."""
        with redis_failures():
            raw = await self._store.redis.get(RoomKeys(room).fulfilment)
        if raw is None:
            return None
        status: dict[str, Any] = json.loads(raw)
        return status
