"""Buying: a viewer's ``buy`` becomes a hold on the product's units (``reserve.lua``).

One atomic decision per buy (sale open, per-buyer limit, units left, the per-address
cap on unpaid purchases of anonymous buyers, idempotency key),
sent to Redis in batches per room (``checkout.reserve_batch``), so concurrent
duplicates of one key are serialised by Redis and all get the first outcome; a buy
never answers ``in_progress``. Before the hold is asked for, the room is put in the
sweeper's index (``checkout.room_index``), so every hold that can expire will be swept.
"""

from __future__ import annotations

import secrets
from typing import Any

from livecart.checkout.datastore import Datastore
from livecart.checkout.reserve_batch import ReserveBatcher
from livecart.checkout.room_index import RoomIndex
from livecart.checkout.scripts import unwrap
from livecart.checkout.validation import BuyRequest


class Buying:
    """Holds of ``hold_ms`` milliseconds unless the sale sets its own; at most
    ``per_address`` live unpaid purchases per anonymous buyer's address and sale (0: no
    cap); at most ``max_batch`` buys per script call."""

    def __init__(
        self,
        store: Datastore,
        rooms: RoomIndex,
        *,
        hold_ms: int,
        max_batch: int,
        per_address: int,
    ) -> None:
        self._rooms = rooms
        self._hold_ms = hold_ms
        self._per_address = per_address
        self._reserves = ReserveBatcher(
            store.scripts, store.now_ms, store.key_ttl_ms, max_batch=max_batch
        )

    def counts(self) -> tuple[int, int]:
        """(reserve calls made to Redis, buys sent in them) so far."""
        return self._reserves.calls, self._reserves.requests

    async def buy(self, req: BuyRequest) -> dict[str, Any]:
        """The reservation, or the refusal remembered under ``req.key``."""
        await self._rooms.touch(req.room)
        rid = f"r_{secrets.token_hex(10)}"
        reply = await self._reserves.reserve(
            req.room, req.reserve_args(rid, self._hold_ms, self._per_address)
        )
        result: dict[str, Any] = unwrap(reply, "reservation")
        return result
