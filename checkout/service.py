"""``CheckoutService``: flash sales, holds, payments and orders on one Redis.

The service is the thin asynchronous shell around the scripts in ``checkout/lua``: it
validates arguments (``checkout.validation``), runs one atomic script per decision, and
talks to the payment provider between two scripts. Any number of services (nodes) may
share one Redis; they agree through the scripts only. Every method is safe to call
concurrently.

Guarantees:

- Invariant, for every product at every moment: ``initial = available + reserved +
  sold``, ``available >= 0``, ``reserved >= 0``.
- ``buy`` and ``pay`` are idempotent per key (kept ``key_ttl_seconds``, at least 24 h):
  the same key and parameters always yield the first outcome; the same key with other
  parameters yields ``key_reused``. A ``buy`` is one atomic script, so duplicates are
  serialised by Redis and never see ``in_progress``. A ``pay`` runs the charge between
  two scripts; a duplicate waits up to ``in_progress_wait`` seconds for the outcome, then
  gets ``in_progress`` with ``retry_after``.
- Every Redis failure surfaces as ``CheckoutError("unavailable")``; retrying with the
  same key then resolves to exactly one outcome. A payment whose first runner died
  (node crash, Redis restart) is taken over by a retry once its lease
  (``pay_lease_seconds``) has run out; the charge key is the same, so the provider does
  not charge twice.
- A charge is made at most once per reservation and ends as one order or one refund,
  also when the caller is cancelled mid-payment. If the node running a payment dies
  after the charge, the sweeper finds the charge through ``ChargeLookup`` (when the
  provider offers it) and refunds it.
- All other errors are ``CheckoutError`` with a code of ``checkout.errors.CODES``;
  anything else escaping is a bug.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from livecart.checkout import audit, orders
from livecart.checkout.errors import CheckoutError, ProviderError, ProviderTimeout
from livecart.checkout.payments import ChargeLookup, PaymentProvider
from livecart.checkout.reserve_batch import ReserveBatcher
from livecart.checkout.scripts import Scripts, redis_failures, unwrap
from livecart.checkout.validation import (
    MAX_STOCK,
    BuyRequest,
    PayRequest,
    SaleRequest,
    idempotency_key,
    identifier,
    integer,
)
from livecart.keyspace import CHECKOUT_ROOMS, RoomKeys

log = logging.getLogger("livecart.checkout")

MIN_KEY_TTL = 24 * 3600.0
_STREAM_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")
_TOUCH_EVERY = 30.0  # seconds between refreshes of a room in the CHECKOUT_ROOMS index


@dataclass(frozen=True, slots=True)
class _ApprovedCharge:
    """A charge the provider approved, to be recorded as an order (or refunded). Kept in
    ``_unconfirmed`` while Redis cannot be reached; ``sweep`` retries those."""

    room: str
    key: str
    fingerprint: str
    reservation_id: str
    charge_id: str


class CheckoutService:
    """Commerce for every room, on one Redis.

    ``hold_seconds``: how long a reservation holds its units. ``clock``: seconds since
    the epoch (tests pass a fake one; it decides expiries and sale windows).
    ``charge_timeout``: the longest a charge may take before it counts as timed out.
    ``pay_lease_seconds``: how long a started payment owns its key (default
    ``charge_timeout + 10``). ``in_progress_wait``: how long a duplicate ``pay`` waits for
    the running one. ``confirm_retry_seconds``: how long an approved payment keeps trying
    to record its order while Redis is unreachable before answering ``unavailable``.
    ``reserve_batch``: the most buys of a room sent to Redis in one call
    (``checkout.reserve_batch``; 1 sends each buy on its own).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        provider: PaymentProvider,
        *,
        hold_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
        key_ttl_seconds: float = MIN_KEY_TTL,
        charge_timeout: float = 20.0,
        pay_lease_seconds: float | None = None,
        in_progress_wait: float = 2.0,
        confirm_retry_seconds: float = 5.0,
        sweep_batch: int = 200,
        reserve_batch: int = 200,
    ) -> None:
        if key_ttl_seconds < MIN_KEY_TTL:
            raise ValueError("idempotency keys must be kept at least 24 hours")
        if hold_seconds <= 0 or charge_timeout <= 0 or sweep_batch < 1:
            raise ValueError("hold_seconds, charge_timeout and sweep_batch must be positive")
        self._redis = redis
        self._provider = provider
        self._scripts = Scripts(redis)
        self._clock = clock
        self._hold_ms = int(hold_seconds * 1000)
        self._ttl_ms = int(key_ttl_seconds * 1000)
        self._reserves = ReserveBatcher(
            self._scripts, self._now_ms, self._ttl_ms, max_batch=reserve_batch
        )
        self._charge_timeout = charge_timeout
        lease = pay_lease_seconds if pay_lease_seconds is not None else charge_timeout + 10
        if lease <= charge_timeout:
            raise ValueError("pay_lease_seconds must exceed charge_timeout")
        self._lease_ms = int(lease * 1000)
        self._in_progress_wait = in_progress_wait
        self._confirm_retry = confirm_retry_seconds
        self._sweep_batch = sweep_batch
        self._touched: dict[str, float] = {}
        self._unconfirmed: dict[tuple[str, str], _ApprovedCharge] = {}
        self._settling: set[asyncio.Future[dict[str, Any]]] = set()

    def reserve_counts(self) -> tuple[int, int]:
        """(reserve calls made to Redis, buys sent in them) since this service started."""
        return self._reserves.calls, self._reserves.requests

    # -- helpers -------------------------------------------------------------------

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def _run(self, name: str, room: str, *args: str | int) -> dict[str, Any]:
        return await self._scripts.run(name, room, self._now_ms(), self._ttl_ms, *args)

    async def _touch(self, room: str) -> None:
        """Keep ``room`` in the index the sweeper walks (at most every 30 s per room)."""
        now = time.monotonic()
        if now - self._touched.get(room, -_TOUCH_EVERY) < _TOUCH_EVERY:
            return
        # marked before the write: a burst of buys sends one ZADD, not one each
        self._touched[room] = now
        try:
            with redis_failures():
                await self._redis.zadd(CHECKOUT_ROOMS, {room: self._now_ms()})
        except BaseException:
            self._touched.pop(room, None)
            raise

    # -- stock and sales (host side) -----------------------------------------------

    async def init_stock(self, room: str, product_id: object, stock: object) -> dict[str, int]:
        """Create the product's stock (initial = available = ``stock``); a no-op returning
        the current figures when it exists. Returns ``{initial, available, reserved,
        sold}``. Raises ``bad_args``, ``unavailable``."""
        pid = identifier(product_id, "product_id")
        units = integer(stock, "stock", 0, MAX_STOCK)
        reply = await self._run("stock", identifier(room, "room"), "init", pid, units, "")
        result: dict[str, int] = unwrap(reply, "stock")
        return result

    async def add_stock(
        self, room: str, product_id: object, units: object, *, key: object = None
    ) -> dict[str, int]:
        """Add ``units`` to initial and available together, once per ``key``.

        Without a key, one is made for this call, so redis-py's own resends cannot add
        twice, but a caller's retry after ``unavailable`` can: pass a key to retry.
        Raises ``bad_args``, ``not_found`` (no stock), ``key_reused``, ``unavailable``.
        """
        pid = identifier(product_id, "product_id")
        count = integer(units, "units", 1, MAX_STOCK)
        op_key = secrets.token_hex(12) if key is None else idempotency_key(key)
        reply = await self._run("stock", identifier(room, "room"), "add", pid, count, op_key)
        result: dict[str, int] = unwrap(reply, "stock")
        return result

    async def open_sale(
        self,
        room: str,
        product_id: object,
        *,
        price: object,
        currency: object,
        units: object,
        limit: object,
        opens_at: object = None,
        ends_at: object = None,
    ) -> dict[str, Any]:
        """Open (or schedule, with ``opens_at`` in the future) the product's flash sale.

        Returns the sale dict ``{product_id, price, currency, units, limit, opens_at,
        ends_at, state, units_left}``. Repeating an open with the same terms returns the
        running sale unchanged; other terms replace it (``units_left`` starts again at
        ``units``). Raises ``bad_args`` (also when ``units`` exceeds available stock),
        ``not_found`` (the product has no stock), ``unavailable``.
        """
        req = SaleRequest.parse(
            room,
            product_id,
            price=price,
            currency=currency,
            units=units,
            limit=limit,
            opens_at=opens_at,
            ends_at=ends_at,
            now_ms=self._now_ms(),
        )
        reply = await self._run(
            "sale",
            req.room,
            "open",
            req.product_id,
            req.price,
            req.currency,
            req.units,
            req.limit,
            "" if req.opens_at is None else req.opens_at,
            "" if req.ends_at is None else req.ends_at,
        )
        result: dict[str, Any] = unwrap(reply, "sale")
        return result

    async def close_sale(self, room: str, product_id: object) -> dict[str, Any]:
        """Close the product's sale (idempotent); returns the sale dict, state
        ``closed``. Live holds stay payable until they expire. Raises ``bad_args``,
        ``not_found`` (no sale), ``unavailable``."""
        pid = identifier(product_id, "product_id")
        reply = await self._run("sale", identifier(room, "room"), "close", pid)
        result: dict[str, Any] = unwrap(reply, "sale")
        return result

    async def snapshot(self, room: str) -> dict[str, dict[str, Any]]:
        """``{"stock": {product_id: stock dict}, "sales": {product_id: sale dict}}``, read
        at one instant."""
        reply = await self._run("snapshot", identifier(room, "room"))
        return {"stock": reply["ok"]["stock"] or {}, "sales": reply["ok"]["sales"] or {}}

    async def sales(self, room: str) -> dict[str, dict[str, Any]]:
        """Every sale of the room (open, scheduled or closed) by product id."""
        return (await self.snapshot(room))["sales"]

    async def stock(self, room: str) -> dict[str, dict[str, int]]:
        """``{product_id: {initial, available, reserved, sold}}`` for every product."""
        return (await self.snapshot(room))["stock"]

    # -- buying (viewer side) --------------------------------------------------------

    async def buy(
        self,
        room: str,
        product_id: object,
        *,
        buyer_vid: object,
        buyer_name: object,
        qty: object,
        key: object,
    ) -> dict[str, Any]:
        """Hold ``qty`` units for this buyer until ``expires_at``.

        Returns the reservation ``{id, product_id, qty, unit_price, currency, amount,
        state: "reserved", created_at, expires_at}`` (times in ms since the epoch).
        Raises ``bad_args``, ``not_found``, ``sale_not_open``, ``limit_reached``,
        ``sold_out``, ``key_reused``, ``unavailable``. The refusals ``sale_not_open``,
        ``limit_reached`` and ``sold_out`` are final for the key: a new attempt needs a
        new key.
        """
        req = BuyRequest.parse(room, product_id, buyer_vid, buyer_name, qty, key)
        await self._touch(req.room)
        rid = f"r_{secrets.token_hex(10)}"
        reply = await self._reserves.reserve(req.room, req.reserve_args(rid, self._hold_ms))
        result: dict[str, Any] = unwrap(reply, "reservation")
        return result

    async def pay(
        self,
        room: str,
        reservation_id: object,
        *,
        buyer_vid: object,
        card: object,
        key: object,
    ) -> dict[str, Any]:
        """Charge the reservation's amount and turn it into an order.

        Returns the order ``{id, reservation_id, product_id, qty, unit_price, currency,
        amount, charge_id, buyer_name, created_at}``. Raises ``bad_args``, ``not_found``,
        ``forbidden`` (another buyer's reservation), ``hold_expired`` (including a payment
        approved after the hold ended, which is refunded), ``payment_declined`` and
        ``payment_timeout`` (the hold is released), ``key_reused``, ``in_progress``,
        ``unavailable``.
        """
        req = PayRequest.parse(room, reservation_id, buyer_vid, card, key)
        fp = req.fingerprint()
        step = await self._pay_begin(req, fp)
        if "charge" not in step:
            result: dict[str, Any] = unwrap(step, "order")
            return result
        # From here on money may move: finish even if the caller goes away (a closed
        # socket cancels its command), so every charge ends as an order or a refund.
        task = asyncio.ensure_future(self._charge_and_record(req, fp, step["charge"]))
        self._settling.add(task)
        task.add_done_callback(self._settled)
        reply = await asyncio.shield(task)
        result = unwrap(reply, "order")
        return result

    def _settled(self, task: asyncio.Future[dict[str, Any]]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("payment settled with %r", task.exception())

    async def _charge_and_record(
        self, req: PayRequest, fp: str, charge: Mapping[str, Any]
    ) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._charge_timeout):
                answer = await self._provider.charge(
                    charge["amount"], charge["currency"], req.card, charge["key"]
                )
        except (ProviderTimeout, TimeoutError):
            return await self._release(req, fp, "payment_timeout", "the payment timed out")
        except ProviderError as exc:
            return await self._release(req, fp, "payment_declined", f"payment failed: {exc}")
        if not answer.approved or answer.charge_id is None:
            reason = answer.decline_reason or "declined"
            return await self._release(req, fp, "payment_declined", f"payment declined: {reason}")
        pending = _ApprovedCharge(req.room, req.key, fp, req.reservation_id, answer.charge_id)
        return await self._confirm_with_retries(pending)

    async def _pay_begin(self, req: PayRequest, fp: str) -> dict[str, Any]:
        deadline = time.monotonic() + self._in_progress_wait
        while True:
            step = await self._run(
                "pay_begin", req.room, req.key, fp, req.reservation_id, req.buyer_vid,
                self._lease_ms,
            )  # fmt: skip
            error = step.get("error")
            if error is None or error["code"] != "in_progress":
                return step
            if time.monotonic() >= deadline:
                return step
            await asyncio.sleep(0.05)

    async def _release(self, req: PayRequest, fp: str, code: str, message: str) -> dict[str, Any]:
        return await self._run("release", req.room, req.key, fp, req.reservation_id, code, message)

    async def _confirm(self, pending: _ApprovedCharge) -> dict[str, Any]:
        order_id = "o_" + pending.reservation_id.removeprefix("r_")
        reply = await self._run(
            "confirm", pending.room, pending.key, pending.fingerprint,
            pending.reservation_id, pending.charge_id, order_id,
        )  # fmt: skip
        self._unconfirmed.pop((pending.room, pending.reservation_id), None)
        refund = reply.pop("refund", None)
        if refund is not None:
            await self._refund(pending.room, pending.reservation_id, refund)
        return reply

    async def _confirm_with_retries(self, pending: _ApprovedCharge) -> dict[str, Any]:
        """Record an approved charge, retrying while Redis is away; past
        ``confirm_retry_seconds`` it is left to ``sweep`` and the caller gets
        ``unavailable`` (a retry with the same key resolves it too)."""
        deadline = time.monotonic() + self._confirm_retry
        delay = 0.05
        while True:
            try:
                return await self._confirm(pending)
            except CheckoutError as exc:
                if exc.code != "unavailable":
                    raise
                if time.monotonic() >= deadline:
                    self._unconfirmed[(pending.room, pending.reservation_id)] = pending
                    log.warning("order %s not recorded yet: %s", pending.reservation_id, exc)
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _refund(self, room: str, reservation_id: str, refund: Mapping[str, str]) -> None:
        """Refund a late charge; on failure it stays in the room's refunds set for
        ``sweep`` to retry with the same key."""
        try:
            async with asyncio.timeout(self._charge_timeout):
                done = await self._provider.refund(refund["charge_id"], "refund:" + refund["key"])
            await self._run("refund_done", room, reservation_id, done.refund_id)
        except (ProviderError, TimeoutError, CheckoutError) as exc:
            log.warning("refund of %s in %s not done yet: %s", reservation_id, room, exc)

    # -- background work -------------------------------------------------------------

    async def sweep(self, room: str | None = None) -> int:
        """Expire due holds of ``room`` (or of every room with holds in the last day),
        retry refunds and unrecorded orders left by failures. Returns how many holds
        expired. Safe to run on several nodes at once. Raises ``unavailable``."""
        rooms = [identifier(room, "room")] if room is not None else await self._active_rooms()
        for pending in list(self._unconfirmed.values()):
            if room is None or pending.room == room:
                await self._confirm(pending)
        expired = 0
        for name in rooms:
            while True:
                reply = await self._run("sweep", name, self._sweep_batch)
                expired += reply["ok"]["expired"]
                if reply["ok"]["scanned"] < self._sweep_batch:
                    break
            await self._settle_unsettled(name)
            await self._settle_refunds(name)
        return expired

    async def _settle_unsettled(self, room: str) -> None:
        """Holds that expired with a payment attempt on them whose runner never came back:
        once the attempt's lease is over, ask the provider (when it supports
        ``ChargeLookup``) and refund a charge that went through. Without a lookup they
        stay in ``lc:{room}:unsettled`` for reconciliation."""
        if not isinstance(self._provider, ChargeLookup):
            return
        keys = RoomKeys(room)
        now = self._now_ms()
        with redis_failures():
            due = await self._redis.zrange(keys.unsettled, 0, self._sweep_batch - 1)
        for raw in due:
            rid = orders.text(raw)
            with redis_failures():
                fields = await self._redis.hmget(
                    keys.hold(rid), ["charge_key", "pay_key", "pay_until"]
                )
            if not all(fields):
                with redis_failures():
                    await self._redis.zrem(keys.unsettled, rid)
                continue
            charge_key, pay_key, pay_until = (orders.text(f) for f in fields)
            if int(pay_until) > now:
                continue  # the attempt may still be running
            try:
                async with asyncio.timeout(self._charge_timeout):
                    found = await self._provider.find_charge(charge_key)
            except (ProviderError, TimeoutError) as exc:
                log.warning("could not look up the charge of %s in %s: %s", rid, room, exc)
                continue
            if found is not None and found.approved and found.charge_id is not None:
                with redis_failures():
                    fp = await self._redis.hget(keys.pay_key(pay_key), "fp")
                fingerprint = orders.text(fp or b"")
                approved = _ApprovedCharge(room, pay_key, fingerprint, rid, found.charge_id)
                await self._confirm(approved)  # the hold has ended: this refunds
            with redis_failures():
                await self._redis.zrem(keys.unsettled, rid)

    async def _active_rooms(self) -> list[str]:
        horizon = self._now_ms() - self._hold_ms - self._ttl_ms
        with redis_failures():
            await self._redis.zremrangebyscore(CHECKOUT_ROOMS, "-inf", f"({horizon}")
            members = await self._redis.zrangebyscore(CHECKOUT_ROOMS, horizon, "+inf")
        return [orders.text(m) for m in members]

    async def _settle_refunds(self, room: str) -> None:
        keys = RoomKeys(room)
        with redis_failures():
            due = await self._redis.zrange(keys.refunds, 0, self._sweep_batch - 1)
            for raw in due:
                rid = orders.text(raw)
                charge_id, charge_key = await self._redis.hmget(
                    keys.hold(rid), ["charge_id", "charge_key"]
                )
                if not charge_id or not charge_key:
                    await self._redis.zrem(keys.refunds, rid)
                    continue
                info = {"charge_id": orders.text(charge_id), "key": orders.text(charge_key)}
                await self._refund(room, rid, info)

    # -- reporting -------------------------------------------------------------------

    async def figures(self, room: str) -> dict[str, Any]:
        """``{orders, units_sold, revenue: {currency: amount}, hosts: {host: {orders,
        revenue, commission}}}``; see ``checkout.orders.figures``."""
        with redis_failures():
            counters = await self._redis.hgetall(RoomKeys(identifier(room, "room")).figures)
        return orders.figures(counters)

    async def orders_after(
        self, room: str, last_id: str | None = None, count: int = 100
    ) -> tuple[list[dict[str, Any]], str]:
        """Orders appended after stream id ``last_id``, oldest first, at most ``count``,
        and the id to pass next time. ``last_id=None`` means "from now on": no orders,
        and the id of the latest one (``"0-0"`` when there is none)."""
        keys = RoomKeys(identifier(room, "room"))
        count = integer(count, "count", 1, 10_000)
        if last_id is not None and _STREAM_ID.fullmatch(last_id) is None:
            raise CheckoutError("bad_args", "last_id: must be a stream id like 1763760000000-0")
        with redis_failures():
            if last_id is None:
                latest = await self._redis.xrevrange(keys.orders, count=1)
                return [], orders.text(latest[0][0]) if latest else "0-0"
            entries = await self._redis.xrange(keys.orders, min=f"({last_id}", count=count)
        records = [orders.order_record(room, sid, fields) for sid, fields in entries or []]
        return records, (records[-1]["stream_id"] if records else last_id)

    async def export(self, room: str) -> tuple[str, list[dict[str, Any]]]:
        """Every order of the room, oldest first, as CSV text and as records."""
        records: list[dict[str, Any]] = []
        last_id = "0-0"
        while True:
            batch, last_id = await self.orders_after(room, last_id, 1000)
            records.extend(batch)
            if len(batch) < 1000:
                break
        return orders.orders_csv(records), records

    async def audit(self, room: str) -> list[str]:
        """Problems with the room's books, read at one instant; empty when consistent.
        See ``checkout.audit.problems``."""
        reply = await self._run("audit", identifier(room, "room"))
        return audit.problems(reply["ok"])

    async def save_delivery_status(self, room: str, status: Mapping[str, Any]) -> None:
        """Store the fulfilment delivery status so that any node can report it."""
        with redis_failures():
            await self._redis.set(RoomKeys(identifier(room, "room")).fulfilment, json.dumps(status))

    async def delivery_status(self, room: str) -> dict[str, Any] | None:
        """The last stored fulfilment status (see ``checkout.fulfilment``), or ``None``."""
        with redis_failures():
            raw = await self._redis.get(RoomKeys(identifier(room, "room")).fulfilment)
        if raw is None:
            return None
        status: dict[str, Any] = json.loads(raw)
        return status
