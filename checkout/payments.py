"""The payment provider port: what checkout needs from whoever moves the money.

``checkout.sandbox.SandboxProvider`` is the built-in implementation (the default); a real
provider is another class with the same three methods, passed to ``CheckoutService``.
docs/checkout.md walks through writing one.

Contract, for every implementation:

- **Idempotent per key.** ``charge`` called again with an ``idempotency_key`` it has seen
  returns the first call's result (same ``charge_id``, same approval or decline) and
  never moves money a second time, whether the calls are sequential or concurrent, from
  one process or several. The same key with a different amount, currency or card raises
  ``ProviderError``. ``refund`` is idempotent per key the same way, and a charge is
  refunded at most once whatever the key.
- **Definite or raised.** ``charge`` returns a ``ChargeResult`` (approved or declined)
  only when the provider answered. It raises ``ProviderTimeout`` when it got no answer
  in time, and ``ProviderError`` for any other failure, and in both cases only when it
  is certain that no money moved (e.g. after voiding the attempt by its key). Checkout
  releases the hold on either.
- **Keys.** Checkout passes ``"<room>:<buy key>"`` as the charge key, so every retry of
  one purchase, from any node, carries the same key; the refund key is
  ``"refund:" + charge key``.
- Cards are passed through and never stored by checkout; only their last four digits
  reach Redis (inside a fingerprint).
- **Saved cards.** ``save_card`` keeps a card with the provider for a later charge (what
  Stripe's SetupIntent and PaymentMethod do) and returns an opaque ``SavedCard.token``:
  a string that is not a card number, does not contain one and cannot be turned back
  into one without the provider. ``charge`` accepts such a token wherever it accepts a
  card number, from any node. Checkout keeps only the token (an auction's leading bid
  waits for the close with it in Redis), never the number.

Optional: a provider that can also look a charge up by its key (``ChargeLookup``) lets
the sweeper settle payments whose node died between the charge and the order: the
charge is found and refunded. Without it such holds are listed in the room's
``unsettled`` set for reconciliation against the provider's records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """A provider's definite answer. ``charge_id`` is set exactly when ``approved``;
    ``decline_reason`` is a short human-readable reason when declined."""

    approved: bool
    charge_id: str | None = None
    decline_reason: str | None = None

    def __post_init__(self) -> None:
        if self.approved != (self.charge_id is not None):
            raise ValueError("charge_id must be set exactly when the charge is approved")


@dataclass(frozen=True, slots=True)
class SavedCard:
    """A card kept by the provider: ``token`` to charge it later, ``last4`` to show."""

    token: str
    last4: str

    def __post_init__(self) -> None:
        if not self.token or re.search(r"\d{12}", self.token):
            raise ValueError("a saved card's token must not hold a card number")


@dataclass(frozen=True, slots=True)
class RefundResult:
    """A refund the provider made: its ``refund_id``."""

    refund_id: str


@runtime_checkable
class PaymentProvider(Protocol):
    """The payment provider port (implemented by ``checkout.sandbox.SandboxProvider``):
    charge, save a card, refund.

    Every call that moves money is idempotent for the same key: repeating it with the same
    key and parameters returns the first answer and moves no more money (a charge is made at
    most once per key, a refund at most once per key). A timeout or provider error means no
    definite answer; the caller retries with the same key, or asks ``ChargeLookup``."""

    async def charge(
        self, amount: int, currency: str, card: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge ``amount`` minor units of ``currency`` to ``card`` (a card number or a
        ``SavedCard.token``), at most once per key.

        Returns the provider's answer; raises ``ProviderTimeout`` / ``ProviderError`` when
        there is none and no money moved.
        """
        ...

    async def save_card(self, card: str) -> SavedCard:
        """Keep ``card`` (a card number) for a later ``charge``; moves no money. Raises
        ``ProviderError`` / ``ProviderTimeout`` when the card was not saved."""
        ...

    async def refund(self, charge_id: str, idempotency_key: str) -> RefundResult:
        """Refund the whole of ``charge_id``, at most once; raises ``ProviderError`` when
        the refund did not happen (checkout retries it later with the same key)."""
        ...


@runtime_checkable
class ChargeLookup(Protocol):
    """A provider that can say what happened to an earlier charge by its idempotency key, so
    a charge that timed out can be settled without charging again."""

    async def find_charge(self, idempotency_key: str) -> ChargeResult | None:
        """The final result of the charge made with ``idempotency_key``, or ``None`` when
        there is none (never attempted, timed out, or still running)."""
        ...
