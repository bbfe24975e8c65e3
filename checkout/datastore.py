"""``Datastore``: the one Redis every part of checkout shares, with its scripts, its
clock and how long idempotency records are kept.

The parts (``checkout.sales``, ``checkout.buying``, ``checkout.payment_saga``,
``checkout.reconciliation``, ``checkout.reports``) hold no state of their own that
another node would need: whatever must be agreed on lives in Redis and changes only
through the scripts, so any number of nodes may share one Redis.

``run`` keeps the guarantees of ``checkout.scripts.Scripts.run``: the script's reply as a
dict; ``CheckoutError("unavailable")`` when Redis cannot be reached, in which case the
script may or may not have run and, being idempotent, may be sent again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livecart.checkout.scripts import Arg, Scripts
from livecart.redis_client import AnyRedis


class Datastore:
    """``redis`` with checkout's scripts loaded. ``clock``: seconds since the epoch (it
    decides expiries and sale windows; tests pass a fake one). ``key_ttl_ms``: how long
    the scripts keep idempotency records."""

    def __init__(self, redis: AnyRedis, *, clock: Callable[[], float], key_ttl_ms: int) -> None:
        self.redis = redis
        self.scripts = Scripts(redis)
        self.clock = clock
        self.key_ttl_ms = key_ttl_ms

    def now_ms(self) -> int:
        """The clock in whole milliseconds, the unit of every time in Redis."""
        return int(self.clock() * 1000)

    async def run(self, name: str, room: str, *args: Arg) -> dict[str, Any]:
        """Run script ``name`` for ``room`` at the current time; see the module docstring."""
        return await self.scripts.run(name, room, self.now_ms(), self.key_ttl_ms, *args)
