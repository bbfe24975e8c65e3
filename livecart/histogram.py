"""A histogram that costs one ``bisect`` and two additions per observation.

The hot loops (the hub's ticker, checkout's buy and pay) record durations here, with no
lock and no I/O; ``/metrics`` reads the counts at scrape time (``livecart.web.metrics``).
Plain data, no event loop: one owner updates it, readers only read.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; for anything a person waits on (a delivery, a buy, a payment)."""

TICK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
"""Seconds; for the work of one tick, which should stay well under the 50 ms tick."""


class Buckets:
    """Counts of observations per upper bound (Prometheus ``le`` semantics: a value
    equal to a bound falls in that bound's bucket), their sum and their number.

    ``counts[i]`` holds the observations in ``(bounds[i-1], bounds[i]]``; the last one
    those above every bound. ``cumulative()`` gives what a Prometheus histogram exports.
    """

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        ordered = tuple(float(b) for b in bounds)
        if not ordered or list(ordered) != sorted(set(ordered)):
            raise ValueError("bounds must be strictly increasing and not empty")
        self.bounds = ordered
        self.counts = [0] * (len(ordered) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Record one observation (negative values count in the first bucket)."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, observations <= le), ..., ("+Inf", count)]``, le as Prometheus writes it."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, n in zip(self.bounds, self.counts, strict=False):
            running += n
            out.append((repr(bound), running))
        out.append(("+Inf", self.count))
        return out


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The ``q``-quantile (0..1) of observations counted per bucket in the layout of
    ``Buckets.counts`` (one count per bound, then one for those above every bound),
    interpolated linearly inside its bucket as Prometheus' ``histogram_quantile`` does
    (the first bucket starts at 0). None without observations; the top bound when the
    quantile falls above every bound."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    running = 0
    lower = 0.0
    for i, n in enumerate(counts):
        if n > 0 and running + n >= rank:
            if i >= len(bounds):
                return float(bounds[-1])
            return lower + (bounds[i] - lower) * max(0.0, rank - running) / n
        running += n
        if i < len(bounds):
            lower = bounds[i]
    return float(bounds[-1])


def histogram_json(buckets: Buckets) -> dict[str, object]:
    """``buckets`` as ``/api/stats`` shows it: ``{"count", "sum", "le": [[bound, observations
    <= bound], ..., ["+Inf", count]]}`` (cumulative, as Prometheus exports it)."""
    return {"count": buckets.count, "sum": buckets.sum, "le": buckets.cumulative()}
