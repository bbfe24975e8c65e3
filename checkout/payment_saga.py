"""The payment saga: one ``pay`` from the hold to an order, or to a release or a refund.

::

    pay_begin.lua ──▶ provider.charge ──▶ approved, hold live ──▶ confirm.lua: order
         │                   │            approved, hold over ──▶ confirm.lua: refund
         │                   └──────────▶ declined / timed out ─▶ release.lua
         └── a replayed key: the first outcome (or ``in_progress`` while it runs)

The saga is the one part of checkout that talks to the payment provider (charges,
refunds, and the lookups the reconciliation asks for); ``Timings`` bounds each step.

Guarantees:

- ``pay_begin.lua`` takes a lease on the payment key (``lease_seconds``) before any
  money moves; a duplicate waits up to ``in_progress_wait`` seconds for the outcome,
  then gets ``in_progress`` with ``retry_after``. Once the lease has run out (its runner died) a
  retry takes over with the same charge key, so the provider does not charge twice.
- A charge is made at most once per reservation and ends as one order or one refund,
  also when the caller is cancelled mid-payment: from the charge on, the saga runs in a
  task of its own that the caller only waits for.
- An approved charge whose order cannot be recorded because Redis is away is retried for
  ``confirm_retry`` seconds, then kept in ``unconfirmed`` for the reconciliation to
  record (the caller gets ``unavailable``; a retry with the same key resolves it too:
  the order, or ``hold_expired`` with the charge refunded when the hold ended meanwhile).
  Should this process die first, the hold's expiry lists it as unsettled and the
  reconciliation finds the charge at the provider and refunds it.
- A late charge (approved after the hold ended) is refunded; a refund that fails stays in
  the room's refunds set and is retried by the reconciliation with the same key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livecart.checkout.datastore import Datastore
from livecart.checkout.errors import CheckoutError, ProviderError, ProviderTimeout
from livecart.checkout.payments import ChargeLookup, ChargeResult, PaymentProvider, SavedCard
from livecart.checkout.scripts import unwrap
from livecart.checkout.validation import PayRequest

log = logging.getLogger("livecart.checkout")


@dataclass(frozen=True, slots=True)
class Timings:
    """``charge_timeout``: seconds one call to the provider may take. ``lease_seconds``:
    how long a started payment owns its key; it must outlast the charge.
    ``in_progress_wait``: seconds a duplicate waits for the running payment.
    ``confirm_retry``: seconds an approved payment keeps trying to record its order
    while Redis is away."""

    charge_timeout: float
    lease_seconds: float
    in_progress_wait: float
    confirm_retry: float

    def __post_init__(self) -> None:
        if self.lease_seconds <= self.charge_timeout:
            raise ValueError("pay_lease_seconds must exceed charge_timeout")

    @property
    def lease_ms(self) -> int:
        """``lease_seconds`` in milliseconds, as the scripts take it."""
        return int(self.lease_seconds * 1000)


@dataclass(frozen=True, slots=True)
class ApprovedCharge:
    """A charge the provider approved, to be recorded as an order (or refunded)."""

    room: str
    key: str
    fingerprint: str
    reservation_id: str
    charge_id: str


class PaymentSaga:
    """Payments on ``store`` through ``provider``, the one part that talks to it."""

    def __init__(self, store: Datastore, provider: PaymentProvider, timings: Timings) -> None:
        self._store = store
        self._provider = provider
        self._timings = timings
        self._unconfirmed: dict[tuple[str, str], ApprovedCharge] = {}
        self._settling: set[asyncio.Future[dict[str, Any]]] = set()

    async def pay(self, req: PayRequest) -> dict[str, Any]:
        """The order, or the refusal the saga ended with (``CheckoutError``)."""
        fp = req.fingerprint()
        step = await self.begin(req, fp)
        if "charge" not in step:
            late = self._unconfirmed.get((req.room, req.reservation_id))
            if late is not None and step.get("error", {}).get("code") == "hold_expired":
                # This node's charge for it was approved but not recorded (Redis was
                # away) and the hold is over now: refund it now, not at the next sweep.
                await self.confirm(late)
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

    async def begin(self, req: PayRequest, fp: str) -> dict[str, Any]:
        """``pay_begin.lua``'s reply: a replayed outcome, a refusal, or ``charge`` (the
        lease is ours: charge ``amount`` in ``currency`` under ``key``)."""
        deadline = time.monotonic() + self._timings.in_progress_wait
        while True:
            step = await self._store.run(
                "pay_begin", req.room, req.key, fp, req.reservation_id, req.buyer_vid,
                self._timings.lease_ms,
            )  # fmt: skip
            error = step.get("error")
            if error is None or error["code"] != "in_progress":
                return step
            if time.monotonic() >= deadline:
                return step
            await asyncio.sleep(0.05)

    def unconfirmed(self, room: str | None = None) -> list[ApprovedCharge]:
        """Approved charges not recorded yet (of ``room``, or of every room)."""
        return [p for p in self._unconfirmed.values() if room is None or p.room == room]

    async def confirm(self, pending: ApprovedCharge) -> dict[str, Any]:
        """``confirm.lua``: the order, or (the hold being over) a refund of the charge.
        Raises ``unavailable``."""
        order_id = "o_" + pending.reservation_id.removeprefix("r_")
        reply = await self._store.run(
            "confirm", pending.room, pending.key, pending.fingerprint,
            pending.reservation_id, pending.charge_id, order_id,
        )  # fmt: skip
        self._unconfirmed.pop((pending.room, pending.reservation_id), None)
        refund = reply.pop("refund", None)
        if refund is not None:
            await self.refund(pending.room, pending.reservation_id, refund)
        return reply

    async def refund(self, room: str, reservation_id: str, refund: Mapping[str, str]) -> None:
        """Refund a late charge (``charge_id``, ``key``); on failure it stays in the room's
        refunds set, to be retried with the same key. Never raises a checkout error."""
        try:
            async with asyncio.timeout(self._timings.charge_timeout):
                done = await self._provider.refund(refund["charge_id"], "refund:" + refund["key"])
            await self._store.run("refund_done", room, reservation_id, done.refund_id)
        except (ProviderError, TimeoutError, CheckoutError) as exc:
            log.warning(
                "refund of %s in %s not done yet: %s",
                reservation_id,
                room,
                exc,
                extra={"room": room},
            )

    async def save_card(self, card: str) -> SavedCard:
        """The provider's token for ``card``, for a later charge. Raises
        ``payment_declined`` when the provider refused it, ``payment_timeout`` past
        ``charge_timeout``."""
        try:
            async with asyncio.timeout(self._timings.charge_timeout):
                return await self._provider.save_card(card)
        except (ProviderTimeout, TimeoutError):
            raise CheckoutError("payment_timeout", "saving the card timed out") from None
        except ProviderError as exc:
            raise CheckoutError("payment_declined", f"the card was not saved: {exc}") from None

    def can_look_up(self) -> bool:
        """Whether the provider can find a charge by its key (``ChargeLookup``)."""
        return isinstance(self._provider, ChargeLookup)

    async def find_charge(self, charge_key: str) -> ChargeResult | None:
        """The provider's final result for ``charge_key`` (``None``: no charge, or no
        lookup). Raises ``ProviderError`` or ``TimeoutError`` past ``charge_timeout``."""
        if not isinstance(self._provider, ChargeLookup):
            return None
        async with asyncio.timeout(self._timings.charge_timeout):
            return await self._provider.find_charge(charge_key)

    def _settled(self, task: asyncio.Future[dict[str, Any]]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("payment settled with %r", task.exception())

    async def _charge_and_record(
        self, req: PayRequest, fp: str, charge: Mapping[str, Any]
    ) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self._timings.charge_timeout):
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
        pending = ApprovedCharge(req.room, req.key, fp, req.reservation_id, answer.charge_id)
        return await self._confirm_with_retries(pending)

    async def _release(self, req: PayRequest, fp: str, code: str, message: str) -> dict[str, Any]:
        return await self._store.run(
            "release", req.room, req.key, fp, req.reservation_id, code, message
        )

    async def _confirm_with_retries(self, pending: ApprovedCharge) -> dict[str, Any]:
        """Record an approved charge, retrying while Redis is away; past
        ``confirm_retry`` it is left to the reconciliation and the caller gets
        ``unavailable``."""
        deadline = time.monotonic() + self._timings.confirm_retry
        delay = 0.05
        while True:
            try:
                return await self.confirm(pending)
            except CheckoutError as exc:
                if exc.code != "unavailable":
                    raise
                if time.monotonic() >= deadline:
                    self._unconfirmed[(pending.room, pending.reservation_id)] = pending
                    log.warning("order %s not recorded yet: %s", pending.reservation_id, exc)
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
