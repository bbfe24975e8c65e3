"""Reconciliation: what ``sweep()`` puts right after time passed or something failed.

For each room of the index (``checkout.room_index``), or for one room:

1. record the approved charges the payment saga could not record while Redis was away
   (``PaymentSaga.unconfirmed``);
2. expire the holds that are due (``sweep.lua``, in batches of ``batch``), returning
   their units to the sale;
3. settle the holds that expired with a payment attempt on them whose node never came
   back (``lc:{room}:unsettled``): once the attempt's lease is over, ask the provider
   through the saga (when it offers ``ChargeLookup``) and refund a charge that went
   through; without a lookup they stay listed for reconciliation against the
   provider's records;
4. retry the refunds that failed (``lc:{room}:refunds``), with their first key.

Every step is idempotent and atomic where it changes the books, so several nodes may
sweep at once: each hold expires exactly once and each charge is refunded at most once.
"""

from __future__ import annotations

import logging

from livecart.checkout.datastore import Datastore
from livecart.checkout.errors import ProviderError
from livecart.checkout.payment_saga import ApprovedCharge, PaymentSaga
from livecart.checkout.room_index import RoomIndex
from livecart.checkout.scripts import redis_failures
from livecart.keyspace import RoomKeys
from livecart.redis_replies import text

log = logging.getLogger("livecart.checkout")


class Reconciliation:
    """Sweeps on ``store`` for the payments of ``saga`` (which asks the provider), over
    the rooms of ``rooms``, ``batch`` entries at a time."""

    def __init__(self, store: Datastore, saga: PaymentSaga, rooms: RoomIndex, batch: int) -> None:
        self._store = store
        self._saga = saga
        self._rooms = rooms
        self._batch = batch

    async def sweep(self, room: str | None = None) -> int:
        """Steps 1-4 for ``room`` (or every room of the index); returns how many holds
        expired. Raises ``unavailable``."""
        rooms = [room] if room is not None else await self._rooms.active()
        for pending in self._saga.unconfirmed(room):
            await self._saga.confirm(pending)
        expired = 0
        for name in rooms:
            while True:
                reply = await self._store.run("sweep", name, self._batch)
                expired += reply["ok"]["expired"]
                if reply["ok"]["scanned"] < self._batch:
                    break
            await self._settle_unsettled(name)
            await self._settle_refunds(name)
        return expired

    async def _settle_unsettled(self, room: str) -> None:
        if not self._saga.can_look_up():
            return
        keys = RoomKeys(room)
        redis = self._store.redis
        now = self._store.now_ms()
        with redis_failures():
            due = await redis.zrange(keys.unsettled, 0, self._batch - 1)
        for raw in due:
            rid = text(raw)
            with redis_failures():
                fields = await redis.hmget(keys.hold(rid), ["charge_key", "pay_key", "pay_until"])
            if not all(fields):
                with redis_failures():
                    await redis.zrem(keys.unsettled, rid)
                continue
            charge_key, pay_key, pay_until = (text(f) for f in fields)
            if int(pay_until) > now:
                continue  # the attempt may still be running
            try:
                found = await self._saga.find_charge(charge_key)
            except (ProviderError, TimeoutError) as exc:
                log.warning(
                    "could not look up the charge of %s in %s: %s",
                    rid,
                    room,
                    exc,
                    extra={"room": room},
                )
                continue
            if found is not None and found.approved and found.charge_id is not None:
                with redis_failures():
                    fp = await redis.hget(keys.pay_key(pay_key), "fp")
                fingerprint = text(fp or b"")
                approved = ApprovedCharge(room, pay_key, fingerprint, rid, found.charge_id)
                await self._saga.confirm(approved)  # the hold has ended: this refunds
            with redis_failures():
                await redis.zrem(keys.unsettled, rid)

    async def _settle_refunds(self, room: str) -> None:
        keys = RoomKeys(room)
        redis = self._store.redis
        with redis_failures():
            due = await redis.zrange(keys.refunds, 0, self._batch - 1)
            for raw in due:
                rid = text(raw)
                charge_id, charge_key = await redis.hmget(
                    keys.hold(rid), ["charge_id", "charge_key"]
                )
                if not charge_id or not charge_key:
                    await redis.zrem(keys.refunds, rid)
                    continue
                info = {"charge_id": text(charge_id), "key": text(charge_key)}
                await self._saga.refund(room, rid, info)
