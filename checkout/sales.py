"""Stock and flash sales, the host's side: ``stock.lua``, ``sale.lua``, ``snapshot.lua``.

Every call is one atomic script, so the stock invariant (``initial = available +
reserved + sold``) holds between any two of them. Arguments arrive validated
(``checkout.validation``); refusals come back from the scripts as ``CheckoutError``.

- ``init_stock`` creates a product's stock once; again it is a no-op that returns the
  current figures.
- ``add_stock`` adds to ``initial`` and ``available`` together, once per operation key.
- ``open`` opens or schedules a sale, with its hold time (the service's default when the
  request sets none) and its policy (``hold`` or ``first_paid``); the same terms again
  return the running sale unchanged, other terms replace it. ``close`` is idempotent;
  live holds stay payable until they expire.
- ``snapshot`` reads every stock and sale of a room at one instant.
"""

from __future__ import annotations

from typing import Any

from livecart.checkout.datastore import Datastore
from livecart.checkout.scripts import unwrap
from livecart.checkout.validation import SaleRequest


class Sales:
    """The room's catalogue stock and its sales, on ``store``."""

    def __init__(self, store: Datastore, *, hold_ms: int) -> None:
        self._store = store
        self._hold_ms = hold_ms  # a sale's hold time when it sets none

    async def init_stock(self, room: str, product_id: str, units: int) -> dict[str, int]:
        """Give a product its initial stock; a no-op when it already has stock (the hub may
        repeat it). Returns the stock."""
        reply = await self._store.run("stock", room, "init", product_id, units, "")
        result: dict[str, int] = unwrap(reply, "stock")
        return result

    async def add_stock(
        self, room: str, product_id: str, units: int, op_key: str
    ) -> dict[str, int]:
        """Add ``units`` to a product's stock, once per ``op_key`` (a repeat returns the
        first result; the key with other terms raises ``key_reused``). Raises ``not_found``
        without stock."""
        reply = await self._store.run("stock", room, "add", product_id, units, op_key)
        result: dict[str, int] = unwrap(reply, "stock")
        return result

    async def open(self, req: SaleRequest) -> dict[str, Any]:
        """Open or schedule the product's flash sale; the same terms on a sale not yet
        closed return it unchanged. Raises ``CheckoutError``."""
        reply = await self._store.run(
            "sale", req.room, "open", req.product_id, req.price, req.currency, req.units,
            req.limit,
            "" if req.opens_at is None else req.opens_at,
            "" if req.ends_at is None else req.ends_at,
            self._hold_ms if req.hold_seconds is None else req.hold_seconds * 1000,
            req.policy,
        )  # fmt: skip
        result: dict[str, Any] = unwrap(reply, "sale")
        return result

    async def close(self, room: str, product_id: str) -> dict[str, Any]:
        """Close the product's sale (closing a closed sale is a no-op); returns the sale."""
        reply = await self._store.run("sale", room, "close", product_id)
        result: dict[str, Any] = unwrap(reply, "sale")
        return result

    async def snapshot(self, room: str) -> dict[str, dict[str, Any]]:
        """``{"stock": {product_id: stock}, "sales": {product_id: sale}}``, one instant."""
        reply = await self._store.run("snapshot", room)
        return {"stock": reply["ok"]["stock"] or {}, "sales": reply["ok"]["sales"] or {}}
