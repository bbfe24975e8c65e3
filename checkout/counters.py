"""What checkout counts for ``/metrics``: plain counters and histograms, no I/O.

``CheckoutService`` records one entry per ``buy``, ``pay`` and sweep; the web layer
reads them at scrape time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from livecart.histogram import LATENCY_BUCKETS, Buckets


@dataclass(slots=True)
class CheckoutCounters:
    """Checkout's counters for /metrics: outcomes and latencies of buys and payments, holds
    expired, and calls that failed because Redis was away. Plain counters; no I/O."""

    buys: Counter[str] = field(default_factory=Counter)
    """Outcome (``ok`` or the error code: ``sold_out``, ``limit_reached``...) -> buys."""
    payments: Counter[str] = field(default_factory=Counter)
    """Outcome (``ok``, ``payment_declined``, ``hold_expired``...) -> payments."""
    buy_seconds: Buckets = field(default_factory=lambda: Buckets(LATENCY_BUCKETS))
    pay_seconds: Buckets = field(default_factory=lambda: Buckets(LATENCY_BUCKETS))
    holds_expired: int = 0
    unavailable: int = 0
    """Buys, payments and sweeps that failed because Redis could not be reached."""

    def buy(self, outcome: str, seconds: float) -> None:
        """Count one buy with its outcome (``ok`` or the error code) and its duration."""
        self.buys[outcome] += 1
        self.buy_seconds.observe(seconds)
        if outcome == "unavailable":
            self.unavailable += 1

    def pay(self, outcome: str, seconds: float) -> None:
        """Count one payment with its outcome (``ok`` or the error code) and its duration."""
        self.payments[outcome] += 1
        self.pay_seconds.observe(seconds)
        if outcome == "unavailable":
            self.unavailable += 1
