"""The built-in sandbox payment provider: test cards, configurable latency, no money.

Test cards (any other valid card number is declined as "unknown test card"):

====================  =========================================================
``4242424242424242``  approved
``4000000000000002``  declined ("card declined")
``4000000000000119``  no answer: raises ``ProviderTimeout`` after ``timeout`` s
====================  =========================================================

``save_card`` returns a token ``pm_sandbox_<outcome>_<last4>_<nonce>``: it encodes only
what a later charge needs to decide (the test card's outcome: ``approve``, ``decline``,
``timeout`` or ``unknown``, and the last four digits), never the number, so any
instance (any node) can charge it. Charging a token behaves as charging its card.

It keeps the port's contract (``checkout.payments``), lookup included: idempotent per
key, concurrent calls with one key share a single attempt, a charge is refunded at most
once. A timed-out attempt leaves no trace, so the same key may be tried again (and time
out again).
State lives in memory: one instance stands for one provider account, so nodes that
should share charges share the instance (tests) or use a real provider.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import string
from dataclasses import dataclass

from livecart.checkout.errors import ProviderError, ProviderTimeout
from livecart.checkout.payments import ChargeResult, RefundResult, SavedCard

APPROVE_CARD = "4242424242424242"
DECLINE_CARD = "4000000000000002"
TIMEOUT_CARD = "4000000000000119"
_OUTCOMES = {APPROVE_CARD: "approve", DECLINE_CARD: "decline", TIMEOUT_CARD: "timeout"}
TOKEN_PREFIX = "pm_sandbox_"


def _outcome(card: str) -> tuple[str, str]:
    """(outcome, last4) of a card number or of a sandbox token."""
    if card.startswith(TOKEN_PREFIX):
        parts = card[len(TOKEN_PREFIX) :].split("_")
        if len(parts) == 3 and parts[0] in (*_OUTCOMES.values(), "unknown"):
            return parts[0], parts[1]
        raise ProviderError("sandbox: not a token this sandbox made")
    return _OUTCOMES.get(card, "unknown"), card[-4:]


@dataclass(frozen=True, slots=True)
class SandboxCharge:
    """An approved sandbox charge, as kept for tests and reports (the card's last four only)."""

    charge_id: str
    amount: int
    currency: str
    last4: str
    idempotency_key: str


class SandboxProvider:
    """``latency``: seconds every call takes; ``timeout``: seconds before the timeout card
    raises ``ProviderTimeout``."""

    def __init__(self, *, latency: float = 0.0, timeout: float = 10.0) -> None:
        if latency < 0 or timeout < 0:
            raise ValueError("latency and timeout must be >= 0")
        self.latency = latency
        self.timeout = timeout
        self.attempts = 0  # calls to charge(), replays included
        self.saved = 0  # calls to save_card()
        self.charges: dict[str, SandboxCharge] = {}  # approved charges by charge id
        self.refunds: dict[str, str] = {}  # refund id by charge id
        self._by_key: dict[str, tuple[tuple[int, str, str], asyncio.Task[ChargeResult]]] = {}
        self._refund_keys: dict[str, RefundResult] = {}
        self._ids = itertools.count(1)

    async def charge(
        self, amount: int, currency: str, card: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge as ``PaymentProvider.charge`` does: at most once per key; the same key
        with other parameters raises ``ProviderError``, a concurrent repeat awaits the first
        attempt."""
        self.attempts += 1
        params = (amount, currency, card)
        seen = self._by_key.get(idempotency_key)
        if seen is not None:
            if seen[0] != params:
                raise ProviderError("idempotency key reused with different parameters")
            return await asyncio.shield(seen[1])
        task = asyncio.ensure_future(self._attempt(amount, currency, card, idempotency_key))
        task.add_done_callback(_consume)
        self._by_key[idempotency_key] = (params, task)
        return await asyncio.shield(task)

    async def _attempt(self, amount: int, currency: str, card: str, key: str) -> ChargeResult:
        outcome, last4 = _outcome(card)
        try:
            await asyncio.sleep(self.latency)
            if outcome == "timeout":
                await asyncio.sleep(max(0.0, self.timeout - self.latency))
                raise ProviderTimeout("sandbox: the timeout test card never answers")
        except BaseException:
            del self._by_key[key]  # nothing happened: the key may be tried again
            raise
        if outcome != "approve":
            reason = "card declined" if outcome == "decline" else "unknown test card"
            return ChargeResult(approved=False, decline_reason=reason)
        charge_id = f"ch_sandbox_{next(self._ids)}"
        self.charges[charge_id] = SandboxCharge(charge_id, amount, currency, last4, key)
        return ChargeResult(approved=True, charge_id=charge_id)

    async def save_card(self, card: str) -> SavedCard:
        """A token for ``card``: its outcome class and last four digits, and a nonce."""
        await asyncio.sleep(self.latency)
        self.saved += 1
        outcome, last4 = _outcome(card)
        nonce = "".join(secrets.choice(string.ascii_lowercase) for _ in range(16))
        return SavedCard(f"{TOKEN_PREFIX}{outcome}_{last4}_{nonce}", last4)

    async def refund(self, charge_id: str, idempotency_key: str) -> RefundResult:
        """Refund a charge, once per key (a repeat returns the first refund). Raises
        ``ProviderError`` for an unknown charge."""
        await asyncio.sleep(self.latency)
        if idempotency_key in self._refund_keys:
            return self._refund_keys[idempotency_key]
        if charge_id not in self.charges:
            raise ProviderError(f"sandbox: no charge {charge_id}")
        refund_id = self.refunds.get(charge_id) or f"re_sandbox_{next(self._ids)}"
        self.refunds[charge_id] = refund_id
        result = RefundResult(refund_id)
        self._refund_keys[idempotency_key] = result
        return result

    async def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        """The result of the finished charge made with this key, or None (``ChargeLookup``)."""
        seen = self._by_key.get(idempotency_key)
        if seen is None or not seen[1].done():
            return None
        return seen[1].result()

    def captured(self, idempotency_key: str) -> list[SandboxCharge]:
        """Approved charges made under ``idempotency_key`` (at most one, by contract)."""
        return [c for c in self.charges.values() if c.idempotency_key == idempotency_key]


def _consume(task: asyncio.Task[ChargeResult]) -> None:
    # Every caller awaits the shielded task; a caller cancelled meanwhile must not leave
    # "exception was never retrieved" behind.
    if not task.cancelled():
        task.exception()
