"""livecart checkout: flash sales, stock holds, payments and orders on Redis.

Start at ``checkout.service.CheckoutService``; docs/checkout.md describes what clients
see, the life cycle, the Redis keys and how a real payment provider plugs in.
"""

from livecart.checkout.errors import (
    CheckoutError,
    IllegalTransition,
    ProviderError,
    ProviderTimeout,
)
from livecart.checkout.payments import ChargeLookup, ChargeResult, PaymentProvider, RefundResult
from livecart.checkout.sandbox import SandboxProvider
from livecart.checkout.service import CheckoutService

__all__ = [
    "ChargeLookup",
    "ChargeResult",
    "CheckoutError",
    "CheckoutService",
    "IllegalTransition",
    "PaymentProvider",
    "ProviderError",
    "ProviderTimeout",
    "RefundResult",
    "SandboxProvider",
]
