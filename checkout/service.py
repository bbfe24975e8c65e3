"""``CheckoutService``: flash sales, holds, payments and orders on one Redis.

The service is the facade over checkout's parts: it validates what callers hand it
(``checkout.validation``) and passes typed requests to the part that holds the concept:

- ``checkout.sales``: stock and flash sales (the host's side);
- ``checkout.buying``: a buy becomes a hold;
- ``checkout.payment_saga``: a payment, from the hold to an order, a release or a refund;
- ``checkout.reconciliation``: ``sweep`` (expiries, late refunds, unrecorded orders);
- ``checkout.reports``: figures, orders, export, audit, delivery status.

They share one ``checkout.datastore.Datastore``; the decisions are the atomic scripts of
``checkout/lua``. Any number of services (nodes) may share one Redis; they agree through
the scripts only. Every method is safe to call concurrently.

Guarantees:

- Invariant, for every product at every moment: ``initial = available + reserved +
  sold``, ``available >= 0``, ``reserved >= 0``.
- ``buy`` and ``pay`` are idempotent per key (kept ``key_ttl_seconds``, at least 24 h;
  a refused buy for ``checkout.bounds.REFUSAL_KEEP_MS``, a hold that ended unpaid for
  ``UNPAID_KEEP_MS``): the same key and parameters always yield the first outcome;
  the same key with other parameters yields ``key_reused``. A ``buy`` is one atomic
  script, so duplicates are serialised by Redis and never see ``in_progress``. A
  ``pay`` runs the charge between two scripts; a duplicate waits up to
  ``in_progress_wait`` seconds for the outcome, then gets ``in_progress`` with
  ``retry_after``.
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

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from livecart.checkout import bounds
from livecart.checkout.auctions import Auctions
from livecart.checkout.buying import Buying
from livecart.checkout.counters import CheckoutCounters
from livecart.checkout.datastore import Datastore
from livecart.checkout.errors import CheckoutError
from livecart.checkout.payment_saga import PaymentSaga, Timings
from livecart.checkout.payments import PaymentProvider
from livecart.checkout.reconciliation import Reconciliation
from livecart.checkout.reports import Reports
from livecart.checkout.room_index import RoomIndex
from livecart.checkout.sales import Sales
from livecart.checkout.validation import (
    BuyRequest,
    PayRequest,
    SaleRequest,
    idempotency_key,
    identifier,
    integer,
    stream_id,
)
from livecart.limits import MAX_HOLD_SECONDS, MAX_STOCK
from livecart.redis_client import AnyRedis

MIN_KEY_TTL = 24 * 3600.0


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
    (``checkout.reserve_batch``; 1 sends each buy on its own). ``holds_per_address``:
    the most live unpaid purchases an anonymous buyer's address may have in one sale
    (0: no cap); signed-in buyers (``buyer_vid`` ``u:<sub>``, no address) are capped by
    the sale's per-buyer limit alone.
    """

    def __init__(
        self,
        redis: AnyRedis,
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
        holds_per_address: int = bounds.DEFAULT_HOLDS_PER_ADDRESS,
    ) -> None:
        if key_ttl_seconds < MIN_KEY_TTL:
            raise ValueError("idempotency keys must be kept at least 24 hours")
        if hold_seconds <= 0 or charge_timeout <= 0 or sweep_batch < 1:
            raise ValueError("hold_seconds, charge_timeout and sweep_batch must be positive")
        if not 0 <= holds_per_address <= bounds.MAX_HOLDS_PER_ADDRESS:
            raise ValueError(f"holds_per_address must be 0-{bounds.MAX_HOLDS_PER_ADDRESS}")
        lease = pay_lease_seconds if pay_lease_seconds is not None else charge_timeout + 10
        timings = Timings(charge_timeout, lease, in_progress_wait, confirm_retry_seconds)
        hold_ms = int(hold_seconds * 1000)
        store = Datastore(redis, clock=clock, key_ttl_ms=int(key_ttl_seconds * 1000))
        longest_hold_ms = max(hold_ms, MAX_HOLD_SECONDS * 1000)
        rooms = RoomIndex(store, keep_ms=longest_hold_ms + store.key_ttl_ms)
        self._store = store
        self._sales = Sales(store, hold_ms=hold_ms)
        self._buying = Buying(
            store,
            rooms,
            hold_ms=hold_ms,
            max_batch=reserve_batch,
            per_address=holds_per_address,
        )
        self._payments = PaymentSaga(store, provider, timings)
        self._reconciliation = Reconciliation(store, self._payments, rooms, sweep_batch)
        self._reports = Reports(store)
        self.auctions = Auctions(store, self._payments, hold_ms=hold_ms)
        """Live auctions and giveaways (``checkout.auctions``), paid through the same saga."""
        self.counters = CheckoutCounters()
        """Outcomes and durations of buys and payments, holds expired (for /metrics)."""

    def reserve_counts(self) -> tuple[int, int]:
        """(reserve calls made to Redis, buys sent in them) since this service started."""
        return self._buying.counts()

    # -- stock and sales (host side): checkout.sales ---------------------------------

    async def init_stock(self, room: str, product_id: object, stock: object) -> dict[str, int]:
        """Create the product's stock (initial = available = ``stock``); a no-op returning
        the current figures when it exists. Returns ``{initial, available, reserved,
        sold}``. Raises ``bad_args``, ``unavailable``."""
        pid = identifier(product_id, "product_id")
        units = integer(stock, "stock", 0, MAX_STOCK)
        return await self._sales.init_stock(identifier(room, "room"), pid, units)

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
        return await self._sales.add_stock(identifier(room, "room"), pid, count, op_key)

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
        hold_seconds: object = None,
        policy: object = None,
    ) -> dict[str, Any]:
        """Open (or schedule, with ``opens_at`` in the future) the product's flash sale.

        ``hold_seconds`` (10-3600; default: the service's ``hold_seconds``): how long a
        buy holds its units, or under ``first_paid`` how long it stays payable.
        ``policy``: ``hold`` (the default: a buy holds the units until it is paid or its
        hold ends) or ``first_paid`` (a buy holds nothing; the units go to whoever starts
        paying first, and a payment that starts with too few left gets ``sold_out``).

        Returns the sale dict ``{product_id, price, currency, units, limit, opens_at,
        ends_at, state, units_left, hold_seconds, policy}``. Repeating an open with the
        same terms returns the running sale unchanged; other terms replace it
        (``units_left`` starts again at ``units``). Raises ``bad_args`` (also when
        ``units`` exceeds available stock),
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
            now_ms=self._store.now_ms(),
            hold_seconds=hold_seconds,
            policy=policy,
        )
        return await self._sales.open(req)

    async def close_sale(self, room: str, product_id: object) -> dict[str, Any]:
        """Close the product's sale (idempotent); returns the sale dict, state
        ``closed``. Live holds stay payable until they expire. Raises ``bad_args``,
        ``not_found`` (no sale), ``unavailable``."""
        pid = identifier(product_id, "product_id")
        return await self._sales.close(identifier(room, "room"), pid)

    async def snapshot(self, room: str) -> dict[str, dict[str, Any]]:
        """``{"stock": {product_id: stock dict}, "sales": {product_id: sale dict}}``, read
        at one instant."""
        return await self._sales.snapshot(identifier(room, "room"))

    async def sales(self, room: str) -> dict[str, dict[str, Any]]:
        """Every sale of the room (open, scheduled or closed) by product id."""
        return (await self.snapshot(room))["sales"]

    async def stock(self, room: str) -> dict[str, dict[str, int]]:
        """``{product_id: {initial, available, reserved, sold}}`` for every product."""
        return (await self.snapshot(room))["stock"]

    # -- buying and paying (viewer side): checkout.buying, checkout.payment_saga -----

    async def buy(
        self,
        room: str,
        product_id: object,
        *,
        buyer_vid: object,
        buyer_name: object,
        qty: object,
        key: object,
        address: object = "",
        channel: object = "live",
    ) -> dict[str, Any]:
        """Hold ``qty`` units for this buyer until ``expires_at`` (under a ``first_paid``
        sale: a ``pending`` purchase, payable until ``expires_at``, holding nothing).

        ``buyer_vid`` is a viewer id, or ``u:<sub>`` for a buyer signed in with the shop's
        token; ``address`` is an anonymous buyer's client address (``""`` for a signed-in
        one), capped at ``holds_per_address`` live unpaid purchases per sale.

        ``channel`` ``"replay"``: bought from the show's recording, at the product's list
        price while stock lasts (no sale needed); the order is counted apart.

        Returns the reservation ``{id, product_id, qty, unit_price, currency, amount,
        state: "reserved", created_at, expires_at}`` (times in ms since the epoch).
        Raises ``bad_args``, ``not_found``, ``sale_not_open``, ``limit_reached``,
        ``sold_out``, ``too_many_holds``, ``key_reused``, ``unavailable``. The refusals
        ``sale_not_open``, ``limit_reached``, ``sold_out`` and ``too_many_holds`` are
        replayed for the same key for ``checkout.bounds.REFUSAL_KEEP_MS`` (a new attempt
        wants a new key); after that the key is decided afresh.
        """
        started = time.perf_counter()
        try:
            req = BuyRequest.parse(
                room, product_id, buyer_vid, buyer_name, qty, key, address, channel
            )
            reservation = await self._buying.buy(req)
        except CheckoutError as exc:
            self.counters.buy(exc.code, time.perf_counter() - started)
            raise
        self.counters.buy("ok", time.perf_counter() - started)
        return reservation

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
        started = time.perf_counter()
        try:
            req = PayRequest.parse(room, reservation_id, buyer_vid, card, key)
            order = await self._payments.pay(req)
        except CheckoutError as exc:
            self.counters.pay(exc.code, time.perf_counter() - started)
            raise
        self.counters.pay("ok", time.perf_counter() - started)
        return order

    # -- background work: checkout.reconciliation ------------------------------------

    async def sweep(self, room: str | None = None) -> int:
        """Expire due holds of ``room`` (or of every room with holds in the last day),
        retry refunds and unrecorded orders left by failures. Returns how many holds
        expired. Safe to run on several nodes at once. Raises ``unavailable``."""
        name = identifier(room, "room") if room is not None else None
        try:
            expired = await self._reconciliation.sweep(name)
        except CheckoutError as exc:
            if exc.code == "unavailable":
                self.counters.unavailable += 1
            raise
        self.counters.holds_expired += expired
        return expired

    # -- reporting: checkout.reports -------------------------------------------------

    async def figures(self, room: str) -> dict[str, Any]:
        """``{orders, units_sold, revenue: {currency: amount}, hosts: {host: {orders,
        revenue, commission}}}``; see ``checkout.orders.figures``."""
        return await self._reports.figures(identifier(room, "room"))

    async def orders_after(
        self, room: str, last_id: str | None = None, count: int = 100
    ) -> tuple[list[dict[str, Any]], str]:
        """Orders appended after stream id ``last_id``, oldest first, at most ``count``,
        and the id to pass next time. ``last_id=None`` means "from now on": no orders,
        and the id of the latest one (``"0-0"`` when there is none)."""
        name = identifier(room, "room")
        count = integer(count, "count", 1, 10_000)
        cursor = None if last_id is None else stream_id(last_id)
        return await self._reports.orders_after(name, cursor, count)

    async def export(self, room: str) -> tuple[str, list[dict[str, Any]]]:
        """Every order of the room, oldest first, as CSV text and as records."""
        return await self._reports.export(identifier(room, "room"))

    async def audit(self, room: str) -> list[str]:
        """Problems with the room's books, read at one instant; empty when consistent.
        See ``checkout.audit.problems``."""
        return await self._reports.audit(identifier(room, "room"))

    async def save_delivery_status(self, room: str, status: Mapping[str, Any]) -> None:
        """Store the fulfilment delivery status so that any node can report it."""
        await self._reports.save_delivery_status(identifier(room, "room"), status)

    async def delivery_status(self, room: str) -> dict[str, Any] | None:
        """The last stored fulfilment status (see ``checkout.fulfilment``), or ``None``."""
        return await self._reports.delivery_status(identifier(room, "room"))
